/*
 * The vCPU entry points every exit makes, inline in libnvmm's: run,
 * getstate, setstate, and the assists' begin and end. Each is a lookup
 * (lookup.h), the backend's op and a put; the errors and the rest of the
 * vCPU entry points are in vcpu.c.
 */
#ifndef NVMM_FE_VCPU_H
#define NVMM_FE_VCPU_H

#include <errno.h>

#include "frontend.h"
#include "lookup.h"
#include "machine.h"

/*
 * Fetch the classes in 'wanted' that are not cached into the comm page
 * (they become cached); EINVAL for unknown classes. Only a fetch takes
 * the lock: a cached class is the caller's.
 */
static inline int
fe_vcpu_getstate(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, uint64_t wanted)
{
	struct fe_vcpu *v;
	int error = 0;

	if ((v = fe_vcpu_take(mach, vcpu, false, &error)) == NULL)
		return error;
	if ((wanted & ~(uint64_t)NVMM_X64_STATE_ALL) != 0) {
		error = EINVAL;
	} else if ((wanted & ~v->comm.state_cached) != 0) {
		fe_vcpu_lock(v);
		v->comm.state_wanted = wanted & ~v->comm.state_cached;
		error = fe_impl->vcpu_getstate(v);
		v->comm.state_wanted = 0;
		fe_vcpu_unlock(v);
	}
	fe_vcpu_give(v, false);
	return error;
}

/*
 * NVMM's comm-page protocol: the classes become the caller's (cached) and
 * are installed by the next run (committed). No lock: the comm page is
 * the calling thread's, as NVMM documents.
 */
static inline int
fe_vcpu_setstate(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, uint64_t flags)
{
	struct fe_vcpu *v;
	int error = 0;

	if ((v = fe_vcpu_take(mach, vcpu, false, &error)) == NULL)
		return error;
	if ((flags & ~(uint64_t)NVMM_X64_STATE_ALL) != 0) {
		error = EINVAL;
	} else {
		v->comm.state_commit |= flags;
		v->comm.state_cached |= flags;
	}
	fe_vcpu_give(v, false);
	return error;
}

static inline int
fe_vcpu_run(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_vcpu *v;
	int error = 0;

	if ((v = fe_vcpu_take(mach, vcpu, true, &error)) == NULL)
		return error;
	if (fe_event_posted(v))
		fe_event_take(v);
	error = fe_impl->vcpu_run(v->mach, v, &v->exit);
	/* As NetBSD: a stop request lasts until the run returns. */
	__atomic_store_n(&v->cell->stop, 0, __ATOMIC_SEQ_CST);
	fe_vcpu_give(v, true);
	return error;
}

/* ---- Assists ------------------------------------------------------------------------------ */

/*
 * One lookup per assist: PIO and MMIO exits are the commonest, and a
 * lookup of its own for the end would cost as much as the rest of the
 * assist. The use and the lock are kept across the callbacks; these may
 * still run, stop or read the state of this vCPU: a locked take on this
 * thread, of the vCPU it assists, borrows the assist's lock and gives it
 * back with its own put (fe_vcpu_borrow); the end then takes it again.
 */
static inline int
fe_assist_begin(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    struct fe_assist *as, struct fe_io_access *io, struct fe_mem_access *mem)
{
	struct fe_vcpu *v;
	int error = 0;

	if ((v = fe_vcpu_take(mach, vcpu, true, &error)) == NULL)
		return error;
	error = io != NULL ? fe_impl->vcpu_io_access(v, io) :
	    fe_impl->vcpu_mem_access(v, mem);
	if (error != 0) {
		fe_vcpu_give(v, true);
		return error;
	}
	as->v = v;
	as->locked = true;
	as->outer = fe_assists;
	fe_assists = as;
	return 0;
}

static inline int
fe_vcpu_io_begin(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, struct fe_io_access *acc,
    struct fe_assist *as)
{
	return fe_assist_begin(mach, vcpu, as, acc, NULL);
}

static inline int
fe_vcpu_mem_begin(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, struct fe_mem_access *acc,
    struct fe_assist *as)
{
	return fe_assist_begin(mach, vcpu, as, NULL, acc);
}

/* Whether the access was served; the lock and the use go back. */
static inline int
fe_vcpu_assist_end(struct fe_assist *as, bool served)
{
	struct fe_vcpu *v = as->v;
	int error = 0;

	fe_assists = as->outer;
	if (!as->locked)
		fe_vcpu_lock(v);	/* lent to a callback, which gave it back */
	if (served)
		error = fe_impl->vcpu_access_done(v);
	fe_vcpu_give(v, true);
	return error;
}

#endif /* NVMM_FE_VCPU_H */
