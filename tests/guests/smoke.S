/* Smoke guests: the simplest exits. */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64
GUEST_BEGIN(smoke_hlt64)
	mov	$0x1234, %rax
	hlt
GUEST_END(smoke_hlt64)

GUEST_BEGIN(smoke_out64)
	mov	$0xAB, %al
	out	%al, $0x80
	mov	$0x42, %rbx
	TEST_END
GUEST_END(smoke_out64)

	.section .note.GNU-stack, "", @progbits
