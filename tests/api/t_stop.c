/*
 * nvmm_vcpu_stop(): a guest spinning without exits is stopped from another
 * thread, from a signal handler running on the vCPU thread (SIGALRM from
 * setitimer, SIGUSR1 sent by another thread), and on a vCPU thread that
 * blocks every signal. A stop before the run returns STOPPED without
 * entering the guest, also between runs that serve an I/O access each
 * (the run's fast path); the flag is cleared when the run returns.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

T_GUEST(api_spin64);
T_GUEST(api_count64);
T_GUEST(api_out64);

#define SPIN_GPA	T_CODE_BASE
#define COUNT_GPA	(T_CODE_BASE + 0x1000)
#define OUT_GPA		(T_CODE_BASE + 0x2000)

static struct t_vm vm;

/* ---- Running the vCPU ----------------------------------------------------------- */

struct run_result {
	int rc;			/* of the last nvmm_vcpu_run */
	uint64_t reason;
	unsigned int nones;	/* NONE exits before it */
	pid_t tid;
};

static atomic_int entering;
static atomic_int handler_tid;

/* Run until an exit other than NONE. */
static void
run_once(struct run_result *r)
{
	memset(r, 0, sizeof(*r));
	r->tid = gettid();
	atomic_store(&entering, 1);
	for (;;) {
		r->rc = nvmm_vcpu_run(&vm.mach, &vm.vcpu);
		r->reason = vm.vcpu.exit->reason;
		if (r->rc != 0 || r->reason != NVMM_VCPU_EXIT_NONE)
			break;
		r->nones++;
	}
	atomic_store(&entering, 0);
}

static void
set_rip(uint64_t rip)
{
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RIP, rip);
}

/*
 * The vCPU thread, optionally with every signal blocked: the spin guest
 * (stopped by the main thread), then, on the same thread, a guest that
 * halts, which must run normally after the stop.
 */
struct vcpu_thread {
	pthread_t th;
	bool block_all;
	struct run_result spin;
	uint64_t stop_flag;
	struct run_result next;
};

static void *
vcpu_thread_main(void *arg)
{
	struct vcpu_thread *t = arg;
	sigset_t all;

	if (t->block_all) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
	set_rip(SPIN_GPA);
	run_once(&t->spin);
	t->stop_flag = (uint64_t)*vm.vcpu.stop;
	set_rip(COUNT_GPA);
	run_once(&t->next);
	return NULL;
}

static void
vcpu_thread_start(struct vcpu_thread *t, bool block_all)
{
	memset(t, 0, sizeof(*t));
	t->block_all = block_all;
	atomic_store(&entering, 0);
	if (pthread_create(&t->th, NULL, vcpu_thread_main, t) != 0)
		t_bail("pthread_create");
	while (!atomic_load(&entering))
		usleep(1000);
	usleep(20000);	/* well inside the guest by now */
}

/* Join, or give up: a vCPU nobody can stop would hang the test. */
static void
vcpu_thread_join(struct vcpu_thread *t)
{
	if (!t_join_within(t->th, 10000000000LL))
		t_bail("the vCPU thread was not stopped within 10 s");
}

static void
expect_stopped(const struct run_result *r, const char *what)
{
	if (!t_ok(r->rc == 0 && r->reason == NVMM_VCPU_EXIT_STOPPED,
	    "%s: run returns 0 with STOPPED", what))
		t_diag("  rc %d, reason 0x%llx", r->rc,
		    (unsigned long long)r->reason);
}

/* ---- Cases --------------------------------------------------------------------- */

/*
 * A stop wins over an exit found before entry (an armed interrupt window
 * that is already open), as on NetBSD; that exit comes at the next run.
 */
static void
stop_before_open_window(void)
{
	struct nvmm_x64_state *st = vm.vcpu.state;
	struct run_result r;

	set_rip(COUNT_GPA);
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu,
	    NVMM_X64_STATE_GPRS | NVMM_X64_STATE_INTR));
	st->gprs[NVMM_X64_GPR_RFLAGS] |= 0x200;	/* IF: the window is open */
	st->intr.int_window_exiting = 1;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu,
	    NVMM_X64_STATE_GPRS | NVMM_X64_STATE_INTR));
	T_CHECK(nvmm_vcpu_stop(&vm.vcpu));
	run_once(&r);
	expect_stopped(&r, "stop with an open interrupt window armed");
	run_once(&r);
	t_ok(r.rc == 0 && r.reason == NVMM_VCPU_EXIT_INT_READY,
	    "the window exit comes at the next run");
}

static void
stop_from_thread(bool block_all, const char *what)
{
	struct vcpu_thread t;

	vcpu_thread_start(&t, block_all);
	t_ok(nvmm_vcpu_stop(&vm.vcpu) == 0, "%s: nvmm_vcpu_stop", what);
	vcpu_thread_join(&t);
	expect_stopped(&t.spin, what);
	t_eq_u64(t.stop_flag, 0, "%s: the flag is clear afterwards", what);
	/* A kick left pending on the thread would turn every run into NONE. */
	t_ok(t.next.rc == 0 && t.next.reason == NVMM_VCPU_EXIT_HALTED &&
	    t.next.nones < 8, "%s: the thread's next run halts (%u NONE exits)",
	    what, t.next.nones);
}

static void
stop_before_run(void)
{
	struct run_result r;
	uint64_t rax;

	set_rip(COUNT_GPA);
	rax = t_vm_gpr(&vm, NVMM_X64_GPR_RAX);
	t_ok(nvmm_vcpu_stop(&vm.vcpu) == 0 && nvmm_vcpu_stop(&vm.vcpu) == 0,
	    "two stops before a run");
	run_once(&r);
	expect_stopped(&r, "stop before the run");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RAX), rax,
	    "the guest was not entered (RAX)");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RIP), COUNT_GPA,
	    "the guest was not entered (RIP)");
	t_eq_u64(*vm.vcpu.stop, 0, "the flag is clear after the run");
	run_once(&r);
	t_ok(r.rc == 0 && r.reason == NVMM_VCPU_EXIT_HALTED,
	    "the next run enters: one STOPPED for both stops");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RAX), rax + 1,
	    "the guest ran once");
}

/* ---- Stops between served accesses ---------------------------------------------- */

#define SERVED_ROUNDS	400

static atomic_int served_turn;	/* 1: the stopper's turn, 0: the vCPU's */

static void
served_cb(struct nvmm_io *io)
{
	(void)io;
}

/* Run the OUT loop once and serve its access: whether the exit was the OUT. */
static bool
served_run(void)
{
	return nvmm_vcpu_run(&vm.mach, &vm.vcpu) == 0 &&
	    vm.vcpu.exit->reason == NVMM_VCPU_EXIT_IO &&
	    nvmm_assist_io(&vm.mach, &vm.vcpu) == 0;
}

static void *
served_stopper_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < SERVED_ROUNDS; i++) {
		while (atomic_load(&served_turn) != 1)
			sched_yield();
		(void)nvmm_vcpu_stop(&vm.vcpu);
		atomic_store(&served_turn, 0);
	}
	return NULL;
}

/*
 * The PIO loop's runs, each after an access was served, take the run's
 * fast path; a stop between two of them, from this thread or another,
 * makes the next return STOPPED all the same, every time.
 */
static void
stop_between_served_runs(bool other_thread, const char *what)
{
	struct nvmm_assist_callbacks cbs = { .io = served_cb };
	unsigned int bad = 0, lost = 0;
	pthread_t th;

	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	set_rip(OUT_GPA);
	atomic_store(&served_turn, 0);
	if (other_thread &&
	    pthread_create(&th, NULL, served_stopper_main, NULL) != 0)
		t_bail("pthread_create");
	for (int i = 0; i < SERVED_ROUNDS; i++) {
		for (int j = 0; j < 1 + i % 3; j++)
			bad += !served_run();
		if (other_thread) {
			atomic_store(&served_turn, 1);
			while (atomic_load(&served_turn) != 0)
				sched_yield();
		} else {
			(void)nvmm_vcpu_stop(&vm.vcpu);
		}
		if (nvmm_vcpu_run(&vm.mach, &vm.vcpu) != 0 ||
		    vm.vcpu.exit->reason != NVMM_VCPU_EXIT_STOPPED) {
			lost++;
			if (vm.vcpu.exit->reason == NVMM_VCPU_EXIT_IO)
				(void)nvmm_assist_io(&vm.mach, &vm.vcpu);
		}
	}
	if (other_thread)
		pthread_join(th, NULL);
	t_ok(bad == 0 && lost == 0, "%s: %d stops, each one STOPPED "
	    "(%u lost, %u runs without their OUT)", what, SERVED_ROUNDS, lost,
	    bad);
}

static void
stop_handler(int sig)
{
	int saved = errno;

	(void)sig;
	atomic_store(&handler_tid, gettid());
	(void)nvmm_vcpu_stop(&vm.vcpu);
	errno = saved;
}

static void
install(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) == -1)
		t_bail("sigaction: %s", strerror(errno));
}

/* SIGALRM from setitimer, taken by this thread while it runs the vCPU. */
static void
stop_from_sigalrm(void)
{
	struct itimerval it = { .it_value = { 0, 30000 } };
	struct run_result r;

	install(SIGALRM);
	set_rip(SPIN_GPA);
	atomic_store(&handler_tid, 0);
	if (setitimer(ITIMER_REAL, &it, NULL) == -1)
		t_bail("setitimer: %s", strerror(errno));
	run_once(&r);
	expect_stopped(&r, "SIGALRM handler on the vCPU thread");
	t_eq_u64(atomic_load(&handler_tid), r.tid,
	    "the handler ran on the vCPU thread");
}

/* SIGUSR1 sent to the vCPU thread by another thread. */
static void *
killer_main(void *arg)
{
	pthread_t *target = arg;

	while (!atomic_load(&entering))
		usleep(1000);
	usleep(20000);
	pthread_kill(*target, SIGUSR1);
	return NULL;
}

static void
stop_from_sigusr1(void)
{
	pthread_t self = pthread_self(), killer;
	struct run_result r;

	install(SIGUSR1);
	set_rip(SPIN_GPA);
	atomic_store(&handler_tid, 0);
	atomic_store(&entering, 0);
	if (pthread_create(&killer, NULL, killer_main, &self) != 0)
		t_bail("pthread_create");
	run_once(&r);
	pthread_join(killer, NULL);
	expect_stopped(&r, "SIGUSR1 handler, signal from another thread");
	t_eq_u64(atomic_load(&handler_tid), r.tid,
	    "the handler ran on the vCPU thread");
}

/* ---- Watchdog: no signal reaches it, so the tests choose their thread ---- */

static void *
watchdog_main(void *arg)
{
	(void)arg;
	sleep(60);
	t_bail("watchdog: the test hangs");
}

static void
watchdog_start(void)
{
	sigset_t all, old;
	pthread_t th;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&th, NULL, watchdog_main, NULL) != 0)
		t_bail("pthread_create");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int
main(void)
{
	t_require_nvmm();
	t_plan(3 * 4 + 7 + 2 + 2 + 2 + 2);
	watchdog_start();

	t_vm_create(&vm, 0);
	t_vm_load(&vm, SPIN_GPA, api_spin64_begin, api_spin64_end);
	t_vm_load(&vm, COUNT_GPA, api_count64_begin, api_count64_end);
	t_vm_load(&vm, OUT_GPA, api_out64_begin, api_out64_end);
	t_vm_long_mode(&vm, SPIN_GPA, 0x8000);

	stop_from_thread(false, "stop from another thread");
	/* A new thread may get the old one's pthread_t: still a new thread. */
	stop_from_thread(false, "the same from a second, new thread");
	stop_before_run();
	stop_before_open_window();
	stop_from_sigalrm();
	stop_from_sigusr1();
	stop_from_thread(true, "vCPU thread blocking all signals");
	stop_between_served_runs(false,
	    "stops from the vCPU's thread between served runs");
	stop_between_served_runs(true,
	    "stops from another thread between served runs");
	t_vm_destroy(&vm);
	return t_done();
}
