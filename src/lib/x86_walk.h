/*
 * The guest page-table walker: the one piece of x86 interpretation that
 * libnvmm owns. Used by nvmm_gva_to_gpa() and by the backend to fetch
 * instruction bytes at an exit.
 */
#ifndef NVMM_X86_WALK_H
#define NVMM_X86_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <nvmm.h>

/* The registers that select and root the guest's paging mode. */
struct x86_paging {
	uint64_t cr0;
	uint64_t cr3;
	uint64_t cr4;
	uint64_t efer;
	/* Guest MAXPHYADDR; 0: the host's, which KVM gives guests. */
	unsigned int phys_bits;
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

#endif /* NVMM_X86_WALK_H */
