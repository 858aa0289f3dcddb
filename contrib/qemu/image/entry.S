/* Multiboot v1 header, BSP entry, flat GDT and stacks. */

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0		/* ELF image: no load addresses, no memory map needed */

#include "seg.h"

	.section .multiboot, "a"
	.balign 4
	.long	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl	_start
_start:
	/* Multiboot leaves the GDTR undefined: load ours before touching a segment. */
	cli
	cld
	lgdt	gdt_desc
	ljmp	$SEL_CODE, $1f
1:	movw	$SEL_DATA, %cx
	movw	%cx, %ds
	movw	%cx, %es
	movw	%cx, %fs
	movw	%cx, %gs
	movw	%cx, %ss
	movl	$bsp_stack_top, %esp

	/* Keep the loader's magic and info pointer out of the way of rep stosl. */
	movl	%eax, %esi
	movl	%ebx, %ebp
	/* Multiboot does not promise a zeroed .bss (link.ld keeps it 4-byte sized). */
	movl	$bss_start, %edi
	movl	$bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl

	pushl	%ebp
	pushl	%esi
	call	kmain
2:	cli
	hlt
	jmp	2b

/* ---- descriptors (accessed bits preset so the CPU never writes them) ---- */
	.globl	gdt			/* trampoline.S's descriptor names it */
	FLAT_GDT gdt

/* ---- stacks: outside .bss, so the clear above need not cover them ---- */
	.section .stack, "aw", @nobits
	.balign 16
	.space	8192
bsp_stack_top:
	.globl	ap_stack_top
	.space	4096
ap_stack_top:

	.section .note.GNU-stack, "", @progbits
