/*
 * TPR (CR8). NVMM on VMX can exit when the guest writes CR8
 * (NVMM_VCPU_CONF_TPR, NVMM_VCPU_EXIT_TPR_CHANGED); on SVM it cannot and
 * does not advertise it. KVM without an in-kernel APIC never exits on a
 * CR8 raise, so we are NVMM-on-SVM everywhere: no capability bit, the
 * configuration refused with EINVAL, CR8 writes handled in the kernel and
 * visible in exitstate.cr8 and the CRS state, in both directions.
 */
#include <errno.h>
#include <string.h>

#include "x86.h"

T_GUEST(x86_tpr);
extern const uint8_t x86_tpr_raise[], x86_tpr_lower[], x86_tpr_read[];

static struct t_vm vm;

/*
 * Run from label to the RDMSR at its end; count the other exits the
 * emulator sees before it. NONE does not count: KVM with hardware
 * intercepts stops on a CR8 decrease (KVM_EXIT_SET_TPR), which reaches the
 * emulator as NVMM_VCPU_EXIT_NONE, as any host-side stop does.
 */
static bool
run_to_rdmsr(const uint8_t *label, unsigned int *others)
{
	unsigned int none = 0;
	uint64_t r;

	x86_restart(&vm, x86_code_gpa(x86_tpr_begin, label), 0x2);
	*others = 0;
	while ((r = x86_run_once(&vm)) != NVMM_VCPU_EXIT_RDMSR &&
	    *others + none < 16) {
		if (r == NVMM_VCPU_EXIT_NONE)
			none++;
		else
			(*others)++;
	}
	if (none > 0)
		t_diag("  %u NONE exit(s) on the way", none);
	return r == NVMM_VCPU_EXIT_RDMSR;
}

static uint64_t
state_cr8(void)
{
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	return vm.vcpu.state->crs[NVMM_X64_CR_CR8];
}

static void
test_conf(void)
{
	struct nvmm_vcpu_conf_tpr tpr;
	struct nvmm_capability cap;

	T_CHECK(nvmm_capability(&cap));
	t_ok(!(cap.arch.vcpu_conf_support & NVMM_CAP_ARCH_VCPU_CONF_TPR),
	    "NVMM_CAP_ARCH_VCPU_CONF_TPR not advertised (as NVMM on SVM)");
	memset(&tpr, 0, sizeof(tpr));
	tpr.exit_changed = 1;
	t_errno(nvmm_vcpu_configure(&vm.mach, &vm.vcpu, NVMM_VCPU_CONF_TPR,
	    &tpr), EINVAL, "NVMM_VCPU_CONF_TPR exit_changed=1: EINVAL");
	tpr.exit_changed = 0;
	t_errno(nvmm_vcpu_configure(&vm.mach, &vm.vcpu, NVMM_VCPU_CONF_TPR,
	    &tpr), EINVAL, "NVMM_VCPU_CONF_TPR exit_changed=0: EINVAL");
}

static void
test_writes(void)
{
	const struct nvmm_vcpu_exit *exit = vm.vcpu.exit;
	unsigned int others;

	t_ok(run_to_rdmsr(x86_tpr_raise, &others) && others == 0,
	    "CR8 0 -> 3: no exit of its own");
	t_eq_u64(exit->exitstate.cr8, 3, "CR8 0 -> 3: exitstate.cr8");
	t_eq_u64(state_cr8(), 3, "CR8 0 -> 3: getstate(CRS)");

	t_ok(run_to_rdmsr(x86_tpr_lower, &others) && others == 0,
	    "CR8 3 -> 0: no exit of its own");
	t_eq_u64(exit->exitstate.cr8, 0, "CR8 3 -> 0: exitstate.cr8");
	t_eq_u64(state_cr8(), 0, "CR8 3 -> 0: getstate(CRS)");
}

static void
test_setstate(void)
{
	unsigned int others;

	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	vm.vcpu.state->crs[NVMM_X64_CR_CR8] = 7;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	t_ok(run_to_rdmsr(x86_tpr_read, &others) &&
	    x86_gpr(&vm, NVMM_X64_GPR_RAX) == 7,
	    "setstate(CRS) CR8 = 7: the guest reads 7");
	t_eq_u64(vm.vcpu.exit->exitstate.cr8, 7, "... and exitstate.cr8");
}

int
main(void)
{
	t_require_nvmm();
	t_plan(3 + 6 + 2);

	x86_vm_create(&vm, x86_tpr_begin, x86_tpr_end);
	test_conf();
	test_writes();
	test_setstate();
	t_vm_destroy(&vm);
	return t_done();
}
