/*
 * The vCPU entry points every exit makes, inline in libnvmm's: the
 * bodies of run, getstate and setstate (their entry points in libnvmm.c
 * are the lookup's fast half, lookup.h, and one of these), and the
 * assists' steps around their callbacks. Each body ends with the put;
 * when the fast half finds nothing, its twin in vcpu.c does the same
 * through the slow half, which also gives the errors. The rest of the
 * vCPU entry points are in vcpu.c.
 */
#ifndef NVMM_FE_VCPU_H
#define NVMM_FE_VCPU_H

#include <errno.h>

#include "frontend.h"
#include "lookup.h"
#include "machine.h"

/* vcpu.c: the entry points below, through the lookup's slow half. */
int fe_vcpu_getstate_slow(const struct nvmm_machine *,
    const struct nvmm_vcpu *, uint64_t wanted);
int fe_vcpu_setstate_slow(const struct nvmm_machine *,
    const struct nvmm_vcpu *, uint64_t flags);
int fe_vcpu_run_slow(const struct nvmm_machine *, const struct nvmm_vcpu *);

/* ---- State ------------------------------------------------------------------------------ */

/*
 * Fetch the classes in 'wanted' that are not cached into the comm page
 * (they become cached); EINVAL for unknown classes. Only a fetch needs
 * the lock: a cached class is the caller's. With the lock (locked), or
 * a use alone; both go back.
 */
static inline int
fe_vcpu_getstate_on(struct fe_vcpu *v, uint64_t wanted, bool locked)
{
	int error = 0;

	if ((wanted & ~(uint64_t)NVMM_X64_STATE_ALL) != 0) {
		error = EINVAL;
	} else if ((wanted & ~v->comm.state_cached) != 0) {
		if (!locked)
			fe_vcpu_lock(v);
		locked = true;
		v->comm.state_wanted = wanted & ~v->comm.state_cached;
		error = fe_impl->vcpu_getstate(v);
		v->comm.state_wanted = 0;
	}
	return fe_vcpu_give(v, locked, error);
}

/*
 * NVMM's comm-page protocol: the classes become the caller's (cached) and
 * are installed by the next run (committed). No lock and no use: the
 * comm page is the calling thread's, as NVMM documents, and v is
 * type-stable (fe_vcpu_peek).
 */
static inline int
fe_vcpu_setstate_on(struct fe_vcpu *v, uint64_t flags)
{
	if ((flags & ~(uint64_t)NVMM_X64_STATE_ALL) != 0)
		return EINVAL;
	v->comm.state_commit |= flags;
	/* Apart: GCC's vectorizer would make five instructions of two. */
	__asm__("" ::: "memory");
	v->comm.state_cached |= flags;
	return 0;
}

/* ---- Run ----------------------------------------------------------------------------------- */

/* With the vCPU's lock, which goes back with the use. */
static inline int
fe_vcpu_run_on(struct fe_vcpu *v)
{
	int error;

	if (fe_event_posted(v))
		fe_event_take(v);
	error = fe_impl->vcpu_run(v->mach, v, &v->exit);
	/*
	 * As NetBSD: a stop request lasts until the run returns. A plain
	 * store: the next run's stop check comes after its seq_cst store
	 * of 'running' (run.c), which orders this clear before it, and a
	 * stop set after the clear is seen there or kicks the run.
	 */
	__atomic_store_n(&v->cell->stop, 0, __ATOMIC_RELEASE);
	return fe_vcpu_give(v, true, error);
}

/* ---- Assists ------------------------------------------------------------------------------ */

/*
 * One lookup per assist: PIO and MMIO exits are the commonest, and a
 * lookup of its own for the end would cost as much as the rest of the
 * assist. The assist (libnvmm's) takes the vCPU with its lock
 * (fe_vcpu_take) and keeps both across the callbacks, reading the access
 * in place (v->access); these may still run, stop or read the state of
 * this vCPU: a locked take on this thread, of the vCPU it assists, borrows
 * the assist's lock and gives it back with its own put (fe_vcpu_borrow),
 * and the assist takes it again when they return (fe_assist_leave).
 */
static inline void
fe_assist_enter(struct fe_assist *as, struct fe_vcpu *v)
{
	as->v = v;
	as->locked = true;
	as->outer = fe_assists;
	fe_assists = as;
}

/* After the callbacks: the vCPU's lock is the assist's again. */
static inline void
fe_assist_leave(struct fe_assist *as)
{
	fe_assists = as->outer;
	if (!as->locked)
		fe_vcpu_lock(as->v);	/* lent to a callback, which gave it back */
}

#endif /* NVMM_FE_VCPU_H */
