/*
 * libnvmm: the API entry points that manage machines, vCPUs, state and
 * memory, and the comm-page protocol of NVMM (spec section 1.3):
 * setstate and inject only mark what the run installs (inject also kicks
 * a run under way in another thread), getstate fetches only what is not
 * cached.
 */
#include <errno.h>
#include <string.h>

#include <nvmm.h>

#include "../frontend/frontend.h"
#include "../frontend/vcpu.h"
#include "lib.h"

int
lib_fail(int error)
{
	errno = error;
	return -1;
}

/* ---- Initialisation and capability ---------------------------------------- */

NVMM_EXPORT int
nvmm_init(void)
{
	return lib_result(fe_init(false));
}

NVMM_EXPORT int
nvmm_root_init(void)
{
	return lib_result(fe_init(true));
}

NVMM_EXPORT int
nvmm_capability(struct nvmm_capability *cap)
{
	return lib_result(fe_capability(cap));
}

NVMM_EXPORT int
nvmm_ctl(int op, void *data, size_t size)
{
	if (op != NVMM_CTL_MACH_INFO ||
	    size != sizeof(struct nvmm_ctl_mach_info))
		return lib_result(EINVAL);
	if (data == NULL)
		return lib_result(EFAULT);
	return lib_result(fe_ctl_mach_info(data));
}

/* ---- Machines ------------------------------------------------------------------ */

NVMM_EXPORT int
nvmm_machine_create(struct nvmm_machine *mach)
{
	return lib_result(fe_machine_create(mach));
}

NVMM_EXPORT int
nvmm_machine_destroy(struct nvmm_machine *mach)
{
	return lib_result(fe_machine_destroy(mach));
}

NVMM_EXPORT int
nvmm_machine_configure(struct nvmm_machine *mach, uint64_t op, void *conf)
{
	return lib_result(fe_machine_configure(mach, op, conf));
}

/* ---- vCPUs ----------------------------------------------------------------------- */

NVMM_EXPORT int
nvmm_vcpu_create(struct nvmm_machine *mach, nvmm_cpuid_t cpuid,
    struct nvmm_vcpu *vcpu)
{
	return lib_result(fe_vcpu_create(mach, cpuid, vcpu));
}

NVMM_EXPORT int
nvmm_vcpu_destroy(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	return lib_result(fe_vcpu_destroy(mach, vcpu));
}

NVMM_EXPORT int
nvmm_vcpu_configure(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t op, void *conf)
{
	struct nvmm_comm_page *comm;
	int error;

	if (op != NVMM_VCPU_CONF_CALLBACKS)
		return lib_result(fe_vcpu_configure(mach, vcpu, op, conf));

	/* Callbacks live in the caller's struct: no call below. */
	if ((error = fe_vcpu_comm(mach, vcpu, &comm)) != 0)
		return lib_result(error);
	if (conf == NULL)
		return lib_result(EFAULT);
	memcpy(&vcpu->cbs, conf, sizeof(vcpu->cbs));
	return 0;
}

/* ---- State and events ---------------------------------------------------------- */

/*
 * Setstate, getstate and run, the calls every exit makes, are the
 * lookup's fast half and their bodies inline (frontend/vcpu.h). When the
 * fast half finds nothing, the whole call is made again through the slow
 * half (vcpu.c), which also gives the errors; from here by a jump, so
 * that the fast path needs no frame to come back to.
 */
static __attribute__((noinline)) int
lib_setstate_slow(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t flags)
{
	return lib_result(fe_vcpu_setstate_slow(mach, vcpu, flags));
}

NVMM_EXPORT int
nvmm_vcpu_setstate(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t flags)
{
	struct fe_vcpu *v;

	/* Unknown classes too: the slow twin checks the handles first. */
	if ((flags & ~(uint64_t)NVMM_X64_STATE_ALL) != 0 ||
	    (v = fe_vcpu_peek(mach, vcpu)) == NULL)
		return lib_setstate_slow(mach, vcpu, flags);
	return lib_result(fe_vcpu_setstate_on(v, flags));
}

static __attribute__((noinline)) int
lib_getstate_slow(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t flags)
{
	return lib_result(fe_vcpu_getstate_slow(mach, vcpu, flags));
}

/*
 * The fast half takes the lock with the use, whether or not a fetch will
 * need it (the lock is free, so it costs nothing more, and a fetch then
 * needs no second step); the slow twin, which also serves a getstate
 * while another thread holds the lock, takes it only for a fetch.
 */
NVMM_EXPORT int
nvmm_vcpu_getstate(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t flags)
{
	struct fe_vcpu *v = fe_vcpu_take_fast(mach, vcpu, true);

	if (v == NULL)
		return lib_getstate_slow(mach, vcpu, flags);
	return lib_result(fe_vcpu_getstate_on(v, flags, true));
}

NVMM_EXPORT int
nvmm_vcpu_inject(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	/* Validated by the next run, as NVMM does; any thread may call. */
	return lib_result(fe_vcpu_inject(mach, vcpu));
}

/* ---- Running ------------------------------------------------------------------------- */

static __attribute__((noinline)) int
lib_run_slow(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	return lib_result(fe_vcpu_run_slow(mach, vcpu));
}

NVMM_EXPORT int
nvmm_vcpu_run(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct fe_vcpu *v = fe_vcpu_take_fast(mach, vcpu, true);

	if (v == NULL)
		return lib_run_slow(mach, vcpu);
	return lib_result(fe_vcpu_run_on(v));
}

NVMM_EXPORT int
nvmm_vcpu_stop(struct nvmm_vcpu *vcpu)
{
	/* Async-signal-safe: errno is saved around it by careful callers. */
	return lib_result(fe_vcpu_stop(vcpu));
}

/* ---- Memory ---------------------------------------------------------------------------- */

NVMM_EXPORT int
nvmm_hva_map(struct nvmm_machine *mach, uintptr_t hva, size_t size)
{
	return lib_result(fe_hva_map(mach, hva, size));
}

NVMM_EXPORT int
nvmm_hva_unmap(struct nvmm_machine *mach, uintptr_t hva, size_t size)
{
	return lib_result(fe_hva_unmap(mach, hva, size));
}

NVMM_EXPORT int
nvmm_gpa_map(struct nvmm_machine *mach, uintptr_t hva, gpaddr_t gpa,
    size_t size, int prot)
{
	return lib_result(fe_gpa_map(mach, hva, gpa, size, prot));
}

NVMM_EXPORT int
nvmm_gpa_unmap(struct nvmm_machine *mach, uintptr_t hva, gpaddr_t gpa,
    size_t size)
{
	return lib_result(fe_gpa_unmap(mach, hva, gpa, size));
}

NVMM_EXPORT int
nvmm_gpa_to_hva(struct nvmm_machine *mach, gpaddr_t gpa, uintptr_t *hva,
    nvmm_prot_t *prot)
{
	if (hva == NULL || prot == NULL)
		return lib_result(EFAULT);
	return lib_result(fe_gpa_to_hva(mach, gpa, hva, prot));
}
