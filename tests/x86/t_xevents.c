/*
 * Events from another thread (issue 15): one thread runs the vCPU in a
 * loop, re-entering on NONE; another fills vcpu->event and calls
 * nvmm_vcpu_inject() meanwhile, without nvmm_vcpu_stop() or a signal of
 * its own. NVMM's kernel installs such an event at its next entry; here
 * the run returns NONE and the next run injects it.
 *
 * Checked: every event reaches a guest that spins with IF = 1 and never
 * exits, one that halts again and again, and one whose every OUT the
 * runner serves (so that each run after the first takes the run's fast
 * path, outside KVM_RUN a good share of the time), with runner threads
 * that block the kick signal (as QEMU's do) and that do not; the runner
 * sees NONE, HALTED, IO and the events' effect, never STOPPED, until the
 * test's own final stop; an injector hammering inject while the runner runs
 * loses nothing for good; an invalid event fails the next run (EINVAL).
 *
 * NVMM's target is delivery within 1 ms: the latencies are printed, not
 * asserted, as this host's timing is noisy. What is asserted is that no
 * event waits for a run that never ends: each arrives before the runner
 * thread had 1 s of CPU time since its inject. A kick lost leaves the
 * runner in the guest, whose spinning is the runner's CPU time; a host
 * too busy to run the runner (or this thread) gives it none, and delays
 * nothing that this bound counts. A wall-clock bound, 10 s, stands only
 * for a runner that never runs at all.
 *
 * An injector in another thread cannot know whether the guest can take
 * an interrupt, and NVMM injects at the next entry whatever the guest's
 * IF (nvmm_vcpu_inject: that is the emulator's to ensure). So the guests
 * here can take one at every instruction: IF = 1, and handlers behind
 * trap gates, which keep IF = 1. Behind an interrupt gate, a storm of
 * injections nests deliveries in the handler (IF = 0), deeper the less
 * each kicked entry runs, until the stack overflows (SHUTDOWN).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

#include "x86.h"

#define VECTOR		0x41	/* x86_h_count: counts at X86_COUNTER */
#define VECTOR_STORM	0x42	/* the hammer's: x86_xev_open_count */
#define VECTOR_LAST	0x43	/* x86_xev_open_last, at COUNTER_LAST */
#define COUNTER_LAST	0x62010
#define NEVENTS		40
#define CPU_BOUND_NS	1000000000LL	/* the runner's CPU time: 1 s */
#define WALL_BOUND_NS	10000000000LL	/* a runner that never runs: 10 s */
#define LATE_NS		1000000000LL	/* a delivery explained: 1 s */
#define TARGET_NS	1000000LL	/* NVMM's: 1 ms */
#define HAMMER_NS	500000000LL

T_GUEST(x86_xevents);
extern const uint8_t x86_xev_spin[], x86_xev_halt[], x86_xev_out[],
    x86_xev_open[],
    x86_xev_open_count[], x86_xev_open_last[];

struct runner {
	struct t_vm *vm;
	bool block_kick;	/* the thread blocks SIGRTMAX - 1 */
	pthread_t thread;
	clockid_t cpu_clock;	/* the runner thread's CPU time */
	atomic_bool done;
	_Atomic int64_t none_ns;	/* when a run last returned NONE */
	/* Written by the runner, read after the join. */
	unsigned long nnone, nhalted, nio, nstopped_early, nother;
	uint64_t last_reason, other_reason;
	int error;
};

static uint64_t
guest_tsc(struct t_vm *vm)
{
	return __atomic_load_n((uint64_t *)(vm->ram + X86_COUNTER_TSC),
	    __ATOMIC_ACQUIRE);
}

static uint64_t
counter_at(struct t_vm *vm, uint64_t gpa)
{
	return __atomic_load_n((uint64_t *)(vm->ram + gpa), __ATOMIC_ACQUIRE);
}

static uint64_t
counter(struct t_vm *vm)
{
	return counter_at(vm, X86_COUNTER);
}

/* ---- The runner thread ----------------------------------------------------- */

/* The I/O guest's OUTs: nothing to do but be served. */
static void
io_ignore(struct nvmm_io *io)
{
	(void)io;
}

static void *
runner_main(void *arg)
{
	struct runner *r = arg;
	sigset_t set;

	if (r->block_kick) {
		sigemptyset(&set);
		sigaddset(&set, SIGRTMAX - 1);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	/* Until the test's own stop: done first, then nvmm_vcpu_stop(). */
	for (;;) {
		if (nvmm_vcpu_run(&r->vm->mach, &r->vm->vcpu) == -1) {
			r->error = errno;
			break;
		}
		r->last_reason = r->vm->vcpu.exit->reason;
		if (r->last_reason == NVMM_VCPU_EXIT_STOPPED &&
		    atomic_load(&r->done))
			break;
		switch (r->last_reason) {
		case NVMM_VCPU_EXIT_NONE:
			atomic_store(&r->none_ns, t_now_ns());
			r->nnone++;
			break;
		case NVMM_VCPU_EXIT_HALTED:
			r->nhalted++;
			break;
		case NVMM_VCPU_EXIT_IO:
			/* Served: the next run takes the fast path. */
			if (nvmm_assist_io(&r->vm->mach, &r->vm->vcpu) == -1) {
				r->error = errno;
				return NULL;
			}
			r->nio++;
			break;
		case NVMM_VCPU_EXIT_STOPPED:
			r->nstopped_early++;
			break;
		default:
			r->nother++;
			r->other_reason = r->last_reason;
			break;
		}
	}
	return NULL;
}

static void
runner_start(struct runner *r, struct t_vm *vm, const uint8_t *label,
    bool block_kick)
{
	memset(r, 0, sizeof(*r));
	r->vm = vm;
	r->block_kick = block_kick;
	/* A stop of the last case's can outlive it: let a HLT take it. */
	x86_restart(vm, x86_code_gpa(x86_xevents_begin, x86_xev_halt), 0x2);
	while (x86_run_once(vm) != NVMM_VCPU_EXIT_HALTED)
		continue;
	x86_restart(vm, x86_code_gpa(x86_xevents_begin, label), 0x202);
	memset(vm->ram + X86_COUNTER, 0, 8);
	memset(vm->ram + COUNTER_LAST, 0, 8);
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0)
		t_bail("pthread_create failed");
	if (pthread_getcpuclockid(r->thread, &r->cpu_clock) != 0)
		t_bail("pthread_getcpuclockid failed");
}

/* The CPU time the runner thread used so far, guest time included. */
static int64_t
runner_cpu_ns(const struct runner *r)
{
	struct timespec ts;

	if (clock_gettime(r->cpu_clock, &ts) != 0)
		t_bail("clock_gettime of the runner's CPU clock failed");
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The test's own stop ends the loop, with a STOPPED exit. A run that
 * returns for another reason clears the request (as on NetBSD), so stop
 * again until the runner is gone.
 */
static void
runner_stop(struct runner *r, const char *what)
{
	bool joined = false;
	int64_t t0 = t_now_ns();

	atomic_store(&r->done, true);
	while (!joined && t_now_ns() - t0 < WALL_BOUND_NS) {
		T_CHECK(nvmm_vcpu_stop(&r->vm->vcpu));
		joined = t_join_within(r->thread, 1000000);	/* 1 ms */
	}
	if (!t_ok(joined, "%s: nvmm_vcpu_stop still ends the run as STOPPED",
	    what))
		t_bail("%s: the runner did not stop within 10 s", what);
	if (!t_ok(r->error == 0 && r->nstopped_early == 0 && r->nother == 0,
	    "%s: the runner saw only NONE, HALTED, IO and the guest running",
	    what))
		t_diag("  run error %d, %lu early STOPPED, %lu other exits "
		    "(last 0x%llx)", r->error, r->nstopped_early, r->nother,
		    (unsigned long long)r->other_reason);
}

/* ---- The injector (this thread) --------------------------------------------- */

static void
inject(struct t_vm *vm, uint8_t vector)
{
	vm->vcpu.event->type = NVMM_VCPU_EVENT_INTR;
	vm->vcpu.event->vector = vector;
	vm->vcpu.event->u.excp.error = 0;
	T_CHECK(nvmm_vcpu_inject(&vm->mach, &vm->vcpu));
}

/*
 * A wait for a count to pass a value: when it started, and what it saw.
 * wall and cpu: from the start to this thread's last look, in wall time
 * and in the runner's CPU time.
 */
struct wait {
	int64_t t0, cpu0;
	int64_t wall, cpu;
};

static void
wait_start(struct wait *w, const struct runner *r)
{
	w->t0 = t_now_ns();
	w->cpu0 = runner_cpu_ns(r);
}

/*
 * Wait until the count at gpa passes old: true, or false once the runner
 * had CPU_BOUND_NS of CPU time since the start without it (or the wall
 * clock passed WALL_BOUND_NS). The clocks are read before the count, so
 * a count that passed before this thread's look passes, however late
 * the host let this thread look.
 */
static bool
wait_count(struct t_vm *vm, const struct runner *r, uint64_t gpa,
    uint64_t old, struct wait *w)
{
	for (;;) {
		w->wall = t_now_ns() - w->t0;
		w->cpu = runner_cpu_ns(r) - w->cpu0;
		if (counter_at(vm, gpa) > old)
			return true;
		if (w->cpu >= CPU_BOUND_NS || w->wall >= WALL_BOUND_NS)
			return false;
		sched_yield();
	}
}

static bool
wait_delivery(struct t_vm *vm, const struct runner *r, uint64_t old,
    struct wait *w)
{
	return wait_count(vm, r, X86_COUNTER, old, w);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Percentiles of n sorted values, in microseconds. */
static void
print_lat(const char *what, const char *kind, int64_t *v, unsigned int n)
{
	unsigned int fast = 0;

	qsort(v, n, sizeof(v[0]), cmp_i64);
	for (unsigned int i = 0; i < n; i++)
		fast += v[i] <= TARGET_NS;
	t_diag("%s: %s: median %.1f us, 90th %.1f us, max %.1f us; %u of %u "
	    "within 1 ms", what, kind, v[n / 2] / 1e3, v[n * 9 / 10] / 1e3,
	    v[n - 1] / 1e3, fast, n);
}

/* Host TSC ticks as nanoseconds, by the rate since (ns_a, tsc_a). */
static int64_t
tsc_to_ns(int64_t ticks, int64_t ns_a, uint64_t tsc_a)
{
	double per_ns = (double)(__rdtsc() - tsc_a) /
	    (double)(t_now_ns() - ns_a);

	return (int64_t)((double)ticks / per_ns);
}

/*
 * An event seen late, or not at all: what tells a kick lost from a busy
 * host. A kick lost leaves the run in KVM_RUN (no NONE) and the runner's
 * CPU time going to the guest; a host that does not run the runner
 * leaves its CPU time still; one that does not run this thread has the
 * handler run (its TSC) long before this thread saw it.
 */
static void
late_diag(struct t_vm *vm, const char *what, unsigned int i, bool seen,
    const struct wait *w, int64_t handler_ns, int64_t none_ns)
{
	char handler[48], none[48];

	if (seen && handler_ns >= 0 && handler_ns <= w->wall)
		snprintf(handler, sizeof(handler), "%.1f ms after it",
		    handler_ns / 1e6);
	else
		snprintf(handler, sizeof(handler), seen ? "(TSC unknown)" :
		    "not");
	if (none_ns >= 0)
		snprintf(none, sizeof(none), "%.1f ms after it",
		    none_ns / 1e6);
	else
		snprintf(none, sizeof(none), "not");
	t_diag("%s: event %u %s %.1f ms after its inject (guest count %llu): "
	    "the guest's handler ran %s, the run came back as NONE %s, the "
	    "runner had %.1f ms of CPU time meanwhile%s", what, i + 1,
	    seen ? "seen" : "not seen", w->wall / 1e6,
	    (unsigned long long)counter(vm), handler, none, w->cpu / 1e6,
	    seen ? "" : w->cpu >= CPU_BOUND_NS ? ": the run was not kicked" :
	    ": the runner was not run");
}

/*
 * NEVENTS events, one at a time, each once the guest is back at its loop.
 * The handler stores the guest's TSC: on hosts where it is the host's
 * (this one), the latency up to the handler is measured exactly. What
 * this thread sees also counts how soon a busy host lets it look. An
 * event not delivered ends the case: the next ones would wait as long.
 */
static void
deliveries(struct t_vm *vm, const uint8_t *label, bool block_kick,
    const char *what)
{
	const struct timespec pause = { 0, 2000000 };	/* 2 ms */
	int64_t wall[NEVENTS], tsc[NEVENTS], kick[NEVENTS], cpu[NEVENTS];
	unsigned int ok = 0, nkick = 0, ntsc = 0;
	int64_t ns_a, ns_b;
	uint64_t tsc_a, tsc_b;
	double per_ns;
	struct runner r;

	runner_start(&r, vm, label, block_kick);
	ns_a = t_now_ns();
	tsc_a = __rdtsc();
	for (unsigned int i = 0; i < NEVENTS; i++) {
		struct wait w;
		uint64_t old, tsc0;
		int64_t none;
		bool seen;

		nanosleep(&pause, NULL);	/* the runner is in the guest */
		old = counter(vm);
		wait_start(&w, &r);
		tsc0 = __rdtsc();
		inject(vm, VECTOR);
		seen = wait_delivery(vm, &r, old, &w);
		tsc[i] = (int64_t)(guest_tsc(vm) - tsc0);
		/* The share of it until the run came back as NONE. */
		none = atomic_load(&r.none_ns) - w.t0;
		if (none >= 0)
			kick[nkick++] = none;
		wall[i] = w.wall;
		cpu[i] = w.cpu;
		if (!seen || w.wall >= LATE_NS)
			late_diag(vm, what, i, seen, &w,
			    tsc_to_ns(tsc[i], ns_a, tsc_a), none);
		if (!seen)
			break;
		ok++;
	}
	ns_b = t_now_ns();
	tsc_b = __rdtsc();
	runner_stop(&r, what);
	t_ok(ok == NEVENTS && counter(vm) == NEVENTS,
	    "%s: all %u events delivered, each before the runner had 1 s of "
	    "CPU time since its inject (%u; count %llu)", what, NEVENTS, ok,
	    (unsigned long long)counter(vm));
	if (ok != NEVENTS)
		return;

	/* Guest TSC deltas, when they agree with the wall clock. */
	per_ns = (double)(tsc_b - tsc_a) / (double)(ns_b - ns_a);
	for (unsigned int i = 0; i < NEVENTS; i++) {
		int64_t ns = (int64_t)((double)tsc[i] / per_ns);

		if (tsc[i] > 0 && ns <= wall[i])
			tsc[ntsc++] = ns;
	}
	if (ntsc == NEVENTS)
		print_lat(what, "inject to the guest's handler (TSC)", tsc,
		    ntsc);
	else
		t_diag("%s: the guest's TSC is not the host's here", what);
	print_lat(what, "inject to this thread seeing it", wall, NEVENTS);
	print_lat(what, "the runner's CPU time meanwhile", cpu, NEVENTS);
	if (nkick > 0)
		print_lat(what, "inject to the run returning NONE", kick,
		    nkick);
	t_diag("%s: %lu NONE, %lu HALTED, %lu IO exits", what, r.nnone,
	    r.nhalted, r.nio);
}

/*
 * Inject as fast as possible while the runner runs: events coalesce (one
 * slot, as on NVMM), so the storm's last event (another vector) arrives,
 * once; then, the guest quiet, one more arrives, once. The runner's
 * entries are kicked at once, and a handler is often entered again
 * before it ran (x86_xev_open): the storm's count is only a lower bound.
 */
static void
hammer(struct t_vm *vm)
{
	const struct timespec settle = { 0, 50000000 };	/* 50 ms */
	unsigned long n = 0;
	struct runner r;
	struct wait w, last, one;
	uint64_t storm;
	bool last_ok, one_ok;

	runner_start(&r, vm, x86_xev_open, false);
	/* Longer, up to the bounds, until the guest counted one of them. */
	wait_start(&w, &r);
	while (t_now_ns() - w.t0 < HAMMER_NS || (counter(vm) == 0 &&
	    runner_cpu_ns(&r) - w.cpu0 < CPU_BOUND_NS &&
	    t_now_ns() - w.t0 < WALL_BOUND_NS)) {
		inject(vm, VECTOR_STORM);
		n++;
	}
	wait_start(&last, &r);
	inject(vm, VECTOR_LAST);
	last_ok = wait_count(vm, &r, COUNTER_LAST, 0, &last);
	/* Until no delivery for the bound: nothing is left in flight. */
	do
		wait_start(&w, &r);
	while (wait_delivery(vm, &r, counter(vm), &w));
	storm = counter(vm);
	wait_start(&one, &r);
	inject(vm, VECTOR_STORM);
	one_ok = wait_delivery(vm, &r, storm, &one);
	nanosleep(&settle, NULL);	/* time for a second delivery */
	if (!t_ok(last_ok && counter_at(vm, COUNTER_LAST) == 1,
	    "hammer: the last of %lu injections arrives, once (%llu)", n + 1,
	    (unsigned long long)counter_at(vm, COUNTER_LAST)))
		t_diag("  looked for %.1f ms, the runner had %.1f ms of CPU "
		    "time", last.wall / 1e6, last.cpu / 1e6);
	if (!t_ok(one_ok && counter(vm) == storm + 1,
	    "hammer: then one more arrives, once (%llu after %llu)",
	    (unsigned long long)counter(vm), (unsigned long long)storm))
		t_diag("  looked for %.1f ms, the runner had %.1f ms of CPU "
		    "time", one.wall / 1e6, one.cpu / 1e6);
	runner_stop(&r, "hammer");
	t_diag("hammer: %lu injections, at least %llu deliveries, %lu NONE "
	    "exits", n, (unsigned long long)storm, r.nnone);
	t_ok(storm >= 1 && storm <= n,
	    "hammer: the storm's events are delivered (%llu counted)",
	    (unsigned long long)storm);
}

/* An invalid event from another thread fails the next run, as any does. */
static void
invalid(struct t_vm *vm)
{
	const struct timespec pause = { 0, 2000000 };
	struct runner r;
	bool joined;

	runner_start(&r, vm, x86_xev_spin, false);
	nanosleep(&pause, NULL);
	vm->vcpu.event->type = NVMM_VCPU_EVENT_EXCP;
	vm->vcpu.event->vector = 2;	/* NMI: not as an exception */
	vm->vcpu.event->u.excp.error = 0;
	T_CHECK(nvmm_vcpu_inject(&vm->mach, &vm->vcpu));
	joined = t_join_within(r.thread, 10000000000LL);
	if (!joined) {
		atomic_store(&r.done, true);
		T_CHECK(nvmm_vcpu_stop(&vm->vcpu));
		pthread_join(r.thread, NULL);
	}
	t_ok(joined && r.error == EINVAL && r.nstopped_early == 0,
	    "invalid event from another thread: the runner's next run fails "
	    "with EINVAL (error %d)", r.error);
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_ignore };
	struct t_vm vm;

	t_require_nvmm();
	t_plan(3 * 4 + 5 + 1);
	x86_vm_create(&vm, x86_xevents_begin, x86_xevents_end);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	/* Trap gates: the guest can take an interrupt in the handlers too. */
	x86_idt_trap(&vm, VECTOR, x86_stub_gpa(x86_h_count));
	x86_idt_trap(&vm, VECTOR_STORM,
	    x86_code_gpa(x86_xevents_begin, x86_xev_open_count));
	x86_idt_trap(&vm, VECTOR_LAST,
	    x86_code_gpa(x86_xevents_begin, x86_xev_open_last));

	deliveries(&vm, x86_xev_spin, false, "spinning guest");
	deliveries(&vm, x86_xev_halt, false, "halting guest");
	deliveries(&vm, x86_xev_spin, true, "spinning guest, kick blocked");
	deliveries(&vm, x86_xev_out, true, "I/O guest, kick blocked");
	hammer(&vm);
	invalid(&vm);

	t_vm_destroy(&vm);
	return t_done();
}
