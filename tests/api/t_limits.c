/*
 * Limits: 128 machines system-wide (the 129th gets ENOBUFS), vCPU ids
 * 0..127 in one machine (all 128 at once, and the last one runs), id 128
 * (EINVAL), an id already in use (EBUSY). The registry is private to this
 * test so that machines of tests running in parallel do not count.
 */
#include <errno.h>
#include <string.h>

#include "api_util.h"
#include "harness.h"

T_GUEST(api_count64);

static struct nvmm_machine machines[NVMM_MAX_MACHINES];

static void
machine_limit(void)
{
	struct nvmm_machine extra;
	unsigned int n = 0;
	bool ids_ok = true;

	for (n = 0; n < NVMM_MAX_MACHINES; n++) {
		if (nvmm_machine_create(&machines[n]) == -1) {
			t_diag("machine %u: %s", n, strerror(errno));
			break;
		}
		ids_ok &= (machines[n].machid == n);
	}
	t_eq_u64(n, NVMM_MAX_MACHINES, "128 machines");
	t_ok(ids_ok, "ids 0..127, lowest free first");
	t_errno(nvmm_machine_create(&extra), ENOBUFS,
	    "the 129th machine: ENOBUFS");

	T_CHECK(nvmm_machine_destroy(&machines[57]));
	t_ok(nvmm_machine_create(&extra) == 0 && extra.machid == 57,
	    "after one destroy, a new machine gets the freed id");
	t_errno(nvmm_machine_create(&machines[57]), ENOBUFS,
	    "and the table is full again");
	machines[57] = extra;

	for (unsigned int i = 0; i < n; i++)
		T_CHECK(nvmm_machine_destroy(&machines[i]));
	t_ok(nvmm_machine_create(&extra) == 0 && extra.machid == 0,
	    "all destroyed: id 0 is free again");
	T_CHECK(nvmm_machine_destroy(&extra));
}

static struct nvmm_vcpu vcpus[NVMM_MAX_VCPUS];

static void
vcpu_limit(void)
{
	struct nvmm_vcpu extra;
	struct t_vm vm;
	unsigned int n;
	bool ok = true;
	int r;

	t_vm_create(&vm, 0);	/* vCPU 0 is vm.vcpu */
	t_vm_load(&vm, T_CODE_BASE, api_count64_begin, api_count64_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);

	for (n = 1; n < NVMM_MAX_VCPUS; n++) {
		if (nvmm_vcpu_create(&vm.mach, n, &vcpus[n]) == -1) {
			t_diag("vCPU %u: %s", n, strerror(errno));
			ok = false;
			break;
		}
		ok &= (vcpus[n].cpuid == n);
	}
	t_ok(ok, "vCPUs 0..127 in one machine");
	t_errno(nvmm_vcpu_create(&vm.mach, NVMM_MAX_VCPUS, &extra), EINVAL,
	    "vCPU id 128: EINVAL");
	t_errno(nvmm_vcpu_create(&vm.mach, UINT32_MAX, &extra), EINVAL,
	    "vCPU id 0xFFFFFFFF: EINVAL");
	t_errno(nvmm_vcpu_create(&vm.mach, 0, &extra), EBUSY,
	    "vCPU id 0 again: EBUSY");
	t_errno(nvmm_vcpu_create(&vm.mach, 127, &extra), EBUSY,
	    "vCPU id 127 again: EBUSY");

	/* The last one runs, with vCPU 0's state. */
	memcpy(vcpus[127].state, vm.vcpu.state, sizeof(*vm.vcpu.state));
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vcpus[127], NVMM_X64_STATE_ALL));
	T_CHECK(nvmm_vcpu_run(&vm.mach, &vcpus[127]));
	t_eq_u64(vcpus[127].exit->reason, NVMM_VCPU_EXIT_HALTED,
	    "vCPU 127 runs the guest");

	/* KVM keeps its vCPU: the backend gives it to the next vCPU 64. */
	T_CHECK(nvmm_vcpu_destroy(&vm.mach, &vcpus[64]));
	r = nvmm_vcpu_create(&vm.mach, 64, &vcpus[64]);
	t_ok(r == 0, "a destroyed vCPU id can be created again (%s)",
	    r == 0 ? "0" : strerror(errno));
	t_vm_destroy(&vm);
}

int
main(void)
{
	api_private_rundir("limits");
	t_require_nvmm();
	t_plan(6 + 7);
	machine_limit();
	vcpu_limit();
	return t_done();
}
