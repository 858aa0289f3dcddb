/*
 * Every ioctl() of the process counted, KVM_RUN apart (runcount.h), then
 * passed on. One object for the two counters that need it: as
 * nvmm-runcount.so it is preloaded into nvmm-bench's counting child
 * (insns.c), apart from the callgrind child, which must count no
 * instruction of its own; tests/state/t_cache links it in.
 */
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "runcount.h"

uint64_t nvmm_runcount[2];

int ioctl(int fd, unsigned long request, ...);

int
ioctl(int fd, unsigned long request, ...)
{
	static int (*next)(int, unsigned long, ...);
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (next == NULL)
		next = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	__atomic_fetch_add(&nvmm_runcount[RUNCOUNT_IOCTLS], 1, __ATOMIC_RELAXED);
	if (request == KVM_RUN)
		__atomic_fetch_add(&nvmm_runcount[RUNCOUNT_KVM_RUN], 1,
		    __ATOMIC_RELAXED);
	return next(fd, request, arg);
}
