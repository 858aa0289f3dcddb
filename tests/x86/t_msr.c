/*
 * MSR semantics (spec 3.13): NVMM's in-kernel MSRs never reach the
 * emulator; every other RDMSR/WRMSR exits with msr, val and npc, and the
 * emulator's answer (RAX/RDX and RIP = npc, an injected #GP, nothing, or
 * another RIP) is what the guest sees.
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include "x86.h"

T_GUEST(x86_msr);
extern const uint8_t x86_msr_rd[], x86_msr_wr[], x86_msr_elsewhere[];

#define RD	x86_code_gpa(x86_msr_begin, x86_msr_rd)
#define WR	x86_code_gpa(x86_msr_begin, x86_msr_wr)

static struct t_vm vm;

/* Start an access: RIP at the rdmsr/wrmsr stub, ECX, EDX:EAX. */
static void
msr_start(uint64_t rip, uint32_t msr, uint64_t val)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	x86_restart(&vm, rip, 0x2);
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RCX] = msr;
	st->gprs[NVMM_X64_GPR_RAX] = val & 0xFFFFFFFF;
	st->gprs[NVMM_X64_GPR_RDX] = val >> 32;
	for (int r = NVMM_X64_GPR_R8; r <= NVMM_X64_GPR_R10; r++)
		st->gprs[r] = 0;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
}

/* The emulator's answer to an RDMSR exit, as NVMM's emulators give it. */
static void
msr_answer(uint64_t val, uint64_t npc)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RAX] = val & 0xFFFFFFFF;
	st->gprs[NVMM_X64_GPR_RDX] = val >> 32;
	st->gprs[NVMM_X64_GPR_RIP] = npc;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
}

/* An access started, run to its exit, answered: the state holds the GPRS. */
static void
msr_answered(uint64_t rip, uint32_t msr, uint64_t val, uint64_t answer)
{
	const struct nvmm_vcpu_exit *exit = vm.vcpu.exit;

	msr_start(rip, msr, val);
	(void)x86_run_once(&vm);
	msr_answer(answer, rip == RD ? exit->u.rdmsr.npc : exit->u.wrmsr.npc);
}

static uint64_t
msr_guest_read(void)
{
	return x86_gpr(&vm, NVMM_X64_GPR_R8) |
	    x86_gpr(&vm, NVMM_X64_GPR_R9) << 32;
}

/* ---- MSRs that exit ---------------------------------------------------------- */

/* NVMM's tests end on 0xFFFFFFFF, 0, 0x34 or 0x1000; toyvirt reads 0x1B. */
static const uint32_t exiting_msrs[] = {
	0xFFFFFFFF, 0x0, 0x34, 0x1000, 0x1B,
	0x802,		/* x2APIC id: no in-kernel APIC here, as in NVMM */
	0xC0010004,	/* a PMU counter: NVMM has no PMU */
};

static void
test_rdmsr_exits(uint32_t msr)
{
	const struct nvmm_vcpu_exit *exit = vm.vcpu.exit;
	uint64_t val = 0xFEE00900ULL | (uint64_t)msr << 32;
	bool ok;

	msr_start(RD, msr, 0);
	ok = x86_run_once(&vm) == NVMM_VCPU_EXIT_RDMSR;
	t_ok(ok && exit->u.rdmsr.msr == msr && exit->u.rdmsr.npc == RD + 2,
	    "rdmsr 0x%x exits RDMSR with msr and npc", msr);
	t_eq_u64(x86_gpr(&vm, NVMM_X64_GPR_RIP), RD,
	    "rdmsr 0x%x: RIP not advanced at the exit", msr);
	msr_answer(val, exit->u.rdmsr.npc);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED && msr_guest_read() == val,
	    "rdmsr 0x%x: the guest reads the emulator's EDX:EAX", msr);
}

/*
 * An answer that also changes another GPR, or puts bits above 31 in RAX:
 * KVM's own completion would not give these registers, so they must
 * reach the guest as the emulator set them.
 */
static void
test_rdmsr_more_gprs(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	msr_answered(RD, 0x34, 0, 0x1122334455667788ULL);
	st->gprs[NVMM_X64_GPR_R10] = 0xABCDEF;
	st->gprs[NVMM_X64_GPR_RAX] |= 0x9900000000ULL;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0xABCDEF &&
	    x86_gpr(&vm, NVMM_X64_GPR_RAX) == 0x9955667788ULL,
	    "rdmsr answered with R10 and RAX[63:32] set too: the guest has "
	    "them");
}

/*
 * Answers that fit KVM's own completion (RAX and RDX within 32 bits, RIP
 * = npc) but change another GPR too: KVM must get them. The guest's code
 * after the instruction does not touch RBX, R10 (rdmsr) or R11 (wrmsr).
 */
static void
test_msr_answer_other_gprs(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	msr_answered(RD, 0x34, 0, 0x1122334455667788ULL);
	st->gprs[NVMM_X64_GPR_RBX] = 0x5150;
	st->gprs[NVMM_X64_GPR_R10] = 0xABCDEF;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    msr_guest_read() == 0x1122334455667788ULL &&
	    x86_gpr(&vm, NVMM_X64_GPR_RBX) == 0x5150 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0xABCDEF,
	    "rdmsr answered with RBX and R10 set too: the guest has them");

	msr_answered(WR, 0x1B, 0x1234, 0x1234);
	st->gprs[NVMM_X64_GPR_RAX] = 0x77;
	st->gprs[NVMM_X64_GPR_R11] = 0xFEED;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_RAX) == 0x77 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R11) == 0xFEED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0x5A,
	    "wrmsr answered with RAX and R11 changed: the guest has them");
}

/*
 * The same, one GPR at a time: each that KVM's completion of an RDMSR
 * leaves alone and the guest's code after it does not write. The run
 * skips installing an answer only where all of them agree with KVM's
 * (run_msr_gprs_are_kvms()), so a change to any one must reach the guest.
 * RFLAGS too (CF, which the guest's code keeps), also after a WRMSR: KVM's
 * emulator, where it ran the instruction, writes back the flags of the
 * exit when it finishes.
 */
static void
test_msr_answer_each_gpr(void)
{
	static const int gprs[] = { NVMM_X64_GPR_RBX, NVMM_X64_GPR_RCX,
	    NVMM_X64_GPR_RSP, NVMM_X64_GPR_RBP, NVMM_X64_GPR_RSI,
	    NVMM_X64_GPR_RDI, NVMM_X64_GPR_R10, NVMM_X64_GPR_R11,
	    NVMM_X64_GPR_R12, NVMM_X64_GPR_R13, NVMM_X64_GPR_R14,
	    NVMM_X64_GPR_R15, NVMM_X64_GPR_RFLAGS };
	const size_t n = sizeof(gprs) / sizeof(gprs[0]);
	struct nvmm_x64_state *st = vm.vcpu.state;
	int missed = -1;

	/* The last round: RFLAGS after a WRMSR. */
	for (size_t i = 0; i <= n && missed == -1; i++) {
		int gpr = i < n ? gprs[i] : NVMM_X64_GPR_RFLAGS;
		uint64_t val = gpr == NVMM_X64_GPR_RFLAGS ? 0x3 : 0x5150000 + i;

		msr_answered(i < n ? RD : WR, 0x34, 0, 0);
		st->gprs[gpr] = val;
		T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu,
		    NVMM_X64_STATE_GPRS));
		if (t_vm_run(&vm) != NVMM_VCPU_EXIT_HALTED ||
		    x86_gpr(&vm, gpr) != val)
			missed = (int)i;
	}
	t_ok(missed == -1, "rdmsr answered with one more GPR changed, each "
	    "in turn, and wrmsr with RFLAGS: the guest has it (missed: "
	    "round %d)", missed);
}

static void
test_wrmsr_exits(uint32_t msr)
{
	const struct nvmm_vcpu_exit *exit = vm.vcpu.exit;
	uint64_t val = 0x8765432112345678ULL ^ msr;
	bool ok;

	msr_start(WR, msr, val);
	ok = x86_run_once(&vm) == NVMM_VCPU_EXIT_WRMSR;
	t_ok(ok && exit->u.wrmsr.msr == msr && exit->u.wrmsr.val == val &&
	    exit->u.wrmsr.npc == WR + 2,
	    "wrmsr 0x%x exits WRMSR with msr, val and npc", msr);
	msr_answer(val, exit->u.wrmsr.npc);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0x5A,
	    "wrmsr 0x%x: the guest continues at npc", msr);
}

/* No answer: the instruction runs again and exits again. */
static void
test_no_answer(void)
{
	const struct nvmm_vcpu_exit *exit = vm.vcpu.exit;
	bool ok;

	msr_start(RD, 0x1B, 0);
	ok = x86_run_once(&vm) == NVMM_VCPU_EXIT_RDMSR;
	ok = ok && x86_run_once(&vm) == NVMM_VCPU_EXIT_RDMSR &&
	    exit->u.rdmsr.msr == 0x1B && exit->u.rdmsr.npc == RD + 2;
	t_ok(ok && x86_gpr(&vm, NVMM_X64_GPR_RIP) == RD &&
	    x86_gpr(&vm, NVMM_X64_GPR_R8) == 0,
	    "unanswered rdmsr runs again: the same exit");
	msr_answer(0x42, exit->u.rdmsr.npc);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED && msr_guest_read() == 0x42,
	    "then answered, the guest reads the value");

	msr_start(WR, 0x1B, 0x1234);
	ok = x86_run_once(&vm) == NVMM_VCPU_EXIT_WRMSR;
	t_ok(ok && x86_run_once(&vm) == NVMM_VCPU_EXIT_WRMSR &&
	    exit->u.wrmsr.val == 0x1234 && x86_gpr(&vm, NVMM_X64_GPR_R10) == 0,
	    "unanswered wrmsr runs again: the same exit");
}

/* The emulator moves RIP somewhere else: honoured, the MSR never done. */
static void
test_rip_elsewhere(void)
{
	msr_start(RD, 0x1B, 0);
	if (x86_run_once(&vm) != NVMM_VCPU_EXIT_RDMSR)
		t_diag("no RDMSR exit");
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RIP,
	    x86_code_gpa(x86_msr_begin, x86_msr_elsewhere));
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0x77 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R8) == 0,
	    "rdmsr answered with another RIP: the guest goes there");
}

/* The emulator injects #GP: the guest's handler sees it at the insn. */
static void
test_gp_answer(uint64_t rip, uint64_t reason, uint64_t error)
{
	msr_start(rip, 0x1B, 0x1);
	if (x86_run_once(&vm) != reason)
		t_diag("no MSR exit");
	x86_inject(&vm, NVMM_VCPU_EVENT_EXCP, 13, error);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R12) == 13 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R13) == error &&
	    x86_gpr(&vm, NVMM_X64_GPR_R14) == rip,
	    "%s answered with #GP(0x%llx): handler, error code, RIP at insn",
	    rip == RD ? "rdmsr" : "wrmsr", (unsigned long long)error);
}

/*
 * #GP with the emulator's GPRs committed too (RIP left on the insn): KVM
 * injects the #GP itself, and the committed RBX and RFLAGS (CF) must
 * still be what the handler sees (R15: RFLAGS in the frame).
 */
static void
test_gp_answer_with_gprs(uint64_t rip, uint64_t reason)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	msr_start(rip, 0x1B, 0x1);
	if (x86_run_once(&vm) != reason)
		t_diag("no MSR exit");
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RBX] = 0x5150;
	st->gprs[NVMM_X64_GPR_RFLAGS] |= 0x1;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	x86_inject(&vm, NVMM_VCPU_EVENT_EXCP, 13, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R12) == 13 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R14) == rip &&
	    (x86_gpr(&vm, NVMM_X64_GPR_R15) & 0x1) &&
	    x86_gpr(&vm, NVMM_X64_GPR_RBX) == 0x5150,
	    "%s answered with #GP and RBX, CF committed: the handler sees them",
	    rip == RD ? "rdmsr" : "wrmsr");
}

/* ---- MSRs NVMM handles in its kernel ---------------------------------------- */

struct inkernel {
	uint32_t msr;
	int idx;		/* msrs[] index, -1: a segment base */
	int seg;
	uint64_t val;
	uint64_t flip;		/* val ^ flip: another valid value */
};

static const struct inkernel inkernel[] = {
	{ 0xC0000081, NVMM_X64_MSR_STAR, 0, 0x0023001000000000ULL, 0x1B },
	{ 0xC0000082, NVMM_X64_MSR_LSTAR, 0, 0xFFFFFFFF81000000ULL, 0x1000 },
	{ 0xC0000083, NVMM_X64_MSR_CSTAR, 0, 0xFFFFFFFF81000100ULL, 0x2000 },
	{ 0xC0000084, NVMM_X64_MSR_SFMASK, 0, 0x47700, 0x200 },
	{ 0xC0000102, NVMM_X64_MSR_KERNELGSBASE, 0, 0xFFFF888000001000ULL, 1 },
	{ 0x174, NVMM_X64_MSR_SYSENTER_CS, 0, 0x10, 0x20 },
	{ 0x175, NVMM_X64_MSR_SYSENTER_ESP, 0, 0xFFFFFE0000001000ULL, 0x3000 },
	{ 0x176, NVMM_X64_MSR_SYSENTER_EIP, 0, 0xFFFFFFFF81800000ULL, 0x3000 },
	{ 0x277, NVMM_X64_MSR_PAT, 0, 0x0007010600070106ULL, 0x100000000ULL },
	{ 0xC0000100, -1, NVMM_X64_SEG_FS, 0x7F0000001000ULL, 0x3000 },
	{ 0xC0000101, -1, NVMM_X64_SEG_GS, 0x7F0000002000ULL, 0x3000 },
};
#define NINKERNEL	(sizeof(inkernel) / sizeof(inkernel[0]))

static void
inkernel_state(bool set, size_t i, uint64_t *val)
{
	struct nvmm_x64_state *st = vm.vcpu.state;
	const struct inkernel *k = &inkernel[i];
	uint64_t flags = k->idx >= 0 ? NVMM_X64_STATE_MSRS :
	    NVMM_X64_STATE_SEGS;

	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, flags));
	if (!set) {
		*val = k->idx >= 0 ? st->msrs[k->idx] : st->segs[k->seg].base;
		return;
	}
	if (k->idx >= 0)
		st->msrs[k->idx] = *val;
	else
		st->segs[k->seg].base = *val;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, flags));
}

/* State -> guest rdmsr, and guest wrmsr -> state, without exits. */
static void
test_inkernel(size_t i)
{
	uint32_t msr = inkernel[i].msr;
	uint64_t val = inkernel[i].val, got = 0;

	inkernel_state(true, i, &val);
	msr_start(RD, msr, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    msr_guest_read() == val,
	    "rdmsr 0x%x stays in the kernel and reads the state", msr);
	val ^= inkernel[i].flip;
	msr_start(WR, msr, val);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED,
	    "wrmsr 0x%x stays in the kernel", msr);
	inkernel_state(false, i, &got);
	t_eq_u64(got, val, "wrmsr 0x%x reaches the state", msr);
}

/* Whether setstate reaches the guest's TSC here (see DESIGN.md 7). */
static bool
tsc_settable(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_MSRS));
	st->msrs[NVMM_X64_MSR_TSC] = 0x4000000000000ULL;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_MSRS));
	msr_start(RD, 0x10, 0);
	return t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    msr_guest_read() - 0x4000000000000ULL < (1ULL << 40);
}

static void
test_inkernel_misc(void)
{
	uint64_t tsc, misc;
	bool settable;

	msr_start(RD, 0xC0000080, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    msr_guest_read() == 0xD01, "rdmsr EFER stays in the kernel");

	settable = tsc_settable();
	msr_start(WR, 0x10, 0x100000000ULL);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED,
	    "wrmsr TSC stays in the kernel");
	msr_start(RD, 0x10, 0);
	tsc = (t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED) ? msr_guest_read() : 0;
	if (settable || tsc - 0x100000000ULL < (1ULL << 40))
		t_ok(tsc - 0x100000000ULL < (1ULL << 40),
		    "rdmsr TSC stays in the kernel and follows the write");
	else
		t_skip("this host's KVM does not offset the guest TSC "
		    "(setstate cannot either)");

	msr_start(RD, 0x1A0, 0);
	misc = (t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED) ? msr_guest_read() :
	    ~0ULL;
	t_ok(misc != ~0ULL && (misc & (1u << 11 | 1u << 12)) ==
	    (1u << 11 | 1u << 12) && !(misc & (1u << 18 | 1u << 16 | 1u << 7)),
	    "rdmsr MISC_ENABLE stays in the kernel: BTS/PEBS unavailable, "
	    "no MWAIT/EIST/PERFMON (0x%llx)", (unsigned long long)misc);
	msr_start(WR, 0x1A0, misc | 1u << 18);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0x5A,
	    "wrmsr MISC_ENABLE stays in the kernel");
	msr_start(RD, 0x1A0, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED && msr_guest_read() == misc,
	    "wrmsr MISC_ENABLE is ignored, as in NVMM");
}

/* Invalid values of in-kernel MSRs: #GP in the guest, as NVMM's kernel. */
static void
test_inkernel_gp(uint32_t msr, uint64_t val, const char *what)
{
	msr_start(WR, msr, val);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R12) == 13 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R14) == WR &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0,
	    "wrmsr %s: #GP in the guest, no exit", what);
}

/*
 * The lowest non-canonical address for an MSR (LSTAR): a CPU that has LA57
 * checks WRMSR against 57 bits whatever CR4.LA57 says, and KVM (6.13 and
 * later) follows the host CPU there, not the guest's CPUID, which hides
 * LA57. NVMM passes LSTAR writes to the CPU too.
 */
static uint64_t
msr_noncanonical(void)
{
	unsigned int a, b, c = 0, d;

	if (__get_cpuid_max(0, NULL) >= 7)
		__cpuid_count(7, 0, a, b, c, d);
	return (c & 1u << 16) ? 1ULL << 56 : 1ULL << 47;
}

/* MSRs NVMM reads as 0 and whose writes it drops (per vendor). */
static void
test_ignored(uint32_t msr)
{
	msr_start(RD, msr, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R8) == 0 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R9) == 0,
	    "rdmsr 0x%x reads 0 without an exit", msr);
	msr_start(WR, msr, 0x1234);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0x5A,
	    "wrmsr 0x%x is dropped without an exit", msr);
}

static const uint32_t ignored_svm[] = { 0x8B, 0xC0010055, 0xC0011021,
    0xC0011029 };
static const uint32_t ignored_vmx[] = { 0x8B, 0x17 };

int
main(void)
{
	const size_t nexit = sizeof(exiting_msrs) / sizeof(exiting_msrs[0]);
	bool intel;

	t_require_nvmm();
	intel = x86_host_intel();
	t_plan(nexit * 3 + 1 + 2 + 1 + 3 * 2 + 3 + 1 + 3 + 2 + NINKERNEL * 3 + 6 +
	    3 +
	    2 * (intel ? 2 : 4));

	x86_vm_create(&vm, x86_msr_begin, x86_msr_end);
	for (size_t i = 0; i < nexit; i++)
		test_rdmsr_exits(exiting_msrs[i]);
	test_rdmsr_more_gprs();
	test_msr_answer_other_gprs();
	test_msr_answer_each_gpr();
	test_wrmsr_exits(0x1B);
	test_wrmsr_exits(0xFFFFFFFF);
	test_wrmsr_exits(0x34);
	test_no_answer();
	test_rip_elsewhere();
	test_gp_answer(RD, NVMM_VCPU_EXIT_RDMSR, 0);
	test_gp_answer(RD, NVMM_VCPU_EXIT_RDMSR, 0x28);
	test_gp_answer(WR, NVMM_VCPU_EXIT_WRMSR, 0);
	test_gp_answer_with_gprs(RD, NVMM_VCPU_EXIT_RDMSR);
	test_gp_answer_with_gprs(WR, NVMM_VCPU_EXIT_WRMSR);

	for (size_t i = 0; i < NINKERNEL; i++)
		test_inkernel(i);
	test_inkernel_misc();
	test_inkernel_gp(0x277, 0x0007040600070402ULL, "PAT with type 2");
	test_inkernel_gp(0xC0000082, msr_noncanonical(),
	    "LSTAR non-canonical");
	test_inkernel_gp(0xC0000080, 0xD01 | 1u << 3, "EFER reserved bit");
	for (size_t i = 0; i < (intel ? 2u : 4u); i++)
		test_ignored(intel ? ignored_vmx[i] : ignored_svm[i]);

	t_vm_destroy(&vm);
	return t_done();
}
