/*
 * libnvmm-internal helpers shared by the entry-point files.
 */
#ifndef NVMM_LIB_H
#define NVMM_LIB_H

#include <errno.h>

/* Only the API entry points leave the shared library. */
#define NVMM_EXPORT	__attribute__((__visibility__("default")))

/*
 * The API boundary: an errno value from below becomes -1 + errno. The
 * errno write is out of line (libnvmm.c), reached by a jump: an entry
 * point's success path then keeps nothing across a call, and needs no
 * stack frame for it.
 */
int lib_fail(int error)
    __attribute__((__visibility__("hidden"), __cold__, __noinline__));

static inline int
lib_result(int error)
{
	if (__builtin_expect(error == 0, 1))
		return 0;
	return lib_fail(error);
}

#endif /* NVMM_LIB_H */
