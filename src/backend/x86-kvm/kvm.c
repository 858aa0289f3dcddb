/*
 * The x86 backend over /dev/kvm: host identification, machine and vCPU
 * lifetimes, guest memory slots, configuration, and the ops tables
 * (x86-svm and x86-vmx share every function; KVM drives the hardware).
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kvmx86.h"

#define KVM_DEVICE	"/dev/kvm"
#define VMX_TSS_ADDR	0xFFFBD000UL	/* 3 pages KVM needs on Intel */

struct kvmx86_host kvmx86_host = { .kvm_fd = -1 };

/* ---- Host ---------------------------------------------------------------------- */

/* What the backend relies on; without any of it, NVMM is not available. */
static const struct {
	long cap;
	int min;
} kvmx86_required[] = {
	{ KVM_CAP_SYNC_REGS, KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS |
	    KVM_SYNC_X86_EVENTS },
	{ KVM_CAP_X86_USER_SPACE_MSR, 1 },
	{ KVM_CAP_X86_MSR_FILTER, 1 },
	{ KVM_CAP_READONLY_MEM, 1 },
	{ KVM_CAP_IMMEDIATE_EXIT, 1 },
	{ KVM_CAP_XSAVE, 1 },
	{ KVM_CAP_XCRS, 1 },
	{ KVM_CAP_VCPU_EVENTS, 1 },
	{ KVM_CAP_DEBUGREGS, 1 },
	{ KVM_CAP_EXT_CPUID, 1 },
};

static bool
host_is_intel(void)
{
	unsigned int eax, ebx, ecx, edx;

	__cpuid(0, eax, ebx, ecx, edx);
	(void)eax;
	return ebx == 0x756E6547 && edx == 0x49656E69 && ecx == 0x6C65746E;
}

/* The host's FPU facts NVMM reports: MXCSR mask and XCR0 bits. */
static void
host_fpu(void)
{
	uint8_t fx[512] __attribute__((aligned(16)));
	unsigned int eax, ebx, ecx, edx;
	uint32_t mask;

	memset(fx, 0, sizeof(fx));
	__asm__ volatile("fxsave %0" : "=m"(fx));
	memcpy(&mask, fx + 28, sizeof(mask));
	kvmx86_host.mxcsr_mask = mask ? mask : 0xFFBF;	/* architectural */

	kvmx86_host.xcr0_mask = 0;
	__cpuid(1, eax, ebx, ecx, edx);
	if (ecx & (1u << 27)) {	/* OSXSAVE: XGETBV works */
		uint32_t lo, hi;

		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		kvmx86_host.xcr0_mask = ((uint64_t)hi << 32 | lo) &
		    KVMX86_XCR0_MASK;
	}
}

/* KVM's memory slots per machine (32764 on current kernels). */
static uint32_t
host_nr_slots(int fd)
{
	int n = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);

	/* No answer: the 32 of KVM's first x86 versions. */
	return n > 0 ? (uint32_t)n : 32;
}

static int
host_probe(void)
{
	int fd, size;

	fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		return errno == EACCES || errno == EPERM ? EACCES : ENXIO;
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		goto unusable;
	for (size_t i = 0; i < sizeof(kvmx86_required) /
	    sizeof(kvmx86_required[0]); i++) {
		int have = ioctl(fd, KVM_CHECK_EXTENSION, kvmx86_required[i].cap);

		if (have < 0 || (have & kvmx86_required[i].min) !=
		    kvmx86_required[i].min)
			goto unusable;
	}
	if ((size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		goto unusable;
	kvmx86_host.kvm_fd = fd;
	kvmx86_host.run_size = (size_t)size;
	kvmx86_host.intel = host_is_intel();
	kvmx86_host.nr_slots = host_nr_slots(fd);
	host_fpu();
	if (kvmx86_cpuid_probe() != 0 || kvmx86_kick_setup() != 0)
		goto unusable;
	kvmx86_dirty_probe();
	return 0;
unusable:
	close(fd);
	kvmx86_host.kvm_fd = -1;
	return ENXIO;
}

/* Probe once per process; each table accepts its own vendor. */
static int
host_ident(bool want_intel)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int probed = -1;

	pthread_mutex_lock(&lock);
	if (probed != 0)
		probed = host_probe();
	pthread_mutex_unlock(&lock);
	if (probed != 0)
		return probed;
	return kvmx86_host.intel == want_intel ? 0 : ENXIO;
}

static int
kvmx86_ident_svm(void)
{
	return host_ident(false);
}

static int
kvmx86_ident_vmx(void)
{
	return host_ident(true);
}

static void
kvmx86_capability(struct nvmm_capability *cap)
{
	cap->arch.mach_conf_support = 0;
	/* No TPR: KVM exits only when CR8 is lowered, never when raised. */
	cap->arch.vcpu_conf_support = NVMM_CAP_ARCH_VCPU_CONF_CPUID;
	cap->arch.xcr0_mask = kvmx86_host.xcr0_mask;
	cap->arch.mxcsr_mask = kvmx86_host.mxcsr_mask;
	cap->arch.conf_cpuid_maxops = KVMX86_CPUID_MAXOPS;
	cap->ext = NVMM_CAP_EXT_EVENTS;	/* state.c: intr_{from,to}_kvm */
	if (kvmx86_host.dirty)
		cap->ext |= NVMM_CAP_EXT_DIRTY;
}

/* ---- Descriptors ---------------------------------------------------------------- */

/*
 * KVM_CREATE_VM fails with EINTR when a signal arrives during it, SA_RESTART
 * or not (one creation in four under a storm of signals): emulators run
 * timers, and NVMM's calls never fail with EINTR, so try again.
 */
static int
kvmx86_ioctl_fd(int fd, unsigned long req, unsigned long arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r == -1 && errno == EINTR);
	return r;
}

/*
 * 128 machines of 128 vCPUs need ~16.5k descriptors: when the soft limit
 * runs out, raise it towards the hard limit instead of failing.
 */
static int
kvmx86_new_fd(int fd, unsigned long req, unsigned long arg)
{
	struct rlimit rl;
	int r;

	r = kvmx86_ioctl_fd(fd, req, arg);
	if (r >= 0 || errno != EMFILE)
		return r;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return -1;
	rl.rlim_cur = (rl.rlim_cur * 2 < rl.rlim_max) ? rl.rlim_cur * 2 :
	    rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		errno = EMFILE;
		return -1;
	}
	return kvmx86_ioctl_fd(fd, req, arg);
}

/* ---- Machines -------------------------------------------------------------------- */

static void park_close_all(struct kvmx86_machine *);

static void
kvmx86_machine_free(struct kvmx86_machine *mach)
{
	close(mach->vm_fd);
	pthread_mutex_destroy(&mach->lock);
	free(mach);
}

static int
kvmx86_machine_create(struct fe_machine *m)
{
	struct kvmx86_machine *mach;
	int error;

	if ((mach = calloc(1, sizeof(*mach))) == NULL)
		return ENOMEM;
	mach->vm_fd = kvmx86_new_fd(kvmx86_host.kvm_fd, KVM_CREATE_VM, 0);
	if (mach->vm_fd == -1) {
		error = errno;
		free(mach);
		return error;
	}
	pthread_mutex_init(&mach->lock, NULL);
	/* The MSR filter goes in at the first run: kvmx86_vcpu_prepare(). */
	error = kvmx86_cpuid_vm_setup(mach->vm_fd);
	if (error == 0)
		error = kvmx86_dirty_vm_setup(mach->vm_fd);
	/* Intel: real mode needs a TSS KVM places in guest memory. */
	if (error == 0 && kvmx86_host.intel &&
	    ioctl(mach->vm_fd, KVM_SET_TSS_ADDR, VMX_TSS_ADDR) == -1)
		error = errno;
	if (error != 0) {
		kvmx86_machine_free(mach);
		return error;
	}
	m->machdata = mach;
	return 0;
}

static void
kvmx86_machine_destroy(struct fe_machine *m)
{
	struct kvmx86_machine *mach = m->machdata;

	park_close_all(mach);
	kvmx86_machine_free(mach);
}

static int
kvmx86_machine_configure(struct fe_machine *m, uint64_t op, void *conf)
{
	(void)m;
	(void)op;
	(void)conf;
	return EINVAL;	/* x86 has no machine ops: never called */
}

/* ---- Parked vCPUs ------------------------------------------------------------------- */

/*
 * KVM cannot destroy one vCPU: the VM keeps it until it is closed, and
 * KVM_CREATE_VCPU refuses its id again (EEXIST). NVMM can create a
 * destroyed vCPU id again, so a destroyed vCPU's KVM descriptor and
 * kvm_run mapping are parked with its machine, and the next creation of
 * the id takes them back, after a reset that leaves nothing of the old
 * vCPU to see:
 * - our side (pending operations, decode memos, CPUID configuration,
 *   kicks and runner, sync-area bookkeeping) is a new struct kvmx86_vcpu,
 *   the frontend's (state cache, event, exit, stop cell) a new fe_vcpu;
 * - KVM finishes what the old guest left pending (KVM_RUN with
 *   immediate_exit: no guest entry), kvm_run is cleared, and the TSC is
 *   synchronised with the machine as at a creation;
 * - the first run installs NVMM's RESET state whole (every class), then
 *   MISC_ENABLE and the CPUID table (kvmx86_vcpu_prepare), as for a new
 *   vCPU. What KVM keeps of a vCPU that ran is its CPUID table, which it
 *   takes again only unchanged: see libnvmm(3), LINUX DIFFERENCES.
 * The machine closes what is still parked when it goes.
 */
struct kvmx86_park {
	struct kvmx86_park *next;
	nvmm_cpuid_t cpuid;
	int fd;
	struct kvm_run *run;
	struct kvmx86_cpuid_key *cpuid_kvm;	/* NULL: it never ran */
};

#define PARK_FLUSH_TRIES	16

/* The parked KVM vCPU of an id, taken off the list; NULL: none. */
static struct kvmx86_park *
park_take(struct kvmx86_machine *mach, nvmm_cpuid_t cpuid)
{
	struct kvmx86_park **pp, *p = NULL;

	pthread_mutex_lock(&mach->lock);
	for (pp = &mach->parked; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->cpuid == cpuid) {
			p = *pp;
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&mach->lock);
	return p;
}

static void
park_put(struct kvmx86_machine *mach, struct kvmx86_park *p)
{
	pthread_mutex_lock(&mach->lock);
	p->next = mach->parked;
	mach->parked = p;
	pthread_mutex_unlock(&mach->lock);
}

/* The machine goes: so do the KVM vCPUs no vCPU took back. */
static void
park_close_all(struct kvmx86_machine *mach)
{
	while (mach->parked != NULL) {
		struct kvmx86_park *p = mach->parked;

		mach->parked = p->next;
		munmap(p->run, kvmx86_host.run_size);
		close(p->fd);
		free(p->cpuid_kvm);
		free(p);
	}
}

/*
 * A parked KVM vCPU made ready for a new vCPU: nothing of the old guest's
 * left pending in KVM (an I/O, MMIO or MSR access KVM would otherwise
 * finish at the next entry, over the new state), nothing of ours in
 * kvm_run (a kick's immediate_exit, window requests, sync flags), and
 * the TSC a new vCPU would have.
 */
static int
park_reset(struct kvmx86_park *p, struct kvmx86_vcpu *cpu)
{
	int tries = 0;

	p->run->kvm_valid_regs = 0;
	p->run->kvm_dirty_regs = 0;
	p->run->request_interrupt_window = 0;
	p->run->immediate_exit = 1;
	while (p->cpuid_kvm != NULL && tries++ < PARK_FLUSH_TRIES) {
		if (ioctl(p->fd, KVM_RUN, 0) == -1) {
			if (errno == EINTR)
				break;		/* finished, no entry */
			return errno;
		}
	}
	if (tries > PARK_FLUSH_TRIES)
		return EIO;	/* KVM keeps stopping for the old access */
	memset(p->run, 0, sizeof(*p->run));
	cpu->fd = p->fd;
	cpu->run = p->run;
	if (kvmx86_msr_tsc_reset(cpu) != 0)
		return EIO;
	cpu->cpuid_kvm = p->cpuid_kvm;
	return 0;
}

/* ---- vCPUs ------------------------------------------------------------------------- */

/* A new KVM vCPU for cpu, or the parked one of its id. */
static int
kvmx86_vcpu_open(struct kvmx86_machine *mach, struct kvmx86_vcpu *cpu)
{
	struct kvmx86_park *p;
	void *run;
	int fd, error;

	if ((p = park_take(mach, cpu->cpuid)) != NULL) {
		if ((error = park_reset(p, cpu)) != 0) {
			park_put(mach, p);
			return error;
		}
		free(p);
		return 0;
	}
	if ((fd = kvmx86_new_fd(mach->vm_fd, KVM_CREATE_VCPU, cpu->cpuid)) == -1)
		return errno;
	run = mmap(NULL, kvmx86_host.run_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		error = errno;
		close(fd);	/* KVM keeps the vCPU: EEXIST from now on */
		return error;
	}
	cpu->fd = fd;
	cpu->run = run;
	return 0;
}

static int
kvmx86_vcpu_create(struct fe_machine *m, struct fe_vcpu *v)
{
	struct kvmx86_vcpu *cpu;
	int error;

	if ((cpu = calloc(1, sizeof(*cpu))) == NULL)
		return ENOMEM;
	cpu->mach = m;
	cpu->cpuid = v->cpuid;
	/* Its memos hold nothing yet: the first check forgets them. */
	cpu->peek = &((struct kvmx86_machine *)m->machdata)->peek[v->cpuid].word;
	atomic_store(cpu->peek, KVMX86_PEEK_STALE);
	/*
	 * The rest goes in at the first run (kvmx86_vcpu_prepare), and the
	 * sync area is filled when first needed (state.c): sync_fresh 0.
	 */
	if ((error = kvmx86_vcpu_open(m->machdata, cpu)) != 0) {
		free(cpu);
		return error;
	}

	/* NVMM's RESET state, cached and installed at the first run. */
	v->comm.state = kvmx86_reset_state;
	v->comm.state_cached = NVMM_X64_STATE_ALL;
	v->comm.state_commit = NVMM_X64_STATE_ALL;
	v->access = &cpu->access;
	v->cpudata = cpu;
	return 0;
}

/*
 * Before a vCPU's first guest entry (run.c calls this until one happens):
 * what only guest code sees. Guest code runs only inside KVM_RUN, and
 * KVM's host-side MSR accesses (getstate, setstate) are not filtered, so
 * no caller can tell that these were not there at creation; a machine or
 * vCPU that never runs does not pay for them:
 * - the machine's MSR filter, at the first run of any of its vCPUs: KVM
 *   waits for an SRCU grace period when it takes one (~30 us here, more
 *   than all the rest a creation adds to KVM's own);
 * - MISC_ENABLE as NVMM shows it (msr.c);
 * - the CPUID table, with the vCPU count of then (installing it at
 *   creation too cost a KVM_SET_CPUID2 that the first run repeated).
 */
int
kvmx86_vcpu_prepare(struct fe_machine *m, struct kvmx86_vcpu *cpu)
{
	struct kvmx86_machine *mach = m->machdata;
	int error = 0;

	pthread_mutex_lock(&mach->lock);
	if (!mach->msr_filtered &&
	    (error = kvmx86_msr_setup(mach->vm_fd)) == 0)
		mach->msr_filtered = true;
	pthread_mutex_unlock(&mach->lock);
	if (error == 0 && !cpu->misc_set &&
	    (error = kvmx86_msr_vcpu_setup(cpu)) == 0)
		cpu->misc_set = true;
	if (error == 0)
		error = kvmx86_cpuid_install(cpu, m->nvcpus);
	return error;
}

/*
 * Parked, for the next creation of the id (a fork child's too: its
 * machine closes them). With no memory for that, closed: the id then
 * fails with EEXIST, as before parking.
 */
static void
kvmx86_vcpu_destroy(struct fe_machine *m, struct fe_vcpu *v)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	struct kvmx86_park *p = malloc(sizeof(*p));
	struct kvmx86_cpuid_key *kept;

	v->cpudata = NULL;	/* first: a fork meanwhile leaves it alone */
	kept = kvmx86_cpuid_kept(cpu);
	if (p == NULL || (kept == NULL && cpu->has_run)) {
		munmap(cpu->run, kvmx86_host.run_size);
		close(cpu->fd);
		free(kept);
		free(p);
	} else {
		*p = (struct kvmx86_park){ .cpuid = cpu->cpuid, .fd = cpu->fd,
		    .run = cpu->run, .cpuid_kvm = kept };
		park_put(m->machdata, p);
	}
	free(cpu);
}

static const size_t kvmx86_vcpu_conf_sizes[] = {
	[NVMM_VCPU_CONF_MD(NVMM_VCPU_CONF_CPUID)] =
	    sizeof(struct nvmm_vcpu_conf_cpuid),
	[NVMM_VCPU_CONF_MD(NVMM_VCPU_CONF_TPR)] =
	    sizeof(struct nvmm_vcpu_conf_tpr),
};

static int
kvmx86_vcpu_configure(struct fe_vcpu *v, uint64_t op, void *conf)
{
	switch (op) {
	case NVMM_VCPU_CONF_MD(NVMM_VCPU_CONF_CPUID):
		return kvmx86_cpuid_configure(kvmx86_cpu(v), conf);
	default:
		/* TPR: not advertised, as NVMM on AMD (see capability). */
		return EINVAL;
	}
}

/* ---- Guest memory -------------------------------------------------------------------- */

/* Set slot i of a (size 0 deletes it). */
static int
kvmx86_slot_set(struct kvmx86_machine *mach, const struct fe_area *a,
    uint32_t i, bool map)
{
	struct kvm_userspace_memory_region r = kvmx86_area_slot(a, i);

	if (!map)
		r.memory_size = 0;
	return ioctl(mach->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) == 0 ? 0 :
	    errno;
}

static int
kvmx86_gpa_map(struct fe_machine *m, const struct fe_area *a)
{
	struct kvmx86_machine *mach = m->machdata;
	uint32_t i;
	int error = 0;

	/* KVM would say EINVAL; NVMM says ENOBUFS when a table is full. */
	if (a->nslots > kvmx86_host.nr_slots ||
	    a->slot > kvmx86_host.nr_slots - a->nslots)
		return ENOBUFS;
	mach->maps_gen++;	/* insn.c caches host addresses of slots */
	for (i = 0; i < a->nslots && error == 0; i++)
		error = kvmx86_slot_set(mach, a, i, true);
	if (error != 0) {
		/* Slot i - 1 failed: the area is not mapped at all. */
		for (i -= 1; i-- > 0;)
			(void)kvmx86_slot_set(mach, a, i, false);
	}
	return error;
}

/*
 * Before a slot goes: mark every vCPU's peek word STALE, each once no
 * memo check is ON there (insn.h). A check that was ON has ended, with
 * its release, before the mark; one that starts after it finds STALE and
 * reads no watched word, so the host memory of the slot may leave the
 * process once this returns.
 */
static void
kvmx86_peeks_stale(struct kvmx86_machine *mach)
{
	for (unsigned int i = 0; i < NVMM_MAX_VCPUS; i++) {
		atomic_uint *word = &mach->peek[i].word;
		unsigned int was = atomic_load(word);

		while (was == KVMX86_PEEK_ON ||
		    !atomic_compare_exchange_weak(word, &was,
		    KVMX86_PEEK_STALE)) {
			if (was == KVMX86_PEEK_ON) {
				sched_yield();
				was = atomic_load(word);
			}
		}
	}
}

static int
kvmx86_gpa_unmap(struct fe_machine *m, const struct fe_area *a)
{
	struct kvmx86_machine *mach = m->machdata;
	int error = 0;

	mach->maps_gen++;
	kvmx86_peeks_stale(mach);
	for (uint32_t i = 0; i < a->nslots; i++) {
		int e = kvmx86_slot_set(mach, a, i, false);

		if (error == 0)
			error = e;
	}
	return error;
}

/* ---- Ops tables ------------------------------------------------------------------------ */

#define KVMX86_IMPL(impl_name, ident_fn) {				\
	.name = impl_name,						\
	.ident = ident_fn,						\
	.capability = kvmx86_capability,				\
	.mach_conf_max = 0,						\
	.mach_conf_sizes = NULL,					\
	.vcpu_conf_max = sizeof(kvmx86_vcpu_conf_sizes) /		\
	    sizeof(kvmx86_vcpu_conf_sizes[0]),				\
	.vcpu_conf_sizes = kvmx86_vcpu_conf_sizes,			\
	.machine_create = kvmx86_machine_create,			\
	.machine_destroy = kvmx86_machine_destroy,			\
	.machine_configure = kvmx86_machine_configure,			\
	.vcpu_create = kvmx86_vcpu_create,				\
	.vcpu_destroy = kvmx86_vcpu_destroy,				\
	.vcpu_configure = kvmx86_vcpu_configure,			\
	.vcpu_cpuid = kvmx86_cpuid_leaf,				\
	.vcpu_getstate = kvmx86_getstate,				\
	.vcpu_run = kvmx86_vcpu_run,					\
	.vcpu_kick = kvmx86_kick,					\
	.vcpu_access_done = kvmx86_access_done,				\
	.slot_size = KVMX86_SLOT_SIZE,					\
	.gpa_map = kvmx86_gpa_map,					\
	.gpa_unmap = kvmx86_gpa_unmap,					\
	.gpa_dirty_log = kvmx86_dirty_log,				\
	.gpa_dirty_fetch = kvmx86_dirty_fetch,				\
	.gpa_dirty_clear = kvmx86_dirty_clear,				\
}

const struct nvmm_impl nvmm_x86_svm = KVMX86_IMPL("x86-svm", kvmx86_ident_svm);
const struct nvmm_impl nvmm_x86_vmx = KVMX86_IMPL("x86-vmx", kvmx86_ident_vmx);
