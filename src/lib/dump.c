/*
 * libnvmm: nvmm_vcpu_dump(), NVMM's undocumented debugging aid. The one
 * place where the library prints, because printing is its purpose.
 */
#include <inttypes.h>
#include <stdio.h>

#include <nvmm.h>

#include "lib.h"

static const char *const dump_gpr_names[] = {
	"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
};
static const char *const dump_seg_names[NVMM_X64_NSEG] = {
	"ES", "CS", "SS", "DS", "FS", "GS", "GDT", "IDT", "LDT", "TR",
};

static void
dump_seg(const char *name, const struct nvmm_x64_state_seg *seg)
{
	uint16_t attrib;

	/* The attribute word as NVMM packs it (AMD VMCB order). */
	attrib = (uint16_t)(seg->attrib.type | seg->attrib.s << 4 |
	    seg->attrib.dpl << 5 | seg->attrib.p << 7 | seg->attrib.avl << 8 |
	    seg->attrib.l << 9 | seg->attrib.def << 10 | seg->attrib.g << 11);
	printf("| -> %s: sel=0x%x base=%" PRIx64 ", limit=%x, "
	    "attrib=%x [type=%d,l=%d,def=%d]\n", name, seg->selector,
	    seg->base, seg->limit, attrib, seg->attrib.type, seg->attrib.l,
	    seg->attrib.def);
}

NVMM_EXPORT int
nvmm_vcpu_dump(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	const struct nvmm_x64_state *state;

	if (nvmm_vcpu_getstate(mach, vcpu, NVMM_X64_STATE_ALL) == -1)
		return -1;
	state = vcpu->state;

	printf("+ VCPU id=%u\n", vcpu->cpuid);
	for (size_t i = 0; i < sizeof(dump_gpr_names) / sizeof(dump_gpr_names[0]);
	    i++)
		printf("| -> %s=%" PRIx64 "\n", dump_gpr_names[i],
		    state->gprs[i]);
	printf("| -> RIP=%" PRIx64 "\n", state->gprs[NVMM_X64_GPR_RIP]);
	printf("| -> RFLAGS=%" PRIx64 "\n", state->gprs[NVMM_X64_GPR_RFLAGS]);
	for (size_t i = 0; i < NVMM_X64_NSEG; i++)
		dump_seg(dump_seg_names[i], &state->segs[i]);
	printf("| -> MSR_EFER=%" PRIx64 "\n", state->msrs[NVMM_X64_MSR_EFER]);
	printf("| -> CR0=%" PRIx64 "\n", state->crs[NVMM_X64_CR_CR0]);
	printf("| -> CR3=%" PRIx64 "\n", state->crs[NVMM_X64_CR_CR3]);
	printf("| -> CR4=%" PRIx64 "\n", state->crs[NVMM_X64_CR_CR4]);
	printf("| -> CR8=%" PRIx64 "\n", state->crs[NVMM_X64_CR_CR8]);
	fflush(stdout);
	return 0;
}
