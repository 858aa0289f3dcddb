/*
 * Guests for events from another thread (t_xevents): the test points
 * vectors at handlers that count deliveries in guest memory.
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

/* IF = 1 (the test's RFLAGS), an OUT after an OUT: each one exits as IO. */
LABEL(x86_xev_out)
4:	outb	%al, $0x77
	jmp	4b

/*
 * The hammer's guest: it can take an interrupt at every instruction, so
 * that an injection at any entry is one NVMM delivers as meant (NVMM
 * injects at the next entry whatever the guest's IF: the emulator is to
 * inject only when the guest can take it). Entered with IF = 1, and no
 * STI (whose shadow would block an interrupt). Its handlers sit behind
 * trap gates, which leave IF = 1, count, and go back to the loop on the
 * stack as it was at the start (X86_STACK_TOP): a delivery nested in a
 * handler drops the frames under it, so nesting never overflows the
 * stack. A delivery nested before the handler's first instruction is
 * not counted: the storm's count is a lower bound.
 */
LABEL(x86_xev_open)
3:	jmp	3b
/* The storm's vector: counts in the qword at X86_COUNTER. */
LABEL(x86_xev_open_count)
	lock incq 0x62000
	mov	$0x8000, %rsp
	jmp	3b
/* The storm's last event: counts in the qword at 0x62010. */
LABEL(x86_xev_open_last)
	lock incq 0x62010
	mov	$0x8000, %rsp
	jmp	3b
GUEST_END(x86_xevents)

	.section .note.GNU-stack, "", @progbits
