/*
 * Guests of the API tests: a vCPU that never exits by itself (for stops)
 * and one that halts over and over, counting its runs in RAX.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64

/* Spins without a single exit: only a stop gets it out. */
GUEST_BEGIN(api_spin64)
1:	jmp	1b
GUEST_END(api_spin64)

/* Each entry adds one to RAX, then halts: RAX counts guest entries. */
GUEST_BEGIN(api_count64)
1:	inc	%rax
	hlt
	jmp	1b
GUEST_END(api_count64)

/* OUT in a loop: every entry exits at once, an I/O access to serve. */
GUEST_BEGIN(api_out64)
1:	outb	%al, $0x77
	jmp	1b
GUEST_END(api_out64)

	.section .note.GNU-stack, "", @progbits
