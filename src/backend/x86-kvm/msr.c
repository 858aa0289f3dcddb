/*
 * MSR policy: the MSRs NVMM handles in its kernel (spec 3.13) never reach
 * the emulator; every other guest RDMSR/WRMSR exits to it.
 *
 * Three tables say how:
 * - msr_allow: KVM implements them as NVMM does; a deny-by-default MSR
 *   filter lets exactly these through to KVM.
 * - msr_local: NVMM answers them itself in a way KVM does not (read as 0,
 *   writes dropped, a filtered value). The filter sends them to user
 *   space like any other MSR, and the backend answers before the emulator
 *   sees anything: the run returns NVMM_VCPU_EXIT_NONE.
 * - everything else exits as NVMM_VCPU_EXIT_RDMSR/WRMSR.
 * When KVM refuses a value of an allowed MSR (a reserved EFER bit, a bad
 * PAT type, a non-canonical base), the guest gets #GP, as from NVMM.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmx86.h"

enum msr_vendor { MSR_ANY, MSR_VMX, MSR_SVM };

#define RW	(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE)
#define RO	KVM_MSR_FILTER_READ
#define WO	KVM_MSR_FILTER_WRITE

#define MSR_TSC			0x010
#define MSR_MISC_ENABLE		0x1A0
#define MSR_ARCH_CAPABILITIES	0x10A
#define MSR_PAT			0x277

/* ---- Policy ---------------------------------------------------------------- */

struct msr_allow {
	uint32_t base;
	uint32_t count;
	uint32_t flags;		/* KVM_MSR_FILTER_READ / _WRITE */
	enum msr_vendor vendor;
};

/* Left to KVM, whose handling is NVMM's. */
static const struct msr_allow msr_allow[] = {
	{ 0x00000010, 1, RW, MSR_ANY },	/* TSC: reads, offset writes */
	{ 0x00000174, 3, RW, MSR_ANY },	/* SYSENTER_CS/ESP/EIP */
	{ MSR_MISC_ENABLE, 1, RO, MSR_ANY },	/* value set per vCPU below */
	{ MSR_PAT, 1, RO, MSR_ANY },		/* writes checked below */
	{ 0xC0000080, 5, RW, MSR_ANY },	/* EFER STAR LSTAR CSTAR SFMASK */
	{ 0xC0000100, 3, RW, MSR_ANY },	/* FSBASE GSBASE KERNELGSBASE */
	/*
	 * Deliberately absent, so they exit: APICBASE (0x1B), MTRRs, MCE
	 * banks, SPEC_CTRL, TSC_AUX, TSC_ADJUST, XSS, PMU counters, KVM's
	 * paravirtual MSRs. The x2APIC range cannot be filtered; without an
	 * in-kernel APIC KVM sends it to user space too.
	 */
};

_Static_assert(sizeof(msr_allow) / sizeof(msr_allow[0]) <= KVM_MSR_FILTER_MAX_RANGES,
    "one filter range per allow-list row");

enum msr_answer {
	MSR_IGNORE,		/* reads 0, writes dropped */
	MSR_ARCH_CAPS,		/* the host's value, filtered */
	MSR_PAT_CHECK,		/* valid types only, else #GP */
};

struct msr_local {
	uint32_t msr;
	uint32_t access;	/* KVM_MSR_FILTER_READ / _WRITE */
	enum msr_vendor vendor;
	enum msr_answer answer;
};

/* Answered by the backend, as NVMM's kernel answers them. */
static const struct msr_local msr_local[] = {
	{ 0x00000017, RW, MSR_VMX, MSR_IGNORE },	/* PLATFORM_ID */
	{ 0x0000008B, RW, MSR_ANY, MSR_IGNORE },	/* BIOS_SIGN, PATCH_LEVEL */
	{ MSR_ARCH_CAPABILITIES, RO, MSR_VMX, MSR_ARCH_CAPS },
	{ MSR_MISC_ENABLE, WO, MSR_ANY, MSR_IGNORE },
	/* Some KVMs (PVM) take any PAT: check it here, once per write. */
	{ MSR_PAT, WO, MSR_ANY, MSR_PAT_CHECK },
	{ 0xC0010055, RW, MSR_SVM, MSR_IGNORE },	/* CMPHALT */
	{ 0xC0011021, RW, MSR_SVM, MSR_IGNORE },	/* IC_CFG */
	{ 0xC0011029, RW, MSR_SVM, MSR_IGNORE },	/* DE_CFG */
	/*
	 * Spec 3.13 rather than one NVMM: MISC_ENABLE is NVMM-VMX's (its SVM
	 * backend lets it exit); NB_CFG (0xC001001F), which newer NetBSD
	 * answers on SVM, exits.
	 */
};

/* What NVMM lets a guest see of ARCH_CAPABILITIES. */
#define ARCH_CAPS_SHOWN	(1ULL << 0 /* RDCL_NO */ | 1ULL << 4 /* SSB_NO */ | \
	1ULL << 5 /* MDS_NO */ | 1ULL << 8 /* TAA_NO */)

/* MISC_ENABLE as NVMM shows it: no PERFMON, EIST, MWAIT; no BTS, PEBS. */
#define MISC_HIDDEN	(1ULL << 7 | 1ULL << 16 | 1ULL << 18)
#define MISC_SHOWN	(1ULL << 11 | 1ULL << 12)

static bool
msr_vendor_ok(enum msr_vendor v)
{
	return v == MSR_ANY || (v == MSR_VMX) == kvmx86_host.intel;
}

static uint32_t
msr_access(bool write)
{
	return write ? KVM_MSR_FILTER_WRITE : KVM_MSR_FILTER_READ;
}

static bool
msr_allowed(uint32_t msr, bool write)
{
	for (size_t i = 0; i < sizeof(msr_allow) / sizeof(msr_allow[0]); i++) {
		const struct msr_allow *a = &msr_allow[i];

		if (msr - a->base < a->count && (a->flags & msr_access(write)) &&
		    msr_vendor_ok(a->vendor))
			return true;
	}
	return false;
}

static const struct msr_local *
msr_local_find(uint32_t msr, bool write)
{
	for (size_t i = 0; i < sizeof(msr_local) / sizeof(msr_local[0]); i++) {
		const struct msr_local *l = &msr_local[i];

		if (l->msr == msr && (l->access & msr_access(write)) &&
		    msr_vendor_ok(l->vendor))
			return l;
	}
	return NULL;
}

/* ---- Machine and vCPU setup ------------------------------------------------------ */

int
kvmx86_msr_setup(int vm_fd)
{
	static const uint8_t all_ones[1] = { 0xFF };	/* count <= 8 */
	struct kvm_enable_cap cap;
	struct kvm_msr_filter filter;
	size_t n = 0;

	/*
	 * INVAL and UNKNOWN too: the x2APIC range (never filtered) reaches
	 * user space only that way. For allowed MSRs they mean a value KVM
	 * refuses: kvmx86_msr_decide() turns those into #GP.
	 */
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

		if (!msr_vendor_ok(a->vendor))
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

/* One MSR through KVM's host-initiated accessors. */
static int
msr_host_rw(int fd, unsigned long req, uint32_t msr, uint64_t *val)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} l;
	int r;

	memset(&l, 0, sizeof(l));
	l.hdr.nmsrs = 1;
	l.e.index = msr;
	l.e.data = *val;
	r = ioctl(fd, req, &l);
	if (r == -1)
		return errno;
	if (r != 1)
		return EIO;	/* KVM does not know the MSR */
	*val = l.e.data;
	return 0;
}

/*
 * Guest reads of MISC_ENABLE stay in KVM, so give KVM the value NVMM
 * shows; guest writes never reach it (msr_local). KVM starts every vCPU
 * with the same value, and NVMM's view of it is the same whether made
 * from KVM's or from ours again: so it is asked of KVM once per process.
 */
int
kvmx86_msr_vcpu_setup(struct kvmx86_vcpu *cpu)
{
	static _Atomic uint64_t shown;	/* 0: not asked yet */
	uint64_t misc = atomic_load_explicit(&shown, memory_order_relaxed);
	int error;

	if (misc == 0) {
		if ((error = msr_host_rw(cpu->fd, KVM_GET_MSRS,
		    MSR_MISC_ENABLE, &misc)) != 0)
			return error;
		misc = (misc & ~MISC_HIDDEN) | MISC_SHOWN;
		atomic_store_explicit(&shown, misc, memory_order_relaxed);
	}
	return msr_host_rw(cpu->fd, KVM_SET_MSRS, MSR_MISC_ENABLE, &misc);
}

/*
 * A re-created vCPU's TSC (kvm.c, "Parked vCPUs"), as KVM sets a new
 * vCPU's: a host write of 0 synchronises it with the machine's vCPUs.
 */
int
kvmx86_msr_tsc_reset(struct kvmx86_vcpu *cpu)
{
	uint64_t tsc = 0;

	return msr_host_rw(cpu->fd, KVM_SET_MSRS, MSR_TSC, &tsc);
}

/* ---- MSR exits the backend answers ------------------------------------------------- */

/* PAT memory types: 0, 1, 4, 5, 6 and 7 exist; 2, 3 and 8+ do not. */
static bool
msr_pat_valid(uint64_t pat)
{
	for (int i = 0; i < 8; i++) {
		uint8_t type = (uint8_t)(pat >> (i * 8));

		if (type > 7 || type == 2 || type == 3)
			return false;
	}
	return true;
}

static int
msr_local_write(struct kvmx86_vcpu *cpu, const struct msr_local *l,
    uint64_t val)
{
	if (l->answer != MSR_PAT_CHECK)
		return 0;	/* dropped */
	if (!msr_pat_valid(val))
		return EINVAL;
	return msr_host_rw(cpu->fd, KVM_SET_MSRS, MSR_PAT, &val);
}

static int
msr_local_read(const struct msr_local *l, uint64_t *val)
{
	*val = 0;
	if (l->answer != MSR_ARCH_CAPS)
		return 0;
	/* A host without the MSR gives #GP, as NVMM does. */
	if (msr_host_rw(kvmx86_host.kvm_fd, KVM_GET_MSRS,
	    MSR_ARCH_CAPABILITIES, val) != 0)
		return EINVAL;
	*val &= ARCH_CAPS_SHOWN;
	return 0;
}

static int
msr_local_answer(struct kvmx86_vcpu *cpu, const struct msr_local *l,
    bool write)
{
	uint64_t val = cpu->run->msr.data;
	int error;

	if (write)
		return msr_local_write(cpu, l, val);
	error = msr_local_read(l, &val);
	cpu->run->msr.data = val;
	return error;
}

/*
 * After an MSR exit (pending) that is not the emulator's last one
 * (kvmx86_msr_theirs()): answer it here if NVMM's kernel would have, and
 * let KVM finish the instruction at once. False: the emulator's.
 */
bool
kvmx86_msr_decide(struct kvmx86_vcpu *cpu, bool write)
{
	struct kvm_run *run = cpu->run;
	const struct msr_local *l;

	if (run->msr.reason != KVM_MSR_EXIT_REASON_FILTER &&
	    msr_allowed(run->msr.index, write)) {
		run->msr.error = 1;	/* KVM refused the value: #GP */
	} else if ((l = msr_local_find(run->msr.index, write)) != NULL) {
		run->msr.error = msr_local_answer(cpu, l, write) != 0;
	} else {
		if (run->msr.reason == KVM_MSR_EXIT_REASON_FILTER)
			cpu->msr_theirs[write] = (uint64_t)run->msr.index + 1;
		return false;
	}
	/* Should this fail, KVM still finishes it at the next KVM_RUN. */
	(void)kvmx86_complete(cpu);
	return true;
}
