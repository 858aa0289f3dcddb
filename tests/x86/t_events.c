/*
 * Events (spec 2.12, 3.5, 3.6): injected interrupts, NMIs and exceptions
 * reach the guest's IDT handlers with the right frame; NVMM's validation;
 * the interrupt and NMI windows; exitstate after each kind of exit.
 */
#include <errno.h>
#include <string.h>

#include "x86.h"

T_GUEST(x86_events);
extern const uint8_t x86_ev_hlt[], x86_ev_window[], x86_ev_window_open[],
    x86_ev_sti_hlt[], x86_ev_spin[], x86_ev_movss[], x86_ev_sti[],
    x86_ev_plain[], x86_ev_flags[], x86_ev_cr8[], x86_ev_io[],
    x86_ev_mmio[];
extern const uint8_t x86_h_nmi[], x86_h_nmi_iret[], x86_h_nmi_hlt_iret[];
extern const uint8_t x86_h_nmi_hlt16_iret[];

#define IF		0x200ULL
#define RF		(1ULL << 16)
#define NO_ERROR	UINT64_MAX

static struct t_vm vm;

static uint64_t
gpa(const uint8_t *label)
{
	return x86_code_gpa(x86_events_begin, label);
}

static const struct nvmm_x86_exit_state *
es(void)
{
	return &vm.vcpu.exit->exitstate;
}

static uint64_t
reg(int gpr)
{
	return x86_gpr(&vm, gpr);
}

/* A fresh machine: NMI blocking is per vCPU and only IRET clears it. */
static void
fresh_vm(const uint8_t *nmi_handler)
{
	if (vm.ram != NULL)
		t_vm_destroy(&vm);
	x86_vm_create(&vm, x86_events_begin, x86_events_end);
	x86_idt_set(&vm, 2, nmi_handler);
}

/* ---- Delivery ------------------------------------------------------------------ */

static void
test_delivery(unsigned int type, uint8_t vector, uint64_t error,
    uint64_t want_error, const char *what)
{
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	x86_inject(&vm, type, vector, error);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == vector &&
	    reg(NVMM_X64_GPR_R13) == want_error &&
	    reg(NVMM_X64_GPR_R14) == gpa(x86_ev_hlt),
	    "%s: vector %u's handler, frame %s, RIP of the interrupted insn",
	    what, vector, want_error == NO_ERROR ? "without error code" :
	    "with the error code");
	if (type == NVMM_VCPU_EVENT_EXCP)
		t_ok(reg(NVMM_X64_GPR_R15) & RF, "%s: RF set in the frame", what);
}

/* Invalid events: the run fails EINVAL and the event is gone. */
static void
test_invalid(unsigned int type, uint8_t vector, const char *what)
{
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	x86_inject(&vm, type, vector, 0);
	t_errno(nvmm_vcpu_run(&vm.mach, &vm.vcpu), EINVAL, "%s: EINVAL", what);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 0 &&
	    reg(NVMM_X64_GPR_RIP) == gpa(x86_ev_hlt) + 1,
	    "%s: dropped, the next run runs the guest", what);
}

/* ---- Interrupt window ------------------------------------------------------------ */

/*
 * Where the window exit lands after sti; nop. NVMM (and KVM with hardware
 * intercepts): on the next instruction. PVM exits an instruction or two
 * later, still inside the loop before its HLT.
 */
static bool
window_rip_ok(uint64_t rip)
{
	if (!x86_host_pvm())
		return rip == gpa(x86_ev_window_open);
	return rip >= gpa(x86_ev_window_open) && rip < gpa(x86_ev_sti_hlt) - 1;
}

static void
test_int_window(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;
	uint64_t rip;

	/* cli; sti; nop; loop: INT_READY once IF = 1 and the shadow ends. */
	x86_restart(&vm, gpa(x86_ev_window), 0x2);
	x86_set_windows(&vm, true, false);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_INT_READY &&
	    window_rip_ok(rip = reg(NVMM_X64_GPR_RIP)) &&
	    reg(NVMM_X64_GPR_R8) >= 1,
	    "int window: INT_READY right after sti; nop");
	t_ok((es()->rflags & IF) && !es()->int_window_exiting &&
	    !es()->int_shadow, "int window: exitstate IF=1, window disarmed");
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	t_ok(!st->intr.int_window_exiting, "int window: state disarmed too");
	rip = reg(NVMM_X64_GPR_RIP);
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 0x40, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 0x40 && reg(NVMM_X64_GPR_R14) == rip,
	    "int window: the interrupt injected then lands there");

	/* Already open: INT_READY without running anything. */
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	x86_set_windows(&vm, true, false);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_INT_READY &&
	    reg(NVMM_X64_GPR_RIP) == gpa(x86_ev_hlt),
	    "int window already open: INT_READY at once");

	/* sti; hlt: the HLT exits (in the shadow) and, IF = 1, disarms. */
	x86_restart(&vm, gpa(x86_ev_sti_hlt), 0x2);
	x86_set_windows(&vm, true, false);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_RIP) == gpa(x86_ev_sti_hlt) + 3 &&
	    !es()->int_window_exiting && (es()->rflags & IF),
	    "sti; hlt: HALTED, window disarmed (NVMM's HLT rule)");
}

/* ---- NMI window ----------------------------------------------------------------- */

/* The NMI handler returns into a loop with IF = 1: NMI_READY at the IRET. */
static void
test_nmi_window_iret(void)
{
	fresh_vm(x86_h_nmi_iret);
	x86_restart(&vm, gpa(x86_ev_spin), 0x2 | IF);
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 2, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_NMI_READY &&
	    reg(NVMM_X64_GPR_R12) == 1 && reg(NVMM_X64_GPR_R8) == 0,
	    "NMI: NMI_READY when the handler returns (injection armed it)");
	t_ok(!es()->nmi_window_exiting, "NMI_READY: window disarmed");
}

/* Stopped inside the handler; the emulator asks; NMI_READY after IRET. */
static void
test_nmi_window_blocked(void)
{
	fresh_vm(x86_h_nmi_hlt_iret);
	x86_restart(&vm, gpa(x86_ev_spin), 0x2 | IF);
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 2, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 1 && es()->nmi_window_exiting,
	    "NMI handler halted: exitstate shows the NMI window armed");
	x86_set_windows(&vm, false, false);
	x86_set_windows(&vm, false, true);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_NMI_READY &&
	    reg(NVMM_X64_GPR_R8) == 0 && !es()->nmi_window_exiting,
	    "nmi_window_exiting set in the handler: NMI_READY after its IRET");
	x86_set_windows(&vm, false, true);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_NMI_READY &&
	    reg(NVMM_X64_GPR_R8) == 0,
	    "nmi_window_exiting with NMIs unblocked: NMI_READY at once");
}

/*
 * The gap: interrupted code with IF = 0, so no interrupt window opens at
 * the IRET. The NMI window is reported at the next exit (here a HALTED,
 * then NMI_READY on the following run).
 */
static void
test_nmi_window_gap(void)
{
	fresh_vm(x86_h_nmi_iret);
	x86_restart(&vm, gpa(x86_ev_spin), 0x2);
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 2, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 1 && reg(NVMM_X64_GPR_R8) == 4 &&
	    es()->nmi_window_exiting,
	    "NMI into IF=0 code: no exit at the IRET (KVM has no NMI window)");
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_NMI_READY,
	    "NMI into IF=0 code: NMI_READY at the next run");
}

/*
 * A second NMI while the first one's handler runs waits for its IRET: the
 * exits in between show it pending, also once KVM's event state no longer
 * comes with every exit (the emulator looks at nothing for 16 of them).
 */
static void
test_nmi_pending(void)
{
	unsigned int pending = 0;

	fresh_vm(x86_h_nmi_hlt16_iret);
	x86_restart(&vm, gpa(x86_ev_spin), 0x2);
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 2, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 1 && !es()->evt_pending,
	    "NMI handler halted: nothing pending");
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 2, 0);
	pending += t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED && es()->evt_pending;
	x86_set_windows(&vm, false, false);	/* the injection armed it */
	for (unsigned int i = 2; i < 16; i++)
		pending += t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
		    es()->evt_pending;
	t_eq_u64(pending, 15, "second NMI inside the handler: each HALTED "
	    "shows it pending");
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 2 && !es()->evt_pending,
	    "delivered at the IRET: its handler halted, nothing pending");
}

/* ---- Exit state ------------------------------------------------------------------ */

/* Run from label to its RDMSR exit. */
static bool
run_probe(const uint8_t *label, uint64_t rflags)
{
	x86_restart(&vm, gpa(label), rflags);
	return t_vm_run(&vm) == NVMM_VCPU_EXIT_RDMSR;
}

/* PVM does not report the interrupt shadow (KVM_GET_VCPU_EVENTS: none). */
static void
shadow_ok(bool ok, const char *what)
{
	if (!ok && x86_host_pvm())
		t_skip("%s: this host's KVM (PVM) reports no interrupt shadow",
		    what);
	else
		t_ok(ok, "%s", what);
}

static void
test_exitstate(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	t_ok(run_probe(x86_ev_plain, 0x2) && !es()->int_shadow &&
	    !es()->int_window_exiting && !es()->nmi_window_exiting &&
	    !es()->evt_pending && es()->rflags == 0x2,
	    "RDMSR exit: no shadow, no windows, nothing pending, RFLAGS");
	shadow_ok(run_probe(x86_ev_movss, 0x2) && es()->int_shadow,
	    "RDMSR right after mov %ss: exitstate.int_shadow");
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	shadow_ok(st->intr.int_shadow, "... and getstate(INTR) agrees");
	shadow_ok(run_probe(x86_ev_sti, 0x2) && es()->int_shadow &&
	    (es()->rflags & IF), "RDMSR right after sti: int_shadow, IF");
	t_ok(run_probe(x86_ev_flags, 0x2) && es()->rflags == 0x8D7,
	    "RDMSR after popf: exitstate.rflags");
	t_ok(run_probe(x86_ev_cr8, 0x2) && es()->cr8 == 5,
	    "RDMSR after mov to CR8: exitstate.cr8");
	x86_restart(&vm, gpa(x86_ev_io), 0x2);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_IO && es()->cr8 == 6 &&
	    es()->rflags == 0x8D7 && !es()->evt_pending,
	    "IO exit: exitstate.cr8 and rflags");
	x86_restart(&vm, gpa(x86_ev_mmio), 0x2);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_MEMORY && es()->cr8 == 9 &&
	    es()->rflags == 0xC3 && !es()->evt_pending,
	    "MEMORY exit: exitstate.cr8 and rflags");
	x86_restart(&vm, gpa(x86_ev_plain), 0x2);
	x86_set_windows(&vm, true, false);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_RDMSR && es()->int_window_exiting,
	    "RDMSR with IF=0 and the window armed: int_window_exiting");
	x86_set_windows(&vm, false, false);
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED && (es()->rflags & IF) &&
	    !es()->int_shadow && !es()->evt_pending,
	    "HALTED exit: exitstate filled");
}

/* ---- NVMM_EXT_EVENTS: events in flight move with the INTR state ---------- */

/*
 * What a snapshot or a migration does: read a stopped vCPU's INTR class and
 * install it in a fresh vCPU, which resumes with the same events in flight
 * and the same NMI blocking.
 */
static void
test_saved_events(void)
{
	struct nvmm_vcpu first, second, third;
	struct nvmm_x64_state_intr saved;

	fresh_vm(x86_h_nmi);
	first = vm.vcpu;
	/* An interrupt injected, then a stop before the guest took it. */
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 0x40, 0);
	T_CHECK(nvmm_vcpu_stop(&vm.vcpu));
	t_eq_u64(x86_run_once(&vm), NVMM_VCPU_EXIT_STOPPED,
	    "events: a stop before entry leaves the injected interrupt");
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	saved = vm.vcpu.state->intr;
	t_ok(saved.evt_pending && saved.intr_injected &&
	    saved.intr_vector == 0x40 && !saved.nmi_masked,
	    "events: INTR shows it in flight (intr_injected, vector 0x40)");

	x86_vcpu_add(&vm, 1, &second);
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	vm.vcpu.state->intr = saved;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 0x40 &&
	    reg(NVMM_X64_GPR_R14) == gpa(x86_ev_hlt),
	    "events: installed in a fresh vCPU, the interrupt is delivered there");

	vm.vcpu = first;
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	memset(&vm.vcpu.state->intr, 0, sizeof(vm.vcpu.state->intr));
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 0,
	    "events: an INTR state with none in flight drops it");

	/* An NMI handler that has not returned: NMIs stay blocked. */
	vm.vcpu = second;
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 2, 0);
	(void)t_vm_run(&vm);
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	saved = vm.vcpu.state->intr;
	t_ok(reg(NVMM_X64_GPR_R12) == 2 && saved.nmi_masked &&
	    !saved.evt_pending, "events: inside the NMI handler, nmi_masked");

	x86_vcpu_add(&vm, 2, &third);
	x86_restart(&vm, gpa(x86_ev_hlt), 0x2 | IF);
	vm.vcpu.state->intr = saved;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	x86_inject(&vm, NVMM_VCPU_EVENT_INTR, 2, 0);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_HALTED &&
	    reg(NVMM_X64_GPR_R12) == 0,
	    "events: NMI blocking installed in a fresh vCPU holds an NMI back");
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_INTR));
	t_ok(vm.vcpu.state->intr.nmi_pending && vm.vcpu.state->intr.evt_pending,
	    "events: ... which waits as nmi_pending");
}

int
main(void)
{
	t_require_nvmm();
	t_plan(4 + 3 + 1 + 1 + 2 * 6 + 6 + 10 + 2 + 3 + 2 + 3 + 7);

	fresh_vm(x86_h_nmi);
	test_delivery(NVMM_VCPU_EVENT_INTR, 0x40, 0, NO_ERROR, "INTR 0x40");
	test_delivery(NVMM_VCPU_EVENT_EXCP, 13, 0x1234, 0x1234, "#GP");
	test_delivery(NVMM_VCPU_EVENT_EXCP, 14, 0x2, 0x2, "#PF");
	test_delivery(NVMM_VCPU_EVENT_EXCP, 6, 0xFFFF, NO_ERROR, "#UD");
	test_delivery(NVMM_VCPU_EVENT_INTR, 2, 0, NO_ERROR, "NMI");
	t_ok(es()->nmi_window_exiting,
	    "NMI: injection armed the NMI window (as NVMM), shown in exitstate");

	fresh_vm(x86_h_nmi);
	test_invalid(NVMM_VCPU_EVENT_EXCP, 32, "EXCP vector 32");
	test_invalid(NVMM_VCPU_EVENT_EXCP, 0, "EXCP #DE");
	test_invalid(NVMM_VCPU_EVENT_EXCP, 2, "EXCP vector 2");
	test_invalid(NVMM_VCPU_EVENT_EXCP, 3, "EXCP #BP");
	test_invalid(NVMM_VCPU_EVENT_EXCP, 255, "EXCP vector 255");
	test_invalid(7, 0x40, "event type 7");

	test_int_window();
	test_exitstate();
	test_nmi_window_iret();
	test_nmi_window_blocked();
	test_nmi_window_gap();
	test_nmi_pending();
	test_saved_events();

	t_vm_destroy(&vm);
	return t_done();
}
