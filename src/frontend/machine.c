/*
 * MI frontend: the process's machine table, machine and vCPU lifetimes,
 * handle validation and ownership, machine configuration, and the slow
 * half of the vCPU lookup (its fast half is lookup.h). The entry points
 * that work on one live vCPU are in vcpu.c and vcpu.h.
 *
 * Locking: a handle lookup takes no lock. It takes a use of the object's
 * slot word (see "Slot words"); a destroy marks the word dying, kicks the
 * vCPUs, and waits until the last user put it back before freeing (a
 * machine) or tearing down (a vCPU, whose object stays for the next
 * creation in its slot: setstate takes no use, see "vCPU objects"). fe_lock
 * guards creation and destruction: the table, every machine's vCPU array,
 * the words' transitions other than uses and the vCPU lock. Each vCPU's
 * lock, a bit of its slot word, serialises run, fetching getstate and the
 * assists, as NVMM's per-vCPU lock does.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"
#include "lookup.h"
#include "machine.h"

const struct nvmm_impl *fe_impl;
static bool fe_root;

static pthread_mutex_t fe_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fe_released = PTHREAD_COND_INITIALIZER;	/* fe_lock */
static struct fe_machine *fe_machines[NVMM_MAX_MACHINES];
static uint64_t fe_cookies;	/* the last creation's cookie (fe_lock) */

/* The backends, in probe order. */
static const struct nvmm_impl *const fe_backends[] = {
	&nvmm_x86_svm,
	&nvmm_x86_vmx,
};

/* ---- Slot words --------------------------------------------------------------- */

/*
 * Every entry point looks its handles up (a PIO exit makes three lookups),
 * so a lookup takes no lock: it takes a use of a slot word, an atomic word
 * in memory that outlives the object whose uses it counts (its layout is
 * in lookup.h: cookie, LIVE, DYING, and for a vCPU its lock, OWNED and
 * WAITED, above the uses, at most two per thread: Linux has fewer than
 * 2^22 threads).
 *
 * A lookup adds a use to a LIVE word with the handle's cookie in one
 * compare-and-swap, then reads the object's pointer, which stays valid
 * until it gives the use back. A destroy, with fe_lock, turns LIVE into
 * DYING, so that lookups fail as if the object were gone, and sleeps until
 * the uses drain: only the put of the last use of a DYING word takes
 * fe_lock, to wake it (or the slow half of a lookup: fe_vslot_settle).
 * The table and the vCPU arrays change only before a
 * word turns LIVE and after its uses drained, so lookups read them unlocked.
 *
 * A machine word counts the machine-level uses (memory, configuration, vCPU
 * creation and destruction); each (machine, vCPU id) has its own slot, and
 * a vCPU use keeps its machine alive too: a machine destroy turns the vCPU
 * words DYING as well and waits for them. A vCPU lookup is thus one atomic
 * operation, on a word the machine's other vCPUs do not touch, and so is
 * its put: the vCPU's lock is in the same word (OWNED), taken with the use
 * in the same compare-and-swap and given back with it in one fetch-and-sub,
 * whose old value says whether a destroy or a locker waits. A thread that
 * finds the lock held marks the word WAITED and sleeps on it; an entry
 * point called from an assist's callback borrows the assist's lock
 * (fe_vcpu_lock_slow).
 *
 * A fork child inherits uses of the forking thread, which may still give
 * them back (a signal handler that forks during a call): machine words
 * are cleared there, and their cookie tells such a put to skip; vCPU puts
 * skip no check, so the child takes a fresh vCPU table instead, and the
 * parent's stays where those puts land (see fe_fork_child).
 */
#define FE_COOKIE_MAX	((UINT64_MAX >> FE_COOKIE_SHIFT) - 1)
#define FE_COOKIE(w)	((w) >> FE_COOKIE_SHIFT)

#define FE_VSLOTS	(NVMM_MAX_VCPUS * NVMM_MAX_MACHINES)

static _Atomic uint64_t fe_mwords[NVMM_MAX_MACHINES];
__thread struct fe_assist *fe_assists;
static struct fe_vslot fe_vslot_table[FE_VSLOTS];
struct fe_vslot *fe_vslots = fe_vslot_table;

/* A use of a LIVE word of this key: 0, ESRCH (not LIVE) or ENOENT. */
static int
fe_use_take(_Atomic uint64_t *word, uint64_t key)
{
	uint64_t w = atomic_load_explicit(word, memory_order_relaxed);

	do {
		if ((w & FE_LIVE) == 0)
			return ESRCH;
		if (((w ^ key) >> FE_DYING_SHIFT) != 0)
			return ENOENT;
	} while (!atomic_compare_exchange_weak_explicit(word, &w, w + 1,
	    memory_order_acquire, memory_order_relaxed));
	return 0;
}

/* Wake the destroys sleeping in fe_use_wait. */
static void __attribute__((noinline))
fe_wake(void)
{
	pthread_mutex_lock(&fe_lock);
	pthread_cond_broadcast(&fe_released);
	pthread_mutex_unlock(&fe_lock);
}

/*
 * Give a machine use back. Once it is given, the machine may be freed:
 * the caller read the cookie before, and only static memory is touched
 * after.
 */
static void
fe_use_drop(_Atomic uint64_t *word, uint64_t cookie)
{
	uint64_t w = atomic_load_explicit(word, memory_order_relaxed);

	do {
		if (FE_COOKIE(w) != cookie)
			return;		/* cleared by fork: not ours to count */
	} while (!atomic_compare_exchange_weak_explicit(word, &w, w - 1,
	    memory_order_release, memory_order_relaxed));
	if ((w & FE_DYING) != 0 && (w & FE_USES) == 1)
		fe_wake();
}

/* The vCPU lock's sleeps, on the word's low half (the kernel's futex). */
static uint32_t *
fe_vslot_futex(struct fe_vslot *s)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return (uint32_t *)&s->word + 1;
#else
	return (uint32_t *)&s->word;
#endif
}

/*
 * An assist of this thread holds the lock of the vCPU in slot s: a
 * callback's entry point takes it over, and its put gives it back; the
 * assist takes it again when the callbacks return (fe_assist_leave, vcpu.h).
 */
static bool
fe_vcpu_borrow(const struct fe_vslot *s)
{
	for (struct fe_assist *as = fe_assists; as != NULL; as = as->outer) {
		if (as->v->slot == s && as->locked) {
			as->locked = false;
			return true;
		}
	}
	return false;
}

/*
 * The vCPU lock, contended: mark the word WAITED and sleep until the
 * owner's put wakes us. A change of the uses meanwhile only makes the
 * sleep return early.
 */
void
fe_vcpu_lock_slow(struct fe_vslot *s)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);

	if (fe_vcpu_borrow(s))
		return;
	for (;;) {
		if ((w & FE_OWNED) == 0) {
			if (atomic_compare_exchange_weak_explicit(&s->word, &w,
			    w | FE_OWNED, memory_order_acquire,
			    memory_order_relaxed))
				return;
			continue;
		}
		if ((w & FE_WAITED) == 0 &&
		    !atomic_compare_exchange_weak_explicit(&s->word, &w,
		    w | FE_WAITED, memory_order_relaxed, memory_order_relaxed))
			continue;
		(void)syscall(SYS_futex, fe_vslot_futex(s), FUTEX_WAIT_PRIVATE,
		    (uint32_t)(w | FE_WAITED), NULL, NULL, 0);
		w = atomic_load_explicit(&s->word, memory_order_relaxed);
	}
}

/*
 * After a put whose old word showed waiters: lockers (all woken, they
 * race again and the losers mark the word anew), or the destroy that
 * waits for the last use.
 */
int
fe_vslot_give_slow(struct fe_vslot *s, uint64_t old, uint64_t drop,
    int ret)
{
	if ((drop & FE_OWNED) != 0 && (old & FE_WAITED) != 0) {
		atomic_fetch_and_explicit(&s->word, ~FE_WAITED,
		    memory_order_relaxed);
		(void)syscall(SYS_futex, fe_vslot_futex(s), FUTEX_WAKE_PRIVATE,
		    INT_MAX, NULL, NULL, 0);
	}
	if ((drop & FE_USES) != 0 && (old & FE_DYING) != 0 &&
	    (old & FE_USES) == (drop & FE_USES))
		fe_wake();
	return ret;
}

/*
 * The fast take gives a use back without a look at waiters when the
 * handle then does not match (lookup.h): wake any it may have left
 * waiting. Waking without cause is harmless: lockers and destroys look
 * at the word again. (The slot is the one the handle names when the slow
 * half reads it: a caller that rewrites its handle during the call, a
 * race of its own, could leave a destroy or a locker asleep.)
 */
static void
fe_vslot_settle(struct fe_vslot *s)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);

	if ((w & (FE_OWNED | FE_WAITED)) == FE_WAITED)
		(void)fe_vslot_give_slow(s, w, FE_OWNED, 0);
	if ((w & FE_DYING) != 0 && (w & FE_USES) == 0)
		fe_wake();
}

/* With fe_lock held: lookups may take uses of a new object. */
static void
fe_use_publish(_Atomic uint64_t *word, uint64_t cookie)
{
	atomic_store_explicit(word, FE_KEY(cookie), memory_order_release);
}

/*
 * With fe_lock held: no new use from now on. A destroy drops its own use
 * (drop 1) in the same step. ENOENT: not LIVE, another thread destroys it.
 */
static int
fe_use_kill(_Atomic uint64_t *word, uint64_t drop)
{
	uint64_t w = atomic_load_explicit(word, memory_order_relaxed);

	do {
		if ((w & FE_LIVE) == 0)
			return ENOENT;
	} while (!atomic_compare_exchange_weak_explicit(word, &w,
	    ((w & ~FE_LIVE) | FE_DYING) - drop,
	    memory_order_acq_rel, memory_order_relaxed));
	return 0;
}

/* With fe_lock held, after fe_use_kill: until the last use is given back. */
static void
fe_use_wait(_Atomic uint64_t *word)
{
	while ((atomic_load_explicit(word, memory_order_acquire) &
	    FE_USES) != 0)
		pthread_cond_wait(&fe_released, &fe_lock);
}

/*
 * With fe_lock held, once drained: a free vCPU slot. Its vCPU object
 * stays (type-stable, see "vCPU objects").
 */
static void
fe_vslot_clear(struct fe_vslot *s)
{
	atomic_store_explicit(&s->word, 0, memory_order_relaxed);
}

/* With fe_lock held, once drained (or in a fork child): a free machine id. */
static void
fe_slot_clear(nvmm_machid_t machid)
{
	fe_machines[machid] = NULL;
	atomic_store_explicit(&fe_mwords[machid], 0, memory_order_relaxed);
	for (nvmm_cpuid_t i = 0; i < NVMM_MAX_VCPUS; i++) {
		struct fe_vslot *s = fe_vslot_at(machid, i);

		/* Rows of unused ids stay untouched zero pages. */
		if (atomic_load_explicit(&s->word, memory_order_relaxed) != 0)
			fe_vslot_clear(s);
	}
}

/* ---- fork() -------------------------------------------------------------------- */

/*
 * Machines are not inherited across fork(2), as NVMM documents. The child
 * does inherit our descriptors, though: KVM's VM and vCPU descriptors
 * (and the kvm_run mappings) would keep the parent's guest alive after the
 * parent died (the registry drops its own descriptors, see registry.h).
 * The child closes them and forgets the table; the parent's handles then
 * fail in the child with EPERM, as another owner's would. The objects
 * themselves stay: the child's copy of the program may still hold pointers
 * into them (vcpu->state, vcpu->exit), and the forking thread may hold
 * uses of them (a signal handler that forks during a call), which it then
 * gives back: to machine words cleared here, whose cookie 0 tells its puts
 * to skip, and to the parent's vCPU slots, which the child leaves to them
 * and no longer looks up: it takes a fresh table. If it cannot map one,
 * it clears the parent's instead; a put still under way then counts in
 * a vCPU slot of the child's, should one take the same ids meanwhile.
 */
static void
fe_fork_prepare(void)
{
	pthread_mutex_lock(&fe_lock);
}

static void
fe_fork_parent(void)
{
	pthread_mutex_unlock(&fe_lock);
}

static void
fe_machine_forget(struct fe_machine *m)
{
	for (size_t i = 0; i < NVMM_MAX_VCPUS; i++) {
		struct fe_vcpu *v = m->vcpus[i];

		/* A vCPU the backend is still making in another thread. */
		if (v == NULL || v->cpudata == NULL)
			continue;
		fe_impl->vcpu_destroy(m, v);	/* closes, never tears down */
		atomic_store(&v->cell->vcpu, NULL);	/* stop: EINVAL */
	}
	fe_impl->machine_destroy(m);
	m->reg.fd = -1;		/* the registry closed it in the child */
}

static void
fe_fork_child(void)
{
	void *fresh = mmap(NULL, sizeof(fe_vslot_table), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (fresh != MAP_FAILED)
		fe_vslots = fresh;
	else	/* nor does the child make new vCPUs in the parent's objects */
		memset(fe_vslot_table, 0, sizeof(fe_vslot_table));
	for (nvmm_machid_t i = 0; i < NVMM_MAX_MACHINES; i++) {
		if (fe_machines[i] == NULL)
			continue;
		fe_machine_forget(fe_machines[i]);
		/* The uses of the parent's threads went with them. */
		fe_slot_clear(i);
	}
	/* Waiters of the parent's threads do not exist here. */
	fe_released = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	pthread_mutex_unlock(&fe_lock);
}

static void
fe_fork_register(void)
{
	(void)pthread_atfork(fe_fork_prepare, fe_fork_parent, fe_fork_child);
}

/* ---- Process-wide ------------------------------------------------------------ */

int
fe_init(bool root)
{
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	int error = ENXIO;

	if (fe_impl != NULL)
		return 0;
	if (root && geteuid() != 0)
		return EACCES;
	for (size_t i = 0; i < sizeof(fe_backends) / sizeof(fe_backends[0]);
	    i++) {
		error = fe_backends[i]->ident();
		if (error == 0) {
			pthread_once(&atfork_once, fe_fork_register);
			fe_root = root;
			fe_impl = fe_backends[i];
			return 0;
		}
	}
	return error;
}

int
fe_capability(struct nvmm_capability *cap)
{
	if (fe_impl == NULL)
		return EBADF;
	if (cap == NULL)
		return EFAULT;
	memset(cap, 0, sizeof(*cap));
	cap->version = NVMM_KERN_VERSION;
	cap->state_size = sizeof(struct nvmm_x64_state);
	cap->comm_size = (uint32_t)sysconf(_SC_PAGESIZE);
	cap->max_machines = NVMM_MAX_MACHINES;
	cap->max_vcpus = NVMM_MAX_VCPUS;
	cap->max_ram = NVMM_MAX_RAM;
	fe_impl->capability(cap);
	return 0;
}

/* ---- Lookups ---------------------------------------------------------------------- */

/*
 * Why a machine id is not in our table: someone else's (EPERM), nobody's
 * (ENOENT), or the registry's errno when it could not be asked (no
 * descriptor left, an unsafe run directory). Our own entry shows while
 * one of our threads creates or destroys a machine with that id: to a
 * stale handle, that machine does not exist.
 */
static int
fe_holder_why(nvmm_machid_t machid)
{
	pid_t holder;
	int error;

	if ((error = reg_holder(machid, &holder)) != 0)
		return error;
	return holder == getpid() ? ENOENT : EPERM;
}

/* The same for a handle, which only NVMM's two answers fit. */
static int
fe_not_ours(nvmm_machid_t machid)
{
	return fe_holder_why(machid) == EPERM ? EPERM : ENOENT;
}

/*
 * The handle's id, read once: the lookups index with what they checked,
 * even if the caller's struct changes meanwhile.
 */
static int
fe_machine_check(const struct nvmm_machine *mach, nvmm_machid_t *idp)
{
	if (fe_impl == NULL)
		return EBADF;
	if (mach == NULL || (*idp = mach->machid) >= NVMM_MAX_MACHINES)
		return EINVAL;
	return 0;
}

int
fe_machine_get(const struct nvmm_machine *mach, struct fe_machine **mp)
{
	nvmm_machid_t id;
	int error;

	if ((error = fe_machine_check(mach, &id)) != 0)
		return error;
	/* areas holds the key of this creation: stale handles do not match. */
	error = fe_use_take(&fe_mwords[id], (uintptr_t)mach->areas);
	if (error == ESRCH)
		return fe_not_ours(id);
	if (error == 0)
		*mp = fe_machines[id];
	return error;
}

void
fe_machine_put(struct fe_machine *m)
{
	fe_use_drop(&fe_mwords[m->machid], m->cookie);
}

/* Why a vCPU handle found no vCPU, in NVMM's order: machine, id, vCPU. */
static int
fe_vcpu_why(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	fe_machine_put(m);
	return vcpu->cpuid >= NVMM_MAX_VCPUS ? EINVAL : ENOENT;
}

/*
 * fe_vcpu_take's slow half (lookup.h): the same lookup, made again with
 * every check on its own, the errors in NVMM's order, and a lock that may
 * have to be waited for.
 */
struct fe_taken
fe_vcpu_take_slow(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, bool lock)
{
	struct fe_taken t = { NULL, 0 };
	struct fe_vslot *s;
	nvmm_machid_t id;
	nvmm_cpuid_t cpuid;

	if (fe_impl == NULL) {
		t.error = EBADF;
		return t;
	}
	if (vcpu == NULL) {
		t.error = EINVAL;
		return t;
	}
	if ((t.error = fe_machine_check(mach, &id)) != 0)
		return t;
	if ((cpuid = vcpu->cpuid) >= NVMM_MAX_VCPUS) {
		t.error = fe_vcpu_why(mach, vcpu);
		return t;
	}
	s = fe_vslot_at(id, cpuid);
	fe_vslot_settle(s);
	if (fe_use_take(&s->word, (uintptr_t)mach->areas) != 0) {
		t.error = fe_vcpu_why(mach, vcpu);
		return t;
	}
	t.v = s->vcpu;
	if (fe_vcpu_handle_foreign(vcpu, t.v))
		goto gone;
	if (lock) {
		fe_vcpu_lock(t.v);
		/* Destroyed while we waited: its run would wait for ours. */
		if ((atomic_load(&s->word) & FE_DYING) != 0) {
			(void)fe_vslot_give(s, FE_OWNED, 0);
			goto gone;
		}
	}
	return t;
gone:
	(void)fe_vslot_give(s, 1, 0);
	t.v = NULL;
	t.error = ENOENT;
	return t;
}

/*
 * Whether this thread assists v (or, v NULL, any vCPU of m). Each assist
 * holds a use of its vCPU while the emulator's callbacks run, so a destroy
 * of that vCPU or its machine from a callback would wait for itself: it
 * fails with EBUSY.
 */
static bool
fe_assisting(const struct fe_machine *m, const struct fe_vcpu *v)
{
	for (const struct fe_assist *as = fe_assists; as != NULL;
	    as = as->outer) {
		if (as->v->mach == m && (v == NULL || as->v == v))
			return true;
	}
	return false;
}

/* Async-signal-safe: nvmm_vcpu_stop() kicks from signal handlers. */
void
fe_vcpu_kick(struct fe_vcpu *v)
{
	/* Other threads and signal handlers: an atomic store, seen by run. */
	__atomic_store_n(&v->cell->stop, 1, __ATOMIC_SEQ_CST);
	fe_impl->vcpu_kick(v);
}

/* ---- Machines ------------------------------------------------------------------------ */

static void
fe_machine_free(struct fe_machine *m)
{
	free(m->areas);
	free(m);
}

int
fe_machine_create(struct nvmm_machine *mach)
{
	struct fe_machine *m;
	int error;

	if (fe_impl == NULL)
		return EBADF;
	if (mach == NULL)
		return EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ENOMEM;
	if ((error = reg_acquire(&m->reg, NVMM_MAX_MACHINES)) != 0) {
		fe_machine_free(m);
		return error;
	}
	m->machid = m->reg.machid;
	if ((error = fe_impl->machine_create(m)) != 0) {
		reg_release(&m->reg);
		fe_machine_free(m);
		return error;
	}

	pthread_mutex_lock(&fe_lock);
	/* Not the address: malloc hands it out again to the next machine. */
	if (++fe_cookies > FE_COOKIE_MAX)
		fe_cookies = 1;
	m->cookie = fe_cookies;
	fe_machines[m->machid] = m;
	fe_use_publish(&fe_mwords[m->machid], m->cookie);
	pthread_mutex_unlock(&fe_lock);

	memset(mach, 0, sizeof(*mach));
	mach->machid = m->machid;
	mach->pages = m->pages;
	mach->areas = (void *)(uintptr_t)FE_KEY(m->cookie);
	return 0;
}

static void fe_vcpu_teardown(struct fe_machine *, struct fe_vcpu *);

/*
 * With fe_lock held, by a machine destroy: no vCPU lookup from now on, and
 * runs return soon. A vCPU the backend is still making has no LIVE word:
 * it never ran, and never will.
 */
static void
fe_vcpus_kill(struct fe_machine *m)
{
	for (nvmm_cpuid_t i = 0; i < NVMM_MAX_VCPUS; i++) {
		_Atomic uint64_t *word = &fe_vslot_at(m->machid, i)->word;

		(void)fe_use_kill(word, 0);
		if ((atomic_load(word) & FE_DYING) != 0)
			fe_vcpu_kick(m->vcpus[i]);
	}
}

int
fe_machine_destroy(const struct nvmm_machine *mach)
{
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if (fe_assisting(m, NULL)) {
		fe_machine_put(m);
		return EBUSY;
	}
	pthread_mutex_lock(&fe_lock);
	if ((error = fe_use_kill(&fe_mwords[m->machid], 1)) != 0) {
		pthread_mutex_unlock(&fe_lock);
		fe_machine_put(m);
		return error;
	}
	fe_vcpus_kill(m);
	/* Once drained, no word of this machine takes a use again. */
	fe_use_wait(&fe_mwords[m->machid]);
	for (nvmm_cpuid_t i = 0; i < NVMM_MAX_VCPUS; i++)
		fe_use_wait(&fe_vslot_at(m->machid, i)->word);
	fe_slot_clear(m->machid);
	pthread_mutex_unlock(&fe_lock);

	for (size_t i = 0; i < NVMM_MAX_VCPUS; i++) {
		if (m->vcpus[i] != NULL)
			fe_vcpu_teardown(m, m->vcpus[i]);
	}
	fe_impl->machine_destroy(m);
	reg_release(&m->reg);
	fe_machine_free(m);
	return 0;
}

int
fe_machine_configure(const struct nvmm_machine *mach, uint64_t op, void *conf)
{
	struct fe_machine *m;
	uint64_t md = NVMM_MACH_CONF_MD(op);
	int error;

	if (fe_impl == NULL)
		return EBADF;
	/* As NVMM: the op range is checked before the machine. */
	if (op < NVMM_MACH_CONF_MD_BEGIN || md >= fe_impl->mach_conf_max)
		return EINVAL;
	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	error = conf == NULL ? EFAULT : fe_impl->machine_configure(m, md, conf);
	fe_machine_put(m);
	return error;
}

/* ---- vCPUs ------------------------------------------------------------------------------ */

/* ---- Stop cells (see nvmm_impl.h), allocated in chunks, never freed ---- */

#define FE_CELLS_PER_CHUNK	256

struct fe_cell_chunk {
	struct fe_cell_chunk *next;
	struct fe_stop_cell cells[FE_CELLS_PER_CHUNK];
};

static struct fe_cell_chunk *fe_cell_chunks;	/* fe_lock */
static unsigned int fe_cells_used;		/* in the first chunk */

/* With fe_lock held. */
static struct fe_stop_cell *
fe_cell_new(struct fe_vcpu *v)
{
	struct fe_stop_cell *cell = NULL;

	if (fe_cell_chunks == NULL || fe_cells_used == FE_CELLS_PER_CHUNK) {
		struct fe_cell_chunk *c = calloc(1, sizeof(*c));

		if (c != NULL) {
			c->next = fe_cell_chunks;
			fe_cell_chunks = c;
			fe_cells_used = 0;
		}
	}
	if (fe_cell_chunks != NULL && fe_cells_used < FE_CELLS_PER_CHUNK) {
		cell = &fe_cell_chunks->cells[fe_cells_used++];
		cell->magic = FE_CELL_MAGIC;
		atomic_store(&cell->vcpu, v);
	}
	return cell;
}

/* ---- vCPU objects ---------------------------------------------------------------- */

/*
 * vCPU objects are type-stable: never freed, each belongs to the slot of
 * its (machine id, vCPU id) from its first creation on (the slot's vcpu),
 * and a later creation in that slot, of any machine, reuses it. So
 * setstate, which only touches the comm page, needs no use:
 * fe_vcpu_peek() (lookup.h) checks the handles, and a destroy that races
 * it, a program bug under NVMM's rule that a vCPU is its thread's, leaves
 * its pointer valid. (Getstate, which may fetch, takes a use and the lock
 * with the fast take, as run does.) Its writes
 * land in a vCPU nobody runs, or, if the id was created again meanwhile,
 * before that creation's reset of the object (fe_vcpu_claim) or after it.
 * The memory kept is one object per slot ever used (~1.2 KiB; the
 * backend's data goes with each destroy).
 */

/*
 * With fe_lock held, the id reserved: the slot's object, reset for a new
 * creation, or, for a slot's first, fresh (which is then taken: NULL).
 */
static struct fe_vcpu *
fe_vcpu_claim(struct fe_vslot *s, struct fe_vcpu **fresh,
    struct fe_stop_cell *cell, nvmm_cpuid_t cpuid)
{
	struct fe_vcpu *v = s->vcpu;

	if (v == NULL) {
		v = s->vcpu = *fresh;
		*fresh = NULL;
	} else {
		memset(v, 0, sizeof(*v));
	}
	v->cell = cell;
	v->cpuid = cpuid;
	atomic_store(&cell->vcpu, v);
	return v;
}

/*
 * Cut a vCPU off its stop cell. nvmm_vcpu_stop() takes no lock (signal
 * handlers call it): a stop from another thread may have seen the vCPU alive
 * and be kicking it still, so wait for it; it counts itself in first.
 */
static void
fe_vcpu_detach(struct fe_vcpu *v)
{
	atomic_store(&v->cell->vcpu, NULL);
	while (atomic_load(&v->cell->stoppers) != 0)
		sched_yield();
}

/* Tear down a vCPU nobody uses any more: its backend data, if any. */
static void
fe_vcpu_teardown(struct fe_machine *m, struct fe_vcpu *v)
{
	fe_vcpu_detach(v);	/* kicks use the backend's data */
	if (v->cpudata != NULL)
		fe_impl->vcpu_destroy(m, v);
}

/* Publish the vCPU count in the registry; a failure there only goes stale. */
static void
fe_reg_vcpus(struct fe_machine *m)
{
	fe_mutex_lock(&m->maps_lock);
	m->reg.info.nvcpus = m->nvcpus;
	(void)reg_update(&m->reg);
	fe_mutex_unlock(&m->maps_lock);
}

int
fe_vcpu_create(const struct nvmm_machine *mach, nvmm_cpuid_t cpuid,
    struct nvmm_vcpu *vcpu)
{
	struct fe_machine *m;
	struct fe_vcpu *v, *fresh = NULL;
	struct fe_stop_cell *cell;
	int error;

	if (vcpu == NULL)
		return EINVAL;
	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if (cpuid >= NVMM_MAX_VCPUS) {
		error = EINVAL;
		goto out;
	}
	/* In case this is the slot's first creation: no calloc under fe_lock. */
	if ((fresh = calloc(1, sizeof(*fresh))) == NULL) {
		error = ENOMEM;
		goto out;
	}

	/* Reserve the id first, so that concurrent creations see EBUSY. */
	pthread_mutex_lock(&fe_lock);
	if (m->vcpus[cpuid] != NULL) {
		pthread_mutex_unlock(&fe_lock);
		error = EBUSY;
		goto out;
	}
	if ((cell = fe_cell_new(NULL)) == NULL) {
		pthread_mutex_unlock(&fe_lock);
		error = ENOMEM;
		goto out;
	}
	v = fe_vcpu_claim(fe_vslot_at(m->machid, cpuid), &fresh, cell, cpuid);
	m->vcpus[cpuid] = v;	/* no LIVE word yet: lookups fail */
	pthread_mutex_unlock(&fe_lock);

	error = fe_impl->vcpu_create(m, v);
	if (error != 0)
		fe_vcpu_teardown(m, v);	/* before the id is free again */

	pthread_mutex_lock(&fe_lock);
	if (error != 0) {
		m->vcpus[cpuid] = NULL;
	} else {
		m->pages[cpuid] = &v->comm;
		m->nvcpus++;
		v->mach = m;
		v->slot = fe_vslot_at(m->machid, cpuid);
		/* Unless a machine destroy, now waiting for us, killed them. */
		if ((atomic_load(&fe_mwords[m->machid]) & FE_LIVE) != 0)
			fe_use_publish(&v->slot->word, m->cookie);
	}
	pthread_mutex_unlock(&fe_lock);
	if (error != 0)
		goto out;
	fe_reg_vcpus(m);

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->cpuid = cpuid;
	vcpu->state = &v->comm.state;
	vcpu->event = &v->comm.event;
	vcpu->exit = &v->exit;
	vcpu->stop = &v->cell->stop;
out:
	free(fresh);
	fe_machine_put(m);
	return error;
}

int
fe_vcpu_destroy(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_machine *m;
	struct fe_vslot *s;
	struct fe_vcpu *v;
	int error;

	if (fe_impl == NULL)
		return EBADF;
	if (vcpu == NULL)
		return EINVAL;
	/* A machine use: the vCPU's own goes before its teardown. */
	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if ((v = fe_vcpu_take(mach, vcpu, false, &error)) == NULL)
		goto out;
	if (fe_assisting(m, v)) {
		(void)fe_vcpu_give(v, false, 0);
		error = EBUSY;
		goto out;
	}
	s = v->slot;
	pthread_mutex_lock(&fe_lock);
	if ((error = fe_use_kill(&s->word, 1)) != 0) {
		pthread_mutex_unlock(&fe_lock);
		(void)fe_vcpu_give(v, false, 0);
		goto out;
	}
	m->pages[v->cpuid] = NULL;
	m->nvcpus--;
	fe_vcpu_kick(v);
	fe_use_wait(&s->word);
	fe_vslot_clear(s);
	pthread_mutex_unlock(&fe_lock);

	/*
	 * The id stays taken (a creation of it: EBUSY) until the backend has
	 * let go of it: the next creation may take its KVM vCPU back.
	 */
	fe_vcpu_teardown(m, v);
	pthread_mutex_lock(&fe_lock);
	m->vcpus[v->cpuid] = NULL;	/* v is the next creation's now */
	pthread_mutex_unlock(&fe_lock);
	fe_reg_vcpus(m);
out:
	fe_machine_put(m);
	return error;
}

/* ---- Control ------------------------------------------------------------------------------- */

int
fe_ctl_mach_info(struct nvmm_ctl_mach_info *info)
{
	nvmm_machid_t id = info->machid;
	struct reg_info ri;
	int error;

	if (fe_impl == NULL)
		return EBADF;
	if (id >= NVMM_MAX_MACHINES)
		return EINVAL;
	/*
	 * Only our own machines, as a non-root NVMM owner: another's is
	 * EPERM from its slot alone, its record being its owner's to read.
	 * A registry that could not be asked fails the call, as reg_lookup()
	 * does for root: ENOENT would call a held id free.
	 */
	if (!fe_root && (atomic_load(&fe_mwords[id]) & FE_LIVE) == 0)
		return fe_holder_why(id);
	if ((error = reg_lookup(id, &ri)) != 0)
		return error;
	info->nvcpus = ri.nvcpus;
	info->nram = ri.nram;
	info->pid = ri.pid;
	info->time = ri.time;
	return 0;
}
