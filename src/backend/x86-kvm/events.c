/*
 * Events: NVMM event injection (validated as NVMM does, spec 2.12), the
 * interrupt and NMI windows, and the instructions KVM gives up on that
 * NVMM answers (the exit state reported after every run: kvmx86.h). Everything goes
 * through the kvm_run page's event area: no ioctl.
 *
 * Windows. KVM exits when the guest can take an interrupt
 * (request_interrupt_window, KVM_EXIT_IRQ_WINDOW_OPEN) but has no NMI
 * window exit. NVMM's NMI window opens when the guest leaves its NMI
 * handler (IRET). Handlers run with IF = 0 and IRET restores the IF of the
 * interrupted code, so while NMIs are blocked and IF = 0 the interrupt
 * window stands in for the NMI window: it opens at the IRET when the
 * interrupted code had IF = 1. Otherwise (IF = 0 before and after the NMI,
 * or a handler that sets IF) the NMI window is reported at the first exit
 * after it opened.
 */
#include <errno.h>
#include <string.h>

#include "kvmx86.h"

#define RFLAGS_RF	(1ULL << 16)

#define VECTOR_NMI	2
#define VECTOR_UD	6

/* ---- Injection -------------------------------------------------------------- */

/* Exceptions that push an error code. */
static bool
excp_has_error(uint8_t vector)
{
	switch (vector) {
	case 8: case 10: case 11: case 12: case 13: case 14: case 17:
	case 21: case 30:
		return true;
	default:
		return false;
	}
}

/* As NVMM: RF is set in the pushed flags except for these. */
static bool
excp_sets_rf(uint8_t vector)
{
	return vector != 1 && vector != 4 && vector != 8 && vector != 18;
}

static int
queue_excp(struct kvmx86_vcpu *cpu, uint8_t v, uint32_t error)
{
	struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;
	int r;

	if ((r = kvmx86_sync_need(cpu, KVM_SYNC_X86_EVENTS)) != 0)
		return r;
	ev->exception.injected = 1;
	ev->exception.nr = v;
	ev->exception.has_error_code = excp_has_error(v);
	ev->exception.error_code = error;
	if (excp_sets_rf(v)) {
		cpu->run->s.regs.regs.rflags |= RFLAGS_RF;
		cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
	return 0;
}

static int
inject_excp(struct kvmx86_vcpu *cpu, const struct nvmm_vcpu_event *event)
{
	uint8_t v = event->vector;

	/* #DE, NMI and #BP cannot be injected as exceptions in NVMM. */
	if (v >= 32 || v == 0 || v == VECTOR_NMI || v == 3)
		return EINVAL;
	return queue_excp(cpu, v, (uint32_t)event->u.excp.error);
}

static int
inject_intr(struct kvmx86_vcpu *cpu, const struct nvmm_vcpu_event *event)
{
	struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;
	int r;

	if ((r = kvmx86_sync_need(cpu, KVM_SYNC_X86_EVENTS)) != 0)
		return r;
	if (event->vector == VECTOR_NMI) {
		ev->nmi.pending = 1;
		ev->flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
		cpu->nmi_unsettled = true;
		/* As NVMM: an NMI arms the NMI window, to see its IRET. */
		cpu->nmi_window = true;
	} else {
		/* Delivered at the next entry, as hardware injection is. */
		ev->interrupt.injected = 1;
		ev->interrupt.nr = event->vector;
		ev->interrupt.soft = 0;
	}
	cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
	return 0;
}

int
kvmx86_inject(struct kvmx86_vcpu *cpu, const struct nvmm_vcpu_event *event)
{
	switch (event->type) {
	case NVMM_VCPU_EVENT_EXCP:
		return inject_excp(cpu, event);
	case NVMM_VCPU_EVENT_INTR:
		return inject_intr(cpu, event);
	default:
		return EINVAL;
	}
}

/* ---- Windows ------------------------------------------------------------------- */

/*
 * Report a requested window that the state shows open, disarming it as
 * NVMM's window exits do. Used before entering the guest and at exits
 * that carry nothing for the emulator.
 */
bool
kvmx86_window_ready(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	const struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;
	uint64_t rflags = cpu->run->s.regs.regs.rflags;

	if (!cpu->int_window && !cpu->nmi_window)
		return false;
	if (kvmx86_sync_need(cpu, KVM_SYNC_X86_EVENTS) != 0 ||
	    kvmx86_event_pending(ev))
		return false;
	if (cpu->int_window && (rflags & KVMX86_RFLAGS_IF) && !ev->interrupt.shadow) {
		cpu->int_window = false;
		exit->reason = NVMM_VCPU_EXIT_INT_READY;
		return true;
	}
	if (cpu->nmi_window && !ev->nmi.masked) {
		cpu->nmi_window = false;
		exit->reason = NVMM_VCPU_EXIT_NMI_READY;
		return true;
	}
	return false;
}

/*
 * Before each entry: the KVM window request that serves NVMM's windows.
 * For the NMI window, not while NMIs are blocked with IF = 1 (a handler
 * that set IF): the window would open at once, again and again.
 */
void
kvmx86_window_arm(struct kvmx86_vcpu *cpu)
{
	const struct kvm_sync_regs *s = &cpu->run->s.regs;
	bool nmi_proxy = cpu->nmi_window &&
	    (kvmx86_sync_need(cpu, KVM_SYNC_X86_EVENTS) != 0 ||
	    !s->events.nmi.masked || !(s->regs.rflags & KVMX86_RFLAGS_IF));

	cpu->run->request_interrupt_window = cpu->int_window || nmi_proxy;
	cpu->window_asked = cpu->run->request_interrupt_window != 0;
}

/* KVM_EXIT_IRQ_WINDOW_OPEN: whichever window it stood for, if any. */
void
kvmx86_window_exit(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit->reason = NVMM_VCPU_EXIT_NONE;
	(void)kvmx86_window_ready(cpu, exit);
}

/* As NVMM: HLT with IF = 1 ends an interrupt-window request. */
void
kvmx86_window_halted(struct kvmx86_vcpu *cpu)
{
	if (cpu->run->s.regs.regs.rflags & KVMX86_RFLAGS_IF)
		cpu->int_window = false;
}

/* ---- Instructions KVM could not emulate ------------------------------------------ */

/*
 * Where KVM meets these through #UD (hosts that run guests without
 * hardware intercepts, such as PVM), its emulator gives up with #UD
 * queued. NVMM exits on MONITOR and MWAIT and raises #UD for RDTSCP.
 */
static const struct {
	uint8_t modrm;		/* after 0F 01 */
	uint64_t reason;	/* NVMM_VCPU_EXIT_NONE: #UD, no exit */
} insn_failed[] = {
	{ 0xC8, NVMM_VCPU_EXIT_MONITOR },
	{ 0xC9, NVMM_VCPU_EXIT_MWAIT },
	{ 0xF9, NVMM_VCPU_EXIT_NONE },	/* RDTSCP */
};

static bool
insn_prefix(uint8_t b, bool long64)
{
	switch (b) {
	case 0x26: case 0x2E: case 0x36: case 0x3E: case 0x64: case 0x65:
	case 0x66: case 0x67: case 0xF0: case 0xF2: case 0xF3:
		return true;
	default:
		return long64 && (b & 0xF0) == 0x40;	/* REX */
	}
}

/* The 0F 01 xx instruction KVM failed on, and its length; 0 if another. */
static size_t
insn_0f01(struct kvmx86_vcpu *cpu, uint8_t *modrm)
{
	const struct kvm_run *run = cpu->run;
	const uint8_t *b = run->emulation_failure.insn_bytes;
	size_t n = run->emulation_failure.insn_size, i = 0;
	bool long64;

	if (run->emulation_failure.suberror != KVM_INTERNAL_ERROR_EMULATION ||
	    !(run->emulation_failure.flags &
	    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) || n > 15 ||
	    kvmx86_sync_need(cpu, KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS))
		return 0;
	long64 = kvmx86_code64(&run->s.regs.sregs);
	while (i < n && insn_prefix(b[i], long64))
		i++;
	if (i + 3 > n || b[i] != 0x0F || b[i + 1] != 0x01)
		return 0;
	*modrm = b[i + 2];
	return i + 3;
}

/* KVM_EXIT_INTERNAL_ERROR: true if it was one of those, now translated. */
bool
kvmx86_insn_failed(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	struct kvm_run *run = cpu->run;
	uint8_t modrm = 0;
	size_t len = insn_0f01(cpu, &modrm);

	for (size_t i = 0; len > 0 && i < sizeof(insn_failed) /
	    sizeof(insn_failed[0]); i++) {
		if (insn_failed[i].modrm != modrm)
			continue;
		memset(&exit->u, 0, sizeof(exit->u));
		exit->reason = insn_failed[i].reason;
		if (exit->reason == NVMM_VCPU_EXIT_NONE)
			return queue_excp(cpu, VECTOR_UD, 0) == 0;
		/* The emulator decides: drop the #UD KVM queued. */
		memset(&run->s.regs.events.exception, 0,
		    sizeof(run->s.regs.events.exception));
		run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
		exit->u.insn.npc = run->s.regs.regs.rip + len;
		return true;
	}
	return false;
}
