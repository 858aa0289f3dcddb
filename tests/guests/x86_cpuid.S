/* CPUID guest: the test sets EAX/ECX; the result stays in the registers. */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64
GUEST_BEGIN(x86_cpuid)
	cpuid
	hlt
GUEST_END(x86_cpuid)

	.section .note.GNU-stack, "", @progbits
