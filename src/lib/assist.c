/*
 * libnvmm: nvmm_assist_io() and nvmm_assist_mem().
 *
 * KVM has already decoded the instruction behind an IO or MEMORY exit,
 * batched string I/O and will finish the instruction (registers, RIP,
 * guest memory) when the vCPU next runs. The assists therefore only serve
 * the pending access through the emulator's callbacks: once per I/O
 * element, once per memory access. The backend filled the access at the
 * exit as the callback gets it (v->access, nvmm_impl.h), so an assist
 * reads it in place and marks it served: no backend call, unless the
 * emulator holds GPRs, which the finished instruction changes.
 */
#include <errno.h>

#include <nvmm.h>

#include "../frontend/vcpu.h"
#include "lib.h"

/*
 * The access is served: the next run lets KVM finish it. NVMM's assists
 * leave the GPRs the emulator holds as the finished instruction does: the
 * backend brings them up to date. The lock and the use go back.
 */
static inline int
assist_served(struct fe_vcpu *v)
{
	int error = 0;

	v->access->served = true;
	if (__builtin_expect(
	    (v->comm.state_cached & NVMM_X64_STATE_GPRS) != 0, 0))
		error = fe_impl->vcpu_access_done(v);
	return lib_result(fe_vcpu_give(v, true, error));
}

/* No access of this kind to serve, or no callbacks: the lock goes back. */
static __attribute__((noinline)) int
assist_refused(struct fe_vcpu *v)
{
	return lib_result(fe_vcpu_give(v, true, EINVAL));
}

/*
 * String I/O: KVM batched its elements, one callback each. Apart, and on a
 * copy of the record: the loop keeps the access across its callbacks,
 * which may run the vCPU (and so refill the record). Each callback gets
 * the access afresh, as NVMM gives each its own struct: one that writes
 * over it changes neither the next element's access nor where its
 * buffer is (KVM's size, not the struct's, steps through KVM's buffer).
 */
static __attribute__((noinline)) void
assist_io_string(struct nvmm_vcpu *vcpu, const struct fe_io_access *acc)
{
	const struct nvmm_io access = acc->io;
	size_t count = acc->count;
	struct nvmm_io io;

	for (size_t i = 0; i < count; i++) {
		io = access;
		io.data = access.data + i * access.size;
		vcpu->cbs.io(&io);
	}
}

NVMM_EXPORT int
nvmm_assist_io(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct fe_io_access *acc;
	struct fe_assist as;
	struct fe_vcpu *v;
	int error;

	if ((v = fe_vcpu_take(mach, vcpu, true, &error)) == NULL)
		return lib_result(error);
	if (v->access->pending != FE_ACCESS_IO || v->access->served ||
	    vcpu->cbs.io == NULL)	/* no NVMM_VCPU_CONF_CALLBACKS */
		return assist_refused(v);

	acc = &v->access->io;
	acc->io.mach = mach;
	acc->io.vcpu = vcpu;
	fe_assist_enter(&as, v);
	if (acc->count == 1)
		vcpu->cbs.io(&acc->io);	/* IN, OUT: the common access */
	else
		assist_io_string(vcpu, acc);
	fe_assist_leave(&as);
	return assist_served(v);
}

NVMM_EXPORT int
nvmm_assist_mem(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct nvmm_mem *mem;
	struct fe_assist as;
	struct fe_vcpu *v;
	int error;

	if ((v = fe_vcpu_take(mach, vcpu, true, &error)) == NULL)
		return lib_result(error);
	if (v->access->pending != FE_ACCESS_MEM || v->access->served ||
	    vcpu->cbs.mem == NULL)	/* no NVMM_VCPU_CONF_CALLBACKS */
		return assist_refused(v);

	mem = &v->access->mem;
	mem->mach = mach;
	mem->vcpu = vcpu;
	fe_assist_enter(&as, v);
	vcpu->cbs.mem(mem);
	fe_assist_leave(&as);
	return assist_served(v);
}
