/*
 * Scale: 128 machines with one running vCPU each (a thread each), then one
 * machine with 128 running vCPUs (threads), all at once. Each vCPU runs a
 * counting guest for a while; its counter must equal the HALTED exits
 * seen. Reports the time to create, run and destroy, and the memory used:
 * this process's RSS and PSS, and the host's (MemAvailable, and KVM's own
 * in Slab, KernelStack, PageTables and SecPageTables, i.e. EPT/NPT pages).
 *
 * NVMM_SCALE_FULL=1 adds the limit case: 128 machines x 128 vCPUs
 * (16384 vCPUs, ~16.6k descriptors), each vCPU run once from a pool of
 * threads. Not run by default: it takes the host's memory for a while.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "stress.h"

T_GUEST(stress_halt64);

#define N		128
#define RAM		0x80000		/* 512 KiB: code, tables, GDT */

struct worker {
	struct nvmm_machine *mach;
	struct nvmm_vcpu vcpu;
	pthread_t th;
	uint64_t halts, rax;
	int err;
};

static double deadline;
static struct worker workers[N];
static struct t_vm vms[N];

/* Memory after a destroy: the kernel frees some of KVM's lazily (RCU). */
static void
settle(struct s_mem *m)
{
	usleep(500000);
	s_mem_read(m);
}

/* ---- Running ---------------------------------------------------------------------- */

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	/* A few exits each at least: on 2 CPUs, some threads start late. */
	while (s_now() < deadline || w->halts < 100) {
		if (nvmm_vcpu_run(w->mach, &w->vcpu) == -1) {
			w->err = errno;
			return NULL;
		}
		if (w->vcpu.exit->reason == NVMM_VCPU_EXIT_HALTED)
			w->halts++;
	}
	if (nvmm_vcpu_getstate(w->mach, &w->vcpu, NVMM_X64_STATE_GPRS) == -1)
		w->err = errno;
	w->rax = w->vcpu.state->gprs[NVMM_X64_GPR_RAX];
	return NULL;
}

/*
 * All workers at once for 'seconds', memory sampled half way; 0 if every
 * counter matched.
 */
static unsigned int
run_all(double seconds, uint64_t *exits, struct s_mem *running)
{
	unsigned int bad = 0;
	uint64_t least = 0;

	deadline = s_now() + seconds;
	for (int i = 0; i < N; i++)
		if (pthread_create(&workers[i].th, NULL, worker_main,
		    &workers[i]) != 0)
			t_bail("pthread_create: %d", i);
	usleep((useconds_t)(seconds * 5e5));
	s_mem_read(running);
	*exits = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(workers[i].th, NULL);
		*exits += workers[i].halts;
		if (i == 0 || workers[i].halts < least)
			least = workers[i].halts;
		if (workers[i].err != 0 || workers[i].halts == 0 ||
		    workers[i].rax != workers[i].halts) {
			if (bad++ < 4)
				t_diag("  vCPU %d: %s, %llu halts, RAX %llu", i,
				    strerror(workers[i].err),
				    (unsigned long long)workers[i].halts,
				    (unsigned long long)workers[i].rax);
		}
	}
	t_diag("  fewest exits of a vCPU: %llu (mean %llu)",
	    (unsigned long long)least, (unsigned long long)(*exits / N));
	return bad;
}

/* The counting guest in 64-bit mode on one vCPU of a machine. */
static void
guest_on(struct t_vm *vm, struct nvmm_vcpu *vcpu)
{
	struct t_vm view = *vm;

	view.vcpu = *vcpu;
	t_vm_long_mode(&view, T_CODE_BASE, 0x8000);
	t_vm_set_gpr(&view, NVMM_X64_GPR_RAX, 0);
}

/* Times of the phases (t0..t3: create, run, destroy) and memory after each. */
static void
scale_report(const char *what, double t0, double t1, double t2, double t3,
    uint64_t exits, const struct s_mem *m0, const struct s_mem *m1,
    const struct s_mem *m2, const struct s_mem *m3)
{
	t_diag("%s: created in %.2f s, %llu exits in %.2f s (%.0f/s), "
	    "destroyed in %.2f s", what, t1 - t0, (unsigned long long)exits,
	    t2 - t1, (double)exits / (t2 - t1), t3 - t2);
	s_mem_diag("  created", m0, m1);
	s_mem_diag("  running", m0, m2);
	s_mem_diag("  destroyed", m0, m3);
}

/* ---- 128 machines, one vCPU each ---------------------------------------------------- */

static void
many_machines(void)
{
	struct s_mem m0, m1, m2, m3;
	double t0, t1, t2, t3;
	uint64_t exits;
	unsigned int bad;

	s_mem_read(&m0);
	t0 = s_now();
	for (int i = 0; i < N; i++) {
		t_vm_create(&vms[i], RAM);
		t_vm_load(&vms[i], T_CODE_BASE, stress_halt64_begin,
		    stress_halt64_end);
		guest_on(&vms[i], &vms[i].vcpu);
		workers[i].mach = &vms[i].mach;
		workers[i].vcpu = vms[i].vcpu;
	}
	t1 = s_now();
	s_mem_read(&m1);
	bad = run_all(2, &exits, &m2);
	t2 = s_now();
	for (int i = 0; i < N; i++) {
		t_vm_destroy(&vms[i]);
		munmap(vms[i].ram, vms[i].ram_size);
	}
	t3 = s_now();
	settle(&m3);
	scale_report("128 machines x 1 vCPU", t0, t1, t2, t3, exits, &m0, &m1,
	    &m2, &m3);
	t_ok(bad == 0, "128 machines ran at once: every guest counter equals "
	    "its HALTED exits (%u did not)", bad);
}

/* ---- One machine, 128 vCPUs ----------------------------------------------------------- */

static void
many_vcpus(void)
{
	struct s_mem m0, m1, m2, m3;
	double t0, t1, t2, t3;
	struct t_vm *vm = &vms[0];
	uint64_t exits;
	unsigned int bad;

	s_mem_read(&m0);
	t0 = s_now();
	t_vm_create(vm, RAM);
	t_vm_load(vm, T_CODE_BASE, stress_halt64_begin, stress_halt64_end);
	for (int i = 0; i < N; i++) {
		workers[i].mach = &vm->mach;
		if (i == 0)
			workers[i].vcpu = vm->vcpu;
		else
			T_CHECK(nvmm_vcpu_create(&vm->mach, (nvmm_cpuid_t)i,
			    &workers[i].vcpu));
		guest_on(vm, &workers[i].vcpu);
		workers[i].halts = workers[i].rax = 0;
		workers[i].err = 0;
	}
	t1 = s_now();
	s_mem_read(&m1);
	bad = run_all(2, &exits, &m2);
	t2 = s_now();
	t_vm_destroy(vm);
	t3 = s_now();
	settle(&m3);
	scale_report("1 machine x 128 vCPUs", t0, t1, t2, t3, exits, &m0, &m1,
	    &m2, &m3);
	t_ok(bad == 0, "128 vCPUs ran at once: every guest counter equals its "
	    "HALTED exits (%u did not)", bad);
}

/* ---- The limit: 128 x 128 ----------------------------------------------------------------- */

static atomic_int full_next;
static struct nvmm_vcpu (*full_vcpus)[N];

/* Runs vCPUs one after another until each has run once. */
static void *
full_runner(void *arg)
{
	int i;

	(void)arg;
	while ((i = atomic_fetch_add(&full_next, 1)) < N * N) {
		struct nvmm_vcpu *v = &full_vcpus[i / N][i % N];

		if (nvmm_vcpu_run(&vms[i / N].mach, v) == -1 ||
		    v->exit->reason == NVMM_VCPU_EXIT_INVALID)
			return (void *)1;
	}
	return NULL;
}

static void
full_scale(void)
{
	struct s_mem m0, m1, m2;
	struct rlimit rl;
	double t0, t1, t2;
	pthread_t th[8];
	bool failed = false;

	full_vcpus = calloc(N, sizeof(*full_vcpus));
	if (full_vcpus == NULL)
		t_bail("calloc");
	s_mem_read(&m0);
	t0 = s_now();
	for (int i = 0; i < N; i++) {
		t_vm_create(&vms[i], RAM);
		t_vm_load(&vms[i], T_CODE_BASE, stress_halt64_begin,
		    stress_halt64_end);
		for (int c = 0; c < N; c++) {
			if (c == 0)
				full_vcpus[i][c] = vms[i].vcpu;
			else
				T_CHECK(nvmm_vcpu_create(&vms[i].mach,
				    (nvmm_cpuid_t)c, &full_vcpus[i][c]));
			guest_on(&vms[i], &full_vcpus[i][c]);
		}
	}
	t1 = s_now();
	s_mem_read(&m1);
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, full_runner, NULL);
	for (int i = 0; i < 8; i++) {
		void *r;

		pthread_join(th[i], &r);
		failed |= (r != NULL);
	}
	t2 = s_now();
	getrlimit(RLIMIT_NOFILE, &rl);
	t_diag("128 x 128 vCPUs: created in %.1f s, each run once in %.1f s; "
	    "RLIMIT_NOFILE soft limit now %llu", t1 - t0, t2 - t1,
	    (unsigned long long)rl.rlim_cur);
	s_mem_diag("  created", &m0, &m1);
	for (int i = 0; i < N; i++) {
		t_vm_destroy(&vms[i]);
		munmap(vms[i].ram, vms[i].ram_size);
	}
	settle(&m2);
	s_mem_diag("  destroyed", &m0, &m2);
	t_ok(!failed, "16384 vCPUs in 128 machines each ran");
	free(full_vcpus);
}

int
main(void)
{
	const char *full = getenv("NVMM_SCALE_FULL");

	t_require_nvmm();
	(void)s_private_rundir("scale");
	t_plan(3);
	s_watchdog_start(600);
	many_machines();
	many_vcpus();
	if (full != NULL && full[0] == '1')
		full_scale();
	else
		t_skip("128 x 128 vCPUs: set NVMM_SCALE_FULL=1");
	s_watchdog_stop();
	return t_done();
}
