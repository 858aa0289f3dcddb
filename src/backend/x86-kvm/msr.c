/*
 * MSR policy: the MSRs NVMM handles in its kernel (spec 3.13) stay inside
 * KVM; every other guest RDMSR/WRMSR exits to the emulator. KVM does this
 * with user-space MSR exits and a deny-by-default MSR filter whose ranges
 * are the allow-list below.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmx86.h"

enum msr_vendor { MSR_ANY, MSR_VMX, MSR_SVM };

struct msr_allow {
	uint32_t base;
	uint32_t count;
	uint32_t flags;		/* KVM_MSR_FILTER_READ / _WRITE */
	enum msr_vendor vendor;
};

#define RW	(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE)
#define RO	KVM_MSR_FILTER_READ

static const struct msr_allow msr_allow[] = {
	{ 0x00000010, 1, RW, MSR_ANY },	/* TSC: reads, offset writes */
	{ 0x00000017, 1, RW, MSR_VMX },	/* PLATFORM_ID */
	{ 0x0000008B, 1, RW, MSR_ANY },	/* BIOS_SIGN / PATCH_LEVEL */
	{ 0x0000010A, 1, RO, MSR_VMX },	/* ARCH_CAPABILITIES */
	{ 0x00000174, 3, RW, MSR_ANY },	/* SYSENTER_CS/ESP/EIP */
	{ 0x000001A0, 1, RW, MSR_ANY },	/* MISC_ENABLE */
	{ 0x00000277, 1, RW, MSR_ANY },	/* PAT */
	{ 0xC0000080, 5, RW, MSR_ANY },	/* EFER STAR LSTAR CSTAR SFMASK */
	{ 0xC0000100, 3, RW, MSR_ANY },	/* FSBASE GSBASE KERNELGSBASE */
	{ 0xC0010055, 1, RW, MSR_SVM },	/* CMPHALT */
	{ 0xC0011021, 1, RW, MSR_SVM },	/* IC_CFG */
	{ 0xC0011029, 1, RW, MSR_SVM },	/* DE_CFG */
	/*
	 * Deliberately absent, so they exit: APICBASE (0x1B), the x2APIC
	 * range, MTRRs, MCE banks, SPEC_CTRL, TSC_AUX, XSS, PMU counters.
	 */
};

_Static_assert(sizeof(msr_allow) / sizeof(msr_allow[0]) <= KVM_MSR_FILTER_MAX_RANGES,
    "one filter range per allow-list row");

int
kvmx86_msr_setup(int vm_fd)
{
	static const uint8_t all_ones[1] = { 0xFF };	/* count <= 8 */
	struct kvm_enable_cap cap;
	struct kvm_msr_filter filter;
	size_t n = 0;

	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
	cap.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN |
	    KVM_MSR_EXIT_REASON_INVAL;
	if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap) == -1)
		return errno;

	memset(&filter, 0, sizeof(filter));
	filter.flags = KVM_MSR_FILTER_DEFAULT_DENY;
	for (size_t i = 0; i < sizeof(msr_allow) / sizeof(msr_allow[0]); i++) {
		const struct msr_allow *a = &msr_allow[i];

		if ((a->vendor == MSR_VMX && !kvmx86_host.intel) ||
		    (a->vendor == MSR_SVM && kvmx86_host.intel))
			continue;
		filter.ranges[n].flags = a->flags;
		filter.ranges[n].base = a->base;
		filter.ranges[n].nmsrs = a->count;
		filter.ranges[n].bitmap = (uint8_t *)(uintptr_t)all_ones;
		n++;
	}
	if (ioctl(vm_fd, KVM_X86_SET_MSR_FILTER, &filter) == -1)
		return errno;
	return 0;
}
