/*
 * The benchmark's guests, 64-bit and position independent: image.c copies
 * them to G_CODE. Each exit loop does the least work that produces one
 * exit per iteration, so that the loops time the exit round trip.
 */
#include "guest_layout.h"

#define GUEST(name)	.globl bench_##name; bench_##name:

	.section .rodata.bench_guests, "a"
	.code64
	.globl bench_guests_begin
bench_guests_begin:

GUEST(pio)
	mov	$0x5A, %al
1:	outb	%al, $G_PIO_PORT
	jmp	1b

GUEST(mmio)
	mov	$G_MMIO, %rbx
	mov	$0x12345678, %eax
1:	movl	%eax, (%rbx)
	jmp	1b

GUEST(hlt)
1:	hlt
	jmp	1b

GUEST(rdmsr)
	mov	$G_MSR, %ecx
1:	rdmsr
	jmp	1b

/* One write per 4 KiB page of the area, then stop. */
GUEST(touch)
	mov	$G_BIG, %rdi
	mov	$(G_BIG_SIZE / 4096), %rcx
1:	movb	$1, (%rdi)
	add	$4096, %rdi
	dec	%rcx
	jnz	1b
2:	hlt
	jmp	2b

	.globl bench_guests_end
bench_guests_end:

	.section .note.GNU-stack, "", @progbits
