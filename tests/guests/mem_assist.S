/*
 * Memory assist guests. The 64-bit ones run from T_CODE_BASE with the
 * builder's identity map and reach MMIO at guest-physical MMIO, which is
 * T_MMIO_BASE (no RAM there: every access exits); mem_assist_mmio holds
 * the value so the test can check the two agree. The 16-bit ones run in
 * real mode at 0x2000 with MMIO at 0x1000-0x1FFF and DS = SS = ES = 0.
 * Each guest leaves its result in MMIO, where the test reads it.
 */
#include "guest.h"

#define MMIO	0x10000000
#define ROM	0x200000	/* the read-only page of the ROM test */

/* A global label on an instruction the test looks for. */
#define MARK(name)	.globl name; name:

	.section .rodata.guest, "a"
	.globl mem_assist_mmio
mem_assist_mmio:
	.quad	MMIO

	.code64

/* ---- 64-bit tests 1-16 ---- */

/* C7/0 with REX.W, SIB + REX.X, 8B with REX.R and disp8, 89, C6/0. */
GUEST_BEGIN(mem64_mov)
	mov	$MMIO, %rax
	movq	$0x1000, (%rax)
	mov	$1, %r11
	movq	$0x2000, (%rax,%r11,8)
	mov	%rax, %rbp
	movq	(%rbp), %r8
	movq	8(%rbp), %rbx
	add	%rbx, %r8
	movq	%r8, (%rbp)
	movb	$4, (%rbp)
	TEST_END
GUEST_END(mem64_mov)

/* 08, 66 09, 48 0B: 0x1000 | 0x0F | 0x0600 | 0xF0. */
GUEST_BEGIN(mem64_or)
	mov	$MMIO, %rax
	movq	$0x1000, (%rax)
	mov	$0x0F, %bl
	orb	%bl, (%rax)
	mov	$0x0600, %cx
	orw	%cx, (%rax)
	mov	$0xF0, %ecx
	orq	(%rax), %rcx
	movq	%rcx, (%rax)
	TEST_END
GUEST_END(mem64_or)

/* 21, 20: 0xFFFF & 0x1FF0, low byte & 0xC0. */
GUEST_BEGIN(mem64_and)
	mov	$MMIO, %rax
	movq	$0xFFFF, (%rax)
	mov	$0x1FF0, %rbx
	andq	%rbx, (%rax)
	mov	$0xC0, %cl
	andb	%cl, (%rax)
	TEST_END
GUEST_END(mem64_and)

/* 31, 66 31: 0x1000 ^ 0xFF ^ 0x30. */
GUEST_BEGIN(mem64_xor)
	mov	$MMIO, %rax
	movq	$0x1000, (%rax)
	mov	$0xFF, %rbx
	xorq	%rbx, (%rax)
	mov	$0x30, %cx
	xorw	%cx, (%rax)
	TEST_END
GUEST_END(mem64_xor)

/* 0x67: only EAX and EBX address; their upper halves are garbage. */
GUEST_BEGIN(mem64_addrsize)
	mov	$0xFFFFFFFF00000000 + MMIO, %rax
	mov	$0xFFFFFFFF00000000, %rbx
	movq	$0x1FFF, (%eax)
	movb	$0, (%eax,%ebx,1)
	TEST_END
GUEST_END(mem64_addrsize)

/* A3, A0, A2, A1 (64-bit moffs). */
GUEST_BEGIN(mem64_moffs)
	mov	$0xFFA0, %eax
	movabs	%rax, MMIO
	xor	%eax, %eax
	movabs	MMIO, %al
	orb	$0x0B, %al
	movabs	%al, MMIO
	xor	%eax, %eax
	movabs	MMIO, %rax
	TEST_END
GUEST_END(mem64_moffs)

/* F3 AA then 66 AB, RDI stepping through MMIO. */
GUEST_BEGIN(mem64_stos)
	mov	$MMIO + 2, %rdi
	mov	$0x12, %al
	mov	$1, %rcx
	rep stosb
	sub	$3, %rdi
	mov	$0x3456, %ax
	stosw
	TEST_END
GUEST_END(mem64_stos)

/* 66 AD, AC, AC from MMIO + 8; results stored at MMIO. */
GUEST_BEGIN(mem64_lods)
	mov	$MMIO, %rdi
	movl	$0x12345678, 8(%rdi)
	lea	8(%rdi), %rsi
	lodsw
	movw	%ax, (%rdi)
	lodsb
	movb	%al, 2(%rdi)
	lodsb
	movb	%al, 3(%rdi)
	TEST_END
GUEST_END(mem64_lods)

/* MMIO to MMIO: F3 A4 twice, then F3 66 A5 once. */
GUEST_BEGIN(mem64_movs)
	mov	$MMIO, %rdi
	movw	$0x5678, 8(%rdi)
	movw	$0x1234, 12(%rdi)
	lea	8(%rdi), %rsi
	mov	$2, %rcx
	rep movsb
	add	$2, %rsi
	mov	$1, %rcx
	rep movsw
	TEST_END
GUEST_END(mem64_movs)

/* 0F B6 into a register full of ones: the upper bits clear. */
GUEST_BEGIN(mem64_movzxb)
	mov	$MMIO, %rax
	movl	$0x12345678, (%rax)
	mov	$-1, %rbx
	movzbl	(%rax), %ebx
	movq	%rbx, (%rax)
	TEST_END
GUEST_END(mem64_movzxb)

/* REX.W 0F B7. */
GUEST_BEGIN(mem64_movzxw)
	mov	$MMIO, %rax
	movl	$0x12345678, (%rax)
	mov	$-1, %rbx
	movzwq	(%rax), %rbx
	movq	%rbx, (%rax)
	TEST_END
GUEST_END(mem64_movzxw)

/* 80/7, 66 81/7, 66 83/7, 81/7, REX.W 81/7: 1 if every branch agrees. */
GUEST_BEGIN(mem64_cmp)
	mov	$MMIO, %rax
	movl	$0x80007F81, (%rax)
	cmpb	$0x81, (%rax)
	jne	1f
	cmpb	$0x80, (%rax)
	je	1f
	cmpw	$0x7F82, (%rax)
	jge	1f
	cmpw	$-1, (%rax)
	jle	1f
	cmpl	$0x80000000, (%rax)
	jle	1f
	cmpq	$-0x1000, (%rax)	/* sign-extended, else less */
	jle	1f
	movq	$1, (%rax)
	jmp	2f
1:	movq	$0, (%rax)
2:	TEST_END
GUEST_END(mem64_cmp)

/* 28, 66 29, 2B: 0x202 - 0xAB - 0x51AB, then RCX - memory. */
GUEST_BEGIN(mem64_sub)
	mov	$MMIO, %rax
	movq	$0x202, (%rax)
	mov	$0xF000151AB, %rcx
	subb	%cl, (%rax)
	subw	%cx, (%rax)
	subq	(%rax), %rcx
	movq	%rcx, (%rax)
	TEST_END
GUEST_END(mem64_sub)

/* F6/0, 66 F7/0, F7/0 with ZF checks: 1 if every branch agrees. */
GUEST_BEGIN(mem64_test)
	mov	$MMIO, %rax
	movl	$0xA00F, (%rax)
	testb	$0x0F, (%rax)
	jz	1f
	testw	$0x0F00, (%rax)
	jnz	1f
	testl	$0xA000, (%rax)
	jz	1f
	movq	$1, (%rax)
	jmp	2f
1:	movq	$0, (%rax)
2:	TEST_END
GUEST_END(mem64_test)

/* 48 87, 66 87, 86: memory and register swap at each size. */
GUEST_BEGIN(mem64_xchg)
	mov	$MMIO, %rax
	mov	$0x12FFFF, %rbx
	xchgq	%rbx, (%rax)
	mov	$0x34FF, %cx
	xchgw	(%rax), %cx
	mov	$0x56, %dl
	xchgb	%dl, (%rax)
	TEST_END
GUEST_END(mem64_xchg)

/* 67 48 87 twice: the value goes out to RBX and comes back. */
GUEST_BEGIN(mem64_xchg_a32)
	mov	$MMIO, %rdi
	movq	$0x123456, (%rdi)
	mov	$0xFFFFFFFF00000000 + MMIO, %rax
	mov	$0xBEEF, %rbx
	xchgq	%rbx, (%eax)
	mov	%rbx, %rsi
	xchgq	%rbx, (%eax)
	TEST_END
GUEST_END(mem64_xchg_a32)

/* ---- Semantics around the assist ---- */

GUEST_BEGIN(mem_sem)
	mov	$MMIO, %rbp
	mov	$0x2222222222222222, %rbx
MARK(mem_sem_load)
	movq	(%rbp), %rbx
MARK(mem_sem_store)
	movq	$0x33, 8(%rbp)
MARK(mem_sem_or)
	orb	$0x01, 16(%rbp)
MARK(mem_sem_done)
	TEST_END
GUEST_END(mem_sem)

/* ---- Read-only RAM at ROM ---- */

GUEST_BEGIN(mem_rom)
	mov	$ROM, %rbp
	movq	0x10(%rbp), %rax	/* read: from RAM, no exit */
	mov	$0x1122334455667788, %rbx
	movq	%rbx, 0x18(%rbp)	/* write: exits */
	movb	$0x5A, 0x21(%rbp)
	orb	$0x80, 0x22(%rbp)	/* read from RAM, write exits */
	movq	0x18(%rbp), %rdx	/* still the RAM contents */
	TEST_END
GUEST_END(mem_rom)

/* ---- 16-bit tests 1-6 (real mode, code at 0x2000, MMIO 0x1000-0x1FFF) ---- */

	.code16
GUEST_BEGIN(mem16_mov_single)
	mov	$0x10F1, %bx
	mov	$0x23, %dl
	movb	%dl, (%bx)
	TEST_END
GUEST_END(mem16_mov_single)

GUEST_BEGIN(mem16_mov_dual)
	mov	$0x1000, %bx
	mov	$0xF3, %di
	mov	$0x123, %dx
	movw	%dx, (%bx,%di)
	TEST_END
GUEST_END(mem16_mov_dual)

GUEST_BEGIN(mem16_mov_dual_disp)
	mov	$0x1003, %bp
	mov	$0xF0, %si
	mov	$0x678, %dx
	movw	%dx, -2(%bp,%si)
	TEST_END
GUEST_END(mem16_mov_dual_disp)

/* 0x1234 & 0x1001 | 0x10 | 0x1, through four addressing forms of 0x10F6. */
GUEST_BEGIN(mem16_mixed)
	mov	$0x1002, %ebp
	mov	$0xF0, %esi
	mov	$0xF8, %di
	mov	$0x1234, %dx
	movw	%dx, 4(%bp,%si)
	mov	$0x1001, %eax
	andl	%eax, 4(%bp,%si)
	mov	$0x10, %bx
	orw	%bx, 4(%ebp,%esi)
	mov	$0x1, %ecx
	orl	%ecx, -4(%bp,%di)
	TEST_END
GUEST_END(mem16_mixed)

GUEST_BEGIN(mem16_disp16)
	movb	$0x12, 0x1234
	TEST_END
GUEST_END(mem16_disp16)

/* (%bp) and -4(%bp,%di) reach 0x1234; the old values land in BX and CL. */
GUEST_BEGIN(mem16_xchg)
	mov	$0x1234, %bp
	mov	$4, %di
	mov	$0x1200, %bx
	xchgw	%bx, (%bp)
	mov	$0x34, %cl
	xchgb	-4(%bp,%di), %cl
	TEST_END
GUEST_END(mem16_xchg)
	.code64

	.section .note.GNU-stack, "", @progbits
