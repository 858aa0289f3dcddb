/* 256 interrupt entry stubs, their address table, and the common C trampoline. */

/* Vectors for which the CPU pushes an error code itself. */
#define HAS_ERR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || \
		    (v) == 21 || (v) == 29 || (v) == 30)

/* Each stub appends its address here, so the table is in vector order. */
	.section .rodata
	.balign	4
	.globl	intr_stubs
intr_stubs:

	.text
	.set	vec, 0
	.rept	256
1:
	.if	HAS_ERR(vec) == 0
	pushl	$0			/* same frame layout for every vector */
	.endif
	pushl	$vec
	jmp	intr_common
	.pushsection .rodata
	.long	1b
	.popsection
	.set	vec, vec + 1
	.endr

intr_common:
	pushal
	cld
	pushl	%esp			/* struct intr_frame * */
	call	intr_dispatch
	addl	$4, %esp
	popal
	addl	$8, %esp		/* vector and error code */
	/*
	 * Return as IRET would for a same-privilege interrupt, without IRET: the
	 * instruction emulator of this host's KVM (kvm_pvm) cannot run a
	 * protected-mode IRET and stops the VM with an internal error. Stack here:
	 * eip, cs, eflags. An interrupt taken between popfl and ret just nests.
	 */
	pushl	8(%esp)
	popfl
	ret	$8

	.section .note.GNU-stack, "", @progbits
