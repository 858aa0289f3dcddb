/*
 * Instructions for which NVMM has an exit or an in-kernel answer that
 * KVM does not give the same way. Each starts at its own label and ends
 * in HLT; R10 = 0x5A shows that execution went on past the instruction.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64

#define CASE(name, insn...)			\
	.globl name;				\
name:						\
	insn;					\
	mov	$0x5A, %r10;			\
	hlt

GUEST_BEGIN(x86_insn)
CASE(x86_insn_monitor, xor %ecx, %ecx; xor %edx, %edx; mov $0x50000, %rax; monitor)
CASE(x86_insn_mwait, xor %ecx, %ecx; xor %eax, %eax; mwait)
CASE(x86_insn_vmmcall, vmmcall)
CASE(x86_insn_vmcall, vmcall)
CASE(x86_insn_rdtscp, rdtscp)
CASE(x86_insn_rdpmc, xor %ecx, %ecx; rdpmc)
CASE(x86_insn_xsetbv, xor %ecx, %ecx; mov $0x7, %eax; xor %edx, %edx; xsetbv)
CASE(x86_insn_cpuid, mov $0x40000000, %eax; cpuid)
CASE(x86_insn_pause, pause)
CASE(x86_insn_fninit, fninit)
CASE(x86_insn_fld1, fld1; fstp %st(0))
CASE(x86_insn_xorps, xorps %xmm1, %xmm0)
CASE(x86_insn_addsd, addsd %xmm1, %xmm0)
GUEST_END(x86_insn)

	.section .note.GNU-stack, "", @progbits
