/*
 * The raw KVM harness: what a careful VMM written directly against
 * /dev/kvm does for the same guests. No sync registers unless asked (a
 * VMM that only serves PIO, MMIO, HLT and MSR exits never reads them),
 * one ioctl per exit, user-space MSR exits through a deny-all filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

static int kvm_fd = -1;
static size_t run_size;
static struct kvm_cpuid2 *supported_cpuid;

/* ---- Host ------------------------------------------------------------------- */

static struct kvm_cpuid2 *
raw_supported_cpuid(void)
{
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
		    n * sizeof(c->entries[0]));

		if (c == NULL)
			die("out of memory");
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			break;
	}
	die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
}

int
raw_init(void)
{
	int size;

	if ((kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	if ((size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	run_size = (size_t)size;
	supported_cpuid = raw_supported_cpuid();
	return 0;
}

/* ---- Bare lifetimes ------------------------------------------------------------ */

int
raw_vm_fd_create(void)
{
	return ioctl(kvm_fd, KVM_CREATE_VM, 0);
}

int
raw_create_bare(struct raw_vm *vm, bool with_vcpu)
{
	memset(vm, 0, sizeof(*vm));
	vm->vcpu_fd = -1;
	if ((vm->vm_fd = raw_vm_fd_create()) == -1)
		return -1;
	if (!with_vcpu)
		return 0;
	if ((vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0)) == -1)
		return -1;
	vm->run_size = run_size;
	vm->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    vm->vcpu_fd, 0);
	return vm->run == MAP_FAILED ? -1 : 0;
}

void
raw_destroy_bare(struct raw_vm *vm)
{
	if (vm->run != NULL && vm->run != MAP_FAILED)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	close(vm->vm_fd);
}

int
raw_map(struct raw_vm *vm, uint32_t slot, uint64_t gpa, void *hva,
    uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

/* ---- A VM ready to run a guest ------------------------------------------------------ */

/* Every guest RDMSR/WRMSR exits: one range whose bitmap denies. */
static void
raw_msr_deny_all(struct raw_vm *vm)
{
	static const uint8_t deny[1] = { 0 };
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR };
	struct kvm_msr_filter filter;

	cap.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN |
	    KVM_MSR_EXIT_REASON_INVAL;
	check(ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap), "KVM_ENABLE_CAP MSR");
	memset(&filter, 0, sizeof(filter));
	filter.flags = KVM_MSR_FILTER_DEFAULT_DENY;
	/* KVM refuses an empty deny-by-default filter. */
	filter.ranges[0].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
	filter.ranges[0].nmsrs = 1;
	filter.ranges[0].bitmap = (uint8_t *)(uintptr_t)deny;
	check(ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &filter),
	    "KVM_X86_SET_MSR_FILTER");
}

static void
raw_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xFFFFFFFF;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->l = code;
	s->db = !code;
	s->g = 1;
}

static void
raw_long_mode(struct raw_vm *vm, uint64_t rip)
{
	struct kvm_sregs sr;
	struct kvm_regs regs;

	check(ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr), "KVM_GET_SREGS");
	raw_seg(&sr.cs, G_SEL_CODE, 0xB, true);
	raw_seg(&sr.ds, G_SEL_DATA, 0x3, false);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.selector = G_SEL_TSS;
	sr.tr.limit = 0x67;
	sr.tr.type = 0xB;
	sr.tr.present = 1;
	memset(&sr.ldt, 0, sizeof(sr.ldt));
	sr.ldt.type = 2;
	sr.ldt.unusable = 1;
	sr.gdt.base = G_GDT;
	sr.gdt.limit = 0x27;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = G_CR0;
	sr.cr3 = G_PML4;
	sr.cr4 = G_CR4;
	sr.efer = G_EFER;
	check(ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr), "KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rsp = G_STACK;
	regs.rflags = 0x2;
	check(ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs), "KVM_SET_REGS");
}

void
raw_vm_create(struct raw_vm *vm, enum guest which, uint64_t sync_regs)
{
	uint64_t rip;

	check(raw_create_bare(vm, true), "raw VM and vCPU");
	raw_msr_deny_all(vm);
	vm->ram = mmap(NULL, G_RAM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->ram == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	rip = image_build(vm->ram, which);
	check(raw_map(vm, 0, 0, vm->ram, G_RAM_SIZE), "KVM_SET_USER_MEMORY_REGION");
	check(ioctl(vm->vcpu_fd, KVM_SET_CPUID2, supported_cpuid),
	    "KVM_SET_CPUID2");
	raw_long_mode(vm, rip);
	vm->run->kvm_valid_regs = sync_regs;
}

void
raw_vm_destroy(struct raw_vm *vm)
{
	raw_destroy_bare(vm);
	munmap(vm->ram, G_RAM_SIZE);
}

uint32_t
raw_run(struct raw_vm *vm)
{
	while (ioctl(vm->vcpu_fd, KVM_RUN, 0) == -1) {
		if (errno != EINTR && errno != EAGAIN)
			die("KVM_RUN: %s", strerror(errno));
	}
	return vm->run->exit_reason;
}

/* ---- State classes, one GET/SET family each ------------------------------------------- */

/* The MSRs behind NVMM's MSRS class, EFER included. */
static const uint32_t raw_msr_index[] = {
	0xC0000080, 0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084,
	0xC0000102, 0x174, 0x175, 0x176, 0x277, 0x10,
};
#define RAW_NMSR	(sizeof(raw_msr_index) / sizeof(raw_msr_index[0]))

struct raw_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_vcpu_events events;
	struct kvm_xsave xsave;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[RAW_NMSR];
	} msrs;
};

struct raw_state *
raw_state_alloc(void)
{
	struct raw_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		die("out of memory");
	return st;
}

static void
raw_ioctl(struct raw_vm *vm, unsigned long req, void *arg, const char *what)
{
	if (ioctl(vm->vcpu_fd, req, arg) == -1)
		die("%s: %s", what, strerror(errno));
}

static void
raw_msrs(struct raw_vm *vm, struct raw_state *st, bool set)
{
	/* Writes leave the TSC alone, as NVMM's setstate does. */
	uint32_t n = set ? RAW_NMSR - 1 : RAW_NMSR;
	int r;

	st->msrs.hdr.nmsrs = n;
	for (uint32_t i = 0; i < n; i++)
		st->msrs.e[i].index = raw_msr_index[i];
	r = ioctl(vm->vcpu_fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &st->msrs);
	if (r != (int)n)
		die("KVM_%s_MSRS: %d of %u", set ? "SET" : "GET", r, n);
}

void
raw_state_get(struct raw_vm *vm, struct raw_state *st, uint64_t c)
{
	if (c & NVMM_X64_STATE_GPRS)
		raw_ioctl(vm, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
	if (c & (NVMM_X64_STATE_SEGS | NVMM_X64_STATE_CRS))
		raw_ioctl(vm, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
	if (c & NVMM_X64_STATE_CRS)
		raw_ioctl(vm, KVM_GET_XCRS, &st->xcrs, "KVM_GET_XCRS");
	if (c & NVMM_X64_STATE_DRS)
		raw_ioctl(vm, KVM_GET_DEBUGREGS, &st->dregs, "KVM_GET_DEBUGREGS");
	if (c & NVMM_X64_STATE_MSRS)
		raw_msrs(vm, st, false);
	if (c & NVMM_X64_STATE_INTR)
		raw_ioctl(vm, KVM_GET_VCPU_EVENTS, &st->events,
		    "KVM_GET_VCPU_EVENTS");
	if (c & NVMM_X64_STATE_FPU)
		raw_ioctl(vm, KVM_GET_XSAVE, &st->xsave, "KVM_GET_XSAVE");
}

void
raw_state_set(struct raw_vm *vm, const struct raw_state *cst, uint64_t c)
{
	struct raw_state *st = (struct raw_state *)cst;

	if (c & NVMM_X64_STATE_GPRS)
		raw_ioctl(vm, KVM_SET_REGS, &st->regs, "KVM_SET_REGS");
	if (c & (NVMM_X64_STATE_SEGS | NVMM_X64_STATE_CRS))
		raw_ioctl(vm, KVM_SET_SREGS, &st->sregs, "KVM_SET_SREGS");
	if (c & NVMM_X64_STATE_CRS)
		raw_ioctl(vm, KVM_SET_XCRS, &st->xcrs, "KVM_SET_XCRS");
	if (c & NVMM_X64_STATE_DRS)
		raw_ioctl(vm, KVM_SET_DEBUGREGS, &st->dregs, "KVM_SET_DEBUGREGS");
	if (c & NVMM_X64_STATE_MSRS)
		raw_msrs(vm, st, true);
	if (c & NVMM_X64_STATE_INTR)
		raw_ioctl(vm, KVM_SET_VCPU_EVENTS, &st->events,
		    "KVM_SET_VCPU_EVENTS");
	if (c & NVMM_X64_STATE_FPU)
		raw_ioctl(vm, KVM_SET_XSAVE, &st->xsave, "KVM_SET_XSAVE");
}
