/*
 * MI frontend: the entry points that work on one live vCPU, once
 * fe_vcpu_take looked its handles up: configuration, CPUID, events, the
 * comm page, stop. Those every exit makes are inline in vcpu.h.
 */
#include <errno.h>
#include <string.h>

#include "vcpu.h"

/* ---- Configuration ------------------------------------------------------------------ */

int
fe_vcpu_configure(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    uint64_t op, void *conf)
{
	struct fe_vcpu *v;
	uint64_t md = NVMM_VCPU_CONF_MD(op);
	int error;

	if (fe_impl == NULL)
		return EBADF;
	/* As NVMM: the op range is checked before the machine and vCPU. */
	if (op < NVMM_VCPU_CONF_MD_BEGIN || md >= fe_impl->vcpu_conf_max)
		return EINVAL;
	if ((v = fe_vcpu_take(mach, vcpu, true, &error)) == NULL)
		return error;
	error = conf == NULL ? EFAULT : fe_impl->vcpu_configure(v, md, conf);
	return fe_vcpu_give(v, true, error);
}

int
fe_vcpu_cpuid(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    uint32_t leaf, uint32_t index, uint32_t regs[4])
{
	struct fe_vcpu *v;
	int error;

	if (fe_impl == NULL)
		return EBADF;
	if (fe_impl->vcpu_cpuid == NULL)
		return ENOTSUP;
	if ((v = fe_vcpu_take(mach, vcpu, true, &error)) == NULL)
		return error;
	error = fe_impl->vcpu_cpuid(v, leaf, index, regs);
	return fe_vcpu_give(v, true, error);
}

/* ---- Events from any thread ---------------------------------------------------------- */

/*
 * NVMM's kernel reads the comm page's event at each guest entry and comes
 * back to user space at host scheduling points, so an event committed by
 * another thread goes in soon, even while the guest spins. Here the run
 * sits in KVM_RUN, so nvmm_vcpu_inject() copies the event into the box
 * and kicks the vCPU as a stop does, without the stop word: the run ends
 * as NONE, and the next one injects the event. The copy is written with
 * plain atomic stores (signal handlers inject too); the run checks the
 * box with one load at each run and each guest entry, where it takes an
 * event posted while it started (run.c).
 */
static void
fe_event_post(struct fe_event_box *b, const struct nvmm_vcpu_event *ev)
{
	atomic_fetch_add_explicit(&b->seq, 1, memory_order_relaxed);	/* odd */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&b->type, ev->type, memory_order_relaxed);
	atomic_store_explicit(&b->vector, ev->vector, memory_order_relaxed);
	atomic_store_explicit(&b->error, ev->u.excp.error,
	    memory_order_relaxed);
	/* Even again; ordered before the kick's look at the run (run.c). */
	atomic_fetch_add(&b->seq, 1);
}

/*
 * With the vCPU's lock: the posted event becomes the one the next entry
 * injects, replacing one not yet injected (NVMM has one event slot). A
 * copy being written is left where it is, rather than wait here for
 * another thread: its post kicks the run when it is done.
 */
void
fe_event_take(struct fe_vcpu *v)
{
	struct fe_event_box *b = &v->box;
	struct nvmm_vcpu_event ev;
	unsigned int seq;

	memset(&ev, 0, sizeof(ev));
	seq = atomic_load_explicit(&b->seq, memory_order_acquire);
	ev.type = atomic_load_explicit(&b->type, memory_order_relaxed);
	ev.vector = atomic_load_explicit(&b->vector, memory_order_relaxed);
	ev.u.excp.error = atomic_load_explicit(&b->error,
	    memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if ((seq & 1) != 0 ||
	    seq != atomic_load_explicit(&b->seq, memory_order_relaxed))
		return;
	v->box_taken = seq;
	v->event = ev;
	v->event_commit = true;
}

int
fe_vcpu_inject(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_vcpu *v;
	int error;

	/* No vCPU lock: the run holds it, and signal handlers come here. */
	if ((v = fe_vcpu_take(mach, vcpu, false, &error)) == NULL)
		return error;
	fe_event_post(&v->box, &v->comm.event);
	fe_impl->vcpu_kick(v);
	return fe_vcpu_give(v, false, 0);
}

/* ---- Comm page, stop ------------------------------------------------------------------- */

int
fe_vcpu_comm(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    struct nvmm_comm_page **commp)
{
	struct fe_vcpu *v;
	int error;

	if ((v = fe_vcpu_take(mach, vcpu, false, &error)) == NULL)
		return error;
	*commp = &v->comm;
	return fe_vcpu_give(v, false, 0);
}

int
fe_vcpu_stop(const struct nvmm_vcpu *vcpu)
{
	struct fe_stop_cell *cell;
	struct fe_vcpu *v;
	int error = EINVAL;

	if (fe_impl == NULL)
		return EBADF;
	if (vcpu == NULL || vcpu->stop == NULL)
		return EINVAL;
	/* No lookup: this runs in signal handlers. The cell never goes away. */
	cell = (struct fe_stop_cell *)(uintptr_t)vcpu->stop;
	if (cell->magic != FE_CELL_MAGIC)
		return EINVAL;
	/* Counted in first: a destroy waits for us before freeing the vCPU. */
	atomic_fetch_add(&cell->stoppers, 1);
	if ((v = atomic_load(&cell->vcpu)) != NULL) {
		fe_vcpu_kick(v);
		error = 0;
	}
	atomic_fetch_sub(&cell->stoppers, 1);
	return error;
}

/* ---- The per-exit entry points' slow twins (vcpu.h) -------------------------------- */

int
fe_vcpu_getstate_slow(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, uint64_t wanted)
{
	struct fe_taken t = fe_vcpu_take_slow(mach, vcpu, false);

	return t.v == NULL ? t.error : fe_vcpu_getstate_on(t.v, wanted, false);
}

int
fe_vcpu_setstate_slow(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, uint64_t flags)
{
	struct fe_taken t = fe_vcpu_take_slow(mach, vcpu, false);

	if (t.v == NULL)
		return t.error;
	return fe_vcpu_give(t.v, false, fe_vcpu_setstate_on(t.v, flags));
}

int
fe_vcpu_run_slow(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_taken t = fe_vcpu_take_slow(mach, vcpu, true);

	return t.v == NULL ? t.error : fe_vcpu_run_on(t.v);
}
