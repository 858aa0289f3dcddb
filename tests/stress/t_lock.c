/*
 * The vCPU lock under contention (src/frontend/lookup.h): the lock is two
 * bits of the vCPU's slot word; a thread that finds it held marks the word
 * and sleeps on it (futex) until the holder's put wakes it.
 * - Two threads run one vCPU at once, each as often as it can: the runs
 *   take turns, no thread sleeps for good (the watchdog), and each run is
 *   one whole guest loop (the guest counts its HLTs in RAX, which ends
 *   equal to the runs both threads made).
 * - A destroy of that vCPU while both still run it: both loops end with
 *   ENOENT, a thread that was waiting for the lock included.
 * Run it under TSan with tests/stress/tsan.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "stress.h"

T_GUEST(stress_halt64);

#define RUNS	4000

struct runner {
	struct t_vm *vm;
	struct s_thread *t;
	unsigned long runs;	/* successful ones */
	unsigned long limit;	/* 0: until an error */
	int err;
};

static atomic_int started;

static void *
runner_main(void *arg)
{
	struct runner *r = arg;

	atomic_fetch_add(&started, 1);
	while (atomic_load(&started) < 2)
		continue;
	for (;;) {
		s_at(r->t, "nvmm_vcpu_run");
		if (nvmm_vcpu_run(&r->vm->mach, &r->vm->vcpu) == -1) {
			r->err = errno;
			break;
		}
		if (++r->runs == r->limit)
			break;
	}
	s_at(r->t, "done");
	return NULL;
}

static void
runners_start(struct t_vm *vm, struct runner rs[2], pthread_t th[2],
    unsigned long limit)
{
	atomic_store(&started, 0);
	for (int i = 0; i < 2; i++) {
		memset(&rs[i], 0, sizeof(rs[i]));
		rs[i].vm = vm;
		rs[i].limit = limit;
		rs[i].t = s_thread_register("runner %d", i);
		if (pthread_create(&th[i], NULL, runner_main, &rs[i]) != 0)
			t_bail("pthread_create");
	}
}

static void
runners_join(pthread_t th[2])
{
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
}

/* The guest's count of HLTs once both runners are done. */
static uint64_t
guest_count(struct t_vm *vm)
{
	return t_vm_gpr(vm, NVMM_X64_GPR_RAX);
}

static void
two_runners(void)
{
	struct runner rs[2];
	pthread_t th[2];
	struct t_vm vm;
	unsigned long runs;

	t_vm_create(&vm, 0);
	t_vm_load(&vm, T_CODE_BASE, stress_halt64_begin, stress_halt64_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RAX, 0);
	runners_start(&vm, rs, th, RUNS);
	runners_join(th);
	runs = rs[0].runs + rs[1].runs;
	t_ok(rs[0].err == 0 && rs[1].err == 0 && runs == 2 * RUNS,
	    "two threads ran one vCPU %lu times, no error (%d, %d)", runs,
	    rs[0].err, rs[1].err);
	t_ok(guest_count(&vm) == runs,
	    "each run was one guest loop: RAX %llu after %lu runs",
	    (unsigned long long)guest_count(&vm), runs);

	/* Again, until a destroy ends both. */
	runners_start(&vm, rs, th, 0);
	while (atomic_load(&started) < 2 ||
	    atomic_load(&rs[0].t->progress) + atomic_load(&rs[1].t->progress) <
	    2 * RUNS / 4)
		continue;
	t_ok(nvmm_vcpu_destroy(&vm.mach, &vm.vcpu) == 0,
	    "the vCPU destroyed while two threads run it");
	runners_join(th);
	t_ok(rs[0].err == ENOENT && rs[1].err == ENOENT,
	    "both run loops end with ENOENT (%d, %d)", rs[0].err, rs[1].err);
	t_vm_destroy(&vm);
}

int
main(void)
{
	t_require_nvmm();
	s_private_rundir("lock");
	t_plan(4);
	s_watchdog_start(120);
	two_runners();
	s_watchdog_stop();
	return t_done();
}
