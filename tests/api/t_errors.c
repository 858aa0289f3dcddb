/*
 * Argument errors other than handles: configuration ops out of range, the
 * CPUID configuration rules, nvmm_ctl() ops and sizes, unknown state flag
 * bits, NULL output pointers, assists without a pending access, and
 * invalid events, which make the next run fail with EINVAL.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_util.h"
#include "harness.h"

T_GUEST(api_count64);

/* ---- Configuration ops -------------------------------------------------------- */

static void
config_ops(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	static const uint64_t mach_ops[] = { 0, 1, 100, 199, 200, 201, 1000,
	    UINT64_MAX };
	static const uint64_t vcpu_ops[] = { 1, 99, 100, 199, 202, 300,
	    UINT64_MAX };
	struct nvmm_vcpu_conf_tpr tpr = { .exit_changed = 1 };
	uint8_t conf[64];

	memset(conf, 0, sizeof(conf));
	for (size_t i = 0; i < sizeof(mach_ops) / sizeof(mach_ops[0]); i++)
		t_errno(nvmm_machine_configure(m, mach_ops[i], conf), EINVAL,
		    "machine op %llu: EINVAL (x86 has none)",
		    (unsigned long long)mach_ops[i]);
	for (size_t i = 0; i < sizeof(vcpu_ops) / sizeof(vcpu_ops[0]); i++)
		t_errno(nvmm_vcpu_configure(m, v, vcpu_ops[i], conf), EINVAL,
		    "vCPU op %llu: EINVAL", (unsigned long long)vcpu_ops[i]);
	t_errno(nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_TPR, &tpr), EINVAL,
	    "TPR conf: EINVAL (not advertised here)");
	t_errno(nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CPUID, NULL), EFAULT,
	    "CPUID conf NULL: EFAULT");
	t_errno(nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CALLBACKS, NULL),
	    EFAULT, "CALLBACKS conf NULL: EFAULT");
}

/* ---- CPUID configuration rules --------------------------------------------------- */

static int
cpuid_conf(struct nvmm_machine *m, struct nvmm_vcpu *v, uint32_t leaf,
    bool mask, bool exit)
{
	struct nvmm_vcpu_conf_cpuid c;

	memset(&c, 0, sizeof(c));
	c.mask = mask;
	c.exit = exit;
	c.leaf = leaf;
	c.u.mask.set.ecx = 0x1;
	return nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CPUID, &c);
}

static void
cpuid_overlap(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	static const char *const regs[] = { "eax", "ebx", "ecx", "edx" };
	struct nvmm_vcpu_conf_cpuid c;
	uint32_t *set = &c.u.mask.set.eax, *del = &c.u.mask.del.eax;

	for (int r = 0; r < 4; r++) {
		memset(&c, 0, sizeof(c));
		c.mask = 1;
		c.leaf = 1;
		/* Only the set and del of the same register may not meet. */
		set[r] = 0x00F0;
		del[r] = 0x0180;
		del[(r + 1) % 4] = 0x00F0;
		t_errno(nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CPUID, &c),
		    EINVAL, "CPUID mask: set and del share bits in %s: EINVAL",
		    regs[r]);
	}
	/* Without mask it is a removal: set and del are not looked at. */
	c.mask = 0;
	t_ok(nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CPUID, &c) == 0,
	    "CPUID removal with overlapping set/del: 0");
}

static void
cpuid_rules(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	bool ok = true;

	t_errno(cpuid_conf(m, v, 1, true, true), EINVAL,
	    "CPUID mask and exit together: EINVAL");
	cpuid_overlap(m, v);
	t_errno(cpuid_conf(m, v, 1, false, true), ENOTSUP,
	    "CPUID exit form: ENOTSUP (KVM cannot exit on CPUID)");

	for (uint32_t i = 0; i < 32; i++)
		ok &= cpuid_conf(m, v, 0x40000100 + i, true, false) == 0;
	t_ok(ok, "32 masked leaves fit");
	t_errno(cpuid_conf(m, v, 0x40000200, true, false), ENOBUFS,
	    "a 33rd leaf: ENOBUFS");
	t_ok(cpuid_conf(m, v, 0x40000105, true, false) == 0,
	    "a full table still replaces an existing leaf");
	t_ok(cpuid_conf(m, v, 0x40000300, false, false) == 0,
	    "removing a leaf never configured: 0");
	t_ok(cpuid_conf(m, v, 0x40000107, false, false) == 0,
	    "removing a configured leaf: 0");
	t_ok(cpuid_conf(m, v, 0x40000200, true, false) == 0,
	    "then the 33rd leaf fits");
	t_errno(cpuid_conf(m, v, 0x40000201, true, false), ENOBUFS,
	    "and the table is full again");
}

/* ---- nvmm_ctl -------------------------------------------------------------------- */

static void
ctl_errors(void)
{
	struct nvmm_ctl_mach_info info;
	static const size_t sizes[] = { 0, 31, 33, 64, SIZE_MAX };

	memset(&info, 0, sizeof(info));
	t_errno(nvmm_ctl(1, &info, sizeof(info)), EINVAL, "ctl op 1: EINVAL");
	t_errno(nvmm_ctl(-1, &info, sizeof(info)), EINVAL,
	    "ctl op -1: EINVAL");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizes[i]), EINVAL,
		    "ctl MACH_INFO size %zu: EINVAL", sizes[i]);
	t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, NULL, sizeof(info)), EFAULT,
	    "ctl MACH_INFO NULL data: EFAULT");
	info.machid = NVMM_MAX_MACHINES;
	t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)), EINVAL,
	    "ctl MACH_INFO machid 128: EINVAL");
	info.machid = NVMM_MAX_MACHINES - 1;
	t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)), ENOENT,
	    "ctl MACH_INFO free machid: ENOENT");
}

/* nvmm_ctl on our own machine: vCPUs, host-mapped bytes, pid, time. */
static void
ctl_info(void)
{
	struct nvmm_ctl_mach_info info;
	struct nvmm_machine m;
	struct nvmm_vcpu v0, v9;
	time_t t0, t1;
	void *p;

	t0 = time(NULL);
	T_CHECK(nvmm_machine_create(&m));
	t1 = time(NULL);
	T_CHECK(nvmm_vcpu_create(&m, 0, &v0));
	T_CHECK(nvmm_vcpu_create(&m, 9, &v9));
	p = mmap(NULL, 0x12000, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	T_CHECK(nvmm_hva_map(&m, (uintptr_t)p, 0x10000));
	T_CHECK(nvmm_hva_map(&m, (uintptr_t)p + 0x10000, 0x2000));
	/* Only host mappings count, not what the guest maps of them. */
	T_CHECK(nvmm_gpa_map(&m, (uintptr_t)p, 0, 0x1000, PROT_READ));

	memset(&info, 0xAA, sizeof(info));
	info.machid = m.machid;
	t_ok(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) == 0,
	    "ctl MACH_INFO on our machine: 0");
	t_eq_u64(info.machid, m.machid, "  machid unchanged");
	t_eq_u64(info.nvcpus, 2, "  nvcpus");
	t_eq_u64(info.nram, 0x12000, "  nram: the host-mapped bytes");
	t_eq_u64(info.pid, getpid(), "  pid");
	t_ok(info.time >= t0 && info.time <= t1, "  creation time");

	T_CHECK(nvmm_vcpu_destroy(&m, &v9));
	T_CHECK(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)));
	t_eq_u64(info.nvcpus, 1, "  nvcpus after a vCPU is destroyed");
	T_CHECK(nvmm_machine_destroy(&m));
	t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)), ENOENT,
	    "ctl MACH_INFO after destroy: ENOENT");
}

/* ---- State flags, output pointers, assists ----------------------------------------- */

static void
state_flags(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	static const uint64_t bad[] = { 0x80, 0xFF, 1ULL << 32, 1ULL << 63,
	    UINT64_MAX };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t_errno(nvmm_vcpu_getstate(m, v, bad[i]), EINVAL,
		    "getstate flags 0x%llx: EINVAL", (unsigned long long)bad[i]);
		t_errno(nvmm_vcpu_setstate(m, v, bad[i]), EINVAL,
		    "setstate flags 0x%llx: EINVAL", (unsigned long long)bad[i]);
	}
	t_ok(nvmm_vcpu_getstate(m, v, 0) == 0, "getstate no flags: 0");
	t_ok(nvmm_vcpu_setstate(m, v, 0) == 0, "setstate no flags: 0");
}

static void
out_pointers(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	nvmm_prot_t prot;
	uintptr_t hva;
	gpaddr_t gpa;

	t_errno(nvmm_gpa_to_hva(m, 0, NULL, &prot), EFAULT,
	    "gpa_to_hva NULL hva: EFAULT");
	t_errno(nvmm_gpa_to_hva(m, 0, &hva, NULL), EFAULT,
	    "gpa_to_hva NULL prot: EFAULT");
	t_errno(nvmm_gpa_to_hva(m, 0x40000000, &hva, &prot), ENOENT,
	    "gpa_to_hva of an unmapped gpa: ENOENT");
	t_errno(nvmm_gva_to_gpa(m, v, 0, NULL, &prot), EFAULT,
	    "gva_to_gpa NULL gpa: EFAULT");
	t_errno(nvmm_gva_to_gpa(m, v, 0, &gpa, NULL), EFAULT,
	    "gva_to_gpa NULL prot: EFAULT");
	/* The builder maps the first GiB only. */
	t_errno(nvmm_gva_to_gpa(m, v, 0x80000000, &gpa, &prot), EFAULT,
	    "gva_to_gpa of an unmapped gva: EFAULT");
}

static void noop_io(struct nvmm_io *io) { (void)io; }
static void noop_mem(struct nvmm_mem *mem) { (void)mem; }

static void
assists_without_access(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	struct nvmm_assist_callbacks cbs = { noop_io, noop_mem };

	T_CHECK(nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_errno(nvmm_assist_io(m, v), EINVAL, "assist_io without IO exit: EINVAL");
	t_errno(nvmm_assist_mem(m, v), EINVAL,
	    "assist_mem without MEMORY exit: EINVAL");
}

/* ---- Invalid events: the next run fails, the event is dropped ----------------------- */

static void
bad_event(struct t_vm *vm, unsigned int type, uint8_t vector, const char *what)
{
	vm->vcpu.event->type = type;
	vm->vcpu.event->vector = vector;
	vm->vcpu.event->u.excp.error = 0;
	t_ok(nvmm_vcpu_inject(&vm->mach, &vm->vcpu) == 0,
	    "inject %s: 0 (checked by the run)", what);
	t_errno(nvmm_vcpu_run(&vm->mach, &vm->vcpu), EINVAL,
	    "run after %s: EINVAL", what);
}

static void
invalid_events(struct t_vm *vm)
{
	bad_event(vm, 2, 32, "an unknown event type");
	bad_event(vm, NVMM_VCPU_EVENT_EXCP, 0, "exception 0 (#DE)");
	bad_event(vm, NVMM_VCPU_EVENT_EXCP, 2, "exception 2 (NMI)");
	bad_event(vm, NVMM_VCPU_EVENT_EXCP, 3, "exception 3 (#BP)");
	bad_event(vm, NVMM_VCPU_EVENT_EXCP, 32, "exception 32");
	bad_event(vm, NVMM_VCPU_EVENT_EXCP, 255, "exception 255");
	/* api_count64 counts entries in RAX: none of the failed runs entered. */
	t_eq_u64(t_vm_run(vm), NVMM_VCPU_EXIT_HALTED,
	    "the next run works: the event was dropped");
	t_eq_u64(t_vm_gpr(vm, NVMM_X64_GPR_RAX), 1,
	    "the guest was entered once, by the good run only");
}

int
main(void)
{
	struct t_vm vm;

	api_private_rundir("errors");
	t_require_nvmm();
	t_plan(8 + 7 + 3 + 1 + 4 + 1 + 1 + 7 + 2 + 5 + 1 + 2 + 1 + 6 + 2 +
	    10 + 2 + 6 + 2 + 12 + 2);

	t_vm_create(&vm, 0);
	t_vm_load(&vm, T_CODE_BASE, api_count64_begin, api_count64_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);

	config_ops(&vm.mach, &vm.vcpu);
	cpuid_rules(&vm.mach, &vm.vcpu);
	ctl_errors();
	ctl_info();
	state_flags(&vm.mach, &vm.vcpu);
	out_pointers(&vm.mach, &vm.vcpu);
	assists_without_access(&vm.mach, &vm.vcpu);
	invalid_events(&vm);

	/* KVM takes the CPUID table before the first run only (Linux choice). */
	t_errno(cpuid_conf(&vm.mach, &vm.vcpu, 1, true, false), EBUSY,
	    "CPUID conf after the vCPU ran: EBUSY");
	t_vm_destroy(&vm);
	return t_done();
}
