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
#ifndef LIFE_BLOCKS
#define LIFE_BLOCKS	24
#endif

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

/* ---- The rows ---------------------------------------------------------------------- */

/*
 * Every block in a process of its own (main.c, pair_block_spawn), as the
 * exit rows: a machine's cost depends on what the process has around it
 * (its heap and descriptor table, libnvmm's registry state, where code
 * and data lie), which stays put for a process's life. With one process
 * the interval over rounds saw only the host's noise, so the luck of one
 * layout went into the ratio whole; over blocks it is sampled. Short
 * batches within a block: KVM's VM teardown waits for RCU, whose delays
 * come and go with the host's load.
 */
static const struct life_row {
	const char *block;	/* nvmm-bench --block NAME */
	const char *name, *unit;
	double scale;
	measure_fn raw, lib;
	unsigned int n, reps, blocks, count_n;
} life_rows[] = {
	{ "create", "machine_create + vcpu_create", "us", 1e3,
	    raw_create, nv_create, 4, 144, LIFE_BLOCKS, 20 },
	{ "destroy", "machine_destroy (1 vCPU)", "us", 1e3,
	    raw_destroy, nv_destroy, 4, 144, LIFE_BLOCKS, 20 },
	/*
	 * 30-45 ms a batch, as long again to destroy: half the blocks, of 4
	 * rounds (6 with --aa, a whole cycle of orders).
	 */
	{ "create128", "create 128 machines (no vCPU)", "ms", 1e6,
	    raw_create_128, nv_create_128, 1, 36, LIFE_BLOCKS / 2, 1 },
};
#define NLIFE	(sizeof(life_rows) / sizeof(life_rows[0]))

/* A row's pair, the same in the table's process and in each block's. */
static struct pair
life_pair(const struct life_row *row)
{
	return (struct pair){
		.raw = row->raw, .lib = row->lib,
		.aa = bench_aa ? row->raw : NULL,
		.n = row->n, .reps = row->reps, .count_n = row->count_n,
		.blocks = row->blocks, .block = row->block, .isolated = true,
	};
}

int
bench_life_block(const char *row, unsigned int first, unsigned int rounds)
{
	for (size_t i = 0; i < NLIFE; i++) {
		struct pair p;

		if (strcmp(row, life_rows[i].block) != 0)
			continue;
		p = life_pair(&life_rows[i]);
		pair_block_print(&p, first, rounds);
		return 0;
	}
	return -1;
}

void
bench_lifetimes(void)
{
	table_section("lifetimes");
	for (size_t i = 0; i < NLIFE; i++) {
		const struct life_row *row = &life_rows[i];
		struct pair p = life_pair(row);
		struct result r = pair_run(&p);

		table_row(row->name, row->unit, row->scale, &r, 0);
		if (bench_aa)
			table_aa_row("    A/A: raw copy vs raw", row->unit,
			    row->scale, &r);
	}
}
