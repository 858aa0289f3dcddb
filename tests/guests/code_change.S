/*
 * Guests for tests/assist/t_code_change.c: an entry that flushes the TLB
 * and jumps to RBX, and the variants of code the test puts at that one
 * guest-linear address in turn. Each variant marks its exiting
 * instruction (<name>_insn) and what follows it (<name>_next), so the test
 * takes RIP and npc from the assembler.
 */
#include "guest.h"

#define PORT	123

/* One variant: prefix code, the exiting instruction, then HLT. */
#define VARIANT(name, pre, ...)						\
	GUEST_BEGIN(name)						\
	pre;								\
	.globl name##_insn; name##_insn:				\
	__VA_ARGS__;							\
	.globl name##_next; name##_next:				\
	hlt;								\
	GUEST_END(name)

	.section .rodata.guest, "a"
	.code64

/* The test may have moved the code's page: reload CR3 before going there. */
GUEST_BEGIN(cc_enter)
	mov	%cr3, %rsi
	mov	%rsi, %cr3
	jmp	*%rbx
GUEST_END(cc_enter)

/* Same start, different lengths: bare metal reports RIP on them. */
VARIANT(cc_out_imm, , outb %al, $PORT)
VARIANT(cc_out_dx, , outb %al, %dx)
/* Same end as cc_out_imm: where KVM reports RIP past an OUT. */
VARIANT(cc_nop_out_dx, nop, outb %al, %dx)

/* MSR exits: RIP on the instruction, npc after its prefixes. */
VARIANT(cc_rdmsr, , rdmsr)
VARIANT(cc_rex_rdmsr, , rex.W rdmsr)

	.section .note.GNU-stack, "", @progbits
