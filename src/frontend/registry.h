/*
 * The system-wide machine registry: machine ids shared by every process on
 * the host, and the per-machine facts that nvmmctl list and nvmm_ctl() show.
 *
 * One file per machine id under the run directory ($NVMM_RUNDIR, default
 * /run/nvmm). The owner holds an open-file-description write lock on it for
 * the machine's lifetime, so a dead owner's entry is free as soon as the
 * kernel closes its descriptors, even after SIGKILL. A fork child closes
 * the descriptors it inherited (pthread_atfork), so only the owner's own
 * holds the lock.
 */
#ifndef NVMM_REGISTRY_H
#define NVMM_REGISTRY_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define REG_RUNDIR_ENV		"NVMM_RUNDIR"
#define REG_RUNDIR_DEFAULT	"/run/nvmm"

/* What the registry holds about one machine. */
struct reg_info {
	pid_t pid;
	uint32_t nvcpus;
	uint64_t nram;
	time_t time;
};

/* The owner's handle on its entry. */
struct reg_entry {
	int fd;
	uint32_t machid;
	struct reg_info info;
};

/*
 * Take the lowest free id below max and publish e->info with the caller's
 * pid and the creation time filled in: 0, ENOBUFS (every id taken), or an
 * errno of the run dir (EACCES: not writable, ENOENT: no parent dir).
 */
int reg_acquire(struct reg_entry *, uint32_t max);
/* Publish e->info after a change. */
int reg_update(struct reg_entry *);
/* Free the id. */
void reg_release(struct reg_entry *);
/* Facts about any live machine: 0, ENOENT (free id), or an errno. */
int reg_lookup(uint32_t machid, struct reg_info *);

#endif /* NVMM_REGISTRY_H */
