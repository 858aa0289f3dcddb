/*
 * Events: NVMM event injection (validated as NVMM does, spec 2.12), the
 * interrupt and NMI windows, and the exit state reported after every run.
 * Everything goes through the kvm_run page's event area: no ioctl.
 */
#include <errno.h>
#include <string.h>

#include "kvmx86.h"

#define RFLAGS_IF	(1ULL << 9)
#define RFLAGS_RF	(1ULL << 16)

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
inject_excp(struct kvmx86_vcpu *cpu, const struct nvmm_vcpu_event *event)
{
	struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;
	uint8_t v = event->vector;

	/* #DE, NMI and #BP cannot be injected as exceptions in NVMM. */
	if (v >= 32 || v == 0 || v == 2 || v == 3)
		return EINVAL;
	ev->exception.injected = 1;
	ev->exception.nr = v;
	ev->exception.has_error_code = excp_has_error(v);
	ev->exception.error_code = (uint32_t)event->u.excp.error;
	if (excp_sets_rf(v)) {
		cpu->run->s.regs.regs.rflags |= RFLAGS_RF;
		cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	return 0;
}

static int
inject_intr(struct kvmx86_vcpu *cpu, const struct nvmm_vcpu_event *event)
{
	struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;

	if (event->vector == 2) {
		ev->nmi.pending = 1;
		ev->flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
	} else {
		/* Delivered at the next entry, as hardware injection is. */
		ev->interrupt.injected = 1;
		ev->interrupt.nr = event->vector;
		ev->interrupt.soft = 0;
	}
	return 0;
}

int
kvmx86_inject(struct kvmx86_vcpu *cpu, const struct nvmm_vcpu_event *event)
{
	int error;

	switch (event->type) {
	case NVMM_VCPU_EVENT_EXCP:
		error = inject_excp(cpu, event);
		break;
	case NVMM_VCPU_EVENT_INTR:
		error = inject_intr(cpu, event);
		break;
	default:
		error = EINVAL;
		break;
	}
	if (error == 0)
		cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
	return error;
}

/* ---- Windows ------------------------------------------------------------------- */

static bool
event_pending(const struct kvm_vcpu_events *ev)
{
	return ev->exception.injected || ev->exception.pending ||
	    ev->interrupt.injected || ev->nmi.injected || ev->nmi.pending;
}

/*
 * KVM arms its interrupt window at guest entry only, and has no NMI window
 * at all: report a requested window as soon as the state shows it open.
 */
bool
kvmx86_window_ready(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	const struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;
	uint64_t rflags = cpu->run->s.regs.regs.rflags;

	if (event_pending(ev))
		return false;
	if (cpu->int_window && (rflags & RFLAGS_IF) && !ev->interrupt.shadow) {
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

void
kvmx86_exitstate(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	const struct kvm_sync_regs *s = &cpu->run->s.regs;

	exit->exitstate.rflags = s->regs.rflags;
	exit->exitstate.cr8 = cpu->run->cr8;
	exit->exitstate.int_shadow = s->events.interrupt.shadow != 0;
	exit->exitstate.int_window_exiting = cpu->int_window;
	exit->exitstate.nmi_window_exiting = cpu->nmi_window;
	exit->exitstate.evt_pending = event_pending(&s->events);
	exit->exitstate.rsvd = 0;
}
