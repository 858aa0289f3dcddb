/*
 * Frontend-internal: the selected backend and the handle lookups shared by
 * the frontend's files. Every get is paired with a put.
 */
#ifndef NVMM_FE_MACHINE_H
#define NVMM_FE_MACHINE_H

#include "nvmm_impl.h"

extern const struct nvmm_impl *fe_impl;

int fe_machine_get(const struct nvmm_machine *, struct fe_machine **);
void fe_machine_put(struct fe_machine *);
/* With lock, the vCPU's lock is held until the put. */
int fe_vcpu_get(const struct nvmm_machine *, const struct nvmm_vcpu *, bool lock,
    struct fe_machine **, struct fe_vcpu **);
void fe_vcpu_put(struct fe_machine *, struct fe_vcpu *, bool locked);
/* An assist under way on this thread (vcpu.c): destroys of its vCPU fail. */
void fe_assist_enter(struct fe_assist *);
void fe_assist_leave(struct fe_assist *);
/* Make a vCPU's current or next run return soon (STOPPED). */
void fe_vcpu_kick(struct fe_vcpu *);

#endif /* NVMM_FE_MACHINE_H */
