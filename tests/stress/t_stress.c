/*
 * Concurrency stress: for a bounded time, at once,
 * - runners run a counting guest (one HLT per loop, RAX counts loops)
 *   that reads a window of guest memory;
 * - mappers map and unmap that window (gpa_map/gpa_unmap) and register
 *   and drop host ranges on the runners' machines;
 * - a stopper stops the runners' vCPUs at random;
 * - lifecycle threads create machines with vCPUs whose threads spin in
 *   the guest, then destroy the vCPUs or the machine under them;
 * - a chaos stopper stops the lifecycle vCPUs, alive or destroyed.
 * A watchdog fails the test on a hang. Checked: the guest's counter equals
 * the HALTED exits seen, every read of the window saw the page or the MMIO
 * callback's data, every run loop ends with ENOENT once its machine is
 * gone, no machine id is handed out twice, and the registry ends empty.
 * Run it under TSan with tests/stress/tsan.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stress.h"

T_GUEST(stress_count64);
extern const uint8_t stress_count64_hlt[];
T_GUEST(stress_spin16);

#define NRUNNERS	2
#define NLIFE		2
#define LIFE_VCPUS	3
#define WINDOW_GPA	0x400000ULL
#define PAGE		4096
#define PAGE_PATTERN	0x4547415045474150ULL	/* "PAGEPAGE" */
#define MMIO_PATTERN	0x4f494d4d4f494d4dULL	/* "MMIOMMIO" */

static double deadline;
static atomic_int failures;

static void
fail(const char *what, int err)
{
	/* Reported once at the end; the first few are described here. */
	if (atomic_fetch_add(&failures, 1) < 8)
		t_diag("FAILED: %s: %s", what, strerror(err));
}

static unsigned int
pick(unsigned int *seed, unsigned int n)
{
	return (unsigned int)rand_r(seed) % n;
}

/* ---- Runners --------------------------------------------------------------------- */

struct runner {
	struct t_vm vm;
	pthread_t th;
	struct s_thread *st;
	uint64_t halts, stops, mmio, page_reads, mmio_reads, bad_reads;
	uint64_t rax, rip;
	int err;
};

static struct runner runners[NRUNNERS];

static void
cb_mem(struct nvmm_mem *mem)
{
	uint64_t v = MMIO_PATTERN;

	if (!mem->write)
		memcpy(mem->data, &v, mem->size < 8 ? mem->size : 8);
}

static void
runner_halted(struct runner *r)
{
	uint64_t rbx = t_vm_gpr(&r->vm, NVMM_X64_GPR_RBX);

	r->halts++;
	if (rbx == PAGE_PATTERN)
		r->page_reads++;
	else if (rbx == MMIO_PATTERN)
		r->mmio_reads++;
	else
		r->bad_reads++;
}

static void *
runner_main(void *arg)
{
	struct runner *r = arg;
	struct nvmm_vcpu_exit *exit = r->vm.vcpu.exit;

	while (s_now() < deadline) {
		s_at(r->st, "nvmm_vcpu_run");
		if (nvmm_vcpu_run(&r->vm.mach, &r->vm.vcpu) == -1) {
			r->err = errno;
			break;
		}
		switch (exit->reason) {
		case NVMM_VCPU_EXIT_HALTED:
			s_at(r->st, "getstate");
			runner_halted(r);
			break;
		case NVMM_VCPU_EXIT_MEMORY:
			s_at(r->st, "nvmm_assist_mem");
			if (nvmm_assist_mem(&r->vm.mach, &r->vm.vcpu) == -1)
				fail("assist_mem", errno);
			r->mmio++;
			break;
		case NVMM_VCPU_EXIT_STOPPED:
			r->stops++;
			break;
		case NVMM_VCPU_EXIT_NONE:
			break;
		default:
			fail("unexpected exit", EPROTO);
			r->err = EPROTO;
			return NULL;
		}
	}
	r->rax = t_vm_gpr(&r->vm, NVMM_X64_GPR_RAX);
	r->rip = t_vm_gpr(&r->vm, NVMM_X64_GPR_RIP);
	s_at(r->st, "done");
	return NULL;
}

static void
runner_start(struct runner *r, int i)
{
	struct nvmm_assist_callbacks cbs = { NULL, cb_mem };

	t_vm_create(&r->vm, 0);
	t_vm_load(&r->vm, T_CODE_BASE, stress_count64_begin, stress_count64_end);
	t_vm_long_mode(&r->vm, T_CODE_BASE, 0x8000);
	t_vm_set_gpr(&r->vm, NVMM_X64_GPR_RAX, 0);
	T_CHECK(nvmm_vcpu_configure(&r->vm.mach, &r->vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	r->st = s_thread_register("runner %d", i);
	if (pthread_create(&r->th, NULL, runner_main, r) != 0)
		t_bail("pthread_create");
}

/* ---- Mappers: the runner's window comes and goes ------------------------------------ */

struct mapper {
	struct runner *r;
	pthread_t th;
	struct s_thread *st;
	uint64_t cycles, hcycles;
};

static struct mapper mappers[NRUNNERS];

/* A host range registered and dropped again, beside the guest's. */
static void
mapper_host_range(struct mapper *mp)
{
	struct nvmm_machine *mach = &mp->r->vm.mach;
	void *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		t_bail("mmap");
	s_at(mp->st, "nvmm_hva_map");
	if (nvmm_hva_map(mach, (uintptr_t)p, 4 * PAGE) == -1)
		fail("hva_map", errno);
	s_at(mp->st, "nvmm_hva_unmap");
	if (nvmm_hva_unmap(mach, (uintptr_t)p, 4 * PAGE) == -1)
		fail("hva_unmap", errno);
	mp->hcycles++;
}

static void *
mapper_main(void *arg)
{
	struct mapper *mp = arg;
	struct nvmm_machine *mach = &mp->r->vm.mach;
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	uint64_t *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED)
		t_bail("mmap");
	T_CHECK(nvmm_hva_map(mach, (uintptr_t)page, PAGE));
	for (size_t i = 0; i < PAGE / 8; i++)
		page[i] = PAGE_PATTERN;
	while (s_now() < deadline) {
		s_at(mp->st, "nvmm_gpa_map");
		if (nvmm_gpa_map(mach, (uintptr_t)page, WINDOW_GPA, PAGE,
		    PROT_READ | PROT_WRITE) == -1)
			fail("gpa_map", errno);
		usleep(pick(&seed, 300));
		s_at(mp->st, "nvmm_gpa_unmap");
		if (nvmm_gpa_unmap(mach, (uintptr_t)page, WINDOW_GPA, PAGE) ==
		    -1)
			fail("gpa_unmap", errno);
		usleep(pick(&seed, 300));
		if (++mp->cycles % 8 == 0)
			mapper_host_range(mp);
	}
	s_at(mp->st, "done");
	return NULL;
}

/* ---- Stoppers ------------------------------------------------------------------------- */

/* The lifecycle vCPUs' stop words, alive or destroyed, for the chaos stopper. */
static volatile int *_Atomic life_stops[NLIFE * LIFE_VCPUS];
static atomic_ulong stale_stops, bad_stops;

static void *
stopper_main(void *arg)
{
	struct s_thread *st = arg;
	unsigned int seed = 1;

	while (s_now() < deadline) {
		struct runner *r = &runners[pick(&seed, NRUNNERS)];

		s_at(st, "nvmm_vcpu_stop");
		if (nvmm_vcpu_stop(&r->vm.vcpu) == -1)
			fail("stop", errno);
		usleep(pick(&seed, 1000));
	}
	s_at(st, "done");
	return NULL;
}

/* Stops lifecycle vCPUs whenever, also while they are being destroyed. */
static void *
chaos_main(void *arg)
{
	struct s_thread *st = arg;
	unsigned int seed = 2;

	while (s_now() < deadline) {
		struct nvmm_vcpu v;

		memset(&v, 0, sizeof(v));
		v.stop = atomic_load(&life_stops[pick(&seed,
		    NLIFE * LIFE_VCPUS)]);
		if (v.stop == NULL)
			continue;
		s_at(st, "nvmm_vcpu_stop");
		if (nvmm_vcpu_stop(&v) == -1) {
			if (errno == EINVAL)
				atomic_fetch_add(&stale_stops, 1);
			else
				atomic_fetch_add(&bad_stops, 1);
		}
		if (pick(&seed, 4) == 0)
			usleep(pick(&seed, 200));
	}
	s_at(st, "done");
	return NULL;
}

/* ---- Lifecycles: machines destroyed under their running vCPUs ----------------------- */

static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ids_live[NVMM_MAX_MACHINES];
static atomic_ulong ids_twice;

struct spinner {
	struct nvmm_machine *mach;
	struct nvmm_vcpu vcpu;
	pthread_t th;
	uint64_t runs;
	int err;
};

/* Runs until the vCPU or machine is gone; never reads vcpu->exit. */
static void *
spinner_main(void *arg)
{
	struct spinner *sp = arg;

	while (nvmm_vcpu_run(sp->mach, &sp->vcpu) == 0)
		sp->runs++;
	sp->err = errno;
	return NULL;
}

struct life {
	int index;
	pthread_t th;
	struct s_thread *st;
	uint64_t cycles, runs, not_enoent;
};

static struct life lives[NLIFE];

static void
life_id(nvmm_machid_t id, bool live)
{
	pthread_mutex_lock(&ids_lock);
	if (live && ids_live[id])
		atomic_fetch_add(&ids_twice, 1);
	ids_live[id] = live;
	pthread_mutex_unlock(&ids_lock);
}

/* A machine with RAM holding the spinner, and n vCPUs running it. */
static void
life_build(struct life *l, struct t_vm *vm, struct spinner *sp, unsigned int n)
{
	s_at(l->st, "create");
	t_vm_create(vm, 0x20000);
	life_id(vm->mach.machid, true);
	t_vm_load(vm, 0x10000, stress_spin16_begin, stress_spin16_end);
	for (unsigned int i = 0; i < n; i++) {
		sp[i].mach = &vm->mach;
		if (i == 0)
			sp[i].vcpu = vm->vcpu;
		else
			T_CHECK(nvmm_vcpu_create(&vm->mach, i, &sp[i].vcpu));
		T_CHECK(nvmm_vcpu_getstate(&vm->mach, &sp[i].vcpu,
		    NVMM_X64_STATE_ALL));
		for (int s = 0; s < NVMM_X64_SEG_GDT; s++) {
			sp[i].vcpu.state->segs[s].selector = 0x1000;
			sp[i].vcpu.state->segs[s].base = 0x10000;
		}
		sp[i].vcpu.state->gprs[NVMM_X64_GPR_RIP] = 0;
		T_CHECK(nvmm_vcpu_setstate(&vm->mach, &sp[i].vcpu,
		    NVMM_X64_STATE_SEGS | NVMM_X64_STATE_GPRS));
		atomic_store(&life_stops[l->index * LIFE_VCPUS + i],
		    sp[i].vcpu.stop);
		if (pthread_create(&sp[i].th, NULL, spinner_main, &sp[i]) != 0)
			t_bail("pthread_create");
	}
}

static void
life_teardown(struct life *l, struct t_vm *vm, struct spinner *sp,
    unsigned int n, unsigned int how)
{
	if (how == 1) {
		/* The vCPUs first, one by one, under their threads. */
		s_at(l->st, "nvmm_vcpu_destroy");
		for (unsigned int i = 0; i < n; i++)
			if (nvmm_vcpu_destroy(&vm->mach, &sp[i].vcpu) == -1)
				fail("vcpu_destroy", errno);
	}
	life_id(vm->mach.machid, false);
	s_at(l->st, "nvmm_machine_destroy");
	if (nvmm_machine_destroy(&vm->mach) == -1)
		fail("machine_destroy", errno);
	s_at(l->st, "join spinners");
	for (unsigned int i = 0; i < n; i++) {
		pthread_join(sp[i].th, NULL);
		l->runs += sp[i].runs;
		if (sp[i].err != ENOENT && l->not_enoent++ == 0)
			t_diag("a run loop ended with %s", strerror(sp[i].err));
	}
	munmap(vm->ram, vm->ram_size);
}

static void *
life_main(void *arg)
{
	struct life *l = arg;
	unsigned int seed = 100 + (unsigned int)l->index;
	struct spinner sp[LIFE_VCPUS];
	struct t_vm vm;

	while (s_now() < deadline) {
		unsigned int n = 1 + pick(&seed, LIFE_VCPUS);

		memset(sp, 0, sizeof(sp));
		life_build(l, &vm, sp, n);
		s_at(l->st, "sleep");
		usleep(pick(&seed, 3000));
		life_teardown(l, &vm, sp, n, pick(&seed, 2));
		l->cycles++;
	}
	s_at(l->st, "done");
	return NULL;
}

/* ---- Main -------------------------------------------------------------------------------- */

static void
start_all(pthread_t *stopper, pthread_t *chaos)
{
	for (int i = 0; i < NRUNNERS; i++)
		runner_start(&runners[i], i);
	for (int i = 0; i < NRUNNERS; i++) {
		mappers[i].r = &runners[i];
		mappers[i].st = s_thread_register("mapper %d", i);
		if (pthread_create(&mappers[i].th, NULL, mapper_main,
		    &mappers[i]) != 0)
			t_bail("pthread_create");
	}
	for (int i = 0; i < NLIFE; i++) {
		lives[i].index = i;
		lives[i].st = s_thread_register("lifecycle %d", i);
		if (pthread_create(&lives[i].th, NULL, life_main,
		    &lives[i]) != 0)
			t_bail("pthread_create");
	}
	if (pthread_create(stopper, NULL, stopper_main,
	    s_thread_register("stopper")) != 0 ||
	    pthread_create(chaos, NULL, chaos_main,
	    s_thread_register("chaos stopper")) != 0)
		t_bail("pthread_create");
}

static void
join_all(pthread_t stopper, pthread_t chaos)
{
	pthread_join(stopper, NULL);
	pthread_join(chaos, NULL);
	for (int i = 0; i < NLIFE; i++)
		pthread_join(lives[i].th, NULL);
	for (int i = 0; i < NRUNNERS; i++) {
		pthread_join(mappers[i].th, NULL);
		pthread_join(runners[i].th, NULL);
	}
}

static void
check_runners(void)
{
	for (int i = 0; i < NRUNNERS; i++) {
		struct runner *r = &runners[i];

		t_diag("runner %d: %llu halts, %llu MMIO exits, %llu stops; "
		    "reads: %llu page, %llu MMIO", i,
		    (unsigned long long)r->halts, (unsigned long long)r->mmio,
		    (unsigned long long)r->stops,
		    (unsigned long long)r->page_reads,
		    (unsigned long long)r->mmio_reads);
		/* A last stop may land between the count and its HLT. */
		uint64_t hlt = T_CODE_BASE +
		    (uint64_t)(stress_count64_hlt - stress_count64_begin);
		uint64_t pending = (r->rip == hlt);

		t_ok(r->err == 0 && r->halts > 0 && r->rax == r->halts + pending,
		    "runner %d: guest counter %llu = HALTED exits %llu%s", i,
		    (unsigned long long)r->rax, (unsigned long long)r->halts,
		    pending ? " + 1 counted, stopped before its HLT" : "");
		t_ok(r->bad_reads == 0, "runner %d: every read saw the page or "
		    "MMIO (%llu did not)", i,
		    (unsigned long long)r->bad_reads);
	}
}

static void
check_others(void)
{
	uint64_t cycles = 0, runs = 0, bad = 0, mcycles = 0;

	for (int i = 0; i < NRUNNERS; i++)
		mcycles += mappers[i].cycles;
	t_ok(mcycles > 0, "mappers: %llu map/unmap cycles",
	    (unsigned long long)mcycles);
	for (int i = 0; i < NLIFE; i++) {
		cycles += lives[i].cycles;
		runs += lives[i].runs;
		bad += lives[i].not_enoent;
	}
	t_ok(cycles > 0 && bad == 0, "lifecycles: %llu machines destroyed "
	    "under %llu runs; every run loop ended with ENOENT (%llu did not)",
	    (unsigned long long)cycles, (unsigned long long)runs,
	    (unsigned long long)bad);
	t_ok(atomic_load(&ids_twice) == 0, "no machine id handed out twice");
	t_ok(atomic_load(&bad_stops) == 0, "stops of destroyed vCPUs: EINVAL "
	    "(%lu), never another error", atomic_load(&stale_stops));
	t_ok(atomic_load(&failures) == 0, "no call failed (%d did)",
	    atomic_load(&failures));
}

int
main(void)
{
	double seconds = s_seconds(4);
	const char *rundir;
	pthread_t stopper, chaos;

	t_require_nvmm();
	rundir = s_private_rundir("stress");
	t_plan(2 * NRUNNERS + 6);
	deadline = s_now() + seconds;
	/* Generous: sanitizers (TSan) slow everything down several times. */
	s_watchdog_start(seconds + 120);
	start_all(&stopper, &chaos);
	join_all(stopper, chaos);
	s_watchdog_stop();

	check_runners();
	check_others();
	for (int i = 0; i < NRUNNERS; i++)
		t_vm_destroy(&runners[i].vm);
	t_ok(s_registry_held(rundir) == 0, "registry empty at the end");
	return t_done();
}
