/*
 * The vCPU lookup's fast half: inline in the entry points every exit
 * makes (run, getstate, setstate, the assists), so that a lookup and its
 * put cost a compare-and-swap and a fetch-and-sub, not two calls. The
 * slow half (errors in NVMM's order, contention, destroys) and the slot
 * words' lifetimes are in machine.c ("Slot words").
 *
 * A vCPU's slot word holds its uses and its lock at once:
 *
 *	bits 63-28	the machine's cookie; 0: none
 *	bit 27		LIVE: lookups may take uses
 *	bit 26		DYING: a destroy waits for the uses to drain
 *	bit 25		WAITED: a thread sleeps for the lock (futex, low half)
 *	bit 24		OWNED: the vCPU's lock is held
 *	bits 23-0	uses: entry points at work on the vCPU
 *
 * A machine handle's opaque areas field holds the key: the cookie and
 * LIVE as a free word of that machine holds them. The fast take expects
 * the word to be that key exactly (no uses, lock free, not dying) and
 * swaps in the use with one compare-and-swap; the slow half compares
 * from DYING up for a use, taking the lock apart. The machine words
 * (machine.c) have the same layout without the lock.
 */
#ifndef NVMM_FE_LOOKUP_H
#define NVMM_FE_LOOKUP_H

#include "nvmm_impl.h"

#define FE_USES		((UINT64_C(1) << 24) - 1)
#define FE_OWNED_SHIFT	24
#define FE_OWNED	(UINT64_C(1) << FE_OWNED_SHIFT)
#define FE_WAITED	(UINT64_C(1) << 25)
#define FE_DYING_SHIFT	26
#define FE_DYING	(UINT64_C(1) << FE_DYING_SHIFT)
#define FE_LIVE		(UINT64_C(1) << 27)
#define FE_COOKIE_SHIFT	28
#define FE_COOKIES	(~UINT64_C(0) << FE_COOKIE_SHIFT)
#define FE_KEY(cookie)	((uint64_t)(cookie) << FE_COOKIE_SHIFT | FE_LIVE)

/*
 * One per (machine id, vCPU id), indexed by vCPU id first: a machine's
 * slots are 2 KiB apart, so its vCPUs do not share cache lines. vcpu is
 * the slot's vCPU object, set before the word first turns LIVE and kept
 * from then on (type-stable, machine.c).
 */
struct fe_vslot {
	_Atomic uint64_t word;
	struct fe_vcpu *vcpu;
};

/*
 * The table; a fork child starts a fresh one (machine.c). Hidden: within
 * the library, so its address is one RIP-relative operand, not a GOT load.
 */
extern struct fe_vslot *fe_vslots __attribute__((visibility("hidden")));

_Static_assert(NVMM_MAX_MACHINES == NVMM_MAX_VCPUS &&
    (NVMM_MAX_VCPUS & (NVMM_MAX_VCPUS - 1)) == 0,
    "one bound check covers both ids");

/* The slot of (machine id, vCPU id), both in range. */
static inline struct fe_vslot *
fe_vslot_at(nvmm_machid_t id, nvmm_cpuid_t cpuid)
{
	/* Two shifts, not a shift of the sum: one copy of a register less. */
	return (struct fe_vslot *)((uintptr_t)fe_vslots +
	    ((uintptr_t)cpuid << 11) + ((uintptr_t)id << 4));
}
_Static_assert(sizeof(struct fe_vslot) == 1 << 4 &&
    NVMM_MAX_MACHINES * sizeof(struct fe_vslot) == 1 << 11,
    "fe_vslot_at's shifts: cpuid * NVMM_MAX_MACHINES + id, in slots");

/*
 * machine.c: the slow halves. The take's result comes back in registers
 * (two words): no variable of the inline callers goes to memory for it.
 */
struct fe_taken {
	struct fe_vcpu *v;	/* NULL: error */
	int error;
};
struct fe_taken fe_vcpu_take_slow(const struct nvmm_machine *,
    const struct nvmm_vcpu *, bool lock);
int fe_vslot_give_slow(struct fe_vslot *, uint64_t old, uint64_t drop,
    int ret);
void fe_vcpu_lock_slow(struct fe_vslot *);

/*
 * Take drop (uses, and OWNED if held) off the word. A destroy waiting
 * for the last use, or a thread waiting for the lock, is woken by the
 * slow half. The slot outlives the vCPU: only it is touched. Returns
 * ret, the caller's result, which goes through the slow half's call:
 * the caller keeps nothing across it, so needs no register saved for it.
 */
static inline int
fe_vslot_give(struct fe_vslot *s, uint64_t drop, int ret)
{
	uint64_t old;

	old = atomic_fetch_sub_explicit(&s->word, drop, memory_order_release);
	if (__builtin_expect((old & (FE_DYING |
	    ((drop & FE_OWNED) != 0 ? FE_WAITED : 0))) != 0, 0))
		return fe_vslot_give_slow(s, old, drop, ret);
	return ret;
}

/*
 * The slot the handles name, for the fast looks, which trust nothing in
 * them: false for no handle or ids out of range (the slow half says
 * which). A flag, not a NULL slot: the compiler cannot tell that a slot's
 * address is never NULL, and would test it again.
 */
static inline bool
fe_vslot_named(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    struct fe_vslot **s)
{
	nvmm_machid_t id;
	nvmm_cpuid_t cpuid;

	if (__builtin_expect(mach == NULL || vcpu == NULL, 0))
		return false;
	id = mach->machid;
	cpuid = vcpu->cpuid;
	if (__builtin_expect((id | cpuid) >= NVMM_MAX_VCPUS, 0))
		return false;
	*s = fe_vslot_at(id, cpuid);
	return true;
}

/*
 * Whether the handle is not v's: a stale one names an earlier creation's
 * stop cell, a damaged one another state page. The hint is in here: on
 * the call, GCC laid the second test out of line, an instruction more.
 */
static inline bool
fe_vcpu_handle_foreign(const struct nvmm_vcpu *vcpu, const struct fe_vcpu *v)
{
	return __builtin_expect(vcpu->stop != &v->cell->stop ||
	    vcpu->state != &v->comm.state, 0);
}

/*
 * The fast half of a lookup: a use of the vCPU the handles name, and its
 * lock if asked for. It assumes valid handles of a LIVE vCPU that nobody
 * uses or locks (the common case: the vCPU's own thread, between calls);
 * on anything else, the errors included, it returns NULL having taken
 * nothing, and the caller must go to fe_vcpu_take_slow, which checks it
 * all again. It calls nothing, so that the entry points' fast paths need
 * no frame.
 */
static inline struct fe_vcpu *
fe_vcpu_take_fast(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, bool lock)
{
	struct fe_vslot *s;
	struct fe_vcpu *v;
	uint64_t w, taken;

	if (!fe_vslot_named(mach, vcpu, &s))
		return NULL;
	/*
	 * The word the handle's key promises when nobody else is at work:
	 * its cookie, LIVE (set here: a handle's key is not to be trusted),
	 * no uses, no lock, not dying. The compare-and-swap checks all that
	 * and takes the use (and the lock) at once.
	 */
	taken = ((uintptr_t)mach->areas & FE_COOKIES) +
	    (FE_LIVE + 1 + (lock ? FE_OWNED : 0));
	w = taken - (1 + (lock ? FE_OWNED : 0));
	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(&s->word,
	    &w, taken, memory_order_acquire, memory_order_relaxed), 0))
		return NULL;
	v = s->vcpu;
	/*
	 * This creation's stop cell (stale handles), intact. If not, the
	 * use goes back without a look at waiters: the slow half, which the
	 * caller calls next, wakes any (fe_vslot_settle).
	 */
	if (fe_vcpu_handle_foreign(vcpu, v)) {
		atomic_fetch_sub_explicit(&s->word, 1 + (lock ? FE_OWNED : 0),
		    memory_order_release);
		return NULL;
	}
	return v;
}

/*
 * The vCPU the handles name, checked as the fast take checks it but
 * without taking a use: for setstate, which only touches its comm page,
 * which NVMM leaves to the vCPU's thread. vCPU objects are type-stable (machine.c, "vCPU
 * objects"), so the pointer stays valid even if a destroy races the
 * caller. The word may show uses and the lock of other threads; DYING or
 * anything else gives NULL, and the caller goes to the slow half, which
 * takes a use.
 */
static inline struct fe_vcpu *
fe_vcpu_peek(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_vslot *s;
	struct fe_vcpu *v;
	uint64_t w;

	if (!fe_vslot_named(mach, vcpu, &s))
		return NULL;
	/* Acquire: the creation's writes of the vCPU, before it turned LIVE. */
	w = atomic_load_explicit(&s->word, memory_order_acquire);
	if (__builtin_expect(((w ^ ((uintptr_t)mach->areas | FE_LIVE)) >>
	    FE_DYING_SHIFT) != 0, 0))
		return NULL;
	v = s->vcpu;
	if (fe_vcpu_handle_foreign(vcpu, v))
		return NULL;
	return v;
}

/* Both halves: the vCPU, or NULL and *error. */
static inline struct fe_vcpu *
fe_vcpu_take(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    bool lock, int *error)
{
	struct fe_vcpu *v = fe_vcpu_take_fast(mach, vcpu, lock);
	struct fe_taken t;

	if (v != NULL)
		return v;
	t = fe_vcpu_take_slow(mach, vcpu, lock);
	*error = t.error;
	return t.v;
}

/*
 * Give the use back (and the lock, if taken with it); v may go then.
 * Returns ret (fe_vslot_give).
 */
static inline int
fe_vcpu_give(struct fe_vcpu *v, bool locked, int ret)
{
	return fe_vslot_give(v->slot, 1 + (locked ? FE_OWNED : 0), ret);
}

/* The lock, for a thread that holds a use; fe_vcpu_give(v, true, ret) gives both. */
static inline void
fe_vcpu_lock(struct fe_vcpu *v)
{
	struct fe_vslot *s = v->slot;
	uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);

	if (__builtin_expect((w & (FE_OWNED | FE_WAITED)) != 0 ||
	    !atomic_compare_exchange_strong_explicit(&s->word, &w,
	    w + FE_OWNED, memory_order_acquire, memory_order_relaxed), 0))
		fe_vcpu_lock_slow(s);
}

#endif /* NVMM_FE_LOOKUP_H */
