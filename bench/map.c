/*
 * 1 GiB of guest memory: mapped (mmap plus hva_map + gpa_map, or one KVM
 * memory slot) many times over, then mapped once more per round, touched
 * by the guest one write per 4 KiB page and torn down. Every page costs a
 * host page fault and a nested page table fill, on both sides alike.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define MAP_REPS	7

/* ---- Mapping alone: many times, with its syscalls --------------------------- */

static void *
big_alloc(void)
{
	void *p = mmap(NULL, G_BIG_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap 1 GiB: %s", strerror(errno));
	return p;
}

static double
raw_map_only(void *ctx, unsigned int n)
{
	struct raw_vm *vm = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();
		void *big = big_alloc();

		check(raw_map(vm, 1, G_BIG, big, G_BIG_SIZE), "KVM_SET_USER_MEMORY_REGION");
		s[i] = op_end(t0);
		check(raw_map(vm, 1, G_BIG, big, 0), "KVM_SET_USER_MEMORY_REGION");
		munmap(big, G_BIG_SIZE);
	}
	return samples_median(s, n);
}

static double
nv_map_only(void *ctx, unsigned int n)
{
	struct nv_vm *vm = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();
		void *big = big_alloc();

		check(nvmm_hva_map(&vm->mach, (uintptr_t)big, G_BIG_SIZE),
		    "nvmm_hva_map");
		check(nvmm_gpa_map(&vm->mach, (uintptr_t)big, G_BIG, G_BIG_SIZE,
		    PROT_READ | PROT_WRITE), "nvmm_gpa_map");
		s[i] = op_end(t0);
		check(nvmm_gpa_unmap(&vm->mach, (uintptr_t)big, G_BIG,
		    G_BIG_SIZE), "nvmm_gpa_unmap");
		check(nvmm_hva_unmap(&vm->mach, (uintptr_t)big, G_BIG_SIZE),
		    "nvmm_hva_unmap");
	}
	return samples_median(s, n);
}

static struct result
map_only(void)
{
	struct raw_vm raw;
	struct nv_vm nv;
	struct pair p = {
		.raw = raw_map_only, .lib = nv_map_only,
		.raw_ctx = &raw, .lib_ctx = &nv,
		.n = 10, .reps = 11, .count_n = 10, .isolated = true,
	};
	struct result r;

	raw_vm_create(&raw, GUEST_TOUCH, 0);
	nv_vm_create(&nv, GUEST_TOUCH);
	r = pair_run(&p);
	raw_vm_destroy(&raw);
	nv_vm_destroy(&nv);
	return r;
}

/* ---- Map, touch, tear down ------------------------------------------------------ */

struct map_times {
	double touch, teardown;		/* ns */
};

static struct map_times
raw_big(void)
{
	struct map_times t = { 0, 0 };
	struct raw_vm vm;
	uint64_t t1, t2;
	void *big;

	raw_vm_create(&vm, GUEST_TOUCH, 0);
	big = big_alloc();
	check(raw_map(&vm, 1, G_BIG, big, G_BIG_SIZE), "KVM_SET_USER_MEMORY_REGION");
	t1 = now_ns();
	if (raw_run(&vm) != KVM_EXIT_HLT)
		die("touch: KVM exit %u", vm.run->exit_reason);
	t2 = now_ns();
	raw_vm_destroy(&vm);
	munmap(big, G_BIG_SIZE);
	t.touch = (double)(t2 - t1);
	t.teardown = (double)(now_ns() - t2);
	return t;
}

static struct map_times
nv_big(void)
{
	struct map_times t = { 0, 0 };
	struct nv_vm vm;
	uint64_t t1, t2;
	void *big;

	nv_vm_create(&vm, GUEST_TOUCH);
	big = big_alloc();
	check(nvmm_hva_map(&vm.mach, (uintptr_t)big, G_BIG_SIZE), "nvmm_hva_map");
	check(nvmm_gpa_map(&vm.mach, (uintptr_t)big, G_BIG, G_BIG_SIZE,
	    PROT_READ | PROT_WRITE), "nvmm_gpa_map");
	t1 = now_ns();
	if (nv_run(&vm) != NVMM_VCPU_EXIT_HALTED)
		die("touch: NVMM exit 0x%llx",
		    (unsigned long long)vm.vcpu.exit->reason);
	t2 = now_ns();
	nv_vm_destroy(&vm);
	munmap(big, G_BIG_SIZE);
	t.touch = (double)(t2 - t1);
	t.teardown = (double)(now_ns() - t2);
	return t;
}

void
bench_big_map(void)
{
	unsigned int reps = MAP_REPS;
	double rt[MAP_REPS], rd[MAP_REPS], lt[MAP_REPS], ld[MAP_REPS];
	struct result r = map_only();

	if (bench_reps_scale > 1)
		reps = 1;
	for (unsigned int i = 0; i < reps; i++) {
		struct map_times a, b;

		/* Alternate who goes first: the host's free memory drifts. */
		if (i & 1) {
			b = nv_big();
			a = raw_big();
		} else {
			a = raw_big();
			b = nv_big();
		}
		rt[i] = a.touch, rd[i] = a.teardown;
		lt[i] = b.touch, ld[i] = b.teardown;
	}
	table_section("guest memory, 1 GiB");
	table_row("map: mmap + hva_map + gpa_map", "us", 1e3, &r, 0);
	r = (struct result){ 0 };
	r.q = ratio_estimate(lt, rt, reps);
	r.raw = median(rt, reps), r.lib = median(lt, reps);
	table_row("guest touches each 4 KiB page", "ms", 1e6, &r, 0);
	r.q = ratio_estimate(ld, rd, reps);
	r.raw = median(rd, reps), r.lib = median(ld, reps);
	table_row("teardown: destroy + munmap", "ms", 1e6, &r, 0);
}
