/*
 * Lifetimes and guest memory: creating a machine with its vCPU, creating
 * 128 machines, and mapping 1 GiB that a guest then touches page by page.
 * Raw KVM does what the brief of each row says a raw VMM does; libnvmm
 * also registers the machine system-wide, installs its MSR filter and
 * CPUID table and fills the kvm_run sync area.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define NMACH	128

/* ---- Machine + vCPU ------------------------------------------------------------ */

static double
raw_create(void *ctx, unsigned int n)
{
	double s[n];

	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		struct raw_vm vm;
		uint64_t t0 = op_begin();

		check(raw_create_bare(&vm, true), "KVM_CREATE_VM/VCPU");
		s[i] = op_end(t0);
		raw_destroy_bare(&vm);
	}
	return samples_median(s, n);
}

static double
nv_create(void *ctx, unsigned int n)
{
	double s[n];

	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		struct nvmm_machine mach;
		struct nvmm_vcpu vcpu;
		uint64_t t0 = op_begin();

		check(nvmm_machine_create(&mach), "nvmm_machine_create");
		check(nvmm_vcpu_create(&mach, 0, &vcpu), "nvmm_vcpu_create");
		s[i] = op_end(t0);
		check(nvmm_machine_destroy(&mach), "nvmm_machine_destroy");
	}
	return samples_median(s, n);
}

static double
raw_destroy(void *ctx, unsigned int n)
{
	double s[n];

	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		struct raw_vm vm;
		uint64_t t0;

		check(raw_create_bare(&vm, true), "KVM_CREATE_VM/VCPU");
		t0 = op_begin();
		raw_destroy_bare(&vm);
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

static double
nv_destroy(void *ctx, unsigned int n)
{
	double s[n];

	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		struct nvmm_machine mach;
		struct nvmm_vcpu vcpu;
		uint64_t t0;

		check(nvmm_machine_create(&mach), "nvmm_machine_create");
		check(nvmm_vcpu_create(&mach, 0, &vcpu), "nvmm_vcpu_create");
		t0 = op_begin();
		check(nvmm_machine_destroy(&mach), "nvmm_machine_destroy");
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

/* ---- 128 machines ------------------------------------------------------------------ */

static double
raw_create_128(void *ctx, unsigned int n)
{
	int fds[NMACH];
	double s[n];

	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();

		for (unsigned int j = 0; j < NMACH; j++)
			check(fds[j] = raw_vm_fd_create(), "KVM_CREATE_VM");
		s[i] = op_end(t0);
		for (unsigned int j = 0; j < NMACH; j++)
			close(fds[j]);
	}
	return samples_median(s, n);
}

static double
nv_create_128(void *ctx, unsigned int n)
{
	static struct nvmm_machine m[NMACH];
	double s[n];

	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();

		for (unsigned int j = 0; j < NMACH; j++)
			check(nvmm_machine_create(&m[j]), "nvmm_machine_create");
		s[i] = op_end(t0);
		for (unsigned int j = 0; j < NMACH; j++)
			check(nvmm_machine_destroy(&m[j]), "nvmm_machine_destroy");
	}
	return samples_median(s, n);
}

void
bench_lifetimes(void)
{
	/*
	 * Short batches: KVM's VM teardown waits for RCU, whose delays come
	 * and go with the host's load.
	 */
	struct pair create = {
		.raw = raw_create, .lib = nv_create,
		.n = 4, .reps = 45, .count_n = 20, .isolated = true,
	};
	struct pair destroy = {
		.raw = raw_destroy, .lib = nv_destroy,
		.n = 4, .reps = 45, .count_n = 20, .isolated = true,
	};
	struct pair many = {
		.raw = raw_create_128, .lib = nv_create_128,
		.n = 1, .reps = 11, .count_n = 1, .isolated = true,
	};
	struct result r;

	table_section("lifetimes");
	r = pair_run(&create);
	table_row("machine_create + vcpu_create", "us", 1e3, &r, 0);
	r = pair_run(&destroy);
	table_row("machine_destroy (1 vCPU)", "us", 1e3, &r, 0);
	r = pair_run(&many);
	table_row("create 128 machines (no vCPU)", "ms", 1e6, &r, 0);
}
