/*
 * State classes, one at a time, on a vCPU that halts in a loop:
 * - getstate after a run (the run invalidated libnvmm's cache): raw KVM
 *   does the classic GET ioctl(s) of the class;
 * - commit: setstate then run, less a bare run; raw KVM does the SET
 *   ioctl(s) then KVM_RUN, less its own bare run.
 */
#include <linux/kvm.h>

#include "bench.h"

#define NCLASSES	7

static const struct {
	uint64_t flag;
	const char *get, *commit;
} classes[NCLASSES] = {
	{ NVMM_X64_STATE_GPRS, "getstate GPRS", "setstate GPRS + run: commit" },
	{ NVMM_X64_STATE_SEGS, "getstate SEGS", "setstate SEGS + run: commit" },
	{ NVMM_X64_STATE_CRS, "getstate CRS", "setstate CRS + run: commit" },
	{ NVMM_X64_STATE_DRS, "getstate DRS", "setstate DRS + run: commit" },
	{ NVMM_X64_STATE_MSRS, "getstate MSRS", "setstate MSRS + run: commit" },
	{ NVMM_X64_STATE_INTR, "getstate INTR", "setstate INTR + run: commit" },
	{ NVMM_X64_STATE_FPU, "getstate FPU", "setstate FPU + run: commit" },
};

struct state_raw {
	struct raw_vm vm;
	struct raw_state *st;
	uint64_t cls;		/* 0: a bare run */
};

struct state_nv {
	struct nv_vm vm;
	uint64_t cls;
};

static void
raw_halt(struct raw_vm *vm)
{
	uint32_t r = raw_run(vm);

	if (r != KVM_EXIT_HLT)
		die("state: KVM exit %u", r);
}

static void
nv_halt(struct nv_vm *vm)
{
	uint64_t r = nv_run(vm);

	if (r != NVMM_VCPU_EXIT_HALTED)
		die("state: NVMM exit 0x%llx", (unsigned long long)r);
}

/* ---- getstate --------------------------------------------------------------- */

static double
raw_get(void *ctx, unsigned int n)
{
	struct state_raw *c = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0;

		raw_halt(&c->vm);
		t0 = op_begin();
		raw_state_get(&c->vm, c->st, c->cls);
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

static double
nv_get(void *ctx, unsigned int n)
{
	struct state_nv *c = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0;

		nv_halt(&c->vm);
		t0 = op_begin();
		check(nvmm_vcpu_getstate(&c->vm.mach, &c->vm.vcpu, c->cls),
		    "nvmm_vcpu_getstate");
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

/* ---- setstate + run ---------------------------------------------------------- */

static double
raw_commit(void *ctx, unsigned int n)
{
	struct state_raw *c = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();

		if (c->cls != 0)
			raw_state_set(&c->vm, c->st, c->cls);
		raw_halt(&c->vm);
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

static double
nv_commit(void *ctx, unsigned int n)
{
	struct state_nv *c = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();

		if (c->cls != 0)
			check(nvmm_vcpu_setstate(&c->vm.mach, &c->vm.vcpu,
			    c->cls), "nvmm_vcpu_setstate");
		nv_halt(&c->vm);
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

/* A bare run on the same vCPU: what the commit rows take out. */
static double
raw_bare(void *ctx, unsigned int n)
{
	struct state_raw *c = ctx;
	uint64_t cls = c->cls;
	double t;

	c->cls = 0;
	t = raw_commit(c, n);
	c->cls = cls;
	return t;
}

static double
nv_bare(void *ctx, unsigned int n)
{
	struct state_nv *c = ctx;
	uint64_t cls = c->cls;
	double t;

	c->cls = 0;
	t = nv_commit(c, n);
	c->cls = cls;
	return t;
}

/* ---- The rows ----------------------------------------------------------------- */

/* bare: commit rows, less a bare run timed in the same round. */
static struct result
state_measure(measure_fn raw, measure_fn lib, struct state_raw *r,
    struct state_nv *v, uint64_t cls, bool bare)
{
	struct pair p = {
		.raw = raw, .lib = lib, .raw_ctx = r, .lib_ctx = v,
		.raw_base = bare ? raw_bare : NULL,
		.lib_base = bare ? nv_bare : NULL,
		.n = 400, .reps = 15, .count_n = 400, .isolated = true,
	};

	r->cls = v->cls = cls;
	return pair_run(&p);
}

void
bench_state(void)
{
	struct state_raw raw = { .st = raw_state_alloc() };
	struct state_nv nv = { .cls = 0 };
	struct result get[NCLASSES], commit[NCLASSES], bare;

	raw_vm_create(&raw.vm, GUEST_HLT, 0);
	nv_vm_create(&nv.vm, GUEST_HLT);
	/* Values to set back: the state after one halt. */
	raw_halt(&raw.vm);
	raw_state_get(&raw.vm, raw.st, NVMM_X64_STATE_ALL);
	nv_halt(&nv.vm);
	check(nvmm_vcpu_getstate(&nv.vm.mach, &nv.vm.vcpu, NVMM_X64_STATE_ALL),
	    "nvmm_vcpu_getstate");

	bare = state_measure(raw_commit, nv_commit, &raw, &nv, 0, false);
	for (unsigned int i = 0; i < NCLASSES; i++) {
		get[i] = state_measure(raw_get, nv_get, &raw, &nv,
		    classes[i].flag, false);
		commit[i] = state_measure(raw_commit, nv_commit, &raw, &nv,
		    classes[i].flag, true);
	}

	table_section("state, one class (ns per call; raw: the class's GET/SET ioctls)");
	for (unsigned int i = 0; i < NCLASSES; i++)
		table_row(classes[i].get, "ns", 1, &get[i], 0);
	table_row("run alone (HLT), the commit baseline", "ns", 1, &bare, 0);
	for (unsigned int i = 0; i < NCLASSES; i++)
		table_row(classes[i].commit, "ns", 1, &commit[i], 0);
	raw_vm_destroy(&raw.vm);
	nv_vm_destroy(&nv.vm);
}
