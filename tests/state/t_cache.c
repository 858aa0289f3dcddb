/*
 * The state cache of the comm-page protocol (spec 1.3), counted: a
 * tracer (bench/runcount.c) counts the ioctl system calls the kernel
 * sees from this process, however libnvmm makes them. setstate and
 * inject make no call, getstate makes none for cached classes and
 * fetches only what is not cached, and the usual exit loops cost one
 * ioctl per exit, their KVM_RUN, also with a get/setstate after an
 * assist.
 * Segments and events come back with an exit only while exits use them:
 * the rest of the time they are fetched, never taken from an old exit.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "runcount.h"

T_GUEST(state_halt64);
T_GUEST(state_out64);
T_GUEST(state_fsload64);

#define OUT_GPA		(T_CODE_BASE + 0x1000)
#define FS_GPA		(T_CODE_BASE + 0x2000)
#define LOOPS		200

/* ---- The counts (bench/runcount.c) ---------------------------------------------- */

static unsigned int
count(void)
{
	return (unsigned int)runcount(RUNCOUNT_IOCTLS);
}

static unsigned int
count_runs(void)
{
	return (unsigned int)runcount(RUNCOUNT_KVM_RUN);
}

/* ---- Cases --------------------------------------------------------------------- */

static void
no_calls(struct t_vm *vm)
{
	unsigned int n;

	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	t_eq_u64(count() - n, 0, "getstate(ALL) right after vcpu_create: cached");

	n = count();
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	t_eq_u64(count() - n, 0, "setstate(ALL): no ioctl");

	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	t_eq_u64(count() - n, 0, "getstate of what setstate cached: no ioctl");

	vm->vcpu.event->type = NVMM_VCPU_EVENT_EXCP;
	vm->vcpu.event->vector = 6;
	n = count();
	T_CHECK(nvmm_vcpu_inject(&vm->mach, &vm->vcpu));
	t_eq_u64(count() - n, 0, "inject: no ioctl");
	/*
	 * Withdraw it: an invalid event fails the next run and is dropped.
	 * That run installs the committed state (and so uncaches it).
	 */
	vm->vcpu.event->type = 0xFF;
	(void)nvmm_vcpu_run(&vm->mach, &vm->vcpu);
}

static void
after_a_run(struct t_vm *vm)
{
	unsigned int n, one;

	t_eq_u64(t_vm_run(vm), NVMM_VCPU_EXIT_HALTED, "the guest halts");

	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu,
	    NVMM_X64_STATE_GPRS | NVMM_X64_STATE_SEGS | NVMM_X64_STATE_INTR));
	t_eq_u64(count() - n, 0,
	    "getstate(GPRS|SEGS|INTR) after a run: no ioctl (kvm_run page)");

	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_DRS));
	one = count() - n;
	t_ok(one >= 1, "getstate(DRS) after a run fetches (%u ioctl)", one);
	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_DRS));
	t_eq_u64(count() - n, 0, "getstate(DRS) again: cached");

	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu,
	    NVMM_X64_STATE_DRS | NVMM_X64_STATE_MSRS));
	one = count() - n;
	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	t_ok(one >= 1 && one <= 2 && count() - n >= 1,
	    "getstate fetches only the classes not cached");
	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	t_eq_u64(count() - n, 0, "getstate(ALL) once all is cached: no ioctl");
}

/* run; getstate(GPRS); setstate(GPRS): one KVM_RUN per exit, nothing else. */
static void
halt_loop(struct t_vm *vm)
{
	uint64_t sum = 0, *gprs = vm->vcpu.state->gprs;
	unsigned int n, bad = 0;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	gprs[NVMM_X64_GPR_RAX] = 0;
	gprs[NVMM_X64_GPR_RBX] = 0;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	n = count();
	for (uint64_t i = 1; i <= LOOPS; i++) {
		T_CHECK(nvmm_vcpu_run(&vm->mach, &vm->vcpu));
		bad += vm->vcpu.exit->reason != NVMM_VCPU_EXIT_HALTED;
		T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu,
		    NVMM_X64_STATE_GPRS));
		bad += gprs[NVMM_X64_GPR_RAX] != sum;
		sum += i;
		gprs[NVMM_X64_GPR_RBX] = i;	/* added at the next entry */
		T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu,
		    NVMM_X64_STATE_GPRS));
	}
	t_eq_u64(count() - n, LOOPS,
	    "run; getstate(GPRS); setstate(GPRS) over %u HLT exits: one "
	    "ioctl per exit", LOOPS);
	t_eq_u64(bad, 0, "and the guest saw every value set");

	/* HLT exits need no segments: KVM stopped storing them, one fetch. */
	n = count();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_SEGS));
	t_eq_u64(count() - n, 1, "getstate(SEGS) after a HLT loop: 1 ioctl");
	t_eq_u64(vm->vcpu.state->segs[NVMM_X64_SEG_CS].selector,
	    T_SEL_CODE64, "and it is KVM's current CS");
}

static unsigned int outs;
static uint8_t last_out;

static void
io_cb(struct nvmm_io *io)
{
	if (!io->in && io->port == 0x80 && io->size == 1 &&
	    io->data[0] == (uint8_t)(last_out + 1)) {
		last_out = io->data[0];
		outs++;
	}
}

/* run; assist_io: one KVM_RUN per exit as well. */
static void
out_loop(struct t_vm *vm)
{
	struct nvmm_assist_callbacks cbs = { io_cb, NULL };
	unsigned int n, bad = 0;

	T_CHECK(nvmm_vcpu_configure(&vm->mach, &vm->vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_vm_set_gpr(vm, NVMM_X64_GPR_RIP, OUT_GPA);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RAX, 0);
	last_out = 0xFF;
	/* The first OUT after HLT exits fetches the segments it decodes with. */
	n = count();
	T_CHECK(nvmm_vcpu_run(&vm->mach, &vm->vcpu));
	bad += vm->vcpu.exit->reason != NVMM_VCPU_EXIT_IO;
	T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
	t_ok(count() - n <= 2, "first OUT after HLT exits: at most 2 ioctls");
	n = count();
	for (unsigned int i = 1; i < LOOPS; i++) {
		T_CHECK(nvmm_vcpu_run(&vm->mach, &vm->vcpu));
		bad += vm->vcpu.exit->reason != NVMM_VCPU_EXIT_IO;
		T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
	}
	t_eq_u64(count() - n, LOOPS - 1,
	    "run; assist_io over %u more OUT exits: one ioctl per exit",
	    LOOPS - 1);
	t_ok(bad == 0 && outs == LOOPS, "and every OUT reached the callback");
}

/* One OUT exit served, and its GPRs read and written back. */
static bool
out_gprs_round(struct t_vm *vm)
{
	T_CHECK(nvmm_vcpu_run(&vm->mach, &vm->vcpu));
	if (vm->vcpu.exit->reason != NVMM_VCPU_EXIT_IO)
		return false;
	T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	return true;
}

/*
 * run; assist_io; getstate(GPRS); setstate(GPRS), QEMU's order: the GPRs
 * of a served OUT are shown and taken back without finishing it in KVM
 * first, so still one ioctl, the KVM_RUN, per exit. The first round may
 * make more: the backend asks once per process how KVM finishes port
 * I/O (x86-kvm/pio.c), on a VM of its own.
 */
static void
out_gprs_loop(struct t_vm *vm)
{
	unsigned int n, runs, bad = 0;

	outs = 0;
	bad += !out_gprs_round(vm);
	n = count();
	runs = count_runs();
	for (unsigned int i = 1; i < LOOPS; i++)
		bad += !out_gprs_round(vm);
	t_eq_u64(count_runs() - runs, LOOPS - 1,
	    "run; assist_io; getstate(GPRS); setstate(GPRS) over %u OUT "
	    "exits: one KVM_RUN per exit", LOOPS - 1);
	t_eq_u64(count() - n, LOOPS - 1, "and no other ioctl");
	t_ok(bad == 0 && outs == LOOPS, "and every OUT reached the callback");
}

/* Halt twice in state_fsload64 with CX = sel; returns what FS then held. */
static uint64_t
fs_round(struct t_vm *vm, uint64_t sel)
{
	t_vm_set_gpr(vm, NVMM_X64_GPR_RCX, sel);
	if (t_vm_run(vm) != NVMM_VCPU_EXIT_HALTED ||
	    t_vm_run(vm) != NVMM_VCPU_EXIT_HALTED)
		return ~0ULL;
	return t_vm_gpr(vm, NVMM_X64_GPR_RAX) & 0xFFFF;
}

/*
 * The guest loads FS after KVM last stored the segments: getstate must
 * show the new FS, and a setstate of CRs (which KVM takes with the
 * segments) must not put the old one back.
 */
static void
segments_not_stale(struct t_vm *vm)
{
	struct nvmm_x64_state *st = vm->vcpu.state;
	uint64_t crs[NVMM_X64_NCR];
	unsigned int bad = 0;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_CRS));
	memcpy(crs, st->crs, sizeof(crs));
	t_vm_set_gpr(vm, NVMM_X64_GPR_RIP, FS_GPA);
	for (unsigned int i = 0; i < 20; i++)
		bad += fs_round(vm, 0) != 0;
	t_vm_set_gpr(vm, NVMM_X64_GPR_RCX, T_SEL_DATA);
	bad += t_vm_run(vm) != NVMM_VCPU_EXIT_HALTED;
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_SEGS));
	t_ok(bad == 0 && st->segs[NVMM_X64_SEG_FS].selector == T_SEL_DATA,
	    "getstate(SEGS) shows the FS the guest loaded since (0x%x)",
	    (unsigned int)st->segs[NVMM_X64_SEG_FS].selector);
	bad += t_vm_run(vm) != NVMM_VCPU_EXIT_HALTED;	/* end the round */

	for (unsigned int i = 0; i < 20; i++)
		bad += fs_round(vm, 0) != 0;
	t_vm_set_gpr(vm, NVMM_X64_GPR_RCX, T_SEL_DATA);
	bad += t_vm_run(vm) != NVMM_VCPU_EXIT_HALTED;
	memcpy(st->crs, crs, sizeof(crs));
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_CRS));
	bad += t_vm_run(vm) != NVMM_VCPU_EXIT_HALTED;
	t_ok(bad == 0 && (t_vm_gpr(vm, NVMM_X64_GPR_RAX) & 0xFFFF) == T_SEL_DATA,
	    "setstate(CRS) keeps the FS the guest loaded since");
}

int
main(void)
{
	struct t_vm vm;
	char why[200];

	t_require_nvmm();
	if (runcount_start(why, sizeof(why)) != 0)
		t_skip_all("%s", why);
	t_plan(4 + 6 + 4 + 3 + 3 + 2);

	t_vm_create(&vm, 0);
	t_vm_load(&vm, T_CODE_BASE, state_halt64_begin, state_halt64_end);
	t_vm_load(&vm, OUT_GPA, state_out64_begin, state_out64_end);
	t_vm_load(&vm, FS_GPA, state_fsload64_begin, state_fsload64_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
	no_calls(&vm);
	after_a_run(&vm);
	halt_loop(&vm);
	out_loop(&vm);
	out_gprs_loop(&vm);
	segments_not_stale(&vm);
	t_vm_destroy(&vm);
	runcount_stop();
	return t_done();
}
