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
 * tables in a write-protected area too. Areas are page-aligned, so a
 * naturally aligned entry never runs past the end of one; anything else
 * is refused rather than read across.
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

/*
 * MAXPHYADDR and 1 GiB pages as the guest's CPUID states them, which is
 * what its own walks obey (the emulator may have narrowed them). Without
 * an answer the walk stays lenient, as NVMM's always is.
 */
static void
translate_limits(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    struct x86_paging *pg)
{
	uint32_t ext1[4], ext8[4];

	if (fe_vcpu_cpuid(mach, vcpu, 0x80000001, 0, ext1) == 0 &&
	    fe_vcpu_cpuid(mach, vcpu, 0x80000008, 0, ext8) == 0)
		x86_paging_limits(pg, ext1[3], ext8[0]);
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
	translate_limits(mach, vcpu, &pg);
	if (x86_walk(&pg, gva, translate_read_entry, mach, &out_gpa,
	    &out_prot) != 0)
		return lib_result(EFAULT);
	*gpa = out_gpa;
	*prot = out_prot;
	return 0;
}
