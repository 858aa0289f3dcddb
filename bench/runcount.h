/*
 * The process's ioctl(2) system calls, KVM_RUN apart, counted where the
 * kernel sees them (runcount.c): a tracer child stops every thread at
 * each system call's entry, so the count does not depend on how the
 * library makes the call (glibc's ioctl() or an inline syscall).
 * nvmm-bench's counting child (insns.c) and tests/state/t_cache use it.
 */
#ifndef NVMM_BENCH_RUNCOUNT_H
#define NVMM_BENCH_RUNCOUNT_H

#include <stddef.h>
#include <stdint.h>

enum { RUNCOUNT_IOCTLS, RUNCOUNT_KVM_RUN, RUNCOUNT_N };

/*
 * Start the tracer on every thread of the process (and the threads they
 * create): 0, or -1 with the reason in why (ptrace not allowed here).
 * It stops at exit, or at runcount_stop().
 */
int runcount_start(char *why, size_t len);

/* What the tracer counted so far, by RUNCOUNT_*: exact once a call returns. */
uint64_t runcount(int which);

/* Detach the tracer (a traced process cannot be ptraced by LSan at exit). */
void runcount_stop(void);

#endif /* NVMM_BENCH_RUNCOUNT_H */
