/*
 * Frontend-internal: the selected backend, the machine lookup and the
 * guest-physical range check shared by the frontend's files (the vCPU
 * lookup is in lookup.h). Every get is paired with a put.
 */
#ifndef NVMM_FE_MACHINE_H
#define NVMM_FE_MACHINE_H

#include "nvmm_impl.h"

/* Hidden: one RIP-relative load on the paths every exit takes. */
extern const struct nvmm_impl *fe_impl __attribute__((visibility("hidden")));

int fe_machine_get(const struct nvmm_machine *, struct fe_machine **);
void fe_machine_put(struct fe_machine *);
/* Make a vCPU's current or next run return soon (STOPPED). */
void fe_vcpu_kick(struct fe_vcpu *);

/*
 * memory.c: the host's page size, and whether a guest-physical range is
 * non-empty, page-aligned and inside NVMM's space (0, or EINVAL).
 */
uint64_t fe_page_size(void);
int fe_gpa_range_check(gpaddr_t gpa, size_t size);

#endif /* NVMM_FE_MACHINE_H */
