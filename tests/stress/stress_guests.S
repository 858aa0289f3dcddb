/*
 * Guests of the stress tests: a counter that reads a window another thread
 * maps and unmaps, and spinners that never exit by themselves.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64

/* Reads the window at 4 MiB into RBX, counts in RAX, halts: once a loop. */
GUEST_BEGIN(stress_count64)
1:	mov	0x400000, %rbx
	inc	%rax
	.globl	stress_count64_hlt
stress_count64_hlt:
	hlt
	jmp	1b
GUEST_END(stress_count64)

/* Counts in RAX and halts, once a loop. */
GUEST_BEGIN(stress_halt64)
1:	inc	%rax
	hlt
	jmp	1b
GUEST_END(stress_halt64)

/* Writes every page from 2 MiB up to RBX, over and over. */
GUEST_BEGIN(stress_touch64)
2:	mov	$0x200000, %rdi
1:	mov	%rax, (%rdi)
	inc	%rax
	add	$4096, %rdi
	cmp	%rbx, %rdi
	jb	1b
	jmp	2b
GUEST_END(stress_touch64)

	.code16

/* Real mode, no exits at all: only a stop or a kick gets it out. */
GUEST_BEGIN(stress_spin16)
1:	inc	%ax
	jmp	1b
GUEST_END(stress_spin16)

	.section .note.GNU-stack, "", @progbits
