/*
 * Interrupts and exceptions, per vCPU. Devices on any thread only mark an
 * event pending and kick the vCPU (nvmm_vcpu_stop); the vCPU's own thread
 * injects it before its next run. That keeps vcpu->event and the comm
 * page in the one thread that runs the vCPU, so no injection can race
 * with a run that is committing state.
 *
 * External interrupts need RFLAGS.IF = 1 and no interrupt shadow; when the
 * guest cannot take one, we ask NVMM for an interrupt window and inject
 * at the INT_READY exit (or at the first exit that shows the window open).
 * One event per run: the next waits until the last has been delivered.
 */
#include <err.h>

#include "toyvmm.h"

#define RFLAGS_IF	(1ULL << 9)
#define VEC_NMI		2
#define VEC_FIRST_INTR	32
#define VEC_LAST_INTR	95

void
irq_init(struct toy_cpu *cpu)
{
	pthread_mutex_init(&cpu->irq.lock, NULL);
	pthread_cond_init(&cpu->irq.cond, NULL);
}

/* ---- Raising (any thread) --------------------------------------------------- */

/* After marking an event: wake the vCPU if halted, kick it if running. */
static void
irq_kick(struct toy_cpu *cpu)
{
	pthread_cond_signal(&cpu->irq.cond);
	pthread_mutex_unlock(&cpu->irq.lock);
	if (current_cpu != cpu)
		nvmm_vcpu_stop(&cpu->vcpu);
}

void
irq_raise(struct toy_cpu *cpu, uint8_t vector)
{
	if (vector < VEC_FIRST_INTR || vector > VEC_LAST_INTR)
		errx(1, "irq_raise: vector %u out of range", vector);
	pthread_mutex_lock(&cpu->irq.lock);
	cpu->irq.intr |= 1ULL << (vector - VEC_FIRST_INTR);
	irq_kick(cpu);
}

void
irq_nmi(struct toy_cpu *cpu)
{
	pthread_mutex_lock(&cpu->irq.lock);
	cpu->irq.nmi = true;
	irq_kick(cpu);
}

void
irq_exception(struct toy_cpu *cpu, uint8_t vector, uint32_t error)
{
	pthread_mutex_lock(&cpu->irq.lock);
	cpu->irq.excp = true;
	cpu->irq.excp_vector = vector;
	cpu->irq.excp_error = error;
	irq_kick(cpu);
}

bool
irq_is_pending(struct toy_cpu *cpu, uint8_t vector)
{
	bool pending;

	pthread_mutex_lock(&cpu->irq.lock);
	pending = vector >= VEC_FIRST_INTR && vector <= VEC_LAST_INTR &&
	    (cpu->irq.intr & 1ULL << (vector - VEC_FIRST_INTR));
	pthread_mutex_unlock(&cpu->irq.lock);
	return pending;
}

uint64_t
irq_injected(struct toy_cpu *cpu, uint8_t vector)
{
	uint64_t n;

	pthread_mutex_lock(&cpu->irq.lock);
	n = cpu->irq.injected[vector];
	pthread_mutex_unlock(&cpu->irq.lock);
	return n;
}

/* ---- Delivering (the vCPU's thread) ----------------------------------------------- */

/* Ask for an INT_READY exit: the guest has IF = 0 or a shadow. */
static void
irq_request_window(struct toy_cpu *cpu)
{
	struct nvmm_machine *mach = &cpu->vm->mach;
	struct nvmm_vcpu *vcpu = &cpu->vcpu;

	if (nvmm_vcpu_getstate(mach, vcpu, NVMM_X64_STATE_INTR) == -1)
		err(1, "nvmm_vcpu_getstate(INTR)");
	vcpu->state->intr.int_window_exiting = 1;
	nvmm_vcpu_setstate(mach, vcpu, NVMM_X64_STATE_INTR);
}

/* Pick the event to inject now; false if none can go in this run. */
static bool
irq_pick(struct toy_cpu *cpu, struct nvmm_vcpu_event *ev)
{
	const struct nvmm_x86_exit_state *es = &cpu->vcpu.exit->exitstate;
	struct toy_irq *irq = &cpu->irq;
	int vector;

	if (irq->excp) {
		irq->excp = false;
		ev->type = NVMM_VCPU_EVENT_EXCP;
		ev->vector = irq->excp_vector;
		ev->u.excp.error = irq->excp_error;
		return true;
	}
	if (irq->nmi) {
		irq->nmi = false;
		ev->type = NVMM_VCPU_EVENT_INTR;
		ev->vector = VEC_NMI;
		return true;
	}
	if (irq->intr == 0)
		return false;
	if (!(es->rflags & RFLAGS_IF) || es->int_shadow) {
		if (!es->int_window_exiting)
			irq_request_window(cpu);
		return false;
	}
	vector = 63 - __builtin_clzll(irq->intr);	/* highest first */
	irq->intr &= ~(1ULL << vector);
	ev->type = NVMM_VCPU_EVENT_INTR;
	ev->vector = (uint8_t)(vector + VEC_FIRST_INTR);
	return true;
}

void
irq_deliver(struct toy_cpu *cpu)
{
	struct nvmm_vcpu *vcpu = &cpu->vcpu;
	struct nvmm_vcpu_event ev = { 0 };
	bool inject;

	/* Before the first run there is no exit state; IF is 0 anyway. */
	if (cpu->stats.exits == 0 || vcpu->exit->exitstate.evt_pending)
		return;
	pthread_mutex_lock(&cpu->irq.lock);
	inject = irq_pick(cpu, &ev);
	if (inject)
		cpu->irq.injected[ev.vector]++;
	pthread_mutex_unlock(&cpu->irq.lock);
	if (inject) {
		*vcpu->event = ev;
		nvmm_vcpu_inject(&cpu->vm->mach, vcpu);
	}
}

/* ---- Halted vCPUs ---------------------------------------------------------------- */

static bool
irq_any(const struct toy_irq *irq)
{
	return irq->excp || irq->nmi || irq->intr != 0;
}

void
irq_wait(struct toy_cpu *cpu)
{
	pthread_mutex_lock(&cpu->irq.lock);
	while (!irq_any(&cpu->irq) && !atomic_load(&cpu->vm->stopping))
		pthread_cond_wait(&cpu->irq.cond, &cpu->irq.lock);
	pthread_mutex_unlock(&cpu->irq.lock);
}

void
irq_wake(struct toy_cpu *cpu)
{
	pthread_mutex_lock(&cpu->irq.lock);
	pthread_cond_broadcast(&cpu->irq.cond);
	pthread_mutex_unlock(&cpu->irq.lock);
}
