/* GDT layout shared by entry.S, trampoline.S and idt.c (usable from C and assembly). */
#ifndef NVMM_BOOT_SEG_H
#define NVMM_BOOT_SEG_H

#define SEL_CODE	0x08	/* flat 32-bit code */
#define SEL_DATA	0x10	/* flat data */
#define GDT_ENTRIES	3	/* null, code, data */
#define GDT_LIMIT	(GDT_ENTRIES * 8 - 1)

#endif
