/*
 * h_mismatch.so: preloaded into nvmmctl, it makes nvmm_init() and
 * nvmm_root_init() fail as a library/kernel version mismatch does
 * (EPROGMISMATCH), which our KVM-backed libnvmm never reports itself.
 */
#include <errno.h>

#include <nvmm.h>

int
nvmm_init(void)
{
	errno = EPROGMISMATCH;
	return -1;
}

int
nvmm_root_init(void)
{
	errno = EPROGMISMATCH;
	return -1;
}
