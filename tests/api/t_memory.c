/*
 * Host and guest mapping errors: alignment, zero sizes, wrapping and
 * out-of-range ranges, overlaps (EEXIST for host ranges, EINVAL for guest
 * ranges), the 32 host mappings limit (ENOBUFS), unmaps that match nothing
 * (ENOENT / ESRCH), and EBUSY for a host range the guest still maps (our
 * Linux choice: KVM reads guest memory through the process's mappings).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define PAGE		4096UL
#define POOL_PAGES	64

static uintptr_t pool;	/* POOL_PAGES pages of ours */

static uintptr_t
page(unsigned int i)
{
	return pool + i * PAGE;
}

/* ---- nvmm_hva_map / nvmm_hva_unmap ------------------------------------------ */

static void
hva_map_errors(struct nvmm_machine *m)
{
	t_errno(nvmm_hva_map(m, 0, PAGE), EINVAL, "hva_map hva 0: EINVAL");
	t_errno(nvmm_hva_map(m, page(0) + 8, PAGE), EINVAL,
	    "hva_map unaligned hva: EINVAL");
	t_errno(nvmm_hva_map(m, page(0), 0), EINVAL, "hva_map size 0: EINVAL");
	t_errno(nvmm_hva_map(m, page(0), PAGE + 1), EINVAL,
	    "hva_map unaligned size: EINVAL");
	t_errno(nvmm_hva_map(m, UINTPTR_MAX & ~(PAGE - 1), 2 * PAGE), EINVAL,
	    "hva_map range wrapping around: EINVAL");
	t_errno(nvmm_hva_map(m, page(0), SIZE_MAX & ~(PAGE - 1)), EINVAL,
	    "hva_map huge size wrapping around: EINVAL");

	T_CHECK(nvmm_hva_map(m, page(8), 8 * PAGE));
	t_errno(nvmm_hva_map(m, page(4), 8 * PAGE), EEXIST,
	    "hva_map straddling the start of a mapping: EEXIST");
	t_errno(nvmm_hva_map(m, page(12), 8 * PAGE), EEXIST,
	    "hva_map straddling the end of a mapping: EEXIST");
	t_errno(nvmm_hva_map(m, page(4), 16 * PAGE), EEXIST,
	    "hva_map covering a mapping: EEXIST");
	t_ok(nvmm_hva_map(m, page(10), 2 * PAGE) == 0,
	    "hva_map inside a mapping: accepted, as NVMM");
	t_ok(nvmm_hva_map(m, page(8), 8 * PAGE) == 0,
	    "hva_map of exactly a mapping: accepted (inside)");
	t_ok(nvmm_hva_map(m, page(16), PAGE) == 0,
	    "hva_map adjacent to a mapping: 0");
}

static void
hva_unmap_errors(struct nvmm_machine *m)
{
	t_errno(nvmm_hva_unmap(m, page(30), PAGE), ENOENT,
	    "hva_unmap of nothing mapped: ENOENT");
	t_errno(nvmm_hva_unmap(m, page(8), 4 * PAGE), ENOENT,
	    "hva_unmap of the start of a mapping: ENOENT");
	t_errno(nvmm_hva_unmap(m, page(9), 7 * PAGE), ENOENT,
	    "hva_unmap of the end of a mapping: ENOENT");
	t_errno(nvmm_hva_unmap(m, page(8), 9 * PAGE), ENOENT,
	    "hva_unmap beyond a mapping: ENOENT");
	t_ok(nvmm_hva_unmap(m, page(16), PAGE) == 0, "hva_unmap exact: 0");
	t_errno(nvmm_hva_unmap(m, page(16), PAGE), ENOENT,
	    "hva_unmap twice: ENOENT");
}

/* ---- nvmm_gpa_map / nvmm_gpa_unmap ------------------------------------------- */

static void
gpa_map_errors(struct nvmm_machine *m)
{
	const int rw = PROT_READ | PROT_WRITE;
	uintptr_t h = page(8);

	t_errno(nvmm_gpa_map(m, h, 0, PAGE, 0x8), EINVAL,
	    "gpa_map prot 0x8: EINVAL");
	t_errno(nvmm_gpa_map(m, h, 0, PAGE, -1), EINVAL,
	    "gpa_map prot -1: EINVAL");
	t_errno(nvmm_gpa_map(m, 0, 0, PAGE, rw), EINVAL,
	    "gpa_map hva 0: EINVAL");
	t_errno(nvmm_gpa_map(m, h + 16, 0, PAGE, rw), EINVAL,
	    "gpa_map unaligned hva: EINVAL");
	t_errno(nvmm_gpa_map(m, h, 0x10, PAGE, rw), EINVAL,
	    "gpa_map unaligned gpa: EINVAL");
	t_errno(nvmm_gpa_map(m, h, 0, 100, rw), EINVAL,
	    "gpa_map unaligned size: EINVAL");
	t_errno(nvmm_gpa_map(m, h, 0, 0, rw), EINVAL, "gpa_map size 0: EINVAL");
	t_errno(nvmm_gpa_map(m, h, NVMM_MAX_RAM, PAGE, rw), EINVAL,
	    "gpa_map at max_ram: EINVAL");
	t_errno(nvmm_gpa_map(m, h, NVMM_MAX_RAM - PAGE, 2 * PAGE, rw), EINVAL,
	    "gpa_map across max_ram: EINVAL");
	t_errno(nvmm_gpa_map(m, h, UINT64_MAX & ~(PAGE - 1), 2 * PAGE, rw),
	    EINVAL, "gpa_map wrapping gpa range: EINVAL");
	t_errno(nvmm_gpa_map(m, page(40), 0, PAGE, rw), EINVAL,
	    "gpa_map of an hva no host mapping holds: EINVAL");
	t_errno(nvmm_gpa_map(m, page(12), 0, 8 * PAGE, rw), EINVAL,
	    "gpa_map running past the end of a host mapping: EINVAL");

	T_CHECK(nvmm_hva_map(m, page(16), 4 * PAGE));
	t_errno(nvmm_gpa_map(m, page(14), 0, 4 * PAGE, rw), EINVAL,
	    "gpa_map across two adjacent host mappings: EINVAL");

	T_CHECK(nvmm_gpa_map(m, h, 0x100000, 4 * PAGE, rw));
	t_errno(nvmm_gpa_map(m, page(16), 0x100000, PAGE, rw), EINVAL,
	    "gpa_map on the same gpa: EINVAL");
	t_errno(nvmm_gpa_map(m, page(16), 0x103000, 2 * PAGE, rw), EINVAL,
	    "gpa_map overlapping the end of an area: EINVAL");
	t_errno(nvmm_gpa_map(m, page(16), 0xFF000, 2 * PAGE, rw), EINVAL,
	    "gpa_map overlapping the start of an area: EINVAL");
	t_ok(nvmm_gpa_map(m, page(16), 0x104000, PAGE, rw) == 0,
	    "gpa_map right after an area: 0");
	t_ok(nvmm_gpa_map(m, h, 0x200000, PAGE, PROT_READ) == 0,
	    "gpa_map of an hva already guest-mapped elsewhere: 0");
}

static void
gpa_unmap_errors(struct nvmm_machine *m)
{
	uintptr_t h = page(8);

	t_errno(nvmm_gpa_unmap(m, h, 0x300000, PAGE), ESRCH,
	    "gpa_unmap of nothing mapped: ESRCH");
	t_errno(nvmm_gpa_unmap(m, h, 0x100000, PAGE), ESRCH,
	    "gpa_unmap of part of an area: ESRCH");
	t_errno(nvmm_gpa_unmap(m, page(9), 0x100000, 4 * PAGE), ESRCH,
	    "gpa_unmap with another hva: ESRCH");
	t_errno(nvmm_gpa_unmap(m, h, 0x100000, 8 * PAGE), ESRCH,
	    "gpa_unmap larger than the area: ESRCH");

	t_errno(nvmm_hva_unmap(m, page(8), 8 * PAGE), EBUSY,
	    "hva_unmap while the guest maps it: EBUSY");
	t_ok(nvmm_gpa_unmap(m, h, 0x100000, 4 * PAGE) == 0,
	    "gpa_unmap exact: 0");
	t_errno(nvmm_gpa_unmap(m, h, 0x100000, 4 * PAGE), ESRCH,
	    "gpa_unmap twice: ESRCH");
	t_errno(nvmm_hva_unmap(m, page(8), 8 * PAGE), EBUSY,
	    "hva_unmap while another area still maps it: EBUSY");
	T_CHECK(nvmm_gpa_unmap(m, h, 0x200000, PAGE));
	t_ok(nvmm_hva_unmap(m, page(8), 8 * PAGE) == 0,
	    "hva_unmap once no area maps it: 0");
	t_ok(nvmm_gpa_unmap(m, page(16), 0x104000, PAGE) == 0,
	    "gpa_unmap of the other area: 0");
}

/* The last page below max_ram maps and unmaps (DragonFly's h_misc). */
static void
last_page(struct nvmm_machine *m)
{
	uintptr_t h = page(16);
	uintptr_t hva;
	nvmm_prot_t prot;

	t_ok(nvmm_gpa_map(m, h, NVMM_MAX_RAM - PAGE, PAGE, PROT_READ) == 0,
	    "gpa_map of the last page below max_ram: 0");
	t_ok(nvmm_gpa_to_hva(m, NVMM_MAX_RAM - 1, &hva, &prot) == 0 &&
	    hva == h + PAGE - 1 && prot == NVMM_PROT_READ,
	    "gpa_to_hva of its last byte");
	t_ok(nvmm_gpa_unmap(m, h, NVMM_MAX_RAM - PAGE, PAGE) == 0,
	    "gpa_unmap of the last page: 0");
}

/* 32 host mappings per machine, as NVMM. */
static void
hmapping_limit(void)
{
	struct nvmm_machine m;
	unsigned int n = 0;
	bool ok = true;

	T_CHECK(nvmm_machine_create(&m));
	for (n = 0; n < NVMM_MAX_HMAPPINGS; n++)
		ok &= nvmm_hva_map(&m, page(2 * n), PAGE) == 0;
	t_ok(ok, "32 host mappings");
	t_errno(nvmm_hva_map(&m, page(2 * n), PAGE), ENOBUFS,
	    "a 33rd host mapping: ENOBUFS");
	T_CHECK(nvmm_hva_unmap(&m, page(0), PAGE));
	t_ok(nvmm_hva_map(&m, page(2 * n), PAGE) == 0,
	    "after one hva_unmap, another fits");
	T_CHECK(nvmm_machine_destroy(&m));
}

int
main(void)
{
	struct nvmm_machine m;
	void *p;

	t_require_nvmm();
	t_plan(12 + 6 + 18 + 10 + 3 + 3);

	p = mmap(NULL, POOL_PAGES * PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	pool = (uintptr_t)p;

	T_CHECK(nvmm_machine_create(&m));
	hva_map_errors(&m);
	hva_unmap_errors(&m);
	gpa_map_errors(&m);
	gpa_unmap_errors(&m);
	last_page(&m);
	T_CHECK(nvmm_machine_destroy(&m));
	hmapping_limit();
	return t_done();
}
