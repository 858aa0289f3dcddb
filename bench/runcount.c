/*
 * nvmm-runcount.so: preloaded into nvmm-bench's counting child (insns.c),
 * it counts the process's ioctls, and KVM_RUN among them, in
 * nvmm_runcount[] which the child finds with dlsym(). A separate object,
 * so that the callgrind child counts no instruction of its own.
 */
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

uint64_t nvmm_runcount[2];	/* all ioctls, KVM_RUN */

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
	__atomic_fetch_add(&nvmm_runcount[0], 1, __ATOMIC_RELAXED);
	if (request == KVM_RUN)
		__atomic_fetch_add(&nvmm_runcount[1], 1, __ATOMIC_RELAXED);
	return next(fd, request, arg);
}
