/*
 * Instructions NVMM turns into exits or answers in its kernel, and what a
 * guest gets from them here. KVM has no MONITOR/MWAIT/CPUID exits for
 * user space: libnvmm(3) "Linux" says what happens instead, and this test
 * keeps that text true.
 */
#include <errno.h>
#include <string.h>

#include "x86.h"

T_GUEST(x86_insn);
extern const uint8_t x86_insn_monitor[], x86_insn_mwait[], x86_insn_vmmcall[],
    x86_insn_vmcall[], x86_insn_rdtscp[], x86_insn_rdpmc[], x86_insn_xsetbv[],
    x86_insn_cpuid[], x86_insn_pause[], x86_insn_fninit[], x86_insn_fld1[],
    x86_insn_xorps[], x86_insn_addsd[];

#define KVM_ENOSYS	1000	/* KVM's "no such hypercall" (RAX = -1000) */

static struct t_vm vm;

static uint64_t
gpa(const uint8_t *label)
{
	return x86_code_gpa(x86_insn_begin, label);
}

static uint64_t
run_at(const uint8_t *label)
{
	x86_restart(&vm, gpa(label), 0x2);
	t_vm_set_gpr(&vm, NVMM_X64_GPR_R10, 0);
	return t_vm_run(&vm);
}

/* The guest took #vector at the instruction, nothing after it ran. */
static bool
faulted(uint64_t reason, uint64_t vector, const uint8_t *label)
{
	return reason == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R12) == vector &&
	    x86_gpr(&vm, NVMM_X64_GPR_R14) == gpa(label) &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0;
}

static bool
went_on(uint64_t reason)
{
	return reason == NVMM_VCPU_EXIT_HALTED &&
	    x86_gpr(&vm, NVMM_X64_GPR_R12) == 0 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R10) == 0x5A;
}

/*
 * MONITOR/MWAIT: with hardware intercepts KVM raises #UD itself (CPUID
 * shows no MONITOR); where KVM meets them as #UD (PVM) they exit as in
 * NVMM, RIP on the instruction, and the emulator decides.
 */
static void
test_monitor_mwait(const uint8_t *label, uint64_t reason, const char *name)
{
	const struct nvmm_vcpu_exit *exit = vm.vcpu.exit;
	uint64_t r = run_at(label);
	uint64_t start = gpa(label) + (name[1] == 'O' ? 11 : 4);

	if (!x86_host_pvm()) {
		t_ok(faulted(r, 6, label + (start - gpa(label))),
		    "%s: #UD in the guest, no exit", name);
		t_skip("%s exits only where KVM sees it as #UD", name);
		t_skip("%s exits only where KVM sees it as #UD", name);
		return;
	}
	t_ok(r == reason && exit->u.insn.npc == start + 3 &&
	    x86_gpr(&vm, NVMM_X64_GPR_RIP) == start,
	    "%s exits as NVMM_VCPU_EXIT_%s, RIP on it, npc after it", name,
	    name);
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RIP, exit->u.insn.npc);
	t_ok(went_on(t_vm_run(&vm)), "%s: RIP = npc goes on (NOP)", name);
	x86_restart(&vm, start, 0x2);
	(void)t_vm_run(&vm);
	x86_inject(&vm, NVMM_VCPU_EVENT_EXCP, 6, 0);
	r = t_vm_run(&vm);
	t_ok(r == NVMM_VCPU_EXIT_HALTED && x86_gpr(&vm, NVMM_X64_GPR_R12) == 6 &&
	    x86_gpr(&vm, NVMM_X64_GPR_R14) == start,
	    "%s: an injected #UD lands on it (QEMU's answer)", name);
}

/* VMCALL and VMMCALL: #UD in NVMM; KVM keeps its own hypercall. */
static void
test_hypercalls(void)
{
	const uint8_t *native = x86_host_intel() ? x86_insn_vmcall :
	    x86_insn_vmmcall;
	const uint8_t *other = x86_host_intel() ? x86_insn_vmmcall :
	    x86_insn_vmcall;
	uint64_t r;

	uint8_t before[3];

	memcpy(before, vm.ram + gpa(other), 3);
	t_ok(faulted(run_at(other), 6, other) &&
	    memcmp(before, vm.ram + gpa(other), 3) == 0,
	    "the other vendor's hypercall insn: #UD, guest code untouched");
	r = run_at(native);
	if (x86_host_pvm())
		t_ok(faulted(r, 6, native), "the native hypercall insn: #UD");
	else
		t_ok(went_on(r) && x86_gpr(&vm, NVMM_X64_GPR_RAX) ==
		    (uint64_t)-KVM_ENOSYS,
		    "the native hypercall insn: KVM's, RAX = -KVM_ENOSYS");
}

static void
test_others(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	t_ok(faulted(run_at(x86_insn_rdtscp), 6, x86_insn_rdtscp),
	    "RDTSCP: #UD, as CPUID shows none");
	if (!x86_kvm_param("enable_pmu"))
		t_ok(faulted(run_at(x86_insn_rdpmc) , 13, x86_insn_rdpmc + 2) &&
		    x86_gpr(&vm, NVMM_X64_GPR_R13) == 0,
		    "RDPMC: #GP(0) (KVM's PMU is off here; NVMM: #UD)");
	else
		t_ok(run_at(x86_insn_rdpmc) == NVMM_VCPU_EXIT_HALTED,
		    "RDPMC: handled by KVM, no exit (NVMM: #UD)");
	t_ok(went_on(run_at(x86_insn_cpuid)) &&
	    x86_gpr(&vm, NVMM_X64_GPR_RAX) == 0x40000000,
	    "CPUID: no exit");
	t_ok(went_on(run_at(x86_insn_pause)), "PAUSE: no exit");

	/* XSETBV: in the kernel, checked against xcr0_mask (x87|SSE). */
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	st->crs[NVMM_X64_CR_CR4] |= 1ULL << 18;		/* OSXSAVE */
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	if (x86_host_pvm())
		t_ok(went_on(run_at(x86_insn_xsetbv)),
		    "XSETBV of AVX: taken (PVM checks the host's XCR0 only; "
		    "NVMM: #GP)");
	else
		t_ok(faulted(run_at(x86_insn_xsetbv), 13, x86_insn_xsetbv + 9),
		    "XSETBV of a component outside xcr0_mask: #GP");
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RIP, gpa(x86_insn_xsetbv) + 9);
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RAX, 3);
	t_vm_set_gpr(&vm, NVMM_X64_GPR_R12, 0);
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RSP] = X86_STACK_TOP;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	t_ok(went_on(t_vm_run(&vm)), "XSETBV of x87|SSE: no exit");
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	t_eq_u64(st->crs[NVMM_X64_CR_XCR0], 3, "XSETBV reaches state XCR0");
}

/*
 * x87 and SSE at CPL0. On PVM hosts they reach KVM's emulator, which
 * gives up on nearly all of them: the run ends with INVALID, hwcode
 * KVM_EXIT_INTERNAL_ERROR (17) << 32 | KVM_INTERNAL_ERROR_EMULATION (1),
 * as libnvmm(3) "PVM hosts" says (raw KVM stops the same way there). The
 * few it emulates (FNINIT, FNSTCW, FXSAVE) run. Elsewhere the guest runs
 * them all.
 */
static void
test_fpu(void)
{
	static const struct {
		const uint8_t *label;
		const char *name;
	} insns[] = {
		{ x86_insn_fld1, "x87 FLD1" },
		{ x86_insn_xorps, "SSE XORPS" },
		{ x86_insn_addsd, "SSE2 ADDSD" },
	};
	struct nvmm_x64_state *st = vm.vcpu.state;
	const struct nvmm_vcpu_exit *exit = vm.vcpu.exit;

	/* SSE needs CR4.OSFXSR, x87 and SSE CR0.EM and CR0.TS clear. */
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	st->crs[NVMM_X64_CR_CR4] |= 1ULL << 9;
	st->crs[NVMM_X64_CR_CR0] &= ~((1ULL << 2) | (1ULL << 3));
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	for (size_t i = 0; i < sizeof(insns) / sizeof(insns[0]); i++) {
		uint64_t r = run_at(insns[i].label);

		if (x86_host_pvm()) {
			t_ok(r == NVMM_VCPU_EXIT_INVALID &&
			    exit->u.inv.hwcode == 0x1100000001ULL,
			    "%s at CPL0 (PVM): INVALID, hwcode 0x1100000001",
			    insns[i].name);
			if (r == NVMM_VCPU_EXIT_INVALID)
				t_diag("  hwcode 0x%llx",
				    (unsigned long long)exit->u.inv.hwcode);
		} else {
			t_ok(went_on(r), "%s at CPL0: runs, no exit",
			    insns[i].name);
		}
	}
	t_ok(went_on(run_at(x86_insn_fninit)), "x87 FNINIT at CPL0: runs");
}

int
main(void)
{
	t_require_nvmm();
	t_plan(3 + 3 + 2 + 7 + 4);

	x86_vm_create(&vm, x86_insn_begin, x86_insn_end);
	test_monitor_mwait(x86_insn_monitor, NVMM_VCPU_EXIT_MONITOR, "MONITOR");
	test_monitor_mwait(x86_insn_mwait, NVMM_VCPU_EXIT_MWAIT, "MWAIT");
	test_hypercalls();
	test_others();
	test_fpu();
	t_vm_destroy(&vm);
	return t_done();
}
