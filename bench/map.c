/*
 * 1 GiB of guest memory: mapped (mmap plus hva_map + gpa_map, or one KVM
 * memory slot), touched by the guest one write per 4 KiB page, then torn
 * down. Every page costs a host page fault and a nested page table fill,
 * on both sides alike; the rows show that libnvmm adds nothing per page.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define MAP_REPS	5

struct map_times {
	double map, touch, teardown;	/* ns */
};

static void *
big_alloc(void)
{
	void *p = mmap(NULL, G_BIG_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap 1 GiB: %s", strerror(errno));
	return p;
}

static struct map_times
raw_big(void)
{
	struct map_times t;
	struct raw_vm vm;
	uint64_t t0, t1, t2;
	void *big;

	raw_vm_create(&vm, GUEST_TOUCH, false);
	t0 = now_ns();
	big = big_alloc();
	check(raw_map(&vm, 1, G_BIG, big, G_BIG_SIZE), "KVM_SET_USER_MEMORY_REGION");
	t1 = now_ns();
	if (raw_run(&vm) != KVM_EXIT_HLT)
		die("touch: KVM exit %u", vm.run->exit_reason);
	t2 = now_ns();
	raw_vm_destroy(&vm);
	munmap(big, G_BIG_SIZE);
	t.map = (double)(t1 - t0);
	t.touch = (double)(t2 - t1);
	t.teardown = (double)(now_ns() - t2);
	return t;
}

static struct map_times
nv_big(void)
{
	struct map_times t;
	struct nv_vm vm;
	uint64_t t0, t1, t2;
	void *big;

	nv_vm_create(&vm, GUEST_TOUCH);
	t0 = now_ns();
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
	t.map = (double)(t1 - t0);
	t.touch = (double)(t2 - t1);
	t.teardown = (double)(now_ns() - t2);
	return t;
}

void
bench_big_map(void)
{
	unsigned int reps = MAP_REPS;
	double rm[MAP_REPS], rt[MAP_REPS], rd[MAP_REPS];
	double lm[MAP_REPS], lt[MAP_REPS], ld[MAP_REPS];
	struct result r = { 0 };

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
		rm[i] = a.map, rt[i] = a.touch, rd[i] = a.teardown;
		lm[i] = b.map, lt[i] = b.touch, ld[i] = b.teardown;
	}
	table_section("guest memory, 1 GiB");
	r.raw = median(rm, reps), r.lib = median(lm, reps);
	table_row("map: mmap + hva_map + gpa_map", "us", 1e3, &r, 0);
	r.raw = median(rt, reps), r.lib = median(lt, reps);
	table_row("guest touches each 4 KiB page", "ms", 1e6, &r, 0);
	r.raw = median(rd, reps), r.lib = median(ld, reps);
	table_row("teardown: destroy + munmap", "ms", 1e6, &r, 0);
}
