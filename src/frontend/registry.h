/*
 * The system-wide machine registry: machine ids shared by every process on
 * the host, and the per-machine facts that nvmmctl list and nvmm_ctl() show.
 *
 * In the run directory (rundir.h: $NVMM_RUNDIR, default /run/nvmm, root's
 * and shared by the group of /dev/kvm):
 * - "slots", one file of the directory's owner: byte N is machine id N.
 *   Its owner process holds a POSIX write lock on that byte for the
 *   machine's lifetime, so the id is free as soon as the process dies,
 *   even after SIGKILL, and whoever asks learns the owner's pid from the
 *   kernel (F_GETLK), not from anything a user wrote.
 * - "machine.NNN.<random>", one file per live machine, the owner's own
 *   (mode 0600 in a sticky directory: no one else but root can read,
 *   change, replace or remove it), locked by the owner process too: a
 *   record counts only if
 *   the process that holds slot N also holds its lock. Files left behind
 *   by dead owners block nothing; the next process to register there
 *   removes those it may (its user's; root: all).
 * A fork child closes the descriptors it inherited (pthread_atfork); POSIX
 * locks are the parent's alone.
 */
#ifndef NVMM_REGISTRY_H
#define NVMM_REGISTRY_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* What the registry holds about one machine. */
struct reg_info {
	pid_t pid;
	uint32_t nvcpus;
	uint64_t nram;
	time_t time;
};

/* The owner's handle on its entry. */
struct reg_entry {
	int fd;			/* the record file, locked */
	uint32_t machid;
	int dir;		/* index of its run directory (registry.c) */
	char name[32];		/* the record file's name in it */
	struct reg_info info;
};

/*
 * Take the lowest free id below max and publish e->info with the caller's
 * pid and the creation time filled in: 0, ENOBUFS (every id taken), or an
 * errno of the run dir (EACCES: not writable, or unsafe: see rundir.h;
 * ENOENT: no parent dir).
 */
int reg_acquire(struct reg_entry *, uint32_t max);
/* Publish e->info after a change. */
int reg_update(struct reg_entry *);
/* Free the id. */
void reg_release(struct reg_entry *);
/*
 * Facts about any live machine: 0, ENOENT (free id, or held by a process
 * that published nothing, or whose record the caller may not read: only
 * root reads another user's), or an errno (EACCES: unsafe run dir).
 */
int reg_lookup(uint32_t machid, struct reg_info *);
/* The process that holds an id: 0 with *pid, ENOENT, or an errno. */
int reg_holder(uint32_t machid, pid_t *pid);

#endif /* NVMM_REGISTRY_H */
