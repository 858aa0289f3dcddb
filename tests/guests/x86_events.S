/*
 * Event guests: places to be interrupted, interrupt-window patterns, and
 * exits (an unknown-MSR RDMSR) taken right after a state change so that
 * exitstate can be checked. R8 records progress.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64

#define LABEL(name)	.globl name; name:

GUEST_BEGIN(x86_events)
/* An injected event is taken before the HLT runs. */
LABEL(x86_ev_hlt)
	hlt
	hlt

/* IF = 0 until STI; the window opens after the NOP (the STI shadow). */
LABEL(x86_ev_window)
	cli
	mov	$1, %r8
	sti
	nop
LABEL(x86_ev_window_open)
	mov	$2, %r8
	mov	$200000, %ecx
1:	dec	%ecx
	jnz	1b
	hlt

/* STI; HLT: the HLT runs in the STI shadow. */
LABEL(x86_ev_sti_hlt)
	cli
	sti
	hlt
	mov	$3, %r8
	hlt

/* A loop long enough for an NMI handler to return into, then HLT. */
LABEL(x86_ev_spin)
	mov	$200000, %ecx
1:	dec	%ecx
	jnz	1b
	mov	$4, %r8
	hlt

/* Exit state probes: a state change, then an exit at once. */
LABEL(x86_ev_movss)
	mov	%ss, %ax
	mov	%ax, %ss
	TEST_END
LABEL(x86_ev_sti)
	cli
	sti
	TEST_END
LABEL(x86_ev_plain)
	nop
	TEST_END
LABEL(x86_ev_flags)
	push	$0x8D7		/* CF PF AF ZF SF OF, bit 1 */
	popfq
	TEST_END
LABEL(x86_ev_cr8)
	mov	$5, %eax
	mov	%rax, %cr8
	TEST_END

/* The same facts at an IO exit and at a MEMORY exit (unbacked GPA). */
LABEL(x86_ev_io)
	mov	$6, %eax
	mov	%rax, %cr8
	push	$0x8D7
	popfq
	out	%al, $0x80
	hlt
LABEL(x86_ev_mmio)
	mov	$9, %eax
	mov	%rax, %cr8
	push	$0xC3
	popfq
	mov	0x10000000, %al
	hlt
GUEST_END(x86_events)

	.section .note.GNU-stack, "", @progbits
