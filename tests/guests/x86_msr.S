/*
 * MSR guests: the test sets RCX (and RAX/RDX for writes) and RIP. Each
 * access is followed by code that shows what the guest saw, then HLT.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64
GUEST_BEGIN(x86_msr)
	.globl x86_msr_rd
x86_msr_rd:
	rdmsr
	mov	%rax, %r8
	mov	%rdx, %r9
	hlt

	.globl x86_msr_wr
x86_msr_wr:
	wrmsr
	mov	$0x5A, %r10
	hlt

	/* Where an emulator may send the guest instead of npc. */
	.globl x86_msr_elsewhere
x86_msr_elsewhere:
	mov	$0x77, %r10
	hlt
GUEST_END(x86_msr)

	.section .note.GNU-stack, "", @progbits
