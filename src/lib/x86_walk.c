/*
 * The guest page-table walker. One loop over the levels, driven by a small
 * descriptor per paging mode (32-bit, PAE, 4-level, 5-level), following the
 * architecture rather than NVMM's shortcuts: 4 KiB PTEs may use the PAT bit,
 * 32-bit PDEs ignore PS without CR4.PSE, PSE-36 high bits are honoured, and
 * reserved bits fault.
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

#define PTE_P		(1ULL << 0)
#define PTE_W		(1ULL << 1)
#define PTE_U		(1ULL << 2)
#define PTE_PS		(1ULL << 7)
#define PTE_NX		(1ULL << 63)

#define PAGE_SHIFT	12

/* A paging mode. Levels count from the leaf: 1 is the page table. */
struct walk_mode {
	unsigned int levels;
	unsigned int entry_size;	/* 4 or 8 bytes */
	unsigned int index_bits;	/* 10 or 9 */
	uint64_t cr3_mask;
	unsigned int large_levels;	/* bit L: PS at level L maps a page */
	bool pae_pdpt;			/* top level: PAE PDPTEs (no W/U bits) */
	unsigned int va_bits;		/* canonical width; 32: truncate */
};

static const struct walk_mode walk_32bit = {
	.levels = 2, .entry_size = 4, .index_bits = 10,
	.cr3_mask = 0xFFFFF000ULL, .large_levels = 1u << 2, .va_bits = 32,
};
static const struct walk_mode walk_pae = {
	.levels = 3, .entry_size = 8, .index_bits = 9,
	.cr3_mask = 0xFFFFFFE0ULL, .large_levels = 1u << 2, .pae_pdpt = true,
	.va_bits = 32,
};
static const struct walk_mode walk_4level = {
	.levels = 4, .entry_size = 8, .index_bits = 9,
	.cr3_mask = 0x000FFFFFFFFFF000ULL,
	.large_levels = (1u << 2) | (1u << 3), .va_bits = 48,
};
static const struct walk_mode walk_5level = {
	.levels = 5, .entry_size = 8, .index_bits = 9,
	.cr3_mask = 0x000FFFFFFFFFF000ULL,
	.large_levels = (1u << 2) | (1u << 3), .va_bits = 57,
};

/* One walk: the mode, the guest's register facts, the reader. */
struct walk {
	const struct walk_mode *mode;
	bool pse;		/* 32-bit: CR4.PSE */
	bool nxe;		/* EFER.NXE */
	uint64_t phys_mask;	/* bits an address may have */
	x86_read_entry_fn read;
	void *ctx;
};

static const struct walk_mode *
walk_select(const struct x86_paging *pg)
{
	bool pae = (pg->cr4 & CR4_PAE) != 0;
	bool lma = (pg->efer & EFER_LMA) != 0;

	if (lma)
		return !pae ? NULL : (pg->cr4 & CR4_LA57) ? &walk_5level :
		    &walk_4level;
	return pae ? &walk_pae : &walk_32bit;
}

static bool
walk_canonical(const struct walk_mode *mode, gvaddr_t va)
{
	int64_t sva = (int64_t)(va << (64 - mode->va_bits));

	if (mode->va_bits == 32)
		return true;
	return (uint64_t)(sva >> (64 - mode->va_bits)) == va;
}

static unsigned int
walk_shift(const struct walk_mode *mode, unsigned int level)
{
	return PAGE_SHIFT + (level - 1) * mode->index_bits;
}

/* Bits of an entry at 'level' that must be zero. */
static uint64_t
walk_reserved(const struct walk *w, unsigned int level, uint64_t entry,
    bool large)
{
	const struct walk_mode *mode = w->mode;
	uint64_t rsvd;

	if (mode->entry_size == 4) {
		/* Only 4 MiB pages have reserved bits: 21, and PSE-36 room. */
		if (!large)
			return 0;
		return (1ULL << 21) |
		    (((~w->phys_mask) >> 32 & 0xFF) << 13);
	}
	rsvd = ~w->phys_mask & 0x000FFFFFFFFFFFFFULL;
	if (!w->nxe || (mode->pae_pdpt && level == mode->levels))
		rsvd |= PTE_NX;
	if (mode->pae_pdpt && level == mode->levels)
		rsvd |= 0x1E6ULL;	/* PDPTE bits 8:5 and 2:1 */
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

	if (w->mode->entry_size == 4) {
		frame = entry & 0xFFFFF000ULL;
		if (large)	/* PSE-36: bits 20:13 are address bits 39:32 */
			frame = (entry & 0xFFC00000ULL) |
			    ((entry >> 13) & 0xFFULL) << 32;
		return frame & w->phys_mask;
	}
	frame = entry & w->phys_mask & ~0xFFFULL;
	if (large)
		frame &= ~((1ULL << walk_shift(w->mode, level)) - 1);
	return frame;
}

static void
walk_restrict(const struct walk *w, unsigned int level, uint64_t entry,
    nvmm_prot_t *prot)
{
	bool pdpte = w->mode->pae_pdpt && level == w->mode->levels;

	if (!pdpte && !(entry & PTE_W))
		*prot &= ~(nvmm_prot_t)NVMM_PROT_WRITE;
	if (!pdpte && !(entry & PTE_U))
		*prot &= ~(nvmm_prot_t)NVMM_PROT_USER;
	if (w->nxe && (entry & PTE_NX))
		*prot &= ~(nvmm_prot_t)NVMM_PROT_EXEC;
}

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

		if (w->read(w->ctx, table + ((va >> shift) & index_mask) *
		    mode->entry_size, mode->entry_size, &entry) != 0)
			return EFAULT;
		if (!(entry & PTE_P))
			return EFAULT;
		/* PS elsewhere: reserved in 64-bit tables, ignored in 32-bit. */
		large = level > 1 && (entry & PTE_PS) &&
		    (mode->entry_size == 8 || w->pse);
		if (large && !(mode->large_levels & (1u << level)))
			return EFAULT;
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
	unsigned int phys_bits = pg->phys_bits ? pg->phys_bits : 52;
	struct walk w;

	if (!(pg->cr0 & CR0_PG)) {
		*gpa = gva;
		*prot = NVMM_PROT_ALL;
		return 0;
	}
	if ((w.mode = walk_select(pg)) == NULL)
		return EFAULT;
	if (w.mode->va_bits == 32)
		gva &= 0xFFFFFFFFULL;
	else if (!walk_canonical(w.mode, gva))
		return EFAULT;
	w.pse = (pg->cr4 & CR4_PSE) != 0;
	w.nxe = (pg->efer & EFER_NXE) != 0;
	w.phys_mask = (phys_bits >= 64) ? ~0ULL : (1ULL << phys_bits) - 1;
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
}
