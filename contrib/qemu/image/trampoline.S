/* AP start-up: real-mode trampoline (copied below 1 MiB) and 32-bit AP entry. */

#include "seg.h"

#define CR0_PE		0x00000001
#define CR0_NW_CD	0x60000000

/*
 * The SIPI starts the AP in real mode at CS:IP = (vector << 8):0000. The code is
 * position independent within its segment, so it runs wherever smp.c copies it.
 */
	.section .trampoline, "a"
	.code16
	.globl	tramp_start, tramp_end
tramp_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	tramp_gdt_desc - tramp_start
	movl	%cr0, %eax
	andl	$~CR0_NW_CD, %eax	/* INIT leaves the caches disabled */
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_CODE, $ap_entry32

	.balign 4
	.word	0
tramp_gdt_desc:
	.word	GDT_LIMIT
	.long	gdt			/* linear address: the GDT stays above 1 MiB */
tramp_end:

	.text
	.code32
ap_entry32:
	LOAD_FLAT_DATA
	movl	$ap_stack_top, %esp
	call	ap_main
1:	cli
	hlt
	jmp	1b

	.section .note.GNU-stack, "", @progbits
