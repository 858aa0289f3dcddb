/*
 * The frontend's mutex for the paths every exit takes (the vCPU lock,
 * the maps lock): one atomic instruction to take it and one to give it
 * back while nobody waits, where a pthread mutex pair costs ~50
 * instructions; a futex sleep only under contention. Not recursive and
 * without an owner check: callers pair lock and unlock by construction.
 */
#ifndef NVMM_FE_LOCK_H
#define NVMM_FE_LOCK_H

#include <stdatomic.h>

struct fe_mutex {
	atomic_uint word;	/* 0 free, 1 held, 2 held and waited for */
};
#define FE_MUTEX_INIT	{ 0 }

/* lock.c: the contended halves. */
void fe_mutex_sleep(struct fe_mutex *);
void fe_mutex_wake(struct fe_mutex *);

static inline void
fe_mutex_lock(struct fe_mutex *m)
{
	unsigned int free = 0;

	if (!atomic_compare_exchange_strong_explicit(&m->word, &free, 1,
	    memory_order_acquire, memory_order_relaxed))
		fe_mutex_sleep(m);
}

static inline void
fe_mutex_unlock(struct fe_mutex *m)
{
	if (atomic_exchange_explicit(&m->word, 0, memory_order_release) == 2)
		fe_mutex_wake(m);
}

#endif /* NVMM_FE_LOCK_H */
