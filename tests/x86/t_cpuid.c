/*
 * CPUID as NVMM shows it (spec 3.13): the hypervisor leaf, APIC ids equal
 * to vCPU ids, the vCPU count, the filtered features; and the emulator's
 * NVMM_VCPU_CONF_CPUID masks, their deletion and their errors.
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include "x86.h"

T_GUEST(x86_cpuid);

struct regs {
	uint32_t eax, ebx, ecx, edx;
};

#define BIT(n)	(1u << (n))

static struct t_vm vm;

/* Execute CPUID(leaf, subleaf) in the guest of vm.vcpu. */
static struct regs
guest_cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct nvmm_x64_state *st = vm.vcpu.state;
	struct regs r = { 0, 0, 0, 0 };

	x86_restart(&vm, T_CODE_BASE, 0x2);
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RAX] = leaf;
	st->gprs[NVMM_X64_GPR_RCX] = subleaf;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	if (t_vm_run(&vm) != NVMM_VCPU_EXIT_HALTED) {
		t_diag("cpuid 0x%x did not run to HLT", leaf);
		return r;
	}
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	r.eax = (uint32_t)st->gprs[NVMM_X64_GPR_RAX];
	r.ebx = (uint32_t)st->gprs[NVMM_X64_GPR_RBX];
	r.ecx = (uint32_t)st->gprs[NVMM_X64_GPR_RCX];
	r.edx = (uint32_t)st->gprs[NVMM_X64_GPR_RDX];
	return r;
}

static int
conf_cpuid(struct nvmm_vcpu *vcpu, const struct nvmm_vcpu_conf_cpuid *c)
{
	return nvmm_vcpu_configure(&vm.mach, vcpu, NVMM_VCPU_CONF_CPUID,
	    (void *)(uintptr_t)c);
}

/* ---- The default view ------------------------------------------------------- */

static void
test_hypervisor_leaf(void)
{
	struct regs r = guest_cpuid(0x40000000, 0);
	char sig[13];

	memcpy(sig, &r.ebx, 4);
	memcpy(sig + 4, &r.ecx, 4);
	memcpy(sig + 8, &r.edx, 4);
	sig[12] = '\0';
	t_ok(r.eax == 0x40000000 && strcmp(sig, "___ NVMM ___") == 0,
	    "leaf 0x40000000: \"%s\", max 0x%x", sig, r.eax);
	r = guest_cpuid(1, 0);
	t_ok(r.ecx & BIT(31), "leaf 1: HYPERVISOR bit set");
}

/* APIC id and vCPU count of the vCPU in vm.vcpu. */
static void
test_topology(nvmm_cpuid_t id, unsigned int nvcpus)
{
	struct regs r = guest_cpuid(1, 0);

	t_eq_u64(r.ebx >> 24, id, "vCPU %u: CPUID.1:EBX[31:24] = APIC id", id);
	t_eq_u64((r.ebx >> 16) & 0xFF, nvcpus,
	    "vCPU %u: CPUID.1:EBX[23:16] = number of vCPUs", id);
	r = guest_cpuid(0xB, 0);
	t_eq_u64(r.edx, id, "vCPU %u: CPUID.0xB:EDX = x2APIC id", id);
}

struct feature {
	uint32_t leaf;
	int reg;		/* 0 EAX .. 3 EDX */
	uint32_t bit;
	const char *name;
};

/* Features NVMM never shows a guest (spec 3.13). */
static const struct feature hidden[] = {
	{ 1, 2, BIT(3), "MONITOR" },
	{ 1, 2, BIT(5), "VMX" },
	{ 1, 2, BIT(21), "x2APIC" },
	{ 1, 2, BIT(24), "TSC-deadline" },
	{ 1, 2, BIT(28), "AVX" },
	{ 1, 3, BIT(7), "MCE" },
	{ 1, 3, BIT(12), "MTRR" },
	{ 1, 3, BIT(14), "MCA" },
	{ 1, 3, BIT(22), "ACPI" },
	{ 7, 1, BIT(5), "AVX2" },
	{ 7, 1, BIT(16), "AVX512F" },
	{ 7, 2, BIT(3), "PKU" },
	{ 0x80000001, 2, BIT(2), "SVM" },
	{ 0x80000001, 3, BIT(27), "RDTSCP" },
};

/* Features a guest needs and NVMM passes on. */
static const struct feature shown[] = {
	{ 1, 3, BIT(0), "FPU" },
	{ 1, 3, BIT(5), "MSR" },
	{ 1, 3, BIT(6), "PAE" },
	{ 1, 3, BIT(9), "APIC" },
	{ 1, 3, BIT(25), "SSE" },
	{ 1, 3, BIT(26), "SSE2" },
	{ 0x80000001, 3, BIT(20), "NX" },
	{ 0x80000001, 3, BIT(29), "LM" },
};

static uint32_t
reg_of(struct regs r, int reg)
{
	const uint32_t v[4] = { r.eax, r.ebx, r.ecx, r.edx };

	return v[reg];
}

/*
 * Some hosts' KVM (PVM, on this project's CI machine) answers the feature
 * registers of leaves 1 and 7 from the host CPU whatever table it was
 * given. Find out on a vCPU kept for that: delete, with a mask, bits that
 * the host CPU has (its own CPUID says so) and that the default table
 * passes on; a guest that still sees one of them sees the host's leaf.
 * Only bits with no tie to a CR4 bit or an MSR are deleted, so that the
 * masked vCPU still runs. Setting a bit would prove nothing on a host
 * whose CPU has it already (SSBD in leaf 7 EDX, say).
 */
static bool leaf_native[2];	/* leaf 1, leaf 7 */

/* The bits of a leaf the host CPU has, among those the probe may delete. */
static uint32_t
probe_bits(uint32_t leaf)
{
	/* Leaf 1 EDX: FPU. Leaf 7 EBX: BMI1 BMI2 ERMS RDSEED ADX CLFLUSHOPT
	 * CLWB SHA, instructions only, all in the default table. */
	const uint32_t deletable = leaf == 1 ? BIT(0) : BIT(3) | BIT(8) |
	    BIT(9) | BIT(18) | BIT(19) | BIT(23) | BIT(24) | BIT(29);
	unsigned int a, b, c, d;

	if (__get_cpuid_max(0, NULL) < leaf)
		return 0;
	__cpuid_count(leaf, 0, a, b, c, d);
	(void)a;
	(void)c;
	return (leaf == 1 ? d : b) & deletable;
}

static void
probe_native(struct nvmm_vcpu *probe)
{
	const uint32_t bits1 = probe_bits(1), bits7 = probe_bits(7);
	const struct nvmm_vcpu_conf_cpuid del1 = {
		.mask = 1, .leaf = 1, .u.mask.del.edx = bits1,
	};
	const struct nvmm_vcpu_conf_cpuid del7 = {
		.mask = 1, .leaf = 7, .u.mask.del.ebx = bits7,
	};
	struct nvmm_vcpu saved = vm.vcpu;

	T_CHECK(conf_cpuid(probe, &del1));
	T_CHECK(conf_cpuid(probe, &del7));
	vm.vcpu = *probe;
	leaf_native[0] = (guest_cpuid(1, 0).edx & bits1) != 0;
	leaf_native[1] = (guest_cpuid(7, 0).ebx & bits7) != 0;
	vm.vcpu = saved;
	for (int i = 0; i < 2; i++) {
		if (leaf_native[i])
			t_diag("this host shows the CPU's own leaf %d features "
			    "(bits deleted by a mask stay)", i ? 7 : 1);
	}
	if (bits7 == 0)
		t_diag("the host CPU has none of the leaf 7 bits the probe "
		    "deletes: the table is assumed to apply");
}

static bool
host_overrides(uint32_t leaf)
{
	return (leaf == 1 && leaf_native[0]) || (leaf == 7 && leaf_native[1]);
}

static void
test_features(void)
{
	struct regs r;

	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (host_overrides(hidden[i].leaf)) {
			t_skip("%s: this host's KVM shows the CPU's own leaf "
			    "0x%x features", hidden[i].name, hidden[i].leaf);
			continue;
		}
		r = guest_cpuid(hidden[i].leaf, 0);
		t_ok(!(reg_of(r, hidden[i].reg) & hidden[i].bit),
		    "%s hidden", hidden[i].name);
	}
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		r = guest_cpuid(shown[i].leaf, 0);
		t_ok(reg_of(r, shown[i].reg) & shown[i].bit, "%s shown",
		    shown[i].name);
	}
	r = guest_cpuid(0, 0);
	t_ok(r.eax <= 0x16, "basic leaves capped (max 0x%x)", r.eax);
	r = guest_cpuid(0x80000000, 0);
	t_ok(r.eax >= 0x80000001 && r.eax <= 0x80000008,
	    "extended leaves capped (max 0x%x)", r.eax);
	r = guest_cpuid(5, 0);
	t_ok((r.eax | r.ebx | r.ecx | r.edx) == 0, "leaf 5 (MONITOR) empty");
}

/* OSXSAVE follows the guest's CR4, as on hardware. */
static void
test_osxsave(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;
	struct regs r = guest_cpuid(1, 0);
	bool xsave = (r.ecx & BIT(26)) != 0;

	t_ok(!(r.ecx & BIT(27)), "OSXSAVE clear while CR4.OSXSAVE is clear");
	if (!xsave) {
		t_skip("no XSAVE on this host");
		return;
	}
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	st->crs[NVMM_X64_CR_CR4] |= 1ULL << 18;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
	r = guest_cpuid(1, 0);
	t_ok(r.ecx & BIT(27), "OSXSAVE set once CR4.OSXSAVE is set");
	st->crs[NVMM_X64_CR_CR4] &= ~(1ULL << 18);
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_CRS));
}

/* ---- NVMM_VCPU_CONF_CPUID ------------------------------------------------------ */

static const struct nvmm_vcpu_conf_cpuid hide_nx = {
	.mask = 1, .leaf = 0x80000001, .u.mask.del.edx = BIT(20),
};
static const struct nvmm_vcpu_conf_cpuid set_arat = {
	.mask = 1, .leaf = 6, .u.mask.set.eax = BIT(2),
};
static const struct nvmm_vcpu_conf_cpuid delete_nx = {
	.leaf = 0x80000001,
};

/* Configure, then run: masks apply to the vCPU they were given to. */
static void
test_masks(struct nvmm_vcpu *masked, struct nvmm_vcpu *deleted)
{
	t_ok(conf_cpuid(masked, &hide_nx) == 0 &&
	    conf_cpuid(masked, &set_arat) == 0, "conf: hide NX, set a bit");
	t_ok(conf_cpuid(deleted, &hide_nx) == 0 &&
	    conf_cpuid(deleted, &delete_nx) == 0, "conf: hide NX, then delete");

	vm.vcpu = *masked;
	t_ok(!(guest_cpuid(0x80000001, 0).edx & BIT(20)),
	    "masked vCPU: NX hidden (0x80000001 EDX bit 20, as toyvirt)");
	t_ok(guest_cpuid(6, 0).eax == BIT(2), "masked vCPU: set bit shows");
	t_ok(guest_cpuid(0x80000001, 0).edx & BIT(29),
	    "masked vCPU: the rest of the leaf kept");
	vm.vcpu = *deleted;
	t_ok(guest_cpuid(0x80000001, 0).edx & BIT(20),
	    "deleted entry: NX back (default restored)");
	t_ok(guest_cpuid(6, 0).eax == 0, "other vCPU: leaf 6 untouched");
}

static void
test_conf_errors(struct nvmm_vcpu *fresh, struct nvmm_vcpu *ran)
{
	struct nvmm_vcpu_conf_cpuid c;
	unsigned int n = 0;
	int error = 0;

	memset(&c, 0, sizeof(c));
	c.mask = c.exit = 1;
	t_errno(conf_cpuid(fresh, &c), EINVAL, "conf: mask and exit: EINVAL");
	c = hide_nx;
	c.u.mask.set.edx = BIT(20);
	t_errno(conf_cpuid(fresh, &c), EINVAL, "conf: set & del: EINVAL");
	memset(&c, 0, sizeof(c));
	c.exit = 1;
	c.leaf = 1;
	t_errno(conf_cpuid(fresh, &c), ENOTSUP,
	    "conf: the exit form: ENOTSUP (KVM never exits on CPUID)");
	t_errno(conf_cpuid(ran, &hide_nx), EBUSY,
	    "conf after the vCPU ran: EBUSY (KVM fixes CPUID at first run)");

	/* 32 entries, replacing one is free, the 33rd does not fit. */
	c = hide_nx;
	for (uint32_t leaf = 0x100; leaf < 0x100 + 32 && error == 0; leaf++) {
		c.leaf = leaf;
		error = conf_cpuid(fresh, &c) == 0 ? 0 : errno;
		n += (error == 0);
	}
	c.leaf = 0x100;
	t_ok(n == 32 && conf_cpuid(fresh, &c) == 0,
	    "conf: 32 entries; replacing one fits");
	c.leaf = 0x200;
	t_errno(conf_cpuid(fresh, &c), ENOBUFS, "conf: the 33rd: ENOBUFS");
	c.mask = 0;
	c.leaf = 0x100;
	t_ok(conf_cpuid(fresh, &c) == 0, "conf: delete frees a slot");
	c.mask = 1;
	c.leaf = 0x200;
	t_ok(conf_cpuid(fresh, &c) == 0, "conf: which the next entry takes");
}

static void
test_capability(void)
{
	struct nvmm_capability cap;

	T_CHECK(nvmm_capability(&cap));
	t_eq_u64(cap.arch.vcpu_conf_support, NVMM_CAP_ARCH_VCPU_CONF_CPUID,
	    "capability: CPUID conf supported, TPR not");
	t_eq_u64(cap.arch.conf_cpuid_maxops, 32, "capability: 32 CPUID ops");
}

int
main(void)
{
	struct nvmm_vcpu v0, v5, v120, v7, v8, v9, v10;

	t_require_nvmm();
	t_plan(1 + 2 + 3 * 3 + 14 + 8 + 3 + 2 + 7 + 8 + 2);

	/* Seven vCPUs, all created before any of them runs. */
	x86_vm_create(&vm, x86_cpuid_begin, x86_cpuid_end);
	v0 = vm.vcpu;
	x86_vcpu_add(&vm, 5, &v5);
	x86_vcpu_add(&vm, 120, &v120);
	x86_vcpu_add(&vm, 7, &v7);
	x86_vcpu_add(&vm, 8, &v8);
	x86_vcpu_add(&vm, 9, &v9);
	x86_vcpu_add(&vm, 10, &v10);
	t_ok(true, "vCPUs 0, 5, 7, 8, 9, 10, 120 created");

	probe_native(&v9);
	vm.vcpu = v5;
	test_hypervisor_leaf();
	test_topology(5, 7);
	vm.vcpu = v120;
	test_topology(120, 7);
	vm.vcpu = v0;
	test_topology(0, 7);
	test_features();
	test_osxsave();
	test_masks(&v7, &v8);
	test_conf_errors(&v10, &v0);
	test_capability();

	t_vm_destroy(&vm);
	return t_done();
}
