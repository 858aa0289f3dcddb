/*
 * Guests for events from another thread (t_xevents): the test points a
 * vector at x86_h_count, which counts deliveries in guest memory.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64

#define LABEL(name)	.globl name; name:

GUEST_BEGIN(x86_xevents)
/* IF = 1 and no exit ever: only a kick brings the run back. */
LABEL(x86_xev_spin)
	sti
1:	jmp	1b

/* IF = 1, HLT after HLT: each one exits as HALTED. */
LABEL(x86_xev_halt)
	sti
2:	hlt
	jmp	2b
GUEST_END(x86_xevents)

	.section .note.GNU-stack, "", @progbits
