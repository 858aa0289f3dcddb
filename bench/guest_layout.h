/*
 * The guest-physical layout and registers both VMMs give the benchmark's
 * guests. Plain #defines: guests.S includes it too.
 */
#ifndef NVMM_BENCH_GUEST_LAYOUT_H
#define NVMM_BENCH_GUEST_LAYOUT_H

/*
 * Guest-physical layout, identical for both VMMs: 1 MiB of RAM at 0 with
 * the GDT, page tables identity-mapping 4 GiB (2 MiB pages) and the code.
 */
#define G_RAM_SIZE	0x100000	/* below it, real mode reaches no RAM */
#define G_GDT		0x1000
#define G_PML4		0x2000		/* then PDPT, then 4 PDs */
#define G_STACK		0x9000
#define G_CODE		0x10000
#define G_MMIO		0x10000000	/* unbacked: MMIO exits */
#define G_BIG		0x40000000	/* the 1 GiB touch area */
#define G_BIG_SIZE	0x40000000
#define G_PIO_PORT	0x80
#define G_MSR		0xC0DE		/* unknown to KVM, filtered anyway */

#define G_SEL_CODE	0x08
#define G_SEL_DATA	0x10
#define G_SEL_TSS	0x18

/* The long-mode registers both VMMs install. */
#define G_CR0		0x80010031	/* PG WP NE ET PE */
#define G_CR4		0x620		/* OSXMMEXCPT OSFXSR PAE */
#define G_EFER		0xD01		/* NXE LMA LME SCE */

#endif /* NVMM_BENCH_GUEST_LAYOUT_H */
