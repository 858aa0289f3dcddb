/*
 * Reset vector of the flash firmware: the CPU starts here in real mode with
 * CS base 0xffff0000 and IP 0xfff0, fetching from the top of the code flash.
 * It loads a flat GDT (kept in flash), enters 32-bit protected mode, clears
 * .bss in RAM, sets a stack in RAM and calls fw_main() -- still in flash.
 */
#include "../image/seg.h"

	.section .reset, "ax"
	.code16
	.globl	reset_vector
reset_vector:			/* 0xfffffff0 */
	jmp	start16
	.balign	16, 0xff

	/* Within reach of the reset vector's 16-bit jump (link.ld). */
	.section .text16, "ax"
	.code16
start16:
	cli
	cld
	/*
	 * DS base is 0 after reset: reach the descriptor through CS, whose base
	 * is 0xffff0000, so the 16-bit offset is the low half of its address
	 * (ld accepts the truncation: the high half is all ones).
	 */
	lgdtl	%cs:gdt_desc
	movl	%cr0, %eax
	orl	$1, %eax			/* PE */
	movl	%eax, %cr0
	ljmpl	$SEL_CODE, $start32

	.text
	.code32
start32:
	LOAD_FLAT_DATA
	movl	$stack_top, %esp
	movl	$bss_start, %edi
	movl	$bss_end, %ecx
	subl	%edi, %ecx
	xorl	%eax, %eax
	rep stosb
	call	fw_main
1:	cli
	hlt
	jmp	1b

	FLAT_GDT gdt		/* in ROM: the CPU must never write it */

	.section .note.GNU-stack, "", @progbits
