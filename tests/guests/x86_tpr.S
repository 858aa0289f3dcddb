/* TPR guests: CR8 writes and reads, each followed by an RDMSR exit. */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64
GUEST_BEGIN(x86_tpr)
	/* DragonFly's h_misc "TPR" guest: raise 0 -> 3. */
	.globl x86_tpr_raise
x86_tpr_raise:
	mov	$3, %rax
	mov	%rax, %cr8
	TEST_END

	.globl x86_tpr_lower
x86_tpr_lower:
	xor	%eax, %eax
	mov	%rax, %cr8
	TEST_END

	.globl x86_tpr_read
x86_tpr_read:
	mov	%cr8, %rax
	TEST_END
GUEST_END(x86_tpr)

	.section .note.GNU-stack, "", @progbits
