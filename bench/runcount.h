/*
 * The process's ioctl() calls, counted (runcount.c): nvmm-runcount.so,
 * preloaded into nvmm-bench's counting child (insns.c, which finds the
 * counters with dlsym()), and linked into tests/state/t_cache (built
 * with export_dynamic, so that the shared libnvmm calls this ioctl()).
 */
#ifndef NVMM_BENCH_RUNCOUNT_H
#define NVMM_BENCH_RUNCOUNT_H

#include <stdint.h>

enum { RUNCOUNT_IOCTLS, RUNCOUNT_KVM_RUN };

extern uint64_t nvmm_runcount[2];	/* by RUNCOUNT_* */

#endif /* NVMM_BENCH_RUNCOUNT_H */
