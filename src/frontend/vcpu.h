/*
 * The vCPU entry points every exit makes, inline in libnvmm's: the
 * bodies of run, getstate and setstate (their entry points in libnvmm.c
 * are the lookup's fast half, lookup.h, and one of these), and the
 * assists' begin and end. Each body ends with the put; when the fast
 * half finds nothing, its twin in vcpu.c does the same through the slow
 * half, which also gives the errors. The rest of the vCPU entry points
 * are in vcpu.c.
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
int fe_assist_begin_slow(const struct nvmm_machine *,
    const struct nvmm_vcpu *, struct fe_assist *, struct fe_io_access *,
    struct nvmm_mem *);

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
 * are installed by the next run (committed). No lock: the comm page is
 * the calling thread's, as NVMM documents. The use goes back.
 */
static inline int
fe_vcpu_setstate_on(struct fe_vcpu *v, uint64_t flags)
{
	int error = 0;

	if ((flags & ~(uint64_t)NVMM_X64_STATE_ALL) != 0) {
		error = EINVAL;
	} else {
		v->comm.state_commit |= flags;
		/* Apart: GCC's vectorizer would make five instructions of two. */
		__asm__("" ::: "memory");
		v->comm.state_cached |= flags;
	}
	return fe_vcpu_give(v, false, error);
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
 * assist. The use and the lock are kept across the callbacks; these may
 * still run, stop or read the state of this vCPU: a locked take on this
 * thread, of the vCPU it assists, borrows the assist's lock and gives it
 * back with its own put (fe_vcpu_borrow); the end then takes it again.
 */
static inline int
fe_assist_begin_on(struct fe_vcpu *v, struct fe_assist *as,
    struct fe_io_access *io, struct nvmm_mem *mem)
{
	int error;

	error = io != NULL ? fe_impl->vcpu_io_access(v, io) :
	    fe_impl->vcpu_mem_access(v, mem);
	if (error != 0) {
		return fe_vcpu_give(v, true, error);
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
	struct fe_vcpu *v = fe_vcpu_take_fast(mach, vcpu, true);

	if (v == NULL)
		return fe_assist_begin_slow(mach, vcpu, as, acc, NULL);
	return fe_assist_begin_on(v, as, acc, NULL);
}

static inline int
fe_vcpu_mem_begin(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, struct nvmm_mem *acc,
    struct fe_assist *as)
{
	struct fe_vcpu *v = fe_vcpu_take_fast(mach, vcpu, true);

	if (v == NULL)
		return fe_assist_begin_slow(mach, vcpu, as, NULL, acc);
	return fe_assist_begin_on(v, as, NULL, acc);
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
	return fe_vcpu_give(v, true, error);
}

#endif /* NVMM_FE_VCPU_H */
