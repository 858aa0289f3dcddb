/*
 * libnvmm: nvmm_assist_io() and nvmm_assist_mem().
 *
 * KVM has already decoded the instruction behind an IO or MEMORY exit,
 * batched string I/O and will finish the instruction (registers, RIP,
 * guest memory) when the vCPU next runs. The assists therefore only serve
 * the pending access through the emulator's callbacks: once per I/O
 * element, once per memory access.
 */
#include <errno.h>

#include <nvmm.h>

#include "../frontend/vcpu.h"
#include "lib.h"

/*
 * String I/O: KVM batched its elements, one callback each. Apart, so that
 * an access of one element (IN, OUT) keeps nothing across its callback.
 */
static __attribute__((noinline)) void
assist_io_string(struct nvmm_vcpu *vcpu, struct fe_io_access *acc)
{
	uint8_t *data = acc->io.data;
	size_t size = acc->io.size;

	for (size_t i = 0; i < acc->count; i++) {
		acc->io.data = data + i * size;
		vcpu->cbs.io(&acc->io);
	}
}

/* The backend filled the access as the callback gets it, but mach and vcpu. */
NVMM_EXPORT int
nvmm_assist_io(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct fe_io_access acc;
	struct fe_assist as;
	int error;

	if ((error = fe_vcpu_io_begin(mach, vcpu, &acc, &as)) != 0)
		return lib_result(error);
	if (vcpu->cbs.io == NULL) {	/* no NVMM_VCPU_CONF_CALLBACKS */
		(void)fe_vcpu_assist_end(&as, false);
		return lib_result(EINVAL);
	}

	acc.io.mach = mach;
	acc.io.vcpu = vcpu;
	if (acc.count == 1)
		vcpu->cbs.io(&acc.io);	/* IN, OUT: the common access */
	else
		assist_io_string(vcpu, &acc);
	return lib_result(fe_vcpu_assist_end(&as, true));
}

NVMM_EXPORT int
nvmm_assist_mem(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct fe_assist as;
	struct nvmm_mem mem;
	int error;

	if ((error = fe_vcpu_mem_begin(mach, vcpu, &mem, &as)) != 0)
		return lib_result(error);
	if (vcpu->cbs.mem == NULL) {	/* no NVMM_VCPU_CONF_CALLBACKS */
		(void)fe_vcpu_assist_end(&as, false);
		return lib_result(EINVAL);
	}

	mem.mach = mach;
	mem.vcpu = vcpu;
	vcpu->cbs.mem(&mem);
	return lib_result(fe_vcpu_assist_end(&as, true));
}
