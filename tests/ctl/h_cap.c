/*
 * h_cap.so: preloaded into nvmmctl, it makes nvmm_capability() report the
 * values in $H_CAP, so that identify's formatting can be checked for
 * values this host never offers (masks of 0, unnamed bits, every XCR0
 * name, other RAM sizes):
 *
 *   H_CAP="version state_size comm_size max_machines max_vcpus max_ram
 *          mach_conf vcpu_conf xcr0_mask"       (numbers, C syntax)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nvmm.h>

int
nvmm_init(void)
{
	return 0;
}

int
nvmm_capability(struct nvmm_capability *cap)
{
	unsigned long long v[9];
	const char *p = getenv("H_CAP");
	char *end;

	for (size_t i = 0; i < 9; i++) {
		if (p == NULL) {
			errno = EINVAL;
			return -1;
		}
		v[i] = strtoull(p, &end, 0);
		p = (end == p) ? NULL : end;
	}
	memset(cap, 0, sizeof(*cap));
	cap->version = (uint32_t)v[0];
	cap->state_size = (uint32_t)v[1];
	cap->comm_size = (uint32_t)v[2];
	cap->max_machines = (uint32_t)v[3];
	cap->max_vcpus = (uint32_t)v[4];
	cap->max_ram = v[5];
	cap->arch.mach_conf_support = v[6];
	cap->arch.vcpu_conf_support = v[7];
	cap->arch.xcr0_mask = v[8];
	return 0;
}
