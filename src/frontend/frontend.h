/*
 * What libnvmm calls in the MI frontend. Every function validates the
 * handles it is given (NULL, id range, ownership, staleness) and returns 0
 * or an errno value; libnvmm turns that into -1 + errno.
 */
#ifndef NVMM_FRONTEND_H
#define NVMM_FRONTEND_H

#include "nvmm_impl.h"

/* ---- Process-wide ----------------------------------------------------------- */

int fe_init(bool root);
int fe_capability(struct nvmm_capability *);
int fe_ctl_mach_info(struct nvmm_ctl_mach_info *);

/* ---- Machines ------------------------------------------------------------------ */

int fe_machine_create(struct nvmm_machine *);
int fe_machine_destroy(const struct nvmm_machine *);
int fe_machine_configure(const struct nvmm_machine *, uint64_t, void *);

/* ---- vCPUs --------------------------------------------------------------------- */

int fe_vcpu_create(const struct nvmm_machine *, nvmm_cpuid_t,
    struct nvmm_vcpu *);
int fe_vcpu_destroy(const struct nvmm_machine *, const struct nvmm_vcpu *);
int fe_vcpu_configure(const struct nvmm_machine *, const struct nvmm_vcpu *,
    uint64_t, void *);
/* A CPUID leaf as the guest sees it; ENOTSUP if the backend cannot say. */
int fe_vcpu_cpuid(const struct nvmm_machine *, const struct nvmm_vcpu *,
    uint32_t leaf, uint32_t index, uint32_t regs[4]);

/*
 * The vCPU's comm page, after validating the handles. Only the owning
 * thread may use it, as NVMM's documented rule says.
 */
int fe_vcpu_comm(const struct nvmm_machine *, const struct nvmm_vcpu *,
    struct nvmm_comm_page **);
/*
 * Commit *vcpu->event, from any thread or a signal handler: a run under
 * way ends soon (NONE), and the next guest entry injects it.
 */
int fe_vcpu_inject(const struct nvmm_machine *, const struct nvmm_vcpu *);
/*
 * For the run, under the vCPU's lock: take the event posted since the
 * last take into v->event (v->event_commit), unless a post is under way.
 */
void fe_event_take(struct fe_vcpu *);
/* Async-signal-safe: no lock, no allocation. */
int fe_vcpu_stop(const struct nvmm_vcpu *);

/*
 * Getstate, setstate, run and the assists are inline in vcpu.h.
 *
 * Assists: the access behind the last IO / MEMORY exit (v->access; EINVAL
 * if there is none), served by the caller through the vCPU's callbacks.
 * An assist looks the vCPU up once and keeps a use of it and its lock
 * until it marks the access served; around the callbacks (fe_assist_enter,
 * fe_assist_leave) a destroy of that vCPU or its machine from this thread
 * fails with EBUSY, and an entry point that wants the lock borrows it.
 * The data buffer stays valid until the next run.
 */
struct fe_assist {
	struct fe_vcpu *v;
	bool locked;			/* false once lent to a callback */
	struct fe_assist *outer;	/* this thread's enclosing assist */
};
/* This thread's innermost assist (machine.c). */
extern __thread struct fe_assist *fe_assists
    __attribute__((tls_model("initial-exec")));

/* ---- Memory ---------------------------------------------------------------------- */

int fe_hva_map(const struct nvmm_machine *, uintptr_t, size_t);
int fe_hva_unmap(const struct nvmm_machine *, uintptr_t, size_t);
int fe_gpa_map(const struct nvmm_machine *, uintptr_t, gpaddr_t, size_t, int);
int fe_gpa_unmap(const struct nvmm_machine *, uintptr_t, gpaddr_t, size_t);
int fe_gpa_to_hva(const struct nvmm_machine *, gpaddr_t, uintptr_t *,
    nvmm_prot_t *);

/* Dirty-page tracking: the Linux extension (dirty.c). */
int fe_gpa_dirty_start(const struct nvmm_machine *, gpaddr_t, size_t);
int fe_gpa_dirty_stop(const struct nvmm_machine *, gpaddr_t, size_t);
int fe_gpa_dirty_fetch(const struct nvmm_machine *, gpaddr_t, size_t,
    uint64_t *, size_t, int);
int fe_gpa_dirty_clear(const struct nvmm_machine *, gpaddr_t, size_t,
    const uint64_t *, size_t);

/* Lookup for the page walker and the backend: the area holding gpa, or NULL. */
const struct fe_area *fe_area_find(const struct fe_machine *, gpaddr_t);

#endif /* NVMM_FRONTEND_H */
