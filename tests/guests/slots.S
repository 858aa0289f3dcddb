/*
 * Guests of the slot test (tests/slots). Its library variant maps at most
 * 256 KiB per KVM slot, so a guest range has a slot boundary at every
 * multiple of 0x40000. Each guest ends with TEST_END; addresses come from
 * the test in registers, so the code runs wherever it is loaded.
 */
#include "guest.h"

	.code64

/*
 * rep outsw %cs:(%rsi), (%dx), prefixes spelled out: the test loads it
 * 2 bytes before a slot boundary, so 2E F3 lie in one slot and 66 6F in
 * the next; the exit record needs all four.
 */
GUEST_BEGIN(slots_outs)
	.byte	0x2E, 0xF3, 0x66, 0x6F
	TEST_END
GUEST_END(slots_outs)

/* A qword at RBP, read into RAX, then RBX written over it. */
GUEST_BEGIN(slots_rw)
	mov	(%rbp), %rax
	mov	%rbx, (%rbp)
	TEST_END
GUEST_END(slots_rw)

/* RAX from the qword at RBP, EBX to the dword at RDI, RDX from RBP again. */
GUEST_BEGIN(slots_rom)
	mov	(%rbp), %rax
	mov	%ebx, (%rdi)
	mov	(%rbp), %rdx
	TEST_END
GUEST_END(slots_rom)

	.section .note.GNU-stack, "", @progbits
