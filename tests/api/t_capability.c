/*
 * nvmm_capability(): the values NVMM for Linux promises (DragonFly's v3
 * layout, DESIGN.md section 2) and what the x86 part says about this host.
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

/* What the host CPU offers that the capability must agree with. */
static uint64_t
host_xcr0(void)
{
	unsigned int eax, ebx, ecx, edx;
	uint32_t lo, hi;

	__cpuid(1, eax, ebx, ecx, edx);
	if (!(ecx & (1u << 27)))	/* OSXSAVE */
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static uint32_t
host_mxcsr_mask(void)
{
	uint8_t fx[512] __attribute__((aligned(16)));
	uint32_t mask;

	memset(fx, 0, sizeof(fx));
	__asm__ volatile("fxsave %0" : "=m"(fx));
	memcpy(&mask, fx + 28, sizeof(mask));
	return mask ? mask : 0xFFBF;	/* 0: the architectural default */
}

int
main(void)
{
	struct nvmm_capability cap;
	bool rsvd_zero = true;
	uint64_t xcr0;

	t_require_nvmm();
	t_plan(16);

	memset(&cap, 0xA5, sizeof(cap));
	t_ok(nvmm_capability(&cap) == 0, "nvmm_capability");
	t_eq_u64(cap.version, 3, "version: NVMM_KERN_VERSION 3");
	t_eq_u64(cap.version, NVMM_KERN_VERSION, "version matches the header");
	t_eq_u64(cap.state_size, 1008, "state_size");
	t_eq_u64(cap.state_size, sizeof(struct nvmm_x64_state),
	    "state_size is sizeof(struct nvmm_x64_state)");
	t_eq_u64(cap.comm_size, 4096, "comm_size");
	t_eq_u64(cap.max_machines, 128, "max_machines");
	t_eq_u64(cap.max_vcpus, 128, "max_vcpus");
	t_eq_u64(cap.max_ram, 127ULL << 40, "max_ram: 127 TiB");
	t_eq_u64(cap.arch.mach_conf_support, 0, "no machine conf ops on x86");
	t_eq_u64(cap.arch.vcpu_conf_support, NVMM_CAP_ARCH_VCPU_CONF_CPUID,
	    "vCPU conf: CPUID only (no TPR exits on KVM here)");
	t_eq_u64(cap.arch.conf_cpuid_maxops, 32, "conf_cpuid_maxops");

	/* x87|SSE as far as the host enables them; x87 always. */
	xcr0 = host_xcr0();
	t_eq_u64(cap.arch.xcr0_mask, xcr0 ? (xcr0 & 0x3) : 0,
	    "xcr0_mask: x87|SSE of the host's XCR0");
	t_eq_u64(cap.arch.mxcsr_mask, host_mxcsr_mask(),
	    "mxcsr_mask: the host's FXSAVE mask");
	for (size_t i = 0; i < 6; i++)
		rsvd_zero &= (cap.arch.rsvd[i] == 0);
	t_ok(rsvd_zero, "reserved words are zero");
	/* The Linux extensions: t_dirty, t_events check what the bits promise. */
	t_eq_u64(cap.ext & ~(uint32_t)NVMM_CAP_EXT_DIRTY, NVMM_CAP_EXT_EVENTS,
	    "ext: NVMM_CAP_EXT_EVENTS, and NVMM_CAP_EXT_DIRTY (%s here)",
	    (cap.ext & NVMM_CAP_EXT_DIRTY) ? "set" : "clear");
	return t_done();
}
