/*
 * Shared by the state tests: the dump area state_dump64 fills (see
 * tests/guests/state_guests.S) and field-by-field comparison helpers that
 * name every mismatch.
 */
#ifndef NVMM_TEST_STATE_UTIL_H
#define NVMM_TEST_STATE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define DUMP_GPA	0x20000
#define DUMP_FPU	0x1000		/* offset of the FXSAVE image */
#define DUMP_STACK	0x1FF00		/* RSP for state_dump64 */
#define FXPROBE_GPA	0x22000		/* state_fxprobe64: image in, out +0x200 */

/* What state_dump64 stores, at DUMP_GPA. */
struct dump {
	uint64_t gprs[16];		/* RAX..R15 as the guest was entered */
	uint64_t rflags;		/* 0x80 */
	uint8_t pad0[0x100 - 0x88];
	uint16_t gdt_limit;		/* 0x100: sgdt */
	uint64_t gdt_base;
	uint8_t pad1[6];
	uint16_t idt_limit;		/* 0x110: sidt */
	uint64_t idt_base;
	uint8_t pad2[6];
	uint16_t ldtr;			/* 0x120 */
	uint8_t pad3[6];
	uint16_t tr;			/* 0x128 */
	uint8_t pad4[6];
	uint16_t sel[6];		/* 0x130: ES CS SS DS FS GS */
	uint8_t pad5[4];
	uint64_t cr0, cr2, cr3, cr4, cr8, xcr0;	/* 0x140 */
	uint64_t dr[6];			/* 0x170: DR0-3, DR6, DR7 */
	uint64_t efer, star, lstar, cstar, sfmask, kgsbase;	/* 0x1A0 */
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip, pat;
	uint64_t fsbase, gsbase;	/* 0x1F0 */
	uint64_t tsc;			/* 0x200 */
} __attribute__((packed));

_Static_assert(offsetof(struct dump, gdt_limit) == 0x100, "dump layout");
_Static_assert(offsetof(struct dump, sel) == 0x130, "dump layout");
_Static_assert(offsetof(struct dump, cr0) == 0x140, "dump layout");
_Static_assert(offsetof(struct dump, dr) == 0x170, "dump layout");
_Static_assert(offsetof(struct dump, efer) == 0x1A0, "dump layout");
_Static_assert(offsetof(struct dump, fsbase) == 0x1F0, "dump layout");
_Static_assert(offsetof(struct dump, tsc) == 0x200, "dump layout");

static inline const struct dump *
dump_of(const struct t_vm *vm)
{
	return (const struct dump *)(vm->ram + DUMP_GPA);
}

static inline const struct nvmm_x64_state_fpu *
dump_fpu(const struct t_vm *vm)
{
	return (const struct nvmm_x64_state_fpu *)(vm->ram + DUMP_GPA +
	    DUMP_FPU);
}

/* ---- Comparisons that count and name mismatches ------------------------ */

static inline void
cmp_u64(unsigned int *bad, const char *name, uint64_t got, uint64_t want)
{
	if (got == want)
		return;
	(*bad)++;
	t_diag("  %s: got 0x%llx, want 0x%llx", name,
	    (unsigned long long)got, (unsigned long long)want);
}

static inline void
cmp_seg(unsigned int *bad, const char *name,
    const struct nvmm_x64_state_seg *got, const struct nvmm_x64_state_seg *want)
{
	uint16_t ga, wa;

	memcpy(&ga, &got->attrib, sizeof(ga));
	memcpy(&wa, &want->attrib, sizeof(wa));
	if (got->selector == want->selector && got->limit == want->limit &&
	    got->base == want->base && ga == wa)
		return;
	(*bad)++;
	t_diag("  %s: got sel 0x%x base 0x%llx limit 0x%x attrib 0x%x, "
	    "want sel 0x%x base 0x%llx limit 0x%x attrib 0x%x", name,
	    got->selector, (unsigned long long)got->base, got->limit, ga,
	    want->selector, (unsigned long long)want->base, want->limit, wa);
}

static const char *const seg_names[NVMM_X64_NSEG] = {
	"ES", "CS", "SS", "DS", "FS", "GS", "GDT", "IDT", "LDT", "TR",
};
static const char *const gpr_names[NVMM_X64_NGPR] = {
	"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI", "R8", "R9",
	"R10", "R11", "R12", "R13", "R14", "R15", "RIP", "RFLAGS",
};
static const char *const cr_names[NVMM_X64_NCR] = {
	"CR0", "CR2", "CR3", "CR4", "CR8", "XCR0",
};
static const char *const dr_names[NVMM_X64_NDR] = {
	"DR0", "DR1", "DR2", "DR3", "DR6", "DR7",
};
static const char *const msr_names[NVMM_X64_NMSR] = {
	"EFER", "STAR", "LSTAR", "CSTAR", "SFMASK", "KERNELGSBASE",
	"SYSENTER_CS", "SYSENTER_ESP", "SYSENTER_EIP", "PAT", "TSC",
};

/* The architectural parts of two FXSAVE images. */
static inline void
cmp_fpu(unsigned int *bad, const struct nvmm_x64_state_fpu *got,
    const struct nvmm_x64_state_fpu *want, bool pointers)
{
	char name[32];

	cmp_u64(bad, "fx_cw", got->fx_cw, want->fx_cw);
	cmp_u64(bad, "fx_sw", got->fx_sw, want->fx_sw);
	cmp_u64(bad, "fx_tw", got->fx_tw, want->fx_tw);
	if (pointers) {
		cmp_u64(bad, "fx_opcode", got->fx_opcode, want->fx_opcode);
		cmp_u64(bad, "fx_ip", got->fx_ip.fa_64, want->fx_ip.fa_64);
		cmp_u64(bad, "fx_dp", got->fx_dp.fa_64, want->fx_dp.fa_64);
	}
	cmp_u64(bad, "fx_mxcsr", got->fx_mxcsr, want->fx_mxcsr);
	cmp_u64(bad, "fx_mxcsr_mask", got->fx_mxcsr_mask, want->fx_mxcsr_mask);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "ST%d significand", i);
		cmp_u64(bad, name, got->fx_87_ac[i].mm_significand,
		    want->fx_87_ac[i].mm_significand);
		snprintf(name, sizeof(name), "ST%d exp/sign", i);
		cmp_u64(bad, name, got->fx_87_ac[i].mm_exp_sign,
		    want->fx_87_ac[i].mm_exp_sign);
	}
	for (int i = 0; i < 16; i++) {
		uint64_t g[2], w[2];

		memcpy(g, got->fx_xmm[i].xmm_bytes, 16);
		memcpy(w, want->fx_xmm[i].xmm_bytes, 16);
		snprintf(name, sizeof(name), "XMM%d low", i);
		cmp_u64(bad, name, g[0], w[0]);
		snprintf(name, sizeof(name), "XMM%d high", i);
		cmp_u64(bad, name, g[1], w[1]);
	}
}

#endif /* NVMM_TEST_STATE_UTIL_H */
