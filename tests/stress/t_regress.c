/*
 * Regressions found by the fuzzers (fuzz/) that a deterministic test pins
 * down; the races found by the stress test stay covered by t_stress.
 *
 * Nested host ranges (fuzz/corpus/api/seed-nested): a host range may be
 * registered inside another one. Unmapping the inner one used to munmap
 * memory the outer one still registered, and the page walker then read
 * guest page tables there and crashed (SIGSEGV in nvmm_gva_to_gpa).
 *
 * Signals (fuzz/fuzz_api.c's stop timer): KVM_CREATE_VM fails with EINTR
 * when a signal is pending, even under SA_RESTART, and so did
 * nvmm_machine_create(). Here a thread sends signals every few
 * microseconds to one that makes machines and uses every call.
 *
 * Destroyed vCPUs (fuzz/ long runs): their structures were kept for good
 * so that a stale stop stayed harmless, and a process that kept making
 * vCPUs grew without bound (2.7 KB each). Only the small stop cell stays,
 * and one vCPU object per (machine id, vCPU id) ever used, which every
 * later creation there reuses.
 *
 * Destroys racing (review of the lock-free lookups): a machine destroy
 * kicked a vCPU that another thread was still creating, before the backend
 * had made it (a NULL dereference in the kick). And two threads destroying
 * one vCPU or one machine could both tear it down, had both looked it up
 * before either unlinked it (a narrow window, never seen to fail): now one
 * destroys it, the other gets ENOENT.
 *
 * Re-creating a vCPU id (review of the parked KVM vCPUs, x86-kvm/kvm.c):
 * KVM refuses an id it still has (EEXIST). A creation racing the destroy
 * of the same id must see the id taken (EBUSY) until the backend parked
 * its KVM vCPU, and then get it, never EEXIST.
 *
 * Comm-page calls racing a destroy (setstate and a cached getstate take
 * no use of their vCPU, whose object is type-stable): a thread that sets
 * the state of a vCPU another thread destroys and creates again, a
 * program bug under NVMM's rules, gets 0 or ENOENT, and never writes
 * into freed memory (ASan) or crashes.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define PAGE	4096UL

static bool
mapped(const uint8_t *p)
{
	return msync((void *)p, PAGE, MS_ASYNC) == 0;
}

static uint8_t *
area(size_t pages)
{
	void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	return p;
}

/* Paging on, CR3 at gpa 0x5000 (page 5 of the outer range), then a walk. */
static int
walk_tables_in(struct t_vm *vm)
{
	struct nvmm_x64_state *st = vm->vcpu.state;
	gpaddr_t gpa;
	nvmm_prot_t prot;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	st->crs[NVMM_X64_CR_CR0] |= 0x80000001;
	st->crs[NVMM_X64_CR_CR3] = 0x5000;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_CRS));
	return nvmm_gva_to_gpa(&vm->mach, &vm->vcpu, 0x1234, &gpa, &prot);
}

/* Outer 16 pages, inner pages 4-7: drop the inner, the guest keeps all. */
static void
inner_dropped(void)
{
	struct t_vm vm;
	uint8_t *outer = area(16);

	memset(&vm, 0, sizeof(vm));
	T_CHECK(nvmm_machine_create(&vm.mach));
	T_CHECK(nvmm_vcpu_create(&vm.mach, 0, &vm.vcpu));
	T_CHECK(nvmm_hva_map(&vm.mach, (uintptr_t)outer, 16 * PAGE));
	T_CHECK(nvmm_hva_map(&vm.mach, (uintptr_t)outer + 4 * PAGE, 4 * PAGE));
	T_CHECK(nvmm_hva_unmap(&vm.mach, (uintptr_t)outer + 4 * PAGE,
	    4 * PAGE));
	t_ok(mapped(outer + 5 * PAGE), "inner range unmapped: the outer "
	    "range keeps its memory");
	T_CHECK(nvmm_gpa_map(&vm.mach, (uintptr_t)outer, 0, 16 * PAGE,
	    PROT_READ | PROT_WRITE));
	t_ok(walk_tables_in(&vm) == -1 && errno == EFAULT,
	    "a walk through tables there: EFAULT (empty tables), no crash");
	T_CHECK(nvmm_machine_destroy(&vm.mach));
}

/* The outer range dropped: only the inner one stays mapped. */
static void
outer_dropped(void)
{
	struct nvmm_machine mach;
	uint8_t *outer = area(16);

	T_CHECK(nvmm_machine_create(&mach));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)outer, 16 * PAGE));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)outer + 4 * PAGE, 4 * PAGE));
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)outer, 16 * PAGE));
	t_ok(mapped(outer + 4 * PAGE) && mapped(outer + 7 * PAGE),
	    "outer range unmapped: the inner range keeps its memory");
	t_ok(!mapped(outer) && !mapped(outer + 8 * PAGE),
	    "outer range unmapped: the rest of it is gone");
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)outer + 4 * PAGE, 4 * PAGE));
	t_ok(!mapped(outer + 4 * PAGE), "the inner range unmapped in turn");
	T_CHECK(nvmm_machine_destroy(&mach));
}

/* The same range twice: it stays until the second unmap. */
static void
twice(void)
{
	struct nvmm_machine mach;
	uint8_t *p = area(2);

	T_CHECK(nvmm_machine_create(&mach));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)p, 2 * PAGE));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)p, 2 * PAGE));
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)p, 2 * PAGE));
	t_ok(mapped(p) && mapped(p + PAGE), "a range registered twice stays "
	    "after one unmap");
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)p, 2 * PAGE));
	t_ok(!mapped(p), "and goes after the second");
	T_CHECK(nvmm_machine_destroy(&mach));
}

/* ---- Signals ------------------------------------------------------------------ */

static atomic_int storm_on;
static pid_t storm_target;

static void
storm_handler(int sig)
{
	(void)sig;
}

static void *
storm_main(void *arg)
{
	(void)arg;
	while (atomic_load(&storm_on)) {
		syscall(SYS_tgkill, getpid(), storm_target, SIGUSR1);
		usleep(20);
	}
	return NULL;
}

/* One machine's whole life; the first call that fails, or NULL. */
static const char *
storm_machine(void)
{
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const char *failed = NULL;

	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	if (nvmm_machine_create(&mach) == -1)
		failed = "nvmm_machine_create";
	else if (nvmm_vcpu_create(&mach, 0, &vcpu) == -1)
		failed = "nvmm_vcpu_create";
	else if (nvmm_hva_map(&mach, (uintptr_t)p, 1 << 20) == -1)
		failed = "nvmm_hva_map";
	else if (nvmm_gpa_map(&mach, (uintptr_t)p, 0, 1 << 20,
	    PROT_READ | PROT_WRITE | PROT_EXEC) == -1)
		failed = "nvmm_gpa_map";
	else if (nvmm_vcpu_run(&mach, &vcpu) == -1)
		failed = "nvmm_vcpu_run";
	else if (nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_ALL) == -1)
		failed = "nvmm_vcpu_getstate";
	else if (nvmm_gpa_unmap(&mach, (uintptr_t)p, 0, 1 << 20) == -1)
		failed = "nvmm_gpa_unmap";
	else if (nvmm_machine_destroy(&mach) == -1)
		failed = "nvmm_machine_destroy";
	if (failed != NULL)
		t_diag("%s: %s", failed, strerror(errno));
	munmap(p, 1 << 20);
	return failed;
}

/* A handler without SA_RESTART: every interruptible call sees EINTR. */
static void
signal_storm(void)
{
	struct sigaction sa;
	unsigned int failed = 0;
	pthread_t th;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = storm_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	storm_target = gettid();
	atomic_store(&storm_on, 1);
	if (pthread_create(&th, NULL, storm_main, NULL) != 0)
		t_bail("pthread_create");
	for (int i = 0; i < 100; i++)
		failed += (storm_machine() != NULL);
	atomic_store(&storm_on, 0);
	pthread_join(th, NULL);
	t_ok(failed == 0, "100 machines made, run and destroyed under a "
	    "storm of signals (%u failed)", failed);
}

/* Heap in use, in KiB (ASan quarantines what is freed: no measure there). */
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_MEASURED	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_MEASURED	0
#endif
#endif
#ifndef HEAP_MEASURED
#define HEAP_MEASURED	1
#endif

static long
heap_kib(void)
{
	return (long)(mallinfo2().uordblks / 1024);
}

/*
 * Each round costs a KVM VM's creation and teardown (~10 ms of waiting on a
 * loaded host, little CPU): 400 rounds are enough, since the leak this pins
 * (2.7 KB a vCPU) would grow the heap by ~1 MiB, four times the bound.
 */
static void
vcpu_churn(void)
{
	const int rounds = 400;
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu, old;
	long before = 0, growth;
	bool stale;

	for (int warm = 0; warm < 2; warm++) {
		before = heap_kib();
		for (int i = 0; i < rounds; i++) {
			T_CHECK(nvmm_machine_create(&mach));
			T_CHECK(nvmm_vcpu_create(&mach, 0, &vcpu));
			T_CHECK(nvmm_machine_destroy(&mach));
			old = vcpu;
		}
	}
	growth = heap_kib() - before;
	/* A stop through any destroyed vCPU's handle: EINVAL, nothing else. */
	errno = 0;
	stale = nvmm_vcpu_stop(&old) == -1 && errno == EINVAL;
	if (HEAP_MEASURED)
		t_ok(growth < 256, "%d vCPUs made and destroyed: the heap grew "
		    "%ld KiB (< 256 KiB)", rounds, growth);
	else
		t_skip("heap growth: ASan quarantines freed memory");
	t_ok(stale, "a stop through a destroyed vCPU's handle gives EINVAL");
}

/* ---- Destroys racing ------------------------------------------------------------- */

struct racer {
	pthread_barrier_t *go;
	struct nvmm_machine *mach;
	struct nvmm_vcpu *vcpu;		/* NULL: destroy the machine */
	int error;
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;
	int rc;

	pthread_barrier_wait(r->go);
	if (r->vcpu != NULL)
		rc = nvmm_vcpu_destroy(r->mach, r->vcpu);
	else
		rc = nvmm_machine_destroy(r->mach);
	r->error = rc == 0 ? 0 : errno;
	return NULL;
}

/* Two threads destroy the same object: one does, the other gets ENOENT. */
static void
destroy_twice(bool vcpu_only)
{
	const int rounds = 200;
	unsigned int bad = 0;

	for (int i = 0; i < rounds; i++) {
		struct nvmm_machine mach;
		struct nvmm_vcpu vcpu;
		pthread_barrier_t go;
		struct racer r[2];
		pthread_t th[2];

		T_CHECK(nvmm_machine_create(&mach));
		T_CHECK(nvmm_vcpu_create(&mach, 0, &vcpu));
		pthread_barrier_init(&go, NULL, 2);
		for (int k = 0; k < 2; k++) {
			r[k] = (struct racer){ &go, &mach,
			    vcpu_only ? &vcpu : NULL, -1 };
			if (pthread_create(&th[k], NULL, racer_main, &r[k]))
				t_bail("pthread_create");
		}
		for (int k = 0; k < 2; k++)
			pthread_join(th[k], NULL);
		pthread_barrier_destroy(&go);
		if (!((r[0].error == 0 && r[1].error == ENOENT) ||
		    (r[0].error == ENOENT && r[1].error == 0))) {
			t_diag("round %d: errors %d and %d", i, r[0].error,
			    r[1].error);
			bad++;
		}
		if (vcpu_only)
			T_CHECK(nvmm_machine_destroy(&mach));
	}
	t_ok(bad == 0, "%d %s destroyed by two threads at once: one "
	    "destroys, the other gets ENOENT", rounds,
	    vcpu_only ? "vCPUs" : "machines");
}

struct maker {
	pthread_barrier_t *go;
	struct nvmm_machine *mach;
	int made;
	int error;
};

/* vCPUs 1, 2, ... until the machine goes. */
static void *
maker_main(void *arg)
{
	struct maker *mk = arg;
	struct nvmm_vcpu vcpu;

	pthread_barrier_wait(mk->go);
	for (nvmm_cpuid_t id = 1; id < NVMM_MAX_VCPUS; id++) {
		if (nvmm_vcpu_create(mk->mach, id, &vcpu) == -1) {
			mk->error = errno;
			return NULL;
		}
		mk->made++;
	}
	return NULL;
}

/* A machine destroyed while another thread creates its vCPUs. */
static void
destroy_while_creating(void)
{
	const int rounds = 50;
	unsigned int bad = 0, cut = 0;

	for (int i = 0; i < rounds; i++) {
		struct nvmm_machine mach;
		struct nvmm_vcpu vcpu;
		pthread_barrier_t go;
		struct maker mk;
		pthread_t th;

		T_CHECK(nvmm_machine_create(&mach));
		T_CHECK(nvmm_vcpu_create(&mach, 0, &vcpu));
		pthread_barrier_init(&go, NULL, 2);
		mk = (struct maker){ &go, &mach, 0, 0 };
		if (pthread_create(&th, NULL, maker_main, &mk) != 0)
			t_bail("pthread_create");
		pthread_barrier_wait(&go);
		usleep((useconds_t)(i * 20));
		T_CHECK(nvmm_machine_destroy(&mach));
		pthread_join(th, NULL);
		pthread_barrier_destroy(&go);
		cut += (mk.made < NVMM_MAX_VCPUS - 1);
		if (mk.error != 0 && mk.error != ENOENT) {
			t_diag("round %d: vCPU creation: %s", i,
			    strerror(mk.error));
			bad++;
		}
	}
	t_diag("%u of %d rounds destroyed the machine mid-creations", cut,
	    rounds);
	t_ok(bad == 0, "%d machines destroyed while a thread creates their "
	    "vCPUs: creations succeed or get ENOENT", rounds);
}

/* ---- Re-creating a vCPU id ----------------------------------------------------------- */

#define RECREATE_TRIES	1000000

struct recreator {
	pthread_barrier_t *go;
	struct nvmm_machine *mach;
	struct nvmm_vcpu vcpu;
	int error;		/* 0: made; else the first error but EBUSY */
};

/* vCPU 1, again and again while it is taken, until made. */
static void *
recreator_main(void *arg)
{
	struct recreator *rc = arg;

	pthread_barrier_wait(rc->go);
	for (int i = 0; i < RECREATE_TRIES; i++) {
		if (nvmm_vcpu_create(rc->mach, 1, &rc->vcpu) == 0) {
			rc->error = 0;
			return NULL;
		}
		if (errno != EBUSY) {
			rc->error = errno;
			return NULL;
		}
		sched_yield();
	}
	rc->error = ETIMEDOUT;
	return NULL;
}

static void
recreate_racing(void)
{
	const int rounds = 200;
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	unsigned int bad = 0;

	T_CHECK(nvmm_machine_create(&mach));
	T_CHECK(nvmm_vcpu_create(&mach, 1, &vcpu));
	for (int i = 0; i < rounds; i++) {
		struct recreator rc = { .mach = &mach, .error = -1 };
		pthread_barrier_t go;
		pthread_t th;

		pthread_barrier_init(&go, NULL, 2);
		rc.go = &go;
		if (pthread_create(&th, NULL, recreator_main, &rc) != 0)
			t_bail("pthread_create");
		pthread_barrier_wait(&go);
		T_CHECK(nvmm_vcpu_destroy(&mach, &vcpu));
		pthread_join(th, NULL);
		pthread_barrier_destroy(&go);
		if (rc.error != 0) {
			t_diag("round %d: vCPU 1 again: %s", i,
			    strerror(rc.error));
			bad++;
			break;
		}
		vcpu = rc.vcpu;
		T_CHECK(nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_GPRS));
		if (vcpu.state->gprs[NVMM_X64_GPR_RIP] != 0xFFF0)
			bad++;
	}
	T_CHECK(nvmm_machine_destroy(&mach));
	t_ok(bad == 0, "%d creations of vCPU 1 racing its destroy: EBUSY until "
	    "it is gone, then a vCPU in the RESET state", rounds);
}

/* ---- Comm-page calls racing a destroy ------------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN	1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN	1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN	0
#endif

#define SETTER_ROUNDS	200

struct setter {
	struct nvmm_machine *mach;
	struct nvmm_vcpu handles[SETTER_ROUNDS];	/* each written once */
	atomic_int current;		/* the live one's index; -1: stop */
	atomic_int served;		/* the last index a call succeeded on */
	unsigned long ok, gone, bad;
	int bad_errno;
};

static void *
setter_main(void *arg)
{
	struct setter *st = arg;
	int i;

	while ((i = atomic_load(&st->current)) >= 0) {
		struct nvmm_vcpu *v = &st->handles[i];
		int rc = nvmm_vcpu_setstate(st->mach, v, NVMM_X64_STATE_GPRS);

		if (rc == 0)
			rc = nvmm_vcpu_getstate(st->mach, v, NVMM_X64_STATE_GPRS);
		if (rc == 0) {
			st->ok++;
			atomic_store(&st->served, i);
		} else if (errno == ENOENT) {
			st->gone++;
		} else if (st->bad++ == 0) {
			st->bad_errno = errno;
		}
	}
	return NULL;
}

static void
comm_racing_destroy(void)
{
	struct nvmm_machine mach;
	struct setter *st;
	pthread_t th;

	if (UNDER_TSAN) {
		t_skip("setstate racing its vCPU's destroy: the race is the "
		    "point, TSan would report it");
		return;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		t_bail("calloc");
	T_CHECK(nvmm_machine_create(&mach));
	st->mach = &mach;
	T_CHECK(nvmm_vcpu_create(&mach, 1, &st->handles[0]));
	atomic_store(&st->served, -1);
	if (pthread_create(&th, NULL, setter_main, st) != 0)
		t_bail("pthread_create");
	for (int i = 1; i < SETTER_ROUNDS; i++) {
		/* Destroyed while the setter is at work on it: it was live. */
		while (atomic_load(&st->served) != i - 1)
			sched_yield();
		T_CHECK(nvmm_vcpu_destroy(&mach, &st->handles[i - 1]));
		T_CHECK(nvmm_vcpu_create(&mach, 1, &st->handles[i]));
		atomic_store(&st->current, i);
	}
	atomic_store(&st->current, -1);
	pthread_join(th, NULL);
	T_CHECK(nvmm_machine_destroy(&mach));
	if (st->bad != 0)
		t_diag("%lu calls failed otherwise, first: %s", st->bad,
		    strerror(st->bad_errno));
	t_ok(st->bad == 0 && st->ok != 0 && st->gone != 0, "setstate and "
	    "getstate racing %d destroys and creations of their vCPU: 0 or "
	    "ENOENT (%lu, %lu)", SETTER_ROUNDS, st->ok, st->gone);
	free(st);
}

int
main(void)
{
	t_require_nvmm();
	t_plan(15);
	inner_dropped();
	outer_dropped();
	twice();
	signal_storm();
	vcpu_churn();
	destroy_twice(true);
	destroy_twice(false);
	destroy_while_creating();
	recreate_racing();
	comm_racing_destroy();
	return t_done();
}
