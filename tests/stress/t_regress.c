/*
 * Regressions found by the fuzzers (fuzz/) that a deterministic test pins
 * down; the races found by the stress test stay covered by t_stress.
 *
 * Nested host ranges (fuzz/corpus/api/seed-nested): a host range may be
 * registered inside another one. Unmapping the inner one used to munmap
 * memory the outer one still registered, and the page walker then read
 * guest page tables there and crashed (SIGSEGV in nvmm_gva_to_gpa).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define PAGE	4096UL

static bool
mapped(const uint8_t *p)
{
	return msync((void *)p, PAGE, MS_ASYNC) == 0;
}

static uint8_t *
area(size_t pages)
{
	void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	return p;
}

/* Paging on, CR3 at gpa 0x5000 (page 5 of the outer range), then a walk. */
static int
walk_tables_in(struct t_vm *vm)
{
	struct nvmm_x64_state *st = vm->vcpu.state;
	gpaddr_t gpa;
	nvmm_prot_t prot;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	st->crs[NVMM_X64_CR_CR0] |= 0x80000001;
	st->crs[NVMM_X64_CR_CR3] = 0x5000;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_CRS));
	return nvmm_gva_to_gpa(&vm->mach, &vm->vcpu, 0x1234, &gpa, &prot);
}

/* Outer 16 pages, inner pages 4-7: drop the inner, the guest keeps all. */
static void
inner_dropped(void)
{
	struct t_vm vm;
	uint8_t *outer = area(16);

	memset(&vm, 0, sizeof(vm));
	T_CHECK(nvmm_machine_create(&vm.mach));
	T_CHECK(nvmm_vcpu_create(&vm.mach, 0, &vm.vcpu));
	T_CHECK(nvmm_hva_map(&vm.mach, (uintptr_t)outer, 16 * PAGE));
	T_CHECK(nvmm_hva_map(&vm.mach, (uintptr_t)outer + 4 * PAGE, 4 * PAGE));
	T_CHECK(nvmm_hva_unmap(&vm.mach, (uintptr_t)outer + 4 * PAGE,
	    4 * PAGE));
	t_ok(mapped(outer + 5 * PAGE), "inner range unmapped: the outer "
	    "range keeps its memory");
	T_CHECK(nvmm_gpa_map(&vm.mach, (uintptr_t)outer, 0, 16 * PAGE,
	    PROT_READ | PROT_WRITE));
	t_ok(walk_tables_in(&vm) == -1 && errno == EFAULT,
	    "a walk through tables there: EFAULT (empty tables), no crash");
	T_CHECK(nvmm_machine_destroy(&vm.mach));
}

/* The outer range dropped: only the inner one stays mapped. */
static void
outer_dropped(void)
{
	struct nvmm_machine mach;
	uint8_t *outer = area(16);

	T_CHECK(nvmm_machine_create(&mach));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)outer, 16 * PAGE));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)outer + 4 * PAGE, 4 * PAGE));
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)outer, 16 * PAGE));
	t_ok(mapped(outer + 4 * PAGE) && mapped(outer + 7 * PAGE),
	    "outer range unmapped: the inner range keeps its memory");
	t_ok(!mapped(outer) && !mapped(outer + 8 * PAGE),
	    "outer range unmapped: the rest of it is gone");
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)outer + 4 * PAGE, 4 * PAGE));
	t_ok(!mapped(outer + 4 * PAGE), "the inner range unmapped in turn");
	T_CHECK(nvmm_machine_destroy(&mach));
}

/* The same range twice: it stays until the second unmap. */
static void
twice(void)
{
	struct nvmm_machine mach;
	uint8_t *p = area(2);

	T_CHECK(nvmm_machine_create(&mach));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)p, 2 * PAGE));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)p, 2 * PAGE));
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)p, 2 * PAGE));
	t_ok(mapped(p) && mapped(p + PAGE), "a range registered twice stays "
	    "after one unmap");
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)p, 2 * PAGE));
	t_ok(!mapped(p), "and goes after the second");
	T_CHECK(nvmm_machine_destroy(&mach));
}

int
main(void)
{
	t_require_nvmm();
	t_plan(7);
	inner_dropped();
	outer_dropped();
	twice();
	return t_done();
}
