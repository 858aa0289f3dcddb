/*
 * The run path against stops and events from another thread: the vCPU
 * thread serves a guest's OUTs in a loop (each run after the first takes
 * the run's fast path), in the orders emulators use (the assist alone;
 * getstate, assist, setstate as QEMU does; getstate after the assist),
 * while another thread stops it and injects interrupts at random moments
 * (before a run, between the entry's swap and KVM_RUN, inside it, just
 * after). Checked: the guest's OUTs arrive in order, none twice and none
 * lost (a served access finished twice or dropped would show); no
 * interrupt goes in twice (deliveries at most the posts) and the last
 * one posted goes in; no STOPPED without a stop; every run returns 0 with
 * IO, NONE or STOPPED. Both with a vCPU thread that blocks every signal
 * (KVM's signal mask) and one that blocks none.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "x86.h"

#define PORT		0x77
#define VECTOR		0x41
#define RUN_NS		700000000LL

T_GUEST(x86_runpath);
extern const uint8_t x86_runpath_handler[];

static struct t_vm vm;
static atomic_bool done;
static atomic_ulong stops, posts;

/* The runner's view, read after the join. */
struct runner {
	bool block_all;
	uint32_t last;			/* the last OUT's value */
	unsigned long outs, bad_outs, nstopped, nnone, nother, errors;
	uint64_t other_reason;
};

static struct runner *cur;

static void
io_cb(struct nvmm_io *io)
{
	uint32_t v = 0;

	if (io->port != PORT || io->in || io->size != 4) {
		cur->bad_outs++;
		return;
	}
	memcpy(&v, io->data, sizeof(v));
	if (v != cur->last + 1)
		cur->bad_outs++;
	cur->last = v;
	cur->outs++;
}

/* Serve one IO exit, in one of the emulators' orders. */
static int
serve(unsigned long n)
{
	struct nvmm_x64_state *st = vm.vcpu.state;

	switch (n % 3) {
	case 0:
		return nvmm_assist_io(&vm.mach, &vm.vcpu);
	case 1:
		if (nvmm_vcpu_getstate(&vm.mach, &vm.vcpu,
		    NVMM_X64_STATE_GPRS) != 0 ||
		    nvmm_assist_io(&vm.mach, &vm.vcpu) != 0)
			return -1;
		(void)st;
		return nvmm_vcpu_setstate(&vm.mach, &vm.vcpu,
		    NVMM_X64_STATE_GPRS);
	default:
		if (nvmm_assist_io(&vm.mach, &vm.vcpu) != 0)
			return -1;
		return nvmm_vcpu_getstate(&vm.mach, &vm.vcpu,
		    NVMM_X64_STATE_GPRS);
	}
}

static void *
runner_main(void *arg)
{
	struct runner *r = arg;
	sigset_t all;

	if (r->block_all) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
	while (!atomic_load(&done)) {
		if (nvmm_vcpu_run(&vm.mach, &vm.vcpu) != 0) {
			r->errors++;
			break;
		}
		switch (vm.vcpu.exit->reason) {
		case NVMM_VCPU_EXIT_IO:
			if (serve(r->outs) != 0)
				r->errors++;
			break;
		case NVMM_VCPU_EXIT_STOPPED:
			r->nstopped++;
			break;
		case NVMM_VCPU_EXIT_NONE:
			r->nnone++;
			break;
		default:
			r->nother++;
			r->other_reason = vm.vcpu.exit->reason;
			break;
		}
	}
	return NULL;
}

/* Stops and injects at random moments, a few microseconds apart. */
static void *
kicker_main(void *arg)
{
	unsigned int seed = 1234;

	(void)arg;
	while (!atomic_load(&done)) {
		if (rand_r(&seed) % 2 == 0) {
			atomic_fetch_add(&stops, 1);
			(void)nvmm_vcpu_stop(&vm.vcpu);
		} else {
			vm.vcpu.event->type = NVMM_VCPU_EVENT_INTR;
			vm.vcpu.event->vector = VECTOR;
			vm.vcpu.event->u.excp.error = 0;
			if (nvmm_vcpu_inject(&vm.mach, &vm.vcpu) == 0)
				atomic_fetch_add(&posts, 1);
		}
		/* A spin, not a yield: a loaded host would stretch a yield. */
		for (int i = rand_r(&seed) % 20000; i > 0; i--)
			__asm__ volatile("pause");
	}
	return NULL;
}

static uint64_t
delivered(void)
{
	return __atomic_load_n((uint64_t *)(vm.ram + X86_COUNTER),
	    __ATOMIC_ACQUIRE);
}

static void
round_trip(bool block_all, const char *what)
{
	struct runner r = { .block_all = block_all };
	pthread_t rt, kt;
	uint64_t before = delivered(), got;
	unsigned long posted;

	cur = &r;
	r.last = (uint32_t)x86_gpr(&vm, NVMM_X64_GPR_RBX);
	atomic_store(&done, false);
	atomic_store(&stops, 0);
	atomic_store(&posts, 0);
	if (pthread_create(&rt, NULL, runner_main, &r) != 0 ||
	    pthread_create(&kt, NULL, kicker_main, NULL) != 0)
		t_bail("pthread_create");
	for (int64_t end = t_now_ns() + RUN_NS; t_now_ns() < end;)
		usleep(10000);
	atomic_store(&done, true);
	pthread_join(kt, NULL);
	pthread_join(rt, NULL);
	posted = atomic_load(&posts);

	/* The last event posted goes in at the next entries. */
	for (int i = 0; i < 16 && r.errors == 0; i++) {
		if (nvmm_vcpu_run(&vm.mach, &vm.vcpu) != 0)
			r.errors++;
		else if (vm.vcpu.exit->reason == NVMM_VCPU_EXIT_IO &&
		    serve(r.outs) != 0)
			r.errors++;
	}
	got = delivered() - before;

	t_ok(r.errors == 0 && r.nother == 0, "%s: every run returns 0 with IO, "
	    "NONE or STOPPED (%lu errors, %lu others, last 0x%llx)", what,
	    r.errors, r.nother, (unsigned long long)r.other_reason);
	t_ok(r.outs > 0 && r.bad_outs == 0, "%s: %lu OUTs in order, none "
	    "twice, none lost (%lu out of order)", what, r.outs, r.bad_outs);
	t_ok(posted > 0 && got >= 1 && got <= posted, "%s: %llu interrupts "
	    "delivered of %lu posted (coalesced, never twice), the last one "
	    "in", what, (unsigned long long)got, posted);
	t_ok(r.nstopped <= atomic_load(&stops), "%s: %lu STOPPED for %lu "
	    "stops (%lu NONE)", what, r.nstopped, atomic_load(&stops),
	    r.nnone);
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb };

	t_require_nvmm();
	t_plan(2 * 4);
	x86_vm_create(&vm, x86_runpath_begin, x86_runpath_end);
	x86_idt_trap(&vm, VECTOR,
	    x86_code_gpa(x86_runpath_begin, x86_runpath_handler));
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	x86_restart(&vm, T_CODE_BASE, 0x202);	/* IF: interrupts go in */

	round_trip(false, "vCPU thread blocking no signal");
	round_trip(true, "vCPU thread blocking every signal");
	t_vm_destroy(&vm);
	return t_done();
}
