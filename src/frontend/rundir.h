/*
 * The registry's run directory ($NVMM_RUNDIR, default /run/nvmm) and its
 * slots file: where they are, who may create them, and when they are safe
 * to use. The registry (registry.c) works inside a directory this policy
 * accepted; nvmmctl(8) compiles this file too, to say what is wrong with a
 * directory and how to fix it.
 *
 * Safe means: no user the directory's owner did not admit can block,
 * change or hide another user's machine (docs/design.md, "The system-wide
 * registry"). The directory belongs to root or to the caller, is not
 * writable by every user, and is sticky if its group may write; the slots
 * file belongs to the directory's owner and is not writable by every user.
 */
#ifndef NVMM_RUNDIR_H
#define NVMM_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define RUNDIR_ENV		"NVMM_RUNDIR"
#define RUNDIR_DEFAULT		"/run/nvmm"
#define RUNDIR_SLOTS		"slots"
#define RUNDIR_KVM		"/dev/kvm"	/* its group may register */
#define RUNDIR_MODE		01770		/* root:<kvm group>, sticky */
#define RUNDIR_MODE_PRIVATE	0700		/* made by another user */
#define RUNDIR_SLOTS_MODE	0660

/* What makes a run directory unusable. */
enum rundir_problem {
	RUNDIR_OK,
	RUNDIR_MISSING,		/* no directory, and we may not make it */
	RUNDIR_NO_ACCESS,	/* the caller may not search or write it */
	RUNDIR_READONLY,	/* on a read-only file system */
	RUNDIR_NOT_DIR,
	RUNDIR_OWNER,		/* neither root's nor the caller's */
	RUNDIR_WORLD,		/* writable by every user */
	RUNDIR_NOT_STICKY,	/* group-writable without the sticky bit */
	RUNDIR_SLOTS_MISSING,	/* only the directory's owner may make it */
	RUNDIR_SLOTS_UNSAFE,	/* not the owner's, or writable by all */
};

/* $NVMM_RUNDIR if set and not empty (and not set-id), else /run/nvmm. */
const char *rundir_path(void);

/*
 * Open the run directory and check it; with create, make it first when it
 * is missing (root: root:<group of /dev/kvm>, 1770; anyone else: 0700).
 * Returns 0 with *dfd, or an errno (EACCES for an unsafe directory) with
 * *problem saying why.
 */
int rundir_open(bool create, int *dfd, struct stat *st,
    enum rundir_problem *problem);

/* Whether a directory (its stat) is safe to use, else the problem. */
enum rundir_problem rundir_check(const struct stat *);

/* Whether a slots file (its stat) is safe in a directory (dst: its stat). */
bool rundir_slots_safe(const struct stat *st, const struct stat *dst);

/*
 * Open the slots file of a directory rundir_open() accepted (dst: its
 * stat), read-write; with create, make it when missing if the caller owns
 * the directory. Returns 0 with *fd, or an errno with *problem (ENOENT:
 * missing, so no machine is registered there; EACCES: unsafe).
 */
int rundir_slots_open(int dfd, const struct stat *dst, bool create, int *fd,
    enum rundir_problem *problem);

/*
 * Why the directory at path is unusable and the command that fixes it,
 * for people: "<path>: <cause> (<fix>)".
 */
void rundir_explain(enum rundir_problem, const char *path, char *buf,
    size_t len);

#endif /* NVMM_RUNDIR_H */
