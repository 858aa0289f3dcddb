/*
 * El Torito "no emulation" boot image for the seed's ISO (make-iso): the BIOS
 * loads this loader and nvmm-boot.elf behind it at 0x7c00 in real mode. The
 * loader enters flat 32-bit protected mode and cdload() loads the ELF and
 * calls it the way a multiboot loader does (GRUB's bootstrap, which does the
 * same, takes minutes on this development host: see make-iso).
 */
#include "seg.h"

	.section .text.start, "ax"
	.code16
	.globl	cdboot_start
cdboot_start:
	cli
	cld
	ljmp	$0, $1f			/* CS:IP = 0:7c00+, whatever the BIOS used */
1:	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	inb	$0x92, %al		/* fast A20: the kernel loads at 1 MiB */
	orb	$2, %al
	andb	$0xfe, %al
	outb	%al, $0x92
	lgdtl	cd_gdt_desc
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_CODE, $2f

	.code32
2:	LOAD_FLAT_DATA
	movl	$0x7c00, %esp
	call	cdload			/* does not return */
3:	hlt
	jmp	3b

	FLAT_GDT cd_gdt

	.section .note.GNU-stack, "", @progbits
