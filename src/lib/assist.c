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
assist_io_string(struct nvmm_vcpu *vcpu, struct nvmm_io *io,
    const struct fe_io_access *acc)
{
	for (size_t i = 0; i < acc->count; i++) {
		io->data = acc->data + i * acc->size;
		vcpu->cbs.io(io);
	}
}

NVMM_EXPORT int
nvmm_assist_io(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct fe_io_access acc;
	struct fe_assist as;
	struct nvmm_io io;
	int error;

	if ((error = fe_vcpu_io_begin(mach, vcpu, &acc, &as)) != 0)
		return lib_result(error);
	if (vcpu->cbs.io == NULL) {	/* no NVMM_VCPU_CONF_CALLBACKS */
		(void)fe_vcpu_assist_end(&as, false);
		return lib_result(EINVAL);
	}

	io.mach = mach;
	io.vcpu = vcpu;
	io.port = acc.port;
	io.in = acc.in;
	io.size = acc.size;
	io.data = acc.data;
	if (acc.count == 1)
		vcpu->cbs.io(&io);	/* IN, OUT: the common access */
	else
		assist_io_string(vcpu, &io, &acc);
	return lib_result(fe_vcpu_assist_end(&as, true));
}

NVMM_EXPORT int
nvmm_assist_mem(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct fe_mem_access acc;
	struct fe_assist as;
	struct nvmm_mem mem;
	int error;

	if ((error = fe_vcpu_mem_begin(mach, vcpu, &acc, &as)) != 0)
		return lib_result(error);
	if (vcpu->cbs.mem == NULL) {	/* no NVMM_VCPU_CONF_CALLBACKS */
		(void)fe_vcpu_assist_end(&as, false);
		return lib_result(EINVAL);
	}

	mem.mach = mach;
	mem.vcpu = vcpu;
	mem.gpa = acc.gpa;
	mem.write = acc.write;
	mem.size = acc.size;
	mem.data = acc.data;
	vcpu->cbs.mem(&mem);
	return lib_result(fe_vcpu_assist_end(&as, true));
}
