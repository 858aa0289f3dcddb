/*
 * GDT layout shared by the images' entry code (entry.S, cdboot.S,
 * trampoline.S), the flash's reset.S and idt.c (usable from C and
 * assembly), and in assembly the table itself.
 */
#ifndef NVMM_BOOT_SEG_H
#define NVMM_BOOT_SEG_H

#define SEL_CODE	0x08	/* flat 32-bit code */
#define SEL_DATA	0x10	/* flat data */
#define GDT_ENTRIES	3	/* null, code, data */
#define GDT_LIMIT	(GDT_ENTRIES * 8 - 1)

#ifdef __ASSEMBLER__
/*
 * The flat GDT in .rodata as `name`, and its descriptor as `name`_desc.
 * Accessed bits preset: the CPU never writes the table (the flash's is in
 * ROM).
 */
.macro FLAT_GDT name
	.section .rodata
	.balign	8
\name:
	.quad	0
	.quad	0x00cf9b000000ffff	/* SEL_CODE: base 0, 4 GiB, 32-bit */
	.quad	0x00cf93000000ffff	/* SEL_DATA: base 0, 4 GiB */
\name\()_end:
	.if	\name\()_end - \name - 1 != GDT_LIMIT
	.error	"seg.h GDT_LIMIT does not match the table"
	.endif
	.balign	4
	.word	0
\name\()_desc:
	.word	GDT_LIMIT
	.long	\name
.endm

/* DS, ES, FS, GS and SS to the flat data segment (through AX). */
.macro LOAD_FLAT_DATA
	movw	$SEL_DATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
.endm
#endif

#endif
