/*
 * Shared by the walker tests: the paging modes, a case format that says
 * which entries to plant for one address and what nvmm_gva_to_gpa() must
 * answer, and a builder that writes those page tables into guest RAM from
 * the host, sets CR0/CR3/CR4/EFER with setstate, and checks the walk.
 */
#ifndef NVMM_TEST_WALK_UTIL_H
#define NVMM_TEST_WALK_UTIL_H

#include "harness.h"

/* ---- Entry bits and rights, short names for the case tables ---------------- */

#define P		0x001ULL
#define W		0x002ULL
#define U		0x004ULL
#define PWU		(P | W | U)
#define PS		0x080ULL
#define PAT4K		0x080ULL	/* PAT bit of a 4 KiB PTE */
#define PATL		0x1000ULL	/* PAT bit of a large page */
#define NP		0x200ULL	/* not present (an ignored bit set) */
#define NX		(1ULL << 63)

#define R_		NVMM_PROT_READ
#define W_		NVMM_PROT_WRITE
#define X_		NVMM_PROT_EXEC
#define U_		NVMM_PROT_USER
#define ALL_		NVMM_PROT_ALL

/* ---- Guest memory layout ---------------------------------------------------------- */

#define WT_RAM_SIZE	(4u << 20)
#define WT_POOL		0x80000ULL	/* page tables built per case */
#define WT_POOL_END	0x100000ULL
#define WT_FIXED	0x78000ULL	/* a table at a chosen place */
#define WT_END_AREA	0x40000000ULL	/* 2 pages, read-only area */
#define WT_END_SIZE	0x2000u
#define WT_UNMAPPED	0x20000000ULL	/* no area here */
#define WT_CPUID_CODE	0x13000ULL	/* the CPUID probe guest */

/* ---- Modes ---------------------------------------------------------------------- */

enum wt_mode_id {
	M_NOPG,		/* CR0.PG clear */
	M_NOPG_PAE,	/* CR0.PG clear, CR4.PAE|LA57 and EFER.LME set */
	M_32,		/* 32-bit paging */
	M_32PSE,	/* 32-bit paging, CR4.PSE */
	M_PAE,		/* PAE, EFER.NXE */
	M_PAE_NOX,	/* PAE without EFER.NXE */
	M_PAE_LA57,	/* PAE with CR4.LA57 (ignored outside long mode) */
	M_L4,		/* 4-level, EFER.NXE */
	M_L4_NOX,	/* 4-level without EFER.NXE */
	M_L5,		/* 5-level (CR4.LA57) */
	M_LMA_NOPAE,	/* EFER.LMA without CR4.PAE: invalid */
	M_COUNT
};

struct wt_mode {
	const char *name;
	uint64_t cr0, cr4, efer;
	unsigned int levels;		/* 0: no tables */
	unsigned int esize;		/* entry size */
	unsigned int ibits;		/* index bits per level */
	bool long64;			/* 64-bit code segment */
};
extern const struct wt_mode wt_modes[M_COUNT];

/* ---- Cases ------------------------------------------------------------------------ */

/* An extra bit planted at hi_level: bit MAXPHYADDR, or the one below. */
enum wt_hibit { HI_NONE, HI_RSVD, HI_ADDR };

struct wt_case {
	const char *what;
	enum wt_mode_id mode;
	gvaddr_t gva;
	unsigned int leaf;		/* level of the leaf entry */
	uint64_t entry;			/* the leaf entry, verbatim */
	uint64_t flags[6];		/* upper entries by level; 0: P|W|U */
	gpaddr_t table[6];		/* where level L's table is; 0: pool */
	enum wt_hibit hi;
	unsigned int hi_level;
	int err;			/* 0 or EFAULT */
	gpaddr_t gpa;			/* without the HI_ADDR bit */
	nvmm_prot_t prot;
};

struct wt_vm {
	struct t_vm vm;
	uint8_t *end_area;
	/* The guest's CPUID: MAXPHYADDR and 1 GiB pages. */
	unsigned int maxphy;
	bool page1gb;
	gpaddr_t pool_next;
};

void wt_vm_create(struct wt_vm *);
/* Run CPUID in the guest (long mode) and note its paging limits. */
void wt_probe_cpuid(struct wt_vm *);
/* Wipe the pool, plant the case's tables; returns the root table. */
gpaddr_t wt_build(struct wt_vm *, const struct wt_case *);
/* Write one entry of esize bytes (nothing if gpa is not test memory). */
void wt_put(struct wt_vm *, gpaddr_t table, unsigned int idx,
    unsigned int esize, uint64_t e);
unsigned int wt_index(const struct wt_mode *, unsigned int level, gvaddr_t);
/* CR0, CR3, CR4 and EFER of the case's mode, through setstate. */
void wt_set_paging(struct wt_vm *, const struct wt_case *, gpaddr_t root);
gpaddr_t wt_want_gpa(const struct wt_vm *, const struct wt_case *);
/* A 1 GiB page without CPUID Page1GB: PS in the PDPTE is reserved. */
bool wt_no_1g(const struct wt_vm *, const struct wt_case *);
/* nvmm_gva_to_gpa() against the case's expectation: one TAP line. */
bool wt_check_walk(struct wt_vm *, const struct wt_case *);

#endif
