/*
 * CPUID policy: NVMM's guest view of CPUID (spec 3.13) built from what KVM
 * supports on this host, then the emulator's NVMM_VCPU_CONF_CPUID masks.
 * KVM takes a table per vCPU (KVM_SET_CPUID2) that may not change once the
 * vCPU has run, so the table is installed before the first run.
 *
 * KVM never exits to user space on CPUID, so the "exit" form of the
 * configuration is refused with ENOTSUP rather than accepted and ignored
 * (the capability bit covers the mask form only; see libnvmm(3), "Linux").
 *
 * The policy is data: per leaf, the register bits kept ("allow") or
 * dropped ("deny"); what is excluded stays listed so it can be audited.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmx86.h"

#define CPUID_MAX_ENTRIES	256
#define CPUID_BASIC_MAX		0x16u
#define CPUID_EXT_MAX		0x80000008u
#define CPUID_HV_LEAF		0x40000000u

enum cpuid_reg { EAX, EBX, ECX, EDX };

/* Bits dropped from a leaf (all subleaves). */
struct cpuid_deny {
	uint32_t leaf;
	enum cpuid_reg reg;
	uint32_t bits;
	const char *what;
};

static const struct cpuid_deny cpuid_deny[] = {
	{ 0x1, ECX, 1u << 2 | 1u << 4 | 1u << 15 | 1u << 18,
	    "DTES64, DS-CPL, PDCM, DCA" },
	{ 0x1, ECX, 1u << 3, "MONITOR/MWAIT (no exit on KVM)" },
	{ 0x1, ECX, 1u << 5 | 1u << 6, "VMX, SMX" },
	{ 0x1, ECX, 1u << 7 | 1u << 8 | 1u << 11, "EST, TM2, SDBG" },
	{ 0x1, ECX, 1u << 21 | 1u << 24, "x2APIC, TSC-deadline" },
	{ 0x1, ECX, 1u << 12 | 1u << 28 | 1u << 29, "FMA, AVX, F16C (no YMM)" },
	{ 0x1, EDX, 1u << 7 | 1u << 12 | 1u << 14, "MCE, MTRR, MCA" },
	{ 0x1, EDX, 1u << 18 | 1u << 21 | 1u << 22, "PSN, DS, ACPI" },
	{ 0x1, EDX, 1u << 29 | 1u << 31, "TM, PBE" },
	{ 0x80000001, ECX, 1u << 2, "SVM" },
	{ 0x80000001, ECX, 1u << 12 | 1u << 13 | 1u << 15,
	    "SKINIT, WDT, LWP" },
	{ 0x80000001, ECX, 1u << 23 | 1u << 24 | 1u << 28,
	    "PERFCTR_CORE, PERFCTR_NB, PERFCTR_LLC" },
	{ 0x80000001, EDX, 1u << 27, "RDTSCP" },
};

/* Leaf 7 subleaf 0 keeps only these (everything else: AVX2, AVX-512, SGX,
 * TSX, PKU, CET, PT, MPX, speculation controls, LA57, AMX...). */
static const uint32_t cpuid7_allow[4] = {
	[EAX] = 0,
	[EBX] = 1u << 0 /* FSGSBASE */ | 1u << 3 /* BMI1 */ |
	    1u << 7 /* SMEP */ | 1u << 8 /* BMI2 */ | 1u << 9 /* ERMS */ |
	    1u << 10 /* INVPCID */ | 1u << 18 /* RDSEED */ |
	    1u << 19 /* ADX */ | 1u << 20 /* SMAP */ |
	    1u << 23 /* CLFLUSHOPT */ | 1u << 24 /* CLWB */ |
	    1u << 29 /* SHA */,
	[ECX] = 1u << 2 /* UMIP */,
	[EDX] = 1u << 4 /* FSRM */,
};

/* Leaves zeroed: 3 (serial), 5 (MONITOR), 6 (power), 8, 9 (DCA), 0xA
 * (PMU), 0xC, 0xE-0x14 (RDT, SGX, PT...), KVM's 0x40000001 features. */
static bool
cpuid_leaf_zeroed(uint32_t leaf)
{
	return leaf == 3 || leaf == 5 || leaf == 6 || leaf == 8 || leaf == 9 ||
	    leaf == 0xA || leaf == 0xC || (leaf >= 0xE && leaf <= 0x14) ||
	    leaf == 0x40000001;
}

/* ---- Instructions the table leaves out ---------------------------------------- */

/*
 * KVM quirks that contradict what the table tells the guest, turned off
 * per machine so that the guest gets #UD, as from NVMM:
 * - MWAIT_NEVER_UD_FAULTS: MONITOR/MWAIT run as NOPs although CPUID shows
 *   no MONITOR (NVMM exits on them; QEMU answers those exits with #UD);
 * - FIX_HYPERCALL_INSN: KVM rewrites the other vendor's VMCALL/VMMCALL in
 *   guest memory into its own hypercall (NVMM: #UD for both).
 * Kept: the other quirks (LAPIC, CD/NW, OUT 0x7E) do not apply here.
 */
#define CPUID_QUIRKS_OFF	(KVM_X86_QUIRK_MWAIT_NEVER_UD_FAULTS | \
	KVM_X86_QUIRK_FIX_HYPERCALL_INSN)

/* The quirks of CPUID_QUIRKS_OFF this KVM can turn off (kvmx86_cpuid_probe). */
static uint64_t cpuid_quirks_off;

int
kvmx86_cpuid_vm_setup(int vm_fd)
{
	struct kvm_enable_cap cap;

	if (cpuid_quirks_off == 0)
		return 0;	/* an older KVM: see libnvmm(3), "Linux" */
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_DISABLE_QUIRKS2;
	cap.args[0] = cpuid_quirks_off;
	return ioctl(vm_fd, KVM_ENABLE_CAP, &cap) == 0 ? 0 : errno;
}

/*
 * KVM's paravirtual features (hypercalls, PV MSRs) follow the table, which
 * has no KVM leaf: a guest's VMMCALL/VMCALL then reaches no KVM service.
 */
static bool cpuid_pv_enforceable;	/* kvmx86_cpuid_probe */

static int
cpuid_enforce_pv(struct kvmx86_vcpu *cpu)
{
	struct kvm_enable_cap cap;

	if (!cpuid_pv_enforceable)
		return 0;
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_ENFORCE_PV_FEATURE_CPUID;
	cap.args[0] = 1;
	return ioctl(cpu->fd, KVM_ENABLE_CAP, &cap) == 0 ? 0 : errno;
}

/* ---- Host table ------------------------------------------------------------ */

int
kvmx86_cpuid_probe(void)
{
	struct kvm_cpuid2 *c;
	int have;

	c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (c == NULL)
		return ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvmx86_host.kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == -1) {
		free(c);
		return errno;
	}
	kvmx86_host.supported = c;
	/* The same for every VM of the default type: asked once. */
	have = ioctl(kvmx86_host.kvm_fd, KVM_CHECK_EXTENSION,
	    KVM_CAP_DISABLE_QUIRKS2);
	cpuid_quirks_off = have > 0 ? CPUID_QUIRKS_OFF & (uint64_t)have : 0;
	cpuid_pv_enforceable = ioctl(kvmx86_host.kvm_fd, KVM_CHECK_EXTENSION,
	    KVM_CAP_ENFORCE_PV_FEATURE_CPUID) > 0;
	return 0;
}

/* ---- Building a vCPU's table ---------------------------------------------------- */

static uint32_t *
cpuid_reg(struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
	uint32_t *regs[4] = { &e->eax, &e->ebx, &e->ecx, &e->edx };

	return regs[r];
}

static struct kvm_cpuid_entry2 *
cpuid_add(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t index, uint32_t flags)
{
	struct kvm_cpuid_entry2 *e;

	if (c->nent == CPUID_MAX_ENTRIES)
		return NULL;
	e = &c->entries[c->nent++];
	memset(e, 0, sizeof(*e));
	e->function = leaf;
	e->index = index;
	e->flags = flags;
	return e;
}

/* NVMM's hypervisor leaf: "___ NVMM ___". */
static void
cpuid_hv_leaf(struct kvm_cpuid_entry2 *e)
{
	e->eax = CPUID_HV_LEAF;
	memcpy(&e->ebx, "___ ", 4);
	memcpy(&e->ecx, "NVMM", 4);
	memcpy(&e->edx, " ___", 4);
}

/* Topology: one thread per core, nvcpus cores, APIC id = vCPU id. */
static void
cpuid_topology(struct kvm_cpuid_entry2 *e, nvmm_cpuid_t id,
    unsigned int nvcpus)
{
	unsigned int shift = 0;

	while ((1u << shift) < nvcpus)
		shift++;
	switch (e->function) {
	case 0x1:
		e->ebx = (e->ebx & 0xFFFF) | (nvcpus & 0xFF) << 16 | id << 24;
		e->edx |= 1u << 28;	/* HTT: EBX[23:16] is meaningful */
		e->ecx |= 1u << 31;	/* HYPERVISOR */
		break;
	case 0x4:
		e->eax = (e->eax & 0x3FFF) |
		    ((nvcpus ? nvcpus - 1 : 0) & 0x3F) << 26;
		break;
	case 0xB:
		e->edx = id;
		if (e->index == 0) {
			e->eax = 0;
			e->ebx = 1;
			e->ecx = 1u << 8;	/* SMT level */
		} else if (e->index == 1) {
			e->eax = shift;
			e->ebx = nvcpus;
			e->ecx = 2u << 8 | 1;	/* core level */
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index;
		}
		break;
	}
}

/* XSAVE: only x87 and SSE, as NVMM's xcr0_mask says. */
static bool
cpuid_xsave(struct kvm_cpuid_entry2 *e)
{
	if (e->index == 0) {
		e->eax = (uint32_t)kvmx86_host.xcr0_mask;
		e->edx = 0;
		e->ebx = e->ecx = 512 + 64;	/* legacy area + header */
	} else if (e->index == 1) {
		e->eax &= 1u << 0 | 1u << 1 | 1u << 2;	/* no XSAVES: no XSS */
		e->ebx = e->ecx = e->edx = 0;
	} else {
		return false;	/* no other component */
	}
	return true;
}

/* Apply the policy to one host entry; false drops the entry. */
static bool
cpuid_filter(struct kvm_cpuid_entry2 *e, nvmm_cpuid_t id, unsigned int nvcpus)
{
	if (cpuid_leaf_zeroed(e->function)) {
		e->eax = e->ebx = e->ecx = e->edx = 0;
		return e->function != 0x40000001;
	}
	if ((e->function > CPUID_BASIC_MAX && e->function < CPUID_HV_LEAF) ||
	    e->function > CPUID_EXT_MAX)
		return false;
	for (size_t i = 0; i < sizeof(cpuid_deny) / sizeof(cpuid_deny[0]); i++) {
		if (cpuid_deny[i].leaf == e->function)
			*cpuid_reg(e, cpuid_deny[i].reg) &= ~cpuid_deny[i].bits;
	}
	switch (e->function) {
	case 0x0:
		if (e->eax > CPUID_BASIC_MAX)
			e->eax = CPUID_BASIC_MAX;
		break;
	case 0x7:
		if (e->index != 0)
			return false;
		for (int r = EAX; r <= EDX; r++)
			*cpuid_reg(e, (enum cpuid_reg)r) &= cpuid7_allow[r];
		break;
	case 0xD:
		return cpuid_xsave(e);
	case CPUID_HV_LEAF:
		cpuid_hv_leaf(e);
		break;
	case 0x80000000:
		if (e->eax > CPUID_EXT_MAX)
			e->eax = CPUID_EXT_MAX;
		break;
	case 0x80000007:
		e->eax = e->ebx = e->ecx = 0;
		e->edx &= 1u << 8;	/* TscInvariant only */
		break;
	case 0x80000008:
		e->ebx = e->ecx = e->edx = 0;	/* addresses sizes only */
		break;
	}
	cpuid_topology(e, id, nvcpus);
	return true;
}

/* The emulator's masks: result = (default & ~del) | set, every subleaf. */
static int
cpuid_apply_conf(struct kvm_cpuid2 *c, const struct nvmm_vcpu_conf_cpuid *conf)
{
	const uint32_t set[4] = { conf->u.mask.set.eax, conf->u.mask.set.ebx,
	    conf->u.mask.set.ecx, conf->u.mask.set.edx };
	const uint32_t del[4] = { conf->u.mask.del.eax, conf->u.mask.del.ebx,
	    conf->u.mask.del.ecx, conf->u.mask.del.edx };
	bool found = false;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != conf->leaf)
			continue;
		found = true;
		for (int r = EAX; r <= EDX; r++) {
			uint32_t *v = cpuid_reg(e, (enum cpuid_reg)r);

			*v = (*v & ~del[r]) | set[r];
		}
	}
	if (!found) {
		struct kvm_cpuid_entry2 *e = cpuid_add(c, conf->leaf, 0, 0);

		if (e == NULL)
			return ENOBUFS;
		for (int r = EAX; r <= EDX; r++)
			*cpuid_reg(e, (enum cpuid_reg)r) = set[r];
	}
	return 0;
}

/*
 * A KVM vCPU that ran keeps its table: KVM refuses any other one then,
 * and some KVMs (PVM) even the same one again. A vCPU re-created over it
 * (kvm.c, "Parked vCPUs") whose table would be the same has it already;
 * another one cannot be had.
 */
static int
cpuid_kept_fits(struct kvmx86_vcpu *cpu, unsigned int nvcpus)
{
	const struct kvmx86_cpuid_key *k = cpu->cpuid_kvm;

	if (k->nvcpus != nvcpus || k->nconf != cpu->ncpuid_conf ||
	    memcmp(k->conf, cpu->cpuid_conf, k->nconf * sizeof(k->conf[0])) != 0)
		return EBUSY;
	cpu->cpuid_dirty = false;
	return 0;
}

/*
 * The inputs of the table this vCPU's KVM vCPU holds, for the next vCPU
 * of its id (NULL: it never ran, it holds none), taken off the vCPU.
 */
struct kvmx86_cpuid_key *
kvmx86_cpuid_kept(struct kvmx86_vcpu *cpu)
{
	struct kvmx86_cpuid_key *k = cpu->cpuid_kvm;

	cpu->cpuid_kvm = NULL;
	/* Held already: the vCPU ran with that table (cpuid_kept_fits). */
	if (k != NULL || !cpu->has_run)
		return k;
	if ((k = malloc(sizeof(*k))) == NULL)
		return NULL;
	k->nvcpus = cpu->cpuid_nvcpus;
	k->nconf = cpu->ncpuid_conf;
	memcpy(k->conf, cpu->cpuid_conf, sizeof(k->conf));
	return k;
}

int
kvmx86_cpuid_install(struct kvmx86_vcpu *cpu, unsigned int nvcpus)
{
	const struct kvm_cpuid2 *host = kvmx86_host.supported;
	struct kvm_cpuid2 *c;
	bool has_hv = false;
	int error = 0;

	if (cpu->cpuid_kvm != NULL)
		return cpuid_kept_fits(cpu, nvcpus);

	c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (c == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < host->nent; i++) {
		c->entries[c->nent] = host->entries[i];
		if (cpuid_filter(&c->entries[c->nent], cpu->cpuid, nvcpus)) {
			has_hv |= (host->entries[i].function == CPUID_HV_LEAF);
			c->nent++;
		}
	}
	if (!has_hv) {
		struct kvm_cpuid_entry2 *e = cpuid_add(c, CPUID_HV_LEAF, 0, 0);

		if (e != NULL)
			cpuid_hv_leaf(e);
	}
	for (unsigned int i = 0; i < cpu->ncpuid_conf && error == 0; i++)
		error = cpuid_apply_conf(c, &cpu->cpuid_conf[i]);
	if (error == 0 && ioctl(cpu->fd, KVM_SET_CPUID2, c) == -1)
		error = errno;
	if (error == 0)
		error = cpuid_enforce_pv(cpu);
	free(c);
	if (error == 0) {
		cpu->cpuid_dirty = false;
		cpu->cpuid_nvcpus = nvcpus;
	}
	return error;
}

/* ---- One leaf, for the library (the page walker's limits) ------------------------------ */

/* A leaf as kvmx86_cpuid_install() gives it (the hypervisor leaf aside). */
int
kvmx86_cpuid_leaf(struct fe_vcpu *v, uint32_t leaf, uint32_t index,
    uint32_t regs[4])
{
	const struct kvm_cpuid2 *host = kvmx86_host.supported;
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);

	memset(regs, 0, 4 * sizeof(regs[0]));
	for (uint32_t i = 0; i < host->nent; i++) {
		struct kvm_cpuid_entry2 e = host->entries[i];

		if (e.function != leaf || ((e.flags &
		    KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e.index != index))
			continue;
		if (cpuid_filter(&e, cpu->cpuid, cpu->mach->nvcpus)) {
			for (int r = EAX; r <= EDX; r++)
				regs[r] = *cpuid_reg(&e, (enum cpuid_reg)r);
		}
		break;
	}
	for (unsigned int i = 0; i < cpu->ncpuid_conf; i++) {
		const struct nvmm_vcpu_conf_cpuid *c = &cpu->cpuid_conf[i];
		const uint32_t set[4] = { c->u.mask.set.eax, c->u.mask.set.ebx,
		    c->u.mask.set.ecx, c->u.mask.set.edx };
		const uint32_t del[4] = { c->u.mask.del.eax, c->u.mask.del.ebx,
		    c->u.mask.del.ecx, c->u.mask.del.edx };

		if (c->leaf != leaf)
			continue;
		for (int r = EAX; r <= EDX; r++)
			regs[r] = (regs[r] & ~del[r]) | set[r];
	}
	return 0;
}

/* ---- NVMM_VCPU_CONF_CPUID ------------------------------------------------------------ */

int
kvmx86_cpuid_configure(struct kvmx86_vcpu *cpu,
    const struct nvmm_vcpu_conf_cpuid *conf)
{
	unsigned int i;

	if (conf->mask && conf->exit)
		return EINVAL;
	if (conf->mask && ((conf->u.mask.set.eax & conf->u.mask.del.eax) ||
	    (conf->u.mask.set.ebx & conf->u.mask.del.ebx) ||
	    (conf->u.mask.set.ecx & conf->u.mask.del.ecx) ||
	    (conf->u.mask.set.edx & conf->u.mask.del.edx)))
		return EINVAL;
	/* KVM never exits on CPUID: an exit it would never take is refused. */
	if (conf->exit)
		return ENOTSUP;
	/* KVM refuses a different table once the vCPU has run. */
	if (cpu->has_run)
		return EBUSY;

	for (i = 0; i < cpu->ncpuid_conf; i++) {
		if (cpu->cpuid_conf[i].leaf == conf->leaf)
			break;
	}
	if (!conf->mask) {
		/* Neither mask nor exit: back to the default for that leaf. */
		if (i < cpu->ncpuid_conf)
			cpu->cpuid_conf[i] = cpu->cpuid_conf[--cpu->ncpuid_conf];
	} else if (i < cpu->ncpuid_conf) {
		cpu->cpuid_conf[i] = *conf;
	} else if (cpu->ncpuid_conf == KVMX86_CPUID_MAXOPS) {
		return ENOBUFS;
	} else {
		cpu->cpuid_conf[cpu->ncpuid_conf++] = *conf;
	}
	cpu->cpuid_dirty = true;
	return 0;
}
