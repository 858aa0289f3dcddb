/*
 * Helpers of the stress, crash and scale tests: a private machine registry,
 * a watchdog that turns a hang into a failure with a report of what each
 * thread was doing, time, and memory figures of this process and the host.
 */
#ifndef NVMM_TEST_STRESS_H
#define NVMM_TEST_STRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

/* A fresh registry directory for this process and its children. */
const char *s_private_rundir(const char *tag);
/* How many registry entries are held by a live owner (0: clean). */
unsigned int s_registry_held(const char *rundir);

/* Seconds on the monotonic clock: t_now_ns(). */
double s_now(void);
/* NVMM_STRESS_SECONDS, or the default. */
double s_seconds(double dflt);

/*
 * What a thread is doing, for the watchdog's report. Threads register a
 * slot and update it before each call that could block.
 */
#define S_MAX_THREADS	256
struct s_thread {
	char name[24];
	const char *_Atomic where;
	atomic_ulong progress;
};
struct s_thread *s_thread_register(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inline void
s_at(struct s_thread *t, const char *where)
{
	atomic_store(&t->where, where);
	atomic_fetch_add(&t->progress, 1);
}

/* Fail the test ("Bail out!") if it is not over within the given time. */
void s_watchdog_start(double seconds);
void s_watchdog_stop(void);

/* Memory: this process (kB) and the host (kB, from /proc/meminfo). */
struct s_mem {
	long rss, pss;			/* smaps_rollup */
	long avail, anon, kstack, pagetables, secpagetables, slab;
};
void s_mem_read(struct s_mem *);
void s_mem_diag(const char *what, const struct s_mem *before,
    const struct s_mem *after);

#endif /* NVMM_TEST_STRESS_H */
