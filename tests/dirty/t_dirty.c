/*
 * Dirty-page tracking (nvmm_gpa_dirty_*, the Linux extension): the errno of
 * each bad input, pages the guest writes are reported and pages it reads
 * are not, each write once per clearing fetch, fetch without clearing and
 * clear of chosen pages, ranges over part of an area and over two areas,
 * vCPUs writing on several threads while another thread fetches, a tracked
 * range unmapped, and a machine destroyed while it tracks. Built twice: on
 * libnvmm, and on its small-slots variant (tests/slots) where the data
 * area spans two KVM slots and writes around their boundary count too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

T_GUEST(dirty_write64);
T_GUEST(dirty_read64);

#define PAGE		4096UL
#define DATA_GPA	0x200000ULL	/* tracked: DATA_PAGES pages */
#define DATA_PAGES	128	/* two slots in the small-slots variant */
#define NEXT_GPA	(DATA_GPA + DATA_PAGES * PAGE)	/* adjacent area */
#define NEXT_PAGES	16
#define RO_GPA		0x300000ULL	/* read-only area */
#define HOLE_GPA	0x400000ULL	/* nothing mapped */
#define WRITE_CODE	T_CODE_BASE
#define READ_CODE	(T_CODE_BASE + 0x100)
#define NWORDS		((DATA_PAGES + NEXT_PAGES + 63) / 64)

static struct t_vm vm;
static uint8_t *data;	/* host view of DATA_GPA */

/* ---- Helpers ------------------------------------------------------------------- */

/* Run a guest of dirty.S on a vCPU: touch n bytes, one every stride. */
static void
guest_pass(struct nvmm_vcpu *vcpu, gpaddr_t code, gpaddr_t at,
    uint64_t stride, uint64_t n, uint8_t val)
{
	struct nvmm_x64_state *st = vcpu->state;

	T_CHECK(nvmm_vcpu_getstate(&vm.mach, vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RIP] = code;
	st->gprs[NVMM_X64_GPR_RDI] = at;
	st->gprs[NVMM_X64_GPR_RSI] = stride;
	st->gprs[NVMM_X64_GPR_RCX] = n;
	st->gprs[NVMM_X64_GPR_RAX] = val;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, vcpu, NVMM_X64_STATE_GPRS));
	do {
		T_CHECK(nvmm_vcpu_run(&vm.mach, vcpu));
	} while (vcpu->exit->reason == NVMM_VCPU_EXIT_NONE);
	if (vcpu->exit->reason != NVMM_VCPU_EXIT_HALTED)
		t_bail("guest pass: exit 0x%llx, not HLT",
		    (unsigned long long)vcpu->exit->reason);
}

static void
write_pages(gpaddr_t first, uint64_t stride_pages, uint64_t n, uint8_t v)
{
	guest_pass(&vm.vcpu, WRITE_CODE, first, stride_pages * PAGE, n, v);
}

/* The pages set in a fetched bitmap, as a printable list for diagnostics. */
static const char *
bits_str(const uint64_t *map, unsigned int npages)
{
	static char buf[1024];
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < npages && len < sizeof(buf) - 8; i++) {
		if (map[i / 64] & (1ULL << (i % 64)))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
			    "%u ", i);
	}
	return len ? buf : "(none)";
}

/* A fetch over the data area must report exactly want (a page bitmap). */
static void
expect_fetch(const uint64_t *want, int flags, const char *what)
{
	uint64_t got[NWORDS] = { 0 };

	T_CHECK(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    got, sizeof(got), flags));
	if (!t_ok(memcmp(got, want, (DATA_PAGES / 64) * 8) == 0, "%s", what)) {
		t_diag("  got  %s", bits_str(got, DATA_PAGES));
		t_diag("  want %s", bits_str(want, DATA_PAGES));
	}
}

static void
set_bit(uint64_t *map, unsigned int n)
{
	map[n / 64] |= 1ULL << (n % 64);
}

/* ---- Errors ---------------------------------------------------------------------- */

static void
errors(void)
{
	uint64_t map[NWORDS];

	t_errno(nvmm_gpa_dirty_start(&vm.mach, DATA_GPA + 8, PAGE), EINVAL,
	    "start: unaligned gpa: EINVAL");
	t_errno(nvmm_gpa_dirty_start(&vm.mach, DATA_GPA, 0), EINVAL,
	    "start: size 0: EINVAL");
	t_errno(nvmm_gpa_dirty_start(&vm.mach, HOLE_GPA, PAGE), ENOENT,
	    "start: range not mapped: ENOENT");
	t_errno(nvmm_gpa_dirty_start(&vm.mach, NEXT_GPA,
	    (NEXT_PAGES + 1) * PAGE), ENOENT,
	    "start: range running past the mapped area: ENOENT");
	t_errno(nvmm_gpa_dirty_start(&vm.mach, DATA_GPA + PAGE, PAGE), EINVAL,
	    "start: part of an area: EINVAL");
	t_errno(nvmm_gpa_dirty_start(&vm.mach, RO_GPA, PAGE), EACCES,
	    "start: read-only range: EACCES");
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    map, sizeof(map), 0), ESRCH, "fetch: range not tracked: ESRCH");
	t_errno(nvmm_gpa_dirty_stop(&vm.mach, DATA_GPA, DATA_PAGES * PAGE),
	    ESRCH, "stop: range not tracked: ESRCH");

	T_CHECK(nvmm_gpa_dirty_start(&vm.mach, DATA_GPA, DATA_PAGES * PAGE));
	t_errno(nvmm_gpa_dirty_start(&vm.mach, DATA_GPA, DATA_PAGES * PAGE),
	    EALREADY, "start: tracked twice: EALREADY");
	t_errno(nvmm_gpa_dirty_start(&vm.mach, DATA_GPA,
	    (DATA_PAGES + NEXT_PAGES) * PAGE), EALREADY,
	    "start: over a tracked and an untracked area: EALREADY");
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, NEXT_GPA, PAGE, map,
	    sizeof(map), 0), ESRCH, "fetch: the untracked neighbour: ESRCH");
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    map, DATA_PAGES / 8 - 8, 0), ENOBUFS,
	    "fetch: bitmap too small: ENOBUFS");
	t_errno(nvmm_gpa_dirty_clear(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    map, 4), ENOBUFS, "clear: bitmap too small: ENOBUFS");
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    NULL, sizeof(map), 0), EFAULT, "fetch: NULL bitmap: EFAULT");
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    map, sizeof(map), 0x80), EINVAL, "fetch: unknown flag: EINVAL");
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, PAGE + 1, map,
	    sizeof(map), 0), EINVAL, "fetch: unaligned size: EINVAL");
}

/* ---- What a fetch reports ------------------------------------------------------- */

static void
reports(void)
{
	uint64_t none[NWORDS] = { 0 }, odd[NWORDS] = { 0 }, one[NWORDS] = { 0 };
	uint64_t got[NWORDS];

	expect_fetch(none, NVMM_DIRTY_CLEAR,
	    "nothing written yet: no page reported");

	/* The guest writes pages 1, 3, ..., 31 once. */
	write_pages(DATA_GPA + PAGE, 2, 16, 0x11);
	for (unsigned int i = 1; i < 32; i += 2)
		set_bit(odd, i);
	expect_fetch(odd, NVMM_DIRTY_CLEAR,
	    "pages the guest wrote are reported, exactly");
	expect_fetch(none, NVMM_DIRTY_CLEAR,
	    "each write shows once: the next fetch reports nothing");
	t_eq_u64(data[3 * PAGE], 0x11, "the guest's write is in memory");

	/* Reading every page dirties none. */
	guest_pass(&vm.vcpu, READ_CODE, DATA_GPA, PAGE, DATA_PAGES, 0);
	expect_fetch(none, NVMM_DIRTY_CLEAR, "pages only read: not reported");

	/* Writes by the program itself are not the guest's. */
	memset(data + 20 * PAGE, 0x5a, PAGE);
	expect_fetch(none, NVMM_DIRTY_CLEAR,
	    "the program's own writes through its mapping: not reported");

	/* Around the boundary of the small-slots variant's two slots. */
	write_pages(DATA_GPA + 63 * PAGE, 1, 2, 0x21);
	memset(one, 0, sizeof(one));
	set_bit(one, 63);
	set_bit(one, 64);
	expect_fetch(one, NVMM_DIRTY_CLEAR, "pages 63 and 64 (a slot boundary "
	    "in the small-slots variant): both reported");
	memset(one, 0, sizeof(one));

	/* Many writes to one page between fetches: one bit. */
	guest_pass(&vm.vcpu, WRITE_CODE, DATA_GPA + 40 * PAGE, 8, 512, 0x22);
	set_bit(one, 40);
	expect_fetch(one, NVMM_DIRTY_CLEAR, "512 writes to one page: one bit");

	/* Without NVMM_DIRTY_CLEAR the log stays, until cleared. */
	write_pages(DATA_GPA + 40 * PAGE, 1, 1, 0x33);
	expect_fetch(one, 0, "fetch without clearing: page reported");
	expect_fetch(one, 0, "fetch without clearing again: still reported");
	write_pages(DATA_GPA + 41 * PAGE, 1, 1, 0x33);
	T_CHECK(nvmm_gpa_dirty_clear(&vm.mach, DATA_GPA, DATA_PAGES * PAGE, one,
	    sizeof(one)));
	memset(one, 0, sizeof(one));
	set_bit(one, 41);
	expect_fetch(one, 0,
	    "clear of page 40 only: page 41 written meanwhile stays");
	T_CHECK(nvmm_gpa_dirty_clear(&vm.mach, DATA_GPA, DATA_PAGES * PAGE, one,
	    sizeof(one)));
	expect_fetch(none, 0, "clear of page 41: nothing left");
	write_pages(DATA_GPA + 40 * PAGE, 1, 2, 0x44);
	set_bit(one, 40);
	expect_fetch(one, NVMM_DIRTY_CLEAR,
	    "cleared pages are logged again at their next write");

	/* Part of an area: bit 0 is the first page asked for. */
	write_pages(DATA_GPA + 9 * PAGE, 1, 2, 0x55);	/* pages 9, 10 */
	memset(got, 0xff, sizeof(got));
	T_CHECK(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA + 10 * PAGE, 4 * PAGE,
	    got, 8, NVMM_DIRTY_CLEAR));
	t_eq_u64(got[0], 0x1, "fetch of pages 10-13: bit 0 = page 10, rest 0");
	memset(one, 0, sizeof(one));
	set_bit(one, 9);
	expect_fetch(one, NVMM_DIRTY_CLEAR,
	    "a partial clearing fetch leaves the pages outside it logged");
}

/* Two adjacent tracked areas in one range, the second starting at bit 64. */
static void
two_areas(void)
{
	uint64_t got[NWORDS];

	T_CHECK(nvmm_gpa_dirty_start(&vm.mach, NEXT_GPA, NEXT_PAGES * PAGE));
	/* The last 2 pages of one area, the first 2 of the next. */
	write_pages(DATA_GPA + (DATA_PAGES - 2) * PAGE, 1, 4, 0x66);
	T_CHECK(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA + (DATA_PAGES - 4) *
	    PAGE, 8 * PAGE, got, 8, NVMM_DIRTY_CLEAR));
	t_eq_u64(got[0], 0x3c, "a range over two areas: 2 + 2 pages = bits 2-5");
	t_errno(nvmm_gpa_dirty_stop(&vm.mach, DATA_GPA + (DATA_PAGES - 4) * PAGE,
	    8 * PAGE), EINVAL, "stop: a range cutting through areas: EINVAL");
	T_CHECK(nvmm_gpa_dirty_stop(&vm.mach, NEXT_GPA, NEXT_PAGES * PAGE));
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, NEXT_GPA, NEXT_PAGES * PAGE, got,
	    sizeof(got), 0), ESRCH, "stopped: fetch gives ESRCH");
}

/* ---- vCPUs on several threads ---------------------------------------------------- */

#define NTHREADS	4
#define ROUNDS		50
#define THREAD_PAGES	8	/* thread k writes pages 8k .. 8k+7 */

struct writer {
	pthread_t thread;
	struct nvmm_vcpu vcpu;
	unsigned int k;
};

static atomic_uint writers_left;

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

	for (unsigned int r = 1; r <= ROUNDS; r++) {
		guest_pass(&w->vcpu, WRITE_CODE,
		    DATA_GPA + w->k * THREAD_PAGES * PAGE, PAGE, THREAD_PAGES,
		    (uint8_t)(w->k * 64 + r));
	}
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

static void
threads(void)
{
	struct writer w[NTHREADS];
	uint64_t seen[NWORDS] = { 0 }, got[NWORDS], want = 0;
	unsigned int fetches = 0, stale = 0;

	for (unsigned int k = 0; k < NTHREADS; k++) {
		struct t_vm v = vm;

		w[k].k = k;
		T_CHECK(nvmm_vcpu_create(&vm.mach, k + 1, &w[k].vcpu));
		v.vcpu = w[k].vcpu;
		t_vm_long_mode(&v, WRITE_CODE, 0);
	}
	/*
	 * Live-migration order: fetch and clear, then copy the pages
	 * reported. Copying after the clear means a later write shows in a
	 * later fetch, so the copy ends equal to memory.
	 */
	static uint8_t copy[DATA_PAGES * PAGE];
	memcpy(copy, data, sizeof(copy));
	atomic_store(&writers_left, NTHREADS);
	for (unsigned int k = 0; k < NTHREADS; k++)
		pthread_create(&w[k].thread, NULL, writer_main, &w[k]);
	for (bool last = false; !last; fetches++) {
		last = atomic_load(&writers_left) == 0;
		T_CHECK(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA,
		    DATA_PAGES * PAGE, got, sizeof(got), NVMM_DIRTY_CLEAR));
		for (unsigned int i = 0; i < DATA_PAGES; i++) {
			if (!(got[i / 64] & (1ULL << (i % 64))))
				continue;
			seen[i / 64] |= 1ULL << (i % 64);
			memcpy(copy + i * PAGE, data + i * PAGE, PAGE);
		}
	}
	for (unsigned int k = 0; k < NTHREADS; k++)
		pthread_join(w[k].thread, NULL);
	for (unsigned int i = 0; i < NTHREADS * THREAD_PAGES; i++)
		want |= 1ULL << i;
	t_eq_u64(seen[0], want,
	    "%u vCPU threads: every page they wrote was reported", NTHREADS);
	for (unsigned int i = 0; i < DATA_PAGES; i++)
		stale += memcmp(copy + i * PAGE, data + i * PAGE, PAGE) != 0;
	t_ok(stale == 0, "copying what %u fetches reported while they ran "
	    "leaves no page stale (%u stale)", fetches, stale);
	t_eq_u64(data[(NTHREADS * THREAD_PAGES - 1) * PAGE],
	    (NTHREADS - 1) * 64 + ROUNDS, "the last thread's last round is there");
	for (unsigned int k = 0; k < NTHREADS; k++)
		T_CHECK(nvmm_vcpu_destroy(&vm.mach, &w[k].vcpu));
}

/* ---- Unmap and destroy ----------------------------------------------------------- */

static void
unmap_tracked(void)
{
	uint64_t got[NWORDS], one[NWORDS] = { 0 };

	write_pages(DATA_GPA + 5 * PAGE, 1, 1, 0x77);
	T_CHECK(nvmm_gpa_unmap(&vm.mach, (uintptr_t)data, DATA_GPA,
	    DATA_PAGES * PAGE));
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    got, sizeof(got), 0), ENOENT,
	    "a tracked range unmapped: fetch gives ENOENT");
	T_CHECK(nvmm_gpa_map(&vm.mach, (uintptr_t)data, DATA_GPA,
	    DATA_PAGES * PAGE, PROT_READ | PROT_WRITE));
	t_errno(nvmm_gpa_dirty_fetch(&vm.mach, DATA_GPA, DATA_PAGES * PAGE,
	    got, sizeof(got), 0), ESRCH,
	    "mapped again: not tracked until started (ESRCH)");
	t_ok(nvmm_gpa_dirty_start(&vm.mach, DATA_GPA, DATA_PAGES * PAGE) == 0,
	    "tracking starts again on the new mapping");
	write_pages(DATA_GPA + 6 * PAGE, 1, 1, 0x78);
	set_bit(one, 6);
	expect_fetch(one, NVMM_DIRTY_CLEAR,
	    "the new mapping reports only the write made after its start");
}

static void
destroy_tracking(void)
{
	struct t_vm saved = vm, other;
	uint64_t got[1];
	void *p;

	t_vm_create(&other, 0);
	t_vm_long_mode(&other, WRITE_CODE, 0);
	t_vm_load(&other, WRITE_CODE, dirty_write64_begin, dirty_write64_end);
	p = t_vm_map(&other, DATA_GPA, 16 * PAGE, PROT_READ | PROT_WRITE);
	T_CHECK(nvmm_gpa_dirty_start(&other.mach, DATA_GPA, 16 * PAGE));
	vm = other;
	write_pages(DATA_GPA, 1, 16, 0x99);
	vm = saved;
	t_ok(nvmm_machine_destroy(&other.mach) == 0,
	    "a machine destroyed while tracking: 0");
	t_errno(nvmm_gpa_dirty_fetch(&other.mach, DATA_GPA, 16 * PAGE, got,
	    sizeof(got), 0), ENOENT, "its handle: fetch gives ENOENT");
	t_eq_u64(((uint8_t *)p)[15 * PAGE], 0x99,
	    "the memory it wrote stays the program's");
	munmap(p, 16 * PAGE);
	expect_fetch((uint64_t[NWORDS]){ 0 }, NVMM_DIRTY_CLEAR,
	    "the other machine's tracking goes on, untouched");
}

int
main(void)
{
	struct nvmm_capability cap;

	t_require_nvmm();
	T_CHECK(nvmm_capability(&cap));
	t_vm_create(&vm, 0);
	if (!(cap.ext & NVMM_CAP_EXT_DIRTY)) {
		t_plan(1);
		t_errno(nvmm_gpa_dirty_start(&vm.mach, 0, PAGE), ENOTSUP,
		    "no NVMM_CAP_EXT_DIRTY: start gives ENOTSUP");
		return t_done();
	}
	t_plan(45);
	t_vm_long_mode(&vm, WRITE_CODE, 0);
	t_vm_load(&vm, WRITE_CODE, dirty_write64_begin, dirty_write64_end);
	t_vm_load(&vm, READ_CODE, dirty_read64_begin, dirty_read64_end);
	data = t_vm_map(&vm, DATA_GPA, DATA_PAGES * PAGE,
	    PROT_READ | PROT_WRITE);
	(void)t_vm_map(&vm, NEXT_GPA, NEXT_PAGES * PAGE,
	    PROT_READ | PROT_WRITE);
	(void)t_vm_map(&vm, RO_GPA, PAGE, PROT_READ);

	errors();
	reports();
	two_areas();
	threads();
	unmap_tracked();
	destroy_tracking();
	t_vm_destroy(&vm);
	return t_done();
}
