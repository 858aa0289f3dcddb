/* calc-vm's guest (spec 6.4): 16-bit "add %ax, %bx; hlt" = 01 C3 F4. */
#include "guest.h"

	.section .rodata.guest, "a"
	.code16
GUEST_BEGIN(calc)
	add	%ax, %bx
	hlt
GUEST_END(calc)
	.code64

	.section .note.GNU-stack, "", @progbits
