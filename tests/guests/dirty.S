/*
 * Guests of the dirty-page tracking tests: touch RCX bytes, one every RSI
 * bytes from RDI, by writing AL (dirty_write64) or by reading
 * (dirty_read64), then halt. Run again from the start for another pass.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64

GUEST_BEGIN(dirty_write64)
1:	movb	%al, (%rdi)
	add	%rsi, %rdi
	dec	%rcx
	jnz	1b
	hlt
GUEST_END(dirty_write64)

GUEST_BEGIN(dirty_read64)
1:	movb	(%rdi), %dl
	add	%rsi, %rdi
	dec	%rcx
	jnz	1b
	hlt
GUEST_END(dirty_read64)

	.section .note.GNU-stack, "", @progbits
