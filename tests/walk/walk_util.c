/*
 * The walker tests' page-table builder and checker (see walk_util.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "walk_util.h"

#define CR0_PAGING	0x80010031ULL	/* PG WP NE ET PE */
#define CR4_PSE		0x010ULL
#define CR4_PAE		0x020ULL
#define CR4_LA57	0x1000ULL
#define EFER_LME	0x100ULL
#define EFER_LMA	0x400ULL
#define EFER_NXE	0x800ULL
#define EFER_LONG	(EFER_LME | EFER_LMA)

const struct wt_mode wt_modes[M_COUNT] = {
	[M_NOPG] = { "no paging", 0x10, 0, 0, 0, 0, 0, false },
	[M_NOPG_PAE] = { "no paging, PAE/LME set", 0x11, CR4_PAE | CR4_LA57,
	    EFER_LME, 0, 0, 0, false },
	[M_32] = { "32-bit", CR0_PAGING, 0, 0, 2, 4, 10, false },
	[M_32PSE] = { "32-bit PSE", CR0_PAGING, CR4_PSE, 0, 2, 4, 10, false },
	[M_PAE] = { "PAE", CR0_PAGING, CR4_PAE, EFER_NXE, 3, 8, 9, false },
	[M_PAE_NOX] = { "PAE no NXE", CR0_PAGING, CR4_PAE, 0, 3, 8, 9, false },
	[M_PAE_LA57] = { "PAE with LA57", CR0_PAGING, CR4_PAE | CR4_LA57,
	    EFER_NXE, 3, 8, 9, false },
	[M_L4] = { "4-level", CR0_PAGING, CR4_PAE, EFER_LONG | EFER_NXE,
	    4, 8, 9, true },
	[M_L4_NOX] = { "4-level no NXE", CR0_PAGING, CR4_PAE, EFER_LONG,
	    4, 8, 9, true },
	[M_L5] = { "5-level", CR0_PAGING, CR4_PAE | CR4_LA57,
	    EFER_LONG | EFER_NXE, 5, 8, 9, true },
	[M_LMA_NOPAE] = { "LMA without PAE", CR0_PAGING, 0, EFER_LONG,
	    0, 0, 0, true },
};

T_GUEST(walk_cpuid64);

void
wt_vm_create(struct wt_vm *w)
{
	memset(w, 0, sizeof(*w));
	t_vm_create(&w->vm, WT_RAM_SIZE);
	/* Read-only for the guest: tables may live there all the same. */
	w->end_area = t_vm_map(&w->vm, WT_END_AREA, WT_END_SIZE, PROT_READ);
	T_CHECK(nvmm_vcpu_getstate(&w->vm.mach, &w->vm.vcpu,
	    NVMM_X64_STATE_ALL));
}

static uint64_t
wt_guest_cpuid(struct wt_vm *w, uint32_t leaf, int reg)
{
	t_vm_set_gpr(&w->vm, NVMM_X64_GPR_RIP, WT_CPUID_CODE);
	t_vm_set_gpr(&w->vm, NVMM_X64_GPR_RAX, leaf);
	t_vm_set_gpr(&w->vm, NVMM_X64_GPR_RCX, 0);
	if (t_vm_run(&w->vm) != NVMM_VCPU_EXIT_HALTED)
		t_bail("CPUID guest did not halt");
	return t_vm_gpr(&w->vm, reg);
}

void
wt_probe_cpuid(struct wt_vm *w)
{
	t_vm_load(&w->vm, WT_CPUID_CODE, walk_cpuid64_begin, walk_cpuid64_end);
	t_vm_long_mode(&w->vm, WT_CPUID_CODE, 0x8000);
	w->maxphy = wt_guest_cpuid(w, 0x80000008, NVMM_X64_GPR_RAX) & 0xFF;
	w->page1gb = (wt_guest_cpuid(w, 0x80000001, NVMM_X64_GPR_RDX) >>
	    26) & 1;
}

static uint8_t *
wt_host(struct wt_vm *w, gpaddr_t gpa, size_t size)
{
	if (gpa + size <= w->vm.ram_size)
		return w->vm.ram + gpa;
	if (gpa >= WT_END_AREA && gpa + size <= WT_END_AREA + WT_END_SIZE)
		return w->end_area + (gpa - WT_END_AREA);
	return NULL;
}

void
wt_put(struct wt_vm *w, gpaddr_t table, unsigned int idx, unsigned int esize,
    uint64_t e)
{
	uint8_t *p = wt_host(w, table + (gpaddr_t)idx * esize, esize);

	if (p != NULL)
		memcpy(p, &e, esize);	/* little endian: the low half */
}

unsigned int
wt_index(const struct wt_mode *m, unsigned int level, gvaddr_t gva)
{
	unsigned int shift = 12 + (level - 1) * m->ibits;

	return (unsigned int)(gva >> shift) & ((1u << m->ibits) - 1);
}

static gpaddr_t
wt_alloc(struct wt_vm *w)
{
	gpaddr_t gpa = w->pool_next;

	if (gpa >= WT_POOL_END)
		t_bail("page-table pool exhausted");
	w->pool_next += 0x1000;
	return gpa;
}

static uint64_t
wt_hibit(const struct wt_vm *w, const struct wt_case *c, unsigned int level)
{
	if (c->hi == HI_NONE || c->hi_level != level)
		return 0;
	return 1ULL << (c->hi == HI_RSVD ? w->maxphy : w->maxphy - 1);
}

/* Upper entries: P|W|U unless the case says otherwise; PAE PDPTEs: P. */
static uint64_t
wt_flags(const struct wt_case *c, const struct wt_mode *m, unsigned int level)
{
	if (c->flags[level] != 0)
		return c->flags[level];
	return (c->mode >= M_PAE && c->mode <= M_PAE_LA57 &&
	    level == m->levels) ? P : PWU;
}

gpaddr_t
wt_build(struct wt_vm *w, const struct wt_case *c)
{
	const struct wt_mode *m = &wt_modes[c->mode];
	gvaddr_t gva = m->long64 ? c->gva : (uint32_t)c->gva;
	gpaddr_t table, root;

	memset(w->vm.ram + WT_POOL, 0, WT_POOL_END - WT_POOL);
	memset(w->vm.ram + WT_FIXED, 0, 0x1000);
	memset(w->end_area, 0, WT_END_SIZE);
	w->pool_next = WT_POOL;
	if (m->levels == 0)
		return 0;
	root = table = c->table[m->levels] ? c->table[m->levels] : wt_alloc(w);
	for (unsigned int level = m->levels; level > c->leaf; level--) {
		gpaddr_t next = c->table[level - 1] ? c->table[level - 1] :
		    wt_alloc(w);

		wt_put(w, table, wt_index(m, level, gva), m->esize,
		    next | wt_flags(c, m, level) | wt_hibit(w, c, level));
		table = next;
	}
	wt_put(w, table, wt_index(m, c->leaf, gva), m->esize,
	    c->entry | wt_hibit(w, c, c->leaf));
	return root;
}

void
wt_set_paging(struct wt_vm *w, const struct wt_case *c, gpaddr_t root)
{
	const struct wt_mode *m = &wt_modes[c->mode];
	struct nvmm_x64_state *st = w->vm.vcpu.state;

	st->crs[NVMM_X64_CR_CR0] = m->cr0;
	/* PWT|PCD: flags in CR3 are not address bits. */
	st->crs[NVMM_X64_CR_CR3] = root | 0x18;
	st->crs[NVMM_X64_CR_CR4] = m->cr4;
	st->msrs[NVMM_X64_MSR_EFER] = m->efer;
	T_CHECK(nvmm_vcpu_setstate(&w->vm.mach, &w->vm.vcpu,
	    NVMM_X64_STATE_CRS | NVMM_X64_STATE_MSRS));
}

gpaddr_t
wt_want_gpa(const struct wt_vm *w, const struct wt_case *c)
{
	if (c->hi == HI_ADDR && c->hi_level == c->leaf)
		return c->gpa | 1ULL << (w->maxphy - 1);
	return c->gpa;
}

bool
wt_no_1g(const struct wt_vm *w, const struct wt_case *c)
{
	return c->leaf == 3 && wt_modes[c->mode].long64 && !w->page1gb;
}

bool
wt_check_walk(struct wt_vm *w, const struct wt_case *c)
{
	gpaddr_t gpa = 0, want = wt_want_gpa(w, c);
	nvmm_prot_t prot = 0;
	int r, e;

	errno = 0;
	r = nvmm_gva_to_gpa(&w->vm.mach, &w->vm.vcpu, c->gva, &gpa, &prot);
	e = errno;
	if (c->err != 0 || wt_no_1g(w, c)) {
		if (t_ok(r == -1 && e == EFAULT, "%s: %s: EFAULT%s",
		    wt_modes[c->mode].name, c->what,
		    c->err ? "" : " (no Page1GB in CPUID)"))
			return true;
		t_diag("  returned %d, errno %d, gpa 0x%llx prot 0x%llx", r, e,
		    (unsigned long long)gpa, (unsigned long long)prot);
		return false;
	}
	if (t_ok(r == 0 && gpa == want && prot == c->prot,
	    "%s: %s: gpa 0x%llx prot 0x%llx", wt_modes[c->mode].name, c->what,
	    (unsigned long long)want, (unsigned long long)c->prot))
		return true;
	t_diag("  returned %d (errno %d), gpa 0x%llx prot 0x%llx", r, e,
	    (unsigned long long)gpa, (unsigned long long)prot);
	return false;
}
