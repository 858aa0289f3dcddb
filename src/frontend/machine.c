/*
 * MI frontend: the process's machine table, machine and vCPU lifetimes,
 * handle validation and ownership, configuration and the run entry.
 *
 * Locking: fe_lock guards the table and every machine's vCPU array and the
 * users counts. A handle lookup takes a use reference (get); destroy removes
 * the object from the table, kicks its vCPUs, and waits until the last user
 * put it back before freeing. Each vCPU's lock serialises run, getstate and
 * the assists, as NVMM's per-vCPU lock does.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"
#include "machine.h"

const struct nvmm_impl *fe_impl;
static bool fe_root;

static pthread_mutex_t fe_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fe_released = PTHREAD_COND_INITIALIZER;
static unsigned int fe_destroyers;	/* threads in fe_wait_unused (fe_lock) */
static struct fe_machine *fe_machines[NVMM_MAX_MACHINES];
static uintptr_t fe_cookies;	/* creations so far (fe_lock) */

/* The backends, in probe order. */
static const struct nvmm_impl *const fe_backends[] = {
	&nvmm_x86_svm,
	&nvmm_x86_vmx,
};

/* ---- fork() -------------------------------------------------------------------- */

/*
 * Machines are not inherited across fork(2), as NVMM documents. The child
 * does inherit our descriptors, though: KVM's VM and vCPU descriptors
 * (and the kvm_run mappings) would keep the parent's guest alive after the
 * parent died (the registry drops its own descriptors, see registry.h).
 * The child closes them and forgets the table; the parent's handles then
 * fail in the child with EPERM, as another owner's would. The objects
 * themselves stay: the child's copy of the program may still hold pointers
 * into them (vcpu->state, vcpu->exit).
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
	for (size_t i = 0; i < NVMM_MAX_MACHINES; i++) {
		if (fe_machines[i] != NULL)
			fe_machine_forget(fe_machines[i]);
		fe_machines[i] = NULL;
	}
	/* Waiters of the parent's threads do not exist here. */
	fe_released = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	fe_destroyers = 0;
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
 * Why a machine id is not in our table: someone else's (EPERM) or nobody's.
 * Our own entry shows while one of our threads creates or destroys a
 * machine with that id: to a stale handle, that machine does not exist.
 */
static int
fe_not_ours(nvmm_machid_t machid)
{
	struct reg_info info;

	if (reg_lookup(machid, &info) != 0 || info.pid == getpid())
		return ENOENT;
	return EPERM;
}

/*
 * With fe_lock held: take a use of the machine behind a handle. ESRCH: no
 * machine of ours has that id (the caller asks the registry why, unlocked).
 */
static int
fe_machine_use(const struct nvmm_machine *mach, struct fe_machine **mp)
{
	struct fe_machine *m = fe_machines[mach->machid];

	if (m == NULL)
		return ESRCH;
	/* areas identifies this creation: stale handles do not match. */
	if (mach->areas != (void *)m->cookie)
		return ENOENT;
	m->users++;
	*mp = m;
	return 0;
}

static int
fe_machine_check(const struct nvmm_machine *mach)
{
	if (fe_impl == NULL)
		return EBADF;
	if (mach == NULL || mach->machid >= NVMM_MAX_MACHINES)
		return EINVAL;
	return 0;
}

int
fe_machine_get(const struct nvmm_machine *mach, struct fe_machine **mp)
{
	int error;

	if ((error = fe_machine_check(mach)) != 0)
		return error;
	pthread_mutex_lock(&fe_lock);
	error = fe_machine_use(mach, mp);
	pthread_mutex_unlock(&fe_lock);
	return error == ESRCH ? fe_not_ours(mach->machid) : error;
}

/* With fe_lock held. */
static void
fe_unuse_locked(unsigned int *users)
{
	/* Only a destroy ever waits: most puts need no wake-up. */
	if (--*users == 0 && fe_destroyers != 0)
		pthread_cond_broadcast(&fe_released);
}

void
fe_machine_put(struct fe_machine *m)
{
	pthread_mutex_lock(&fe_lock);
	fe_unuse_locked(&m->users);
	pthread_mutex_unlock(&fe_lock);
}

/*
 * Machine and vCPU under one hold of fe_lock, and back under one: every
 * entry point that names a vCPU comes here twice, once per call.
 */
int
fe_vcpu_get(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    bool lock, struct fe_machine **mp, struct fe_vcpu **vp)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if (fe_impl == NULL)
		return EBADF;
	if (vcpu == NULL)
		return EINVAL;
	if ((error = fe_machine_check(mach)) != 0)
		return error;
	pthread_mutex_lock(&fe_lock);
	if ((error = fe_machine_use(mach, &m)) == 0) {
		if (vcpu->cpuid >= NVMM_MAX_VCPUS)
			error = EINVAL;
		else if ((v = m->vcpus[vcpu->cpuid]) == NULL ||
		    vcpu->stop != &v->cell->stop ||	/* this creation */
		    vcpu->state != &v->comm.state)	/* intact */
			error = ENOENT;
		else
			v->users++;
		if (error != 0)
			fe_unuse_locked(&m->users);
	}
	pthread_mutex_unlock(&fe_lock);
	if (error != 0)
		return error == ESRCH ? fe_not_ours(mach->machid) : error;
	if (lock)
		pthread_mutex_lock(&v->lock);
	*mp = m;
	*vp = v;
	return 0;
}

void
fe_vcpu_put(struct fe_machine *m, struct fe_vcpu *v, bool locked)
{
	if (locked)
		pthread_mutex_unlock(&v->lock);
	pthread_mutex_lock(&fe_lock);
	fe_unuse_locked(&v->users);
	fe_unuse_locked(&m->users);
	pthread_mutex_unlock(&fe_lock);
}

/* Wait, with fe_lock held, until nobody uses an unlinked object. */
static void
fe_wait_unused(const unsigned int *users)
{
	fe_destroyers++;
	while (*users != 0)
		pthread_cond_wait(&fe_released, &fe_lock);
	fe_destroyers--;
}

/* Make a vCPU's current or next run return soon (STOPPED). */
static void
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
	pthread_mutex_init(&m->maps_lock, NULL);
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
	m->cookie = ++fe_cookies;
	fe_machines[m->machid] = m;
	pthread_mutex_unlock(&fe_lock);

	memset(mach, 0, sizeof(*mach));
	mach->machid = m->machid;
	mach->pages = m->pages;
	mach->areas = (void *)m->cookie;
	return 0;
}

static void fe_vcpu_release(struct fe_machine *, struct fe_vcpu *);

int
fe_machine_destroy(const struct nvmm_machine *mach)
{
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	pthread_mutex_lock(&fe_lock);
	fe_machines[m->machid] = NULL;
	m->users--;
	for (size_t i = 0; i < NVMM_MAX_VCPUS; i++) {
		if (m->vcpus[i] != NULL)
			fe_vcpu_kick(m->vcpus[i]);
	}
	fe_wait_unused(&m->users);
	pthread_mutex_unlock(&fe_lock);

	for (size_t i = 0; i < NVMM_MAX_VCPUS; i++) {
		if (m->vcpus[i] != NULL)
			fe_vcpu_release(m, m->vcpus[i]);
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

static struct fe_stop_cell *
fe_cell_new(struct fe_vcpu *v)
{
	struct fe_stop_cell *cell = NULL;

	pthread_mutex_lock(&fe_lock);
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
	pthread_mutex_unlock(&fe_lock);
	return cell;
}

/* ---- vCPU objects ---------------------------------------------------------------- */

static int
fe_vcpu_alloc(nvmm_cpuid_t cpuid, struct fe_vcpu **vp)
{
	pthread_mutexattr_t attr;
	struct fe_vcpu *v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return ENOMEM;
	if ((v->cell = fe_cell_new(v)) == NULL) {
		free(v);
		return ENOMEM;
	}
	/* Callbacks of an assist may call back into libnvmm. */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&v->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	v->cpuid = cpuid;
	*vp = v;
	return 0;
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

/* Free a vCPU nobody uses any more, with its backend data if it has any. */
static void
fe_vcpu_release(struct fe_machine *m, struct fe_vcpu *v)
{
	fe_vcpu_detach(v);	/* kicks use the backend's data */
	if (v->cpudata != NULL)
		fe_impl->vcpu_destroy(m, v);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* Publish the vCPU count in the registry; a failure there only goes stale. */
static void
fe_reg_vcpus(struct fe_machine *m)
{
	pthread_mutex_lock(&m->maps_lock);
	m->reg.info.nvcpus = m->nvcpus;
	(void)reg_update(&m->reg);
	pthread_mutex_unlock(&m->maps_lock);
}

int
fe_vcpu_create(const struct nvmm_machine *mach, nvmm_cpuid_t cpuid,
    struct nvmm_vcpu *vcpu)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if (vcpu == NULL)
		return EINVAL;
	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if (cpuid >= NVMM_MAX_VCPUS) {
		error = EINVAL;
		goto out;
	}
	if ((error = fe_vcpu_alloc(cpuid, &v)) != 0)
		goto out;

	/* Reserve the id first, so that concurrent creations see EBUSY. */
	pthread_mutex_lock(&fe_lock);
	if (m->vcpus[cpuid] != NULL) {
		pthread_mutex_unlock(&fe_lock);
		fe_vcpu_release(m, v);
		error = EBUSY;
		goto out;
	}
	m->vcpus[cpuid] = v;
	v->users++;	/* not usable until the backend made it */
	pthread_mutex_unlock(&fe_lock);

	error = fe_impl->vcpu_create(m, v);

	pthread_mutex_lock(&fe_lock);
	v->users--;
	if (error != 0) {
		m->vcpus[cpuid] = NULL;
	} else {
		m->pages[cpuid] = &v->comm;
		m->nvcpus++;
	}
	pthread_mutex_unlock(&fe_lock);
	if (error != 0) {
		fe_vcpu_release(m, v);
		goto out;
	}
	fe_reg_vcpus(m);

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->cpuid = cpuid;
	vcpu->state = &v->comm.state;
	vcpu->event = &v->comm.event;
	vcpu->exit = &v->exit;
	vcpu->stop = &v->cell->stop;
out:
	fe_machine_put(m);
	return error;
}

int
fe_vcpu_destroy(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if ((error = fe_vcpu_get(mach, vcpu, false, &m, &v)) != 0)
		return error;
	pthread_mutex_lock(&fe_lock);
	m->vcpus[v->cpuid] = NULL;
	m->pages[v->cpuid] = NULL;
	m->nvcpus--;
	v->users--;
	fe_vcpu_kick(v);
	fe_wait_unused(&v->users);
	pthread_mutex_unlock(&fe_lock);

	fe_vcpu_release(m, v);
	fe_reg_vcpus(m);
	fe_machine_put(m);
	return 0;
}

int
fe_vcpu_configure(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    uint64_t op, void *conf)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	uint64_t md = NVMM_VCPU_CONF_MD(op);
	int error;

	if (fe_impl == NULL)
		return EBADF;
	/* As NVMM: the op range is checked before the machine and vCPU. */
	if (op < NVMM_VCPU_CONF_MD_BEGIN || md >= fe_impl->vcpu_conf_max)
		return EINVAL;
	if ((error = fe_vcpu_get(mach, vcpu, true, &m, &v)) != 0)
		return error;
	error = conf == NULL ? EFAULT : fe_impl->vcpu_configure(v, md, conf);
	fe_vcpu_put(m, v, true);
	return error;
}

int
fe_vcpu_cpuid(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    uint32_t leaf, uint32_t index, uint32_t regs[4])
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if (fe_impl == NULL)
		return EBADF;
	if (fe_impl->vcpu_cpuid == NULL)
		return ENOTSUP;
	if ((error = fe_vcpu_get(mach, vcpu, true, &m, &v)) != 0)
		return error;
	error = fe_impl->vcpu_cpuid(v, leaf, index, regs);
	fe_vcpu_put(m, v, true);
	return error;
}

/* ---- State, run, stop ------------------------------------------------------------------- */

int
fe_vcpu_comm(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    struct nvmm_comm_page **commp)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if ((error = fe_vcpu_get(mach, vcpu, false, &m, &v)) != 0)
		return error;
	*commp = &v->comm;
	fe_vcpu_put(m, v, false);
	return 0;
}

int
fe_vcpu_getstate(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    uint64_t wanted)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if ((error = fe_vcpu_get(mach, vcpu, true, &m, &v)) != 0)
		return error;
	v->comm.state_wanted = wanted & ~v->comm.state_cached;
	if (v->comm.state_wanted != 0)
		error = fe_impl->vcpu_getstate(v);
	v->comm.state_wanted = 0;
	fe_vcpu_put(m, v, true);
	return error;
}

int
fe_vcpu_run(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if ((error = fe_vcpu_get(mach, vcpu, true, &m, &v)) != 0)
		return error;
	error = fe_impl->vcpu_run(m, v, &v->exit);
	/* As NetBSD: a stop request lasts until the run returns. */
	__atomic_store_n(&v->cell->stop, 0, __ATOMIC_SEQ_CST);
	fe_vcpu_put(m, v, true);
	return error;
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

/* ---- Assists ------------------------------------------------------------------------------ */

int
fe_vcpu_io_access(const struct nvmm_machine *mach, const struct nvmm_vcpu *vcpu,
    struct fe_io_access *acc)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if ((error = fe_vcpu_get(mach, vcpu, true, &m, &v)) != 0)
		return error;
	error = fe_impl->vcpu_io_access(v, acc);
	fe_vcpu_put(m, v, true);
	return error;
}

int
fe_vcpu_mem_access(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu, struct fe_mem_access *acc)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if ((error = fe_vcpu_get(mach, vcpu, true, &m, &v)) != 0)
		return error;
	error = fe_impl->vcpu_mem_access(v, acc);
	fe_vcpu_put(m, v, true);
	return error;
}

int
fe_vcpu_access_done(const struct nvmm_machine *mach,
    const struct nvmm_vcpu *vcpu)
{
	struct fe_machine *m;
	struct fe_vcpu *v;
	int error;

	if ((error = fe_vcpu_get(mach, vcpu, true, &m, &v)) != 0)
		return error;
	error = fe_impl->vcpu_access_done(v);
	fe_vcpu_put(m, v, true);
	return error;
}

/* ---- Control ------------------------------------------------------------------------------- */

int
fe_ctl_mach_info(struct nvmm_ctl_mach_info *info)
{
	struct reg_info ri;
	struct fe_machine *m;
	int error;

	if (fe_impl == NULL)
		return EBADF;
	if (info->machid >= NVMM_MAX_MACHINES)
		return EINVAL;
	if ((error = reg_lookup(info->machid, &ri)) != 0)
		return error;
	if (!fe_root) {
		/* Only our own machines, as a non-root NVMM owner. */
		pthread_mutex_lock(&fe_lock);
		m = fe_machines[info->machid];
		pthread_mutex_unlock(&fe_lock);
		if (m == NULL)
			return EPERM;
	}
	info->nvcpus = ri.nvcpus;
	info->nram = ri.nram;
	info->pid = ri.pid;
	info->time = ri.time;
	return 0;
}
