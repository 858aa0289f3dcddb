/*
 * Guest code helpers for the .S files beside it: each guest sits between
 * <name>_begin and <name>_end, is copied into guest RAM by the test, and
 * is assembled for the guest-physical address the test loads it at.
 */
#ifndef NVMM_TEST_GUEST_H
#define NVMM_TEST_GUEST_H

#define GUEST_BEGIN(name)	.globl name##_begin; name##_begin:
#define GUEST_END(name)		.globl name##_end; name##_end:

/* Stop the test: an MSR NVMM does not handle exits as RDMSR (as NetBSD's). */
#define TEST_END		mov $0xFFFFFFFF, %ecx; rdmsr

#endif
