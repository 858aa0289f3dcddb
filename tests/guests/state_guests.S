/*
 * Guests of the state tests.
 *
 * state_dump64 stores what the vCPU holds when it is entered into the dump
 * area at 0x20000 (layout in tests/state/state_util.h), touching nothing
 * but RAX, RCX, RDX and the stack, then ends the test.
 *
 * state_reset16 runs from the RESET vector: loaded at 0xFFFFFF00, its
 * last 16 bytes sit at 0xFFFFFFF0 and jump back to its start. It stores
 * what a freshly reset vCPU shows to real-mode code at 0x500, then halts.
 *
 * state_xgetbv64 stores XCR0 where state_dump64 would.
 *
 * state_fxprobe64 loads the FXSAVE image at FXPROBE with FXRSTOR64 and
 * stores it back with FXSAVE64 at FXPROBE+0x200: what the guest's CPU
 * keeps of it, with no state call in between.
 *
 * state_halt64 halts over and over, adding RBX to RAX at each entry;
 * state_out64 writes a counter to port 0x80 over and over;
 * state_fsload64 loads FS behind the emulator's back and shows it.
 */
#include "guest.h"

#define DUMP	0x20000
#define FXPROBE	0x22000		/* FXPROBE_GPA of tests/state/state_util.h */

/* Store EDX:EAX of rdmsr of MSR num at DUMP+off. */
.macro STORE_MSR num, off
	mov	$\num, %ecx
	rdmsr
	mov	%eax, DUMP+\off
	mov	%edx, DUMP+\off+4
.endm

	.section .rodata.guest, "a"
	.code64
GUEST_BEGIN(state_dump64)
	mov	%rax, DUMP+0x00
	mov	%rcx, DUMP+0x08
	mov	%rdx, DUMP+0x10
	mov	%rbx, DUMP+0x18
	mov	%rsp, DUMP+0x20
	mov	%rbp, DUMP+0x28
	mov	%rsi, DUMP+0x30
	mov	%rdi, DUMP+0x38
	mov	%r8, DUMP+0x40
	mov	%r9, DUMP+0x48
	mov	%r10, DUMP+0x50
	mov	%r11, DUMP+0x58
	mov	%r12, DUMP+0x60
	mov	%r13, DUMP+0x68
	mov	%r14, DUMP+0x70
	mov	%r15, DUMP+0x78
	pushfq
	pop	%rax
	mov	%rax, DUMP+0x80

	sgdt	DUMP+0x100
	sidt	DUMP+0x110
	sldt	DUMP+0x120
	str	DUMP+0x128
	mov	%es, DUMP+0x130
	mov	%cs, DUMP+0x132
	mov	%ss, DUMP+0x134
	mov	%ds, DUMP+0x136
	mov	%fs, DUMP+0x138
	mov	%gs, DUMP+0x13A

	mov	%cr0, %rax
	mov	%rax, DUMP+0x140
	mov	%cr2, %rax
	mov	%rax, DUMP+0x148
	mov	%cr3, %rax
	mov	%rax, DUMP+0x150
	mov	%cr4, %rax
	mov	%rax, DUMP+0x158
	mov	%cr8, %rax
	mov	%rax, DUMP+0x160

	mov	%dr0, %rax
	mov	%rax, DUMP+0x170
	mov	%dr1, %rax
	mov	%rax, DUMP+0x178
	mov	%dr2, %rax
	mov	%rax, DUMP+0x180
	mov	%dr3, %rax
	mov	%rax, DUMP+0x188
	mov	%dr6, %rax
	mov	%rax, DUMP+0x190
	mov	%dr7, %rax
	mov	%rax, DUMP+0x198

	STORE_MSR 0xC0000080, 0x1A0	/* EFER */
	STORE_MSR 0xC0000081, 0x1A8	/* STAR */
	STORE_MSR 0xC0000082, 0x1B0	/* LSTAR */
	STORE_MSR 0xC0000083, 0x1B8	/* CSTAR */
	STORE_MSR 0xC0000084, 0x1C0	/* SFMASK */
	STORE_MSR 0xC0000102, 0x1C8	/* KERNELGSBASE */
	STORE_MSR 0x174, 0x1D0		/* SYSENTER_CS */
	STORE_MSR 0x175, 0x1D8		/* SYSENTER_ESP */
	STORE_MSR 0x176, 0x1E0		/* SYSENTER_EIP */
	STORE_MSR 0x277, 0x1E8		/* PAT */
	STORE_MSR 0xC0000100, 0x1F0	/* FSBASE */
	STORE_MSR 0xC0000101, 0x1F8	/* GSBASE */
	rdtsc
	mov	%eax, DUMP+0x200
	mov	%edx, DUMP+0x204

	fxsave64 DUMP+0x1000
	TEST_END
GUEST_END(state_dump64)

/* XCR0 apart: not every KVM emulates XGETBV (PVM does not). */
GUEST_BEGIN(state_xgetbv64)
	xor	%ecx, %ecx
	xgetbv
	mov	%eax, DUMP+0x168
	mov	%edx, DUMP+0x16C
	TEST_END
GUEST_END(state_xgetbv64)

GUEST_BEGIN(state_fxprobe64)
	fxrstor64 FXPROBE
	fxsave64 FXPROBE+0x200
	TEST_END
GUEST_END(state_fxprobe64)

GUEST_BEGIN(state_halt64)
1:	add	%rbx, %rax
	hlt
	jmp	1b
GUEST_END(state_halt64)

/* Load FS from CX and halt; store FS in EAX and halt; over and over. */
GUEST_BEGIN(state_fsload64)
1:	mov	%ecx, %fs
	hlt
	mov	%fs, %eax
	hlt
	jmp	1b
GUEST_END(state_fsload64)

/* OUT of AL to port 0x80, AL counting up, forever. */
GUEST_BEGIN(state_out64)
1:	out	%al, $0x80
	inc	%al
	jmp	1b
GUEST_END(state_out64)

	.code16
GUEST_BEGIN(state_reset16)
2:	mov	%dx, 0x500
	pushfl
	popl	%eax
	mov	%eax, 0x504
	mov	%cr0, %eax
	mov	%eax, 0x508
	mov	%cr4, %eax
	mov	%eax, 0x50C
	mov	%dr6, %eax
	mov	%eax, 0x510
	mov	%dr7, %eax
	mov	%eax, 0x514
	mov	%cs, 0x518
	mov	%ds, 0x51A
	fnstcw	0x51C
	fnstsw	0x51E
	hlt
	.globl state_reset16_halted
state_reset16_halted:
	.fill	0xF0 - (. - state_reset16_begin), 1, 0x90
	jmp	2b		/* the RESET vector, 0xFFFFFFF0 */
	.fill	0x100 - (. - state_reset16_begin), 1, 0xF4
GUEST_END(state_reset16)

	.section .note.GNU-stack, "", @progbits
