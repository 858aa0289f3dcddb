/*
 * The RESET state (spec 3.8): what getstate shows right after
 * nvmm_vcpu_create, what real-mode code at the RESET vector sees, and what
 * reads back after it ran (with the documented CR0.ET/NE sanitising). Then
 * a zeroed state: setstate(ALL) accepts it and the next run gives a valid
 * exit. Then the same vCPU id destroyed and created again, with an IN
 * left unfinished in KVM: a new vCPU in the RESET state, in a loop that
 * leaks no descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "state_util.h"

T_GUEST(state_reset16);
extern const uint8_t state_reset16_halted[];

#define TOP_PAGE	0xFFFFF000ULL	/* holds the RESET vector */

/* ---- The RESET state, field by field, as the spec gives it ------------------ */

static void
reset_seg(struct nvmm_x64_state_seg *s, uint16_t sel, uint64_t base,
    uint8_t type, bool sys)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = 0xFFFF;
	s->attrib.type = type;
	s->attrib.s = sys;
	s->attrib.p = 1;
}

static void
reset_state(struct nvmm_x64_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < NVMM_X64_SEG_GDT; i++)
		reset_seg(&s->segs[i], 0, 0, 3, 1);
	reset_seg(&s->segs[NVMM_X64_SEG_CS], 0xF000, 0xFFFF0000, 3, 1);
	reset_seg(&s->segs[NVMM_X64_SEG_GDT], 0, 0, 2, 1);
	reset_seg(&s->segs[NVMM_X64_SEG_IDT], 0, 0, 2, 1);
	reset_seg(&s->segs[NVMM_X64_SEG_LDT], 0, 0, 2, 0);
	reset_seg(&s->segs[NVMM_X64_SEG_TR], 0, 0, 3, 0);
	s->gprs[NVMM_X64_GPR_RDX] = 0x600;
	s->gprs[NVMM_X64_GPR_RIP] = 0xFFF0;
	s->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;
	s->crs[NVMM_X64_CR_CR0] = 0x60000010;
	s->crs[NVMM_X64_CR_XCR0] = 0x1;
	s->drs[NVMM_X64_DR_DR6] = 0xFFFF0FF0;
	s->drs[NVMM_X64_DR_DR7] = 0x400;
	s->msrs[NVMM_X64_MSR_PAT] = 0x0007040600070406ULL;
	s->fpu.fx_cw = 0x0040;
	s->fpu.fx_tw = 0x55;
	s->fpu.fx_zero = 0x55;
	s->fpu.fx_mxcsr = 0x1F80;
}

/*
 * One comparison per class; mismatches are named. fx_zero is a reserved
 * byte of the FXSAVE image: the RESET state has 0x55 there, the hardware
 * does not keep it once the guest ran.
 */
static void
compare_classes(const struct nvmm_x64_state *g, const struct nvmm_x64_state *w,
    bool fx_zero, const char *when)
{
	unsigned int bad = 0;

	for (int i = 0; i < NVMM_X64_NSEG; i++)
		cmp_seg(&bad, seg_names[i], &g->segs[i], &w->segs[i]);
	t_ok(bad == 0, "%s: SEGS", when);
	bad = 0;
	for (int i = 0; i < NVMM_X64_NGPR; i++)
		cmp_u64(&bad, gpr_names[i], g->gprs[i], w->gprs[i]);
	t_ok(bad == 0, "%s: GPRS", when);
	bad = 0;
	for (int i = 0; i < NVMM_X64_NCR; i++)
		cmp_u64(&bad, cr_names[i], g->crs[i], w->crs[i]);
	t_ok(bad == 0, "%s: CRS", when);
	bad = 0;
	for (int i = 0; i < NVMM_X64_NDR; i++)
		cmp_u64(&bad, dr_names[i], g->drs[i], w->drs[i]);
	t_ok(bad == 0, "%s: DRS", when);
	bad = 0;
	for (int i = 0; i < NVMM_X64_NMSR; i++)
		cmp_u64(&bad, msr_names[i], g->msrs[i], w->msrs[i]);
	t_ok(bad == 0, "%s: MSRS", when);
	t_ok(memcmp(&g->intr, &w->intr, sizeof(g->intr)) == 0, "%s: INTR",
	    when);
	bad = 0;
	cmp_fpu(&bad, &g->fpu, &w->fpu, true);
	if (fx_zero)
		cmp_u64(&bad, "fx_zero", g->fpu.fx_zero, w->fpu.fx_zero);
	t_ok(bad == 0, "%s: FPU", when);
}

/* ---- After the RESET vector ran ---------------------------------------------- */

struct reset_seen {
	uint16_t dx;
	uint16_t pad;
	uint32_t eflags, cr0, cr4, dr6, dr7;
	uint16_t cs, ds, fcw, fsw;
} __attribute__((packed));

/* The RESET vector's page: state_reset16 in its last 256 bytes. */
static void
reset_vector_map(struct t_vm *vm)
{
	uint8_t *top;

	top = t_vm_map(vm, TOP_PAGE, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
	memcpy(top + 0xF00, state_reset16_begin,
	    (size_t)(state_reset16_end - state_reset16_begin));
}

static void
reset_vector(struct t_vm *vm, const char *when)
{
	const struct reset_seen *r = (const void *)(vm->ram + 0x500);
	struct nvmm_x64_state want;

	memset(vm->ram + 0x500, 0xEE, 0x40);
	t_eq_u64(t_vm_run(vm), NVMM_VCPU_EXIT_HALTED,
	    "%s: the RESET vector at 0xFFFFFFF0 runs and halts", when);
	t_eq_u64(r->dx, 0x600, "%s: real mode sees DX 0x600", when);
	t_eq_u64(r->eflags, 0x2, "%s: real mode sees EFLAGS 0x2", when);
	t_eq_u64(r->cr0, 0x60000030,
	    "%s: real mode sees CR0 with ET NE forced", when);
	t_eq_u64(r->cr4, 0, "%s: real mode sees CR4 0", when);
	t_ok(r->dr6 == 0xFFFF0FF0 && r->dr7 == 0x400,
	    "%s: real mode sees DR6 DR7 (0x%x 0x%x)", when, r->dr6, r->dr7);
	t_ok(r->cs == 0xF000 && r->ds == 0,
	    "%s: real mode sees CS 0xF000 DS 0", when);
	t_ok(r->fcw == 0x40 && r->fsw == 0,
	    "%s: real mode sees FCW 0x40 FSW 0 (0x%x 0x%x)", when, r->fcw,
	    r->fsw);

	/* Read back: the guest moved RIP and RAX; CR0 is sanitised. */
	reset_state(&want);
	want.crs[NVMM_X64_CR_CR0] |= 0x20;
	want.gprs[NVMM_X64_GPR_RIP] = 0xFF00 +
	    (uint64_t)(state_reset16_halted - state_reset16_begin);
	want.gprs[NVMM_X64_GPR_RAX] = 0x400;	/* the last load: DR7 */
	/* GDTR and IDTR have a base and a limit only: NVMM reads attrib 0. */
	memset(&want.segs[NVMM_X64_SEG_GDT].attrib, 0, 2);
	memset(&want.segs[NVMM_X64_SEG_IDT].attrib, 0, 2);
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	want.msrs[NVMM_X64_MSR_TSC] = vm->vcpu.state->msrs[NVMM_X64_MSR_TSC];
	want.fpu.fx_mxcsr_mask = vm->vcpu.state->fpu.fx_mxcsr_mask;
	compare_classes(vm->vcpu.state, &want, false, when);
	t_ok(vm->vcpu.state->msrs[NVMM_X64_MSR_TSC] != 0, "%s: TSC runs", when);
}

/* ---- A zeroed state --------------------------------------------------------------- */

/*
 * In case the guest never exits by itself: with CS unusable, some KVMs
 * (PVM here) deliver faults inside the guest forever.
 */
static void *
stopper_main(void *arg)
{
	sleep(1);
	(void)nvmm_vcpu_stop(arg);
	return NULL;
}

static void
zeroed(struct t_vm *vm)
{
	const struct nvmm_x64_state *g = vm->vcpu.state;
	pthread_t stopper;
	uint64_t reason;
	int r;

	vm->ram[0] = 0xF4;	/* hlt, if CS:IP 0:0 runs at all */
	memset(vm->vcpu.state, 0, sizeof(*vm->vcpu.state));
	t_ok(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL) == 0,
	    "setstate(ALL) of a zeroed state: 0");
	pthread_create(&stopper, NULL, stopper_main, &vm->vcpu);
	do {
		r = nvmm_vcpu_run(&vm->mach, &vm->vcpu);
		reason = vm->vcpu.exit->reason;
	} while (r == 0 && reason == NVMM_VCPU_EXIT_NONE);
	t_ok(r == 0, "the next run returns 0");
	t_ok(reason == NVMM_VCPU_EXIT_HALTED ||
	    reason == NVMM_VCPU_EXIT_INVALID ||
	    reason == NVMM_VCPU_EXIT_SHUTDOWN ||
	    reason == NVMM_VCPU_EXIT_STOPPED,
	    "with a valid exit (0x%llx)", (unsigned long long)reason);
	if (reason == NVMM_VCPU_EXIT_STOPPED)
		t_diag("  the guest did not exit by itself: stopped after 1 s");
	pthread_cancel(stopper);
	pthread_join(stopper, NULL);
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	t_ok((g->crs[NVMM_X64_CR_CR0] & 0x30) == 0x30 &&
	    g->crs[NVMM_X64_CR_XCR0] == 1, "read back: CR0 ET NE, XCR0 x87");
}

/* ---- The same vCPU id again -------------------------------------------------------- */

#define IN_CODE		0x1000	/* real mode, CS 0: in al, 0x71; hlt */
#define RECREATE_LOOPS	200

/* Real mode at IN_CODE, all else RESET; run to the IN. */
static bool
run_to_in(struct t_vm *vm)
{
	static const uint8_t in_hlt[] = { 0xE4, 0x71, 0xF4 };
	struct nvmm_x64_state *st = vm->vcpu.state;
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;

	memcpy(vm->ram + IN_CODE, in_hlt, sizeof(in_hlt));
	reset_state(st);
	st->segs[NVMM_X64_SEG_CS].selector = 0;
	st->segs[NVMM_X64_SEG_CS].base = 0;
	st->gprs[NVMM_X64_GPR_RIP] = IN_CODE;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	return t_vm_run(vm) == NVMM_VCPU_EXIT_IO && exit->u.io.in &&
	    exit->u.io.port == 0x71 && exit->u.io.operand_size == 1;
}

/*
 * Destroyed with an IN unfinished (KVM would finish it at the next entry,
 * over whatever state is there) and more committed than installed: the
 * next vCPU 0 is a new one, in the cache and as its guest sees it.
 */
static void
recreate(struct t_vm *vm)
{
	struct nvmm_vcpu_event ev = { .type = NVMM_VCPU_EVENT_INTR,
	    .vector = 0x30 };
	struct nvmm_x64_state want;
	int r;

	t_ok(run_to_in(vm), "vCPU 0 stops at IN 0x71");
	vm->vcpu.state->drs[NVMM_X64_DR_DR0] = 0x1234;
	vm->vcpu.state->gprs[NVMM_X64_GPR_RBX] = 0xDEAD;
	vm->vcpu.state->msrs[NVMM_X64_MSR_PAT] = 0x0606060606060606ULL;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	memcpy(vm->vcpu.event, &ev, sizeof(ev));
	T_CHECK(nvmm_vcpu_inject(&vm->mach, &vm->vcpu));
	T_CHECK(nvmm_vcpu_destroy(&vm->mach, &vm->vcpu));
	r = nvmm_vcpu_create(&vm->mach, 0, &vm->vcpu);
	t_ok(r == 0, "vCPU 0 destroyed, then created again (%s)",
	    r == 0 ? "0" : strerror(errno));
	if (r != 0)
		t_bail("no vCPU 0");
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	reset_state(&want);
	compare_classes(vm->vcpu.state, &want, true, "re-created");
	reset_vector(vm, "re-created");
}

static unsigned int
open_fds(void)
{
	unsigned int n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (d == NULL)
		return 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Over and over: each new vCPU 0 runs to its own IN, left unfinished. */
static void
recreate_loop(struct t_vm *vm)
{
	unsigned int fds, good = 0;

	fds = open_fds();
	for (int i = 0; i < RECREATE_LOOPS; i++) {
		T_CHECK(nvmm_vcpu_destroy(&vm->mach, &vm->vcpu));
		T_CHECK(nvmm_vcpu_create(&vm->mach, 0, &vm->vcpu));
		good += run_to_in(vm) &&
		    vm->vcpu.state->gprs[NVMM_X64_GPR_RAX] == 0;
	}
	t_eq_u64(good, RECREATE_LOOPS,
	    "%d times: a new vCPU 0 runs to its IN, RAX as set", RECREATE_LOOPS);
	t_eq_u64(open_fds(), fds, "and holds no more descriptors than one");
}

int
main(void)
{
	struct nvmm_x64_state want;
	struct t_vm vm;

	t_require_nvmm();
	t_plan(7 + 16 + 4 + 2 + 7 + 16 + 2);

	t_vm_create(&vm, 0);
	/* Cached since creation: no fetch, exactly the spec's table. */
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_ALL));
	reset_state(&want);
	compare_classes(vm.vcpu.state, &want, true, "after vcpu_create");
	reset_vector_map(&vm);
	reset_vector(&vm, "after the RESET vector");
	zeroed(&vm);
	recreate(&vm);
	recreate_loop(&vm);
	t_vm_destroy(&vm);
	return t_done();
}
