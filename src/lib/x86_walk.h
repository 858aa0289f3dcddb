/*
 * The guest page-table walker: the one piece of x86 interpretation that
 * libnvmm owns. Used by nvmm_gva_to_gpa() and by the backend to fetch
 * instruction bytes at an exit.
 */
#ifndef NVMM_X86_WALK_H
#define NVMM_X86_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmm.h>

/* The registers that select and root the guest's paging mode. */
struct x86_paging {
	uint64_t cr0;
	uint64_t cr3;
	uint64_t cr4;
	uint64_t efer;
	/*
	 * What the guest's CPUID allows (x86_paging_limits()). Zero means
	 * unknown, and the walk is lenient: 52 address bits, 1 GiB pages.
	 */
	unsigned int phys_bits;		/* MAXPHYADDR */
	bool no_page1gb;		/* PS in a PDPTE is reserved */
};

/*
 * Read a table entry of 'size' bytes (4 or 8) at gpa. Returns 0, or EFAULT
 * when gpa is not guest RAM: the walker never reads anything else.
 */
typedef int (*x86_read_entry_fn)(void *ctx, gpaddr_t gpa, size_t size,
    uint64_t *entry);

/* 0 with *gpa and *prot, or EFAULT (not present, reserved bit, bad mode). */
int x86_walk(const struct x86_paging *, gvaddr_t, x86_read_entry_fn, void *ctx,
    gpaddr_t *gpa, nvmm_prot_t *prot);

/* The paging registers of a vCPU state (CRS and MSRS must be valid). */
void x86_paging_from_state(const struct nvmm_x64_state *, struct x86_paging *);
/* The limits from the guest's CPUID: 0x80000001 EDX and 0x80000008 EAX. */
void x86_paging_limits(struct x86_paging *, uint32_t ext1_edx,
    uint32_t ext8_eax);

#endif /* NVMM_X86_WALK_H */
