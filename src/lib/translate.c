/*
 * libnvmm: address translation entry points, nvmm_gva_to_gpa() (a walk of
 * the guest's page tables in its current mode) and the walker's reader.
 */
#include <errno.h>
#include <string.h>

#include <nvmm.h>

#include "../frontend/frontend.h"
#include "lib.h"
#include "x86_walk.h"

/*
 * Table entries must live in guest RAM (a gpa_map'ed area), whatever the
 * area's protection: KVM slots are always readable, so the CPU reads
 * tables in a write-protected or non-executable area too. Areas
 * are page-aligned, so a naturally aligned entry never runs past the end
 * of one; anything else is refused rather than read across.
 */
static int
translate_read_entry(void *ctx, gpaddr_t gpa, size_t size, uint64_t *entry)
{
	struct nvmm_machine *mach = ctx;
	nvmm_prot_t prot;
	uintptr_t hva;

	if ((gpa & (size - 1)) != 0 ||
	    fe_gpa_to_hva(mach, gpa, &hva, &prot) != 0)
		return EFAULT;
	*entry = 0;
	memcpy(entry, (const void *)hva, size);
	return 0;
}

NVMM_EXPORT int
nvmm_gva_to_gpa(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    gvaddr_t gva, gpaddr_t *gpa, nvmm_prot_t *prot)
{
	struct x86_paging pg;
	gpaddr_t out_gpa;
	nvmm_prot_t out_prot;

	if (gpa == NULL || prot == NULL)
		return lib_result(EFAULT);
	if (nvmm_vcpu_getstate(mach, vcpu,
	    NVMM_X64_STATE_CRS | NVMM_X64_STATE_MSRS) == -1)
		return -1;
	x86_paging_from_state(vcpu->state, &pg);
	if (x86_walk(&pg, gva, translate_read_entry, mach, &out_gpa,
	    &out_prot) != 0)
		return lib_result(EFAULT);
	*gpa = out_gpa;
	*prot = out_prot;
	return 0;
}
