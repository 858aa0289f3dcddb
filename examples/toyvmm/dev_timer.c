/*
 * The timer: one per vCPU, programmed through an I/O port with a period
 * in microseconds (0 stops it). A device thread sleeps until the next
 * deadline and raises TOY_VEC_TIMER on the vCPUs that are due; irq.c
 * injects it when the guest can take it, through an interrupt window if
 * needed. A tick that finds the previous one still pending is merged
 * with it, as an edge-triggered line would. Reading the port tells the
 * guest whether its timer interrupt is pending.
 */
#include <err.h>
#include <errno.h>
#include <time.h>

#include "toyvmm.h"

struct timer {
	uint64_t period_ns;	/* 0: off */
	uint64_t deadline_ns;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* a timer was programmed, or we stop */
	pthread_t thread;
	bool stop;
	struct timer timers[TOY_MAX_CPUS];
	struct toy_vm *vm;
} tm;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- The thread ------------------------------------------------------------- */

/* Raise every timer that is due; returns the next deadline (0: none). */
static uint64_t
timer_fire(uint64_t now)
{
	uint64_t next = 0;

	for (unsigned int i = 0; i < tm.vm->ncpus; i++) {
		struct timer *t = &tm.timers[i];

		if (t->period_ns == 0)
			continue;
		if (t->deadline_ns <= now) {
			irq_raise(&tm.vm->cpus[i], TOY_VEC_TIMER);
			/* Late by more than a period: skip, do not burst. */
			t->deadline_ns += t->period_ns;
			if (t->deadline_ns <= now)
				t->deadline_ns = now + t->period_ns;
		}
		if (next == 0 || t->deadline_ns < next)
			next = t->deadline_ns;
	}
	return next;
}

static void *
timer_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&tm.lock);
	while (!tm.stop) {
		uint64_t next = timer_fire(now_ns());
		struct timespec ts;

		if (next == 0) {
			pthread_cond_wait(&tm.cond, &tm.lock);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000000000ULL);
		ts.tv_nsec = (long)(next % 1000000000ULL);
		pthread_cond_timedwait(&tm.cond, &tm.lock, &ts);
	}
	pthread_mutex_unlock(&tm.lock);
	return NULL;
}

/* ---- The port ---------------------------------------------------------------- */

static bool
timer_access(const struct bus_access *acc, void *opaque)
{
	struct toy_cpu *cpu = acc->cpu;
	struct timer *t = &tm.timers[cpu->index];
	uint64_t period;

	(void)opaque;
	if (acc->size != 4)
		return false;
	if (!acc->write) {
		bus_put(acc, irq_is_pending(cpu, TOY_VEC_TIMER));
		return true;
	}
	period = bus_get(acc) * 1000ULL;
	pthread_mutex_lock(&tm.lock);
	t->period_ns = period;
	t->deadline_ns = now_ns() + period;
	pthread_cond_signal(&tm.cond);
	pthread_mutex_unlock(&tm.lock);
	return true;
}

/* ---- Life cycle ---------------------------------------------------------------- */

static void
timer_init(struct toy_vm *vm)
{
	pthread_condattr_t attr;
	int error;

	/* Deadlines are CLOCK_MONOTONIC: wall-clock jumps must not matter. */
	pthread_mutex_init(&tm.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&tm.cond, &attr);
	pthread_condattr_destroy(&attr);
	tm.vm = vm;
	bus_register(vm, &(struct bus_region){ BUS_PIO, TOY_PORT_TIMER, 4,
	    timer_access, NULL, "timer" });
	if ((error = pthread_create(&tm.thread, NULL, timer_thread, NULL))) {
		errno = error;
		err(1, "timer: pthread_create");
	}
}

static void
timer_fini(struct toy_vm *vm)
{
	(void)vm;
	pthread_mutex_lock(&tm.lock);
	tm.stop = true;
	pthread_cond_signal(&tm.cond);
	pthread_mutex_unlock(&tm.lock);
	pthread_join(tm.thread, NULL);
}

const struct toy_device dev_timer = {
	.name = "timer",
	.init = timer_init,
	.fini = timer_fini,
};
