/*
 * I/O assist guests. The 64-bit ones run from T_CODE_BASE with the
 * builder's identity map; their data page is guest-physical DATA (RAM).
 * The I/O forms guests list each I/O instruction's start and end in a
 * table (io_forms64_table, io_forms16_table) so the test can check the
 * exit's RIP and npc against the assembler's own lengths.
 */
#include "guest.h"

#define PORT	123
#define DATA	0x1000
#define BIG	0x20000		/* the large REP INSB buffer */

/* Reload the string registers: one element per REP form. */
#define STR_REGS64	mov $DATA, %rsi; mov $DATA, %rdi; mov $1, %ecx
#define STR_REGS16	mov $DATA, %esi; mov $DATA, %edi; mov $1, %ecx

/* A global label on an instruction the test looks for. */
#define MARK(name)	.globl name; name:

/* One I/O instruction and its (start, end) offsets in the table. */
#define FORM(table, guest, ...)						\
	1: __VA_ARGS__; 2:						\
	.pushsection .rodata.guest_forms, "a";				\
	.quad 1b - guest##_begin, 2b - guest##_begin;			\
	.popsection

	.section .rodata.guest, "a"
	.code64

/* ---- The NetBSD-style cases: imm8 and DX ports, sizes 1/2/4, REP ---- */

GUEST_BEGIN(io_inb)
	inb	$PORT, %al
	movb	%al, DATA
	mov	$PORT, %dx
	inb	%dx, %al
	movb	%al, DATA + 1
	TEST_END
GUEST_END(io_inb)

GUEST_BEGIN(io_inw)
	inw	$PORT, %ax
	movw	%ax, DATA
	mov	$PORT, %dx
	inw	%dx, %ax
	movw	%ax, DATA + 2
	TEST_END
GUEST_END(io_inw)

GUEST_BEGIN(io_inl)
	inl	$PORT, %eax
	movl	%eax, DATA
	mov	$PORT, %dx
	inl	%dx, %eax
	movl	%eax, DATA + 4
	TEST_END
GUEST_END(io_inl)

GUEST_BEGIN(io_insb)
	mov	$PORT, %dx
	mov	$DATA, %rdi
	mov	$5, %rcx
	rep insb
	TEST_END
GUEST_END(io_insb)

GUEST_BEGIN(io_insw)
	mov	$PORT, %dx
	mov	$DATA, %rdi
	mov	$14, %rcx
	rep insw
	TEST_END
GUEST_END(io_insw)

GUEST_BEGIN(io_insl)
	mov	$PORT, %dx
	mov	$DATA, %rdi
	mov	$7, %rcx
	rep insl
	TEST_END
GUEST_END(io_insl)

GUEST_BEGIN(io_outb)
	movb	DATA, %al
	outb	%al, $PORT
	mov	$PORT, %dx
	movb	DATA + 1, %al
	outb	%al, %dx
	TEST_END
GUEST_END(io_outb)

GUEST_BEGIN(io_outw)
	movw	DATA, %ax
	outw	%ax, $PORT
	mov	$PORT, %dx
	movw	DATA + 2, %ax
	outw	%ax, %dx
	TEST_END
GUEST_END(io_outw)

GUEST_BEGIN(io_outl)
	movl	DATA, %eax
	outl	%eax, $PORT
	mov	$PORT, %dx
	movl	DATA + 4, %eax
	outl	%eax, %dx
	TEST_END
GUEST_END(io_outl)

GUEST_BEGIN(io_outsb)
	mov	$PORT, %dx
	mov	$DATA, %rsi
	mov	$5, %rcx
	rep outsb
	TEST_END
GUEST_END(io_outsb)

GUEST_BEGIN(io_outsw)
	mov	$PORT, %dx
	mov	$DATA, %rsi
	mov	$8, %rcx
	rep outsw
	TEST_END
GUEST_END(io_outsw)

GUEST_BEGIN(io_outsl)
	mov	$PORT, %dx
	mov	$DATA, %rsi
	mov	$7, %rcx
	rep outsl
	TEST_END
GUEST_END(io_outsl)

/* ---- Direction flag and segment overrides ---- */

/* DF = 1: elements go out from the last byte down. */
GUEST_BEGIN(io_outsb_std)
	mov	$PORT, %dx
	mov	$DATA + 4, %rsi
	mov	$5, %rcx
	std
	rep outsb
	cld
	TEST_END
GUEST_END(io_outsb_std)

GUEST_BEGIN(io_insb_std)
	mov	$PORT, %dx
	mov	$DATA + 4, %rdi
	mov	$5, %rcx
	std
	rep insb
	cld
	TEST_END
GUEST_END(io_insb_std)

/* The test puts FS.base at DATA: RSI = 0 must read DATA. */
GUEST_BEGIN(io_outsb_fs)
	mov	$PORT, %dx
	xor	%esi, %esi
	mov	$5, %rcx
	rep outsb %fs:(%rsi), %dx
	TEST_END
GUEST_END(io_outsb_fs)

/* 0x67: ESI and ECX count, the upper halves are garbage. */
GUEST_BEGIN(io_outsb_a32)
	mov	$PORT, %dx
	mov	$0xDEAD000000000000 + DATA, %rsi
	mov	$0xDEAD000000000005, %rcx
	addr32 rep outsb
	TEST_END
GUEST_END(io_outsb_a32)

/* ---- Larger than one KVM batch (KVM moves at most 1 KiB per exit) ---- */

GUEST_BEGIN(io_insb_big)
	mov	$PORT, %dx
	mov	$BIG, %rdi
	mov	$5000, %rcx
	rep insb
	mov	%rcx, %r8		/* TEST_END reuses RCX */
	TEST_END
GUEST_END(io_insb_big)

GUEST_BEGIN(io_outsb_big)
	mov	$PORT, %dx
	mov	$BIG, %rsi
	mov	$300, %rcx
	rep outsb
	mov	%rcx, %r8		/* TEST_END reuses RCX */
	TEST_END
GUEST_END(io_outsb_big)

/* ---- Semantics around the assist: IN twice, OUT, REP INSB ---- */

GUEST_BEGIN(io_sem)
	mov	$0x1111111111111111, %rax
	mov	$PORT, %dx
MARK(io_sem_in1)
	inb	%dx, %al
	mov	%rax, %rbx
MARK(io_sem_in2)
	inb	%dx, %al
	mov	%rax, %rsi
MARK(io_sem_out)
	outb	%al, %dx
	mov	$DATA, %rdi
	mov	$3, %rcx
MARK(io_sem_ins)
	rep insb
MARK(io_sem_done)
	mov	%rcx, %r8
	TEST_END
GUEST_END(io_sem)

/* ---- Exit record fields, 64-bit ---- */

	.pushsection .rodata.guest_forms, "a"
	.globl io_forms64_table
io_forms64_table:
	.popsection

GUEST_BEGIN(io_forms64)
	mov	$PORT, %dx
	FORM(io_forms64_table, io_forms64, inb $PORT, %al)
	FORM(io_forms64_table, io_forms64, inw %dx, %ax)
	FORM(io_forms64_table, io_forms64, inl $PORT, %eax)
	FORM(io_forms64_table, io_forms64, outb %al, %dx)
	FORM(io_forms64_table, io_forms64, outw %ax, $PORT)
	FORM(io_forms64_table, io_forms64, rex.W outl %eax, %dx)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, rep insb)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, rep insw)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, insl)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, rep outsb)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, rep outsb %fs:(%rsi), %dx)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, addr32 rep outsb)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, rep outsw %es:(%rsi), %dx)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, outsl)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, rep outsb %gs:(%esi), %dx)
	STR_REGS64
	FORM(io_forms64_table, io_forms64, ds rep outsb)
	/* Port 0x7E: KVM's OUT_7E_INC_RIP quirk steps RIP before the exit. */
	FORM(io_forms64_table, io_forms64, outb %al, $0x7E)
	mov	$0x7E, %dx
	FORM(io_forms64_table, io_forms64, outw %ax, %dx)
	TEST_END
GUEST_END(io_forms64)

	.pushsection .rodata.guest_forms, "a"
	.globl io_forms64_table_end
io_forms64_table_end:
	.globl io_forms16_table
io_forms16_table:
	.popsection

/* ---- Exit record fields, 16-bit real mode (DS = ES = CS) ---- */

	.code16
GUEST_BEGIN(io_forms16)
	mov	$PORT, %dx
	FORM(io_forms16_table, io_forms16, inb $PORT, %al)
	FORM(io_forms16_table, io_forms16, inl %dx, %eax)
	STR_REGS16
	FORM(io_forms16_table, io_forms16, rep insb)
	STR_REGS16
	FORM(io_forms16_table, io_forms16, addr32 rep insw)
	STR_REGS16
	FORM(io_forms16_table, io_forms16, rep outsb %ss:(%si), %dx)
	STR_REGS16
	FORM(io_forms16_table, io_forms16, outsw)
	STR_REGS16
	FORM(io_forms16_table, io_forms16, rep outsl)
	TEST_END
GUEST_END(io_forms16)
	.code64

	.pushsection .rodata.guest_forms, "a"
	.globl io_forms16_table_end
io_forms16_table_end:
	.popsection

	.section .note.GNU-stack, "", @progbits
