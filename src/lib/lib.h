/*
 * libnvmm-internal helpers shared by the entry-point files.
 */
#ifndef NVMM_LIB_H
#define NVMM_LIB_H

#include <errno.h>

/* Only the API entry points leave the shared library. */
#define NVMM_EXPORT	__attribute__((__visibility__("default")))

/* The API boundary: an errno value from below becomes -1 + errno. */
static inline int
lib_result(int error)
{
	if (error == 0)
		return 0;
	errno = error;
	return -1;
}

#endif /* NVMM_LIB_H */
