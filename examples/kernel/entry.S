/*
 * The kernel's entry point and trap stubs.
 *
 * _start: the VMM enters here on every vCPU in long mode (toy_abi.h: RDI =
 * vCPU index, RSI = vCPU count). We load our own GDT, so that interrupts
 * and IRETQ find the selectors in memory we own, take the vCPU's stack and
 * call kmain(). Each vCPU's stack is stacks[index]: this_cpu() derives the
 * vCPU from RSP, which needs no MSR and no GS base.
 *
 * Trap stubs: one per vector, pushing a zero where the CPU pushes no error
 * code, so trap() always sees the same frame (struct trapframe in trap.c).
 */
#include "toy_abi.h"

#define STACK_SIZE	16384

	.section .text.entry, "ax"
	.code64
	.globl	_start
_start:
	cli
	lgdt	gdt_desc(%rip)
	mov	$TOY_SEL_DATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	/* RSP = top of stacks[RDI]; ignore indexes we have no stack for. */
	cmp	$TOY_MAX_CPUS, %rdi
	jae	2f
	lea	1(%rdi), %rax
	shl	$14, %rax		/* * STACK_SIZE */
	lea	stacks(%rip), %rsp
	add	%rax, %rsp
	/* Reload CS through a far return (needs the stack). */
	lea	1f(%rip), %rax
	pushq	$TOY_SEL_CODE
	pushq	%rax
	lretq
1:	xor	%ebp, %ebp
	call	kmain
2:	cli
	hlt
	jmp	2b

/* ---- Trap stubs --------------------------------------------------------- */

.macro	TRAP vec, has_error
	.align	16
trap_\vec:
	.if	\has_error == 0
	pushq	$0
	.endif
	pushq	$\vec
	jmp	trap_common
.endm

	.text
TRAP 0, 0
TRAP 1, 0
TRAP 2, 0
TRAP 3, 0
TRAP 4, 0
TRAP 5, 0
TRAP 6, 0
TRAP 7, 0
TRAP 8, 1
TRAP 9, 0
TRAP 10, 1
TRAP 11, 1
TRAP 12, 1
TRAP 13, 1
TRAP 14, 1
TRAP 15, 0
TRAP 16, 0
TRAP 17, 1
TRAP 18, 0
TRAP 19, 0
TRAP 20, 0
TRAP 21, 1
TRAP 22, 0
TRAP 23, 0
TRAP 24, 0
TRAP 25, 0
TRAP 26, 0
TRAP 27, 0
TRAP 28, 0
TRAP 29, 1
TRAP 30, 1
TRAP 31, 0
TRAP 32, 0

/* 15 GPRs + vector + error + the CPU's 5 words: 176 bytes, RSP stays
 * 16-byte aligned for the call. Trap handlers run with IF = 0 (interrupt
 * gates) and touch no FPU/SSE state (-mgeneral-regs-only). */
trap_common:
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	cld
	call	trap
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	add	$16, %rsp		/* vector, error code */
	iretq

/* ---- Data --------------------------------------------------------------- */

	.section .rodata
	.globl	trap_stubs
trap_stubs:
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32
	.quad	trap_\v
	.endr
	.globl	trap_nstubs
trap_nstubs:
	.long	33

	/* In .data: the CPU sets the accessed bits, and .rodata is ROM. */
	.data
	.align	16
gdt:
	.quad	0
	.quad	0x00AF9B000000FFFF	/* TOY_SEL_CODE: 64-bit code, accessed */
	.quad	0x00CF93000000FFFF	/* TOY_SEL_DATA: data, accessed */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.bss
	.align	4096
	.globl	stacks
stacks:
	.space	STACK_SIZE * TOY_MAX_CPUS

	.section .note.GNU-stack, "", @progbits
