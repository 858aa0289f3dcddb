/*
 * The guest page-table walker. One loop over the levels, driven by a small
 * descriptor per paging mode (32-bit, PAE, 4-level, 5-level), following the
 * architecture rather than NVMM's shortcuts: 4 KiB PTEs may use the PAT bit,
 * 32-bit PDEs ignore PS without CR4.PSE, PSE-36 high bits are honoured, and
 * reserved bits fault, up to the guest's MAXPHYADDR and 1 GiB page support
 * as its CPUID states them.
 */
#include <errno.h>
#include <stdbool.h>

#include "x86_walk.h"

#define CR0_PG		(1ULL << 31)
#define CR4_PSE		(1ULL << 4)
#define CR4_PAE		(1ULL << 5)
#define CR4_LA57	(1ULL << 12)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)
#define CPUID_PAGE1GB	(1u << 26)	/* 0x80000001 EDX */

#define PTE_P		(1ULL << 0)
#define PTE_W		(1ULL << 1)
#define PTE_U		(1ULL << 2)
#define PTE_PS		(1ULL << 7)
#define PTE_NX		(1ULL << 63)

#define PAGE_SHIFT	12
#define ADDR_BITS	0x000FFFFFFFFFFFFFULL	/* 52: the architecture's */
#define PAE_HIGH_RSVD	0x7FF0000000000000ULL	/* PAE: bits 62:52 */
#define PDPTE_RSVD	0x00000000000001E6ULL	/* PAE PDPTE: 8:5 and 2:1 */

/* A paging mode. Levels count from the leaf: 1 is the page table. */
struct walk_mode {
	unsigned int levels;
	unsigned int entry_size;	/* 4 or 8 bytes */
	unsigned int index_bits;	/* 10 or 9 */
	uint64_t cr3_mask;
	unsigned int large_levels;	/* bit L: PS at level L maps a page */
	unsigned int va_bits;		/* 32: wraps; more: must be canonical */
	bool pse36;		/* PS needs CR4.PSE; bits 20:13 = 39:32 */
	bool nx;		/* bit 63 is XD with EFER.NXE, else reserved */
	bool pae_pdpt;		/* top level: PAE PDPTEs (no W/U/NX bits) */
	uint64_t high_rsvd;	/* reserved bits above the 52-bit frame */
};

static const struct walk_mode walk_32bit = {
	.levels = 2, .entry_size = 4, .index_bits = 10,
	.cr3_mask = 0xFFFFF000ULL, .large_levels = 1u << 2, .va_bits = 32,
	.pse36 = true,
};
static const struct walk_mode walk_pae = {
	.levels = 3, .entry_size = 8, .index_bits = 9,
	.cr3_mask = 0xFFFFFFE0ULL, .large_levels = 1u << 2, .va_bits = 32,
	.nx = true, .pae_pdpt = true, .high_rsvd = PAE_HIGH_RSVD,
};
static const struct walk_mode walk_4level = {
	.levels = 4, .entry_size = 8, .index_bits = 9,
	.cr3_mask = 0x000FFFFFFFFFF000ULL,
	.large_levels = (1u << 2) | (1u << 3), .va_bits = 48, .nx = true,
};
static const struct walk_mode walk_5level = {
	.levels = 5, .entry_size = 8, .index_bits = 9,
	.cr3_mask = 0x000FFFFFFFFFF000ULL,
	.large_levels = (1u << 2) | (1u << 3), .va_bits = 57, .nx = true,
};

/* One walk: the mode, the guest's register facts, the reader. */
struct walk {
	const struct walk_mode *mode;
	unsigned int large_levels;	/* the mode's, less what CPUID lacks */
	bool pse;		/* CR4.PSE */
	bool nxe;		/* EFER.NXE */
	uint64_t phys_mask;	/* bits a physical address may have */
	x86_read_entry_fn read;
	void *ctx;
};

/* ---- Mode and address checks ------------------------------------------------ */

static const struct walk_mode *
walk_select(const struct x86_paging *pg)
{
	bool pae = (pg->cr4 & CR4_PAE) != 0;
	bool lma = (pg->efer & EFER_LMA) != 0;

	if (lma)	/* IA-32e mode cannot run without PAE */
		return !pae ? NULL : (pg->cr4 & CR4_LA57) ? &walk_5level :
		    &walk_4level;
	return pae ? &walk_pae : &walk_32bit;
}

/* Bits 63:va_bits-1 all equal. */
static bool
walk_canonical(const struct walk_mode *mode, gvaddr_t va)
{
	uint64_t top = va >> (mode->va_bits - 1);

	return top == 0 || top == (~0ULL >> (mode->va_bits - 1));
}

/* ---- One entry ---------------------------------------------------------------- */

static unsigned int
walk_shift(const struct walk_mode *mode, unsigned int level)
{
	return PAGE_SHIFT + (level - 1) * mode->index_bits;
}

/* The bits of an entry at 'level' that are set but must be zero. */
static uint64_t
walk_reserved(const struct walk *w, unsigned int level, uint64_t entry,
    bool large)
{
	const struct walk_mode *mode = w->mode;
	bool pdpte = mode->pae_pdpt && level == mode->levels;
	uint64_t rsvd;

	if (mode->pse36) {
		/* 4 MiB pages only: bit 21, and PSE-36 bits past MAXPHYADDR. */
		if (!large)
			return 0;
		return entry & ((1ULL << 21) |
		    (((~w->phys_mask) >> 32 & 0xFF) << 13));
	}
	rsvd = (~w->phys_mask & ADDR_BITS) | mode->high_rsvd;
	if (!w->nxe || pdpte)
		rsvd |= PTE_NX;
	if (pdpte)
		rsvd |= PDPTE_RSVD;
	if (large)	/* between the PAT bit (12) and the frame */
		rsvd |= ((1ULL << walk_shift(mode, level)) - 1) &
		    ~((1ULL << (PAGE_SHIFT + 1)) - 1);
	return entry & rsvd;
}

/* Where the next table or the page starts. */
static uint64_t
walk_frame(const struct walk *w, unsigned int level, uint64_t entry,
    bool large)
{
	uint64_t frame;

	if (w->mode->pse36) {
		frame = entry & 0xFFFFF000ULL;
		if (large)	/* PSE-36: bits 20:13 are address bits 39:32 */
			frame = (entry & 0xFFC00000ULL) |
			    ((entry >> 13) & 0xFFULL) << 32;
		return frame;
	}
	frame = entry & w->phys_mask & ~0xFFFULL;
	if (large)
		frame &= ~((1ULL << walk_shift(w->mode, level)) - 1);
	return frame;
}

/* Rights are the intersection over the levels; READ is never removed. */
static void
walk_restrict(const struct walk *w, unsigned int level, uint64_t entry,
    nvmm_prot_t *prot)
{
	if (w->mode->pae_pdpt && level == w->mode->levels)
		return;		/* PDPTEs carry no rights */
	if (!(entry & PTE_W))
		*prot &= ~(nvmm_prot_t)NVMM_PROT_WRITE;
	if (!(entry & PTE_U))
		*prot &= ~(nvmm_prot_t)NVMM_PROT_USER;
	if (w->mode->nx && w->nxe && (entry & PTE_NX))
		*prot &= ~(nvmm_prot_t)NVMM_PROT_EXEC;
}

/* ---- The walk ------------------------------------------------------------------- */

static int
walk_levels(const struct walk *w, uint64_t table, gvaddr_t va, gpaddr_t *gpa,
    nvmm_prot_t *prot)
{
	const struct walk_mode *mode = w->mode;
	uint64_t index_mask = (1ULL << mode->index_bits) - 1;

	*prot = NVMM_PROT_ALL;
	for (unsigned int level = mode->levels; level >= 1; level--) {
		unsigned int shift = walk_shift(mode, level);
		uint64_t entry;
		bool large;

		/* Tables are aligned, so an entry never straddles two pages. */
		if (w->read(w->ctx, table + ((va >> shift) & index_mask) *
		    mode->entry_size, mode->entry_size, &entry) != 0)
			return EFAULT;
		if (!(entry & PTE_P))
			return EFAULT;
		/* PS in a 32-bit PDE means nothing without CR4.PSE. */
		large = level > 1 && (entry & PTE_PS) &&
		    (!mode->pse36 || w->pse);
		if (large && !(w->large_levels & (1u << level)))
			return EFAULT;	/* PS is reserved at this level */
		if (walk_reserved(w, level, entry, large) != 0)
			return EFAULT;
		walk_restrict(w, level, entry, prot);
		table = walk_frame(w, level, entry, large);
		if (large || level == 1) {
			*gpa = table | (va & ((1ULL << shift) - 1));
			return 0;
		}
	}
	return EFAULT;
}

int
x86_walk(const struct x86_paging *pg, gvaddr_t gva, x86_read_entry_fn read,
    void *ctx, gpaddr_t *gpa, nvmm_prot_t *prot)
{
	unsigned int phys_bits = pg->phys_bits;
	struct walk w;

	if (!(pg->cr0 & CR0_PG)) {
		*gpa = gva;
		*prot = NVMM_PROT_ALL;
		return 0;
	}
	if ((w.mode = walk_select(pg)) == NULL)
		return EFAULT;
	if (w.mode->va_bits == 32)
		gva &= 0xFFFFFFFFULL;	/* linear addresses wrap at 4 GiB */
	else if (!walk_canonical(w.mode, gva))
		return EFAULT;
	if (phys_bits == 0 || phys_bits > 52)
		phys_bits = 52;
	w.large_levels = w.mode->large_levels;
	if (pg->no_page1gb)
		w.large_levels &= ~(1u << 3);
	w.pse = (pg->cr4 & CR4_PSE) != 0;
	w.nxe = (pg->efer & EFER_NXE) != 0;
	w.phys_mask = (1ULL << phys_bits) - 1;
	w.read = read;
	w.ctx = ctx;
	return walk_levels(&w, pg->cr3 & w.mode->cr3_mask & w.phys_mask, gva,
	    gpa, prot);
}

void
x86_paging_from_state(const struct nvmm_x64_state *state,
    struct x86_paging *pg)
{
	pg->cr0 = state->crs[NVMM_X64_CR_CR0];
	pg->cr3 = state->crs[NVMM_X64_CR_CR3];
	pg->cr4 = state->crs[NVMM_X64_CR_CR4];
	pg->efer = state->msrs[NVMM_X64_MSR_EFER];
	pg->phys_bits = 0;
	pg->no_page1gb = false;
}

void
x86_paging_limits(struct x86_paging *pg, uint32_t ext1_edx, uint32_t ext8_eax)
{
	/* Without leaf 0x80000008 the SDM's MAXPHYADDR is 36. */
	pg->phys_bits = (ext8_eax & 0xFF) ? (ext8_eax & 0xFF) : 36;
	pg->no_page1gb = !(ext1_edx & CPUID_PAGE1GB);
}
