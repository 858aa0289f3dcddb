/*
 * Exception and interrupt handlers shared by the x86 tests. Each handler
 * records what the CPU delivered in registers the tests read back:
 *   R12 = vector, R13 = error code (-1 when none was pushed),
 *   R14 = RIP in the frame, R15 = RFLAGS in the frame,
 * then halts, so that delivery shows as one HALTED exit. The NMI
 * handlers that return (x86_h_nmi_iret, x86_h_nmi_hlt_iret,
 * x86_h_nmi_hlt16_iret) count in R12 instead and execute IRETQ, the second
 * after a HLT, the third after 16. x86_h_count counts in guest memory,
 * with the TSC of the delivery, and returns.
 * Loaded at X86_STUBS_BASE; tests/x86/x86.c builds the IDT from the labels.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64

/* A frame without an error code: RIP, CS, RFLAGS, RSP, SS. */
#define HANDLER(name, vec)			\
	.globl name;				\
name:						\
	mov	$(vec), %r12;			\
	mov	$-1, %r13;			\
	mov	0(%rsp), %r14;			\
	mov	16(%rsp), %r15;			\
	hlt

/* A frame with an error code first. */
#define HANDLER_ERR(name, vec)			\
	.globl name;				\
name:						\
	mov	$(vec), %r12;			\
	mov	0(%rsp), %r13;			\
	mov	8(%rsp), %r14;			\
	mov	24(%rsp), %r15;			\
	hlt

GUEST_BEGIN(x86_idt)
HANDLER(x86_h_nmi, 2)
HANDLER(x86_h_ud, 6)
HANDLER_ERR(x86_h_gp, 13)
HANDLER_ERR(x86_h_pf, 14)
HANDLER(x86_h_intr, 0x40)
HANDLER(x86_h_intr_other, 0xEE)

	.globl x86_h_nmi_iret
x86_h_nmi_iret:
	inc	%r12
	mov	0(%rsp), %r14
	iretq

	/* Stops inside the handler (NMIs blocked), returns when resumed. */
	.globl x86_h_nmi_hlt_iret
x86_h_nmi_hlt_iret:
	inc	%r12
	mov	0(%rsp), %r14
	hlt
	iretq

	/* Stops 16 times inside the handler: a second NMI waits meanwhile. */
	.globl x86_h_nmi_hlt16_iret
x86_h_nmi_hlt16_iret:
	inc	%r12
	mov	$16, %ecx
1:	hlt
	dec	%ecx
	jnz	1b
	iretq
	/*
	 * Stores the TSC in the qword at X86_COUNTER_TSC, then counts in the
	 * one at X86_COUNTER (x86.h), and returns. Clobbers RAX and RDX.
	 */
	.globl x86_h_count
x86_h_count:
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, 0x62008
	lock incq 0x62000
	iretq
GUEST_END(x86_idt)

	.section .note.GNU-stack, "", @progbits
