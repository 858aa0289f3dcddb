/*
 * The contended halves of struct fe_mutex (lock.h): a waiter marks the
 * word 2 and sleeps on it; the unlock that sees 2 wakes one sleeper,
 * which takes the lock marked 2 again, since others may still sleep.
 */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

void
fe_mutex_sleep(struct fe_mutex *m)
{
	while (atomic_exchange_explicit(&m->word, 2, memory_order_acquire) != 0)
		(void)syscall(SYS_futex, &m->word, FUTEX_WAIT_PRIVATE, 2,
		    NULL, NULL, 0);
}

void
fe_mutex_wake(struct fe_mutex *m)
{
	(void)syscall(SYS_futex, &m->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL,
	    0);
}
