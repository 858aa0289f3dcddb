/*
 * The registry's run directory and slots file: location, creation, and the
 * safety policy (see rundir.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"

/* Why the caller cannot use the directory, from the errno of a use. */
static enum rundir_problem
rundir_denied(int error)
{
	return error == EROFS ? RUNDIR_READONLY : RUNDIR_NO_ACCESS;
}

/*
 * Not in a set-id program: a program made set-group-id kvm must not let
 * the users it serves move their machines out of the shared registry.
 */
const char *
rundir_path(void)
{
	const char *dir = secure_getenv(RUNDIR_ENV);

	return (dir != NULL && dir[0] != '\0') ? dir : RUNDIR_DEFAULT;
}

/* The group that may use KVM: the registry's group when root makes it. */
static gid_t
rundir_kvm_gid(void)
{
	struct stat st;

	return stat(RUNDIR_KVM, &st) == 0 ? st.st_gid : 0;
}

/* ---- The directory ------------------------------------------------------------ */

enum rundir_problem
rundir_check(const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return RUNDIR_NOT_DIR;
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return RUNDIR_OWNER;
	if (st->st_mode & S_IWOTH)
		return RUNDIR_WORLD;
	/* Members of the group could remove each other's files. */
	if ((st->st_mode & S_IWGRP) && !(st->st_mode & S_ISVTX))
		return RUNDIR_NOT_STICKY;
	return RUNDIR_OK;
}

/*
 * Make the directory. Only root can make it in /run; it is then shared by
 * the group of /dev/kvm. Another user's directory (an NVMM_RUNDIR of
 * theirs) is private: no one else could trust its owner.
 */
static int
rundir_make(const char *path)
{
	bool root = geteuid() == 0;
	int dfd, error = 0;

	if (mkdir(path, root ? RUNDIR_MODE : RUNDIR_MODE_PRIVATE) == -1)
		return errno == EEXIST ? 0 : errno;
	if (!root)
		return 0;
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return errno;
	/* mkdir() applied the umask and the caller's group. */
	if (fchown(dfd, 0, rundir_kvm_gid()) == -1 ||
	    fchmod(dfd, RUNDIR_MODE) == -1)
		error = errno;
	close(dfd);
	return error;
}

int
rundir_open(bool create, int *dfd, struct stat *st,
    enum rundir_problem *problem)
{
	const char *path = rundir_path();
	int fd, error;

	*problem = RUNDIR_OK;
	if (create && (error = rundir_make(path)) != 0) {
		*problem = error == ENOENT ? RUNDIR_MISSING :
		    rundir_denied(error);
		return error;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		error = errno;
		*problem = error == ENOENT ? RUNDIR_MISSING :
		    error == ENOTDIR ? RUNDIR_NOT_DIR : RUNDIR_NO_ACCESS;
		return error;
	}
	if (fstat(fd, st) == -1) {
		error = errno;
		close(fd);
		*problem = RUNDIR_NO_ACCESS;
		return error;
	}
	if ((*problem = rundir_check(st)) != RUNDIR_OK) {
		close(fd);
		return EACCES;
	}
	*dfd = fd;
	return 0;
}

/* ---- The slots file --------------------------------------------------------------- */

static int
rundir_slots_make(int dfd, const struct stat *dst)
{
	int fd = openat(dfd, RUNDIR_SLOTS,
	    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, RUNDIR_SLOTS_MODE);

	if (fd == -1)
		return errno == EEXIST ? 0 : errno;
	/*
	 * The directory's group shares it (a private directory has no one to
	 * share with, so a refused chown does not matter there).
	 */
	(void)fchown(fd, (uid_t)-1, dst->st_gid);
	(void)fchmod(fd, RUNDIR_SLOTS_MODE);
	close(fd);
	return 0;
}

bool
rundir_slots_safe(const struct stat *st, const struct stat *dst)
{
	/* Whoever owns it could unlink it and split the slots in two. */
	return S_ISREG(st->st_mode) && st->st_uid == dst->st_uid &&
	    !(st->st_mode & S_IWOTH);
}

int
rundir_slots_open(int dfd, const struct stat *dst, bool create, int *fd,
    enum rundir_problem *problem)
{
	const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
	struct stat st;
	int sfd, error;

	*problem = RUNDIR_OK;
	if ((sfd = openat(dfd, RUNDIR_SLOTS, flags)) == -1 && errno == ENOENT &&
	    create && dst->st_uid == geteuid()) {
		if ((error = rundir_slots_make(dfd, dst)) != 0) {
			*problem = rundir_denied(error);
			return error;
		}
		sfd = openat(dfd, RUNDIR_SLOTS, flags);
	}
	if (sfd == -1) {
		error = errno;
		*problem = error == ENOENT ? RUNDIR_SLOTS_MISSING :
		    error == ELOOP ? RUNDIR_SLOTS_UNSAFE : rundir_denied(error);
		return error == ELOOP ? EACCES : error;
	}
	if (fstat(sfd, &st) == -1 || !rundir_slots_safe(&st, dst)) {
		close(sfd);
		*problem = RUNDIR_SLOTS_UNSAFE;
		return EACCES;
	}
	*fd = sfd;
	return 0;
}

/* ---- For people ------------------------------------------------------------------- */

void
rundir_explain(enum rundir_problem problem, const char *path, char *buf,
    size_t len)
{
	struct group *gr = getgrgid(rundir_kvm_gid());
	const char *g = gr != NULL ? gr->gr_name : "kvm";

	switch (problem) {
	case RUNDIR_OK:
		snprintf(buf, len, "%s: fine", path);
		break;
	case RUNDIR_MISSING:
	case RUNDIR_SLOTS_MISSING:
		snprintf(buf, len, "%s%s: missing (as root: 'systemd-tmpfiles "
		    "--create nvmm.conf', or create one machine as root)", path,
		    problem == RUNDIR_MISSING ? "" : "/" RUNDIR_SLOTS);
		break;
	case RUNDIR_NO_ACCESS:
		snprintf(buf, len, "%s: no access to the machine registry (add "
		    "your user to group '%s', the group of " RUNDIR_KVM ")",
		    path, g);
		break;
	case RUNDIR_READONLY:
		snprintf(buf, len, "%s: on a read-only file system (remount it "
		    "read-write)", path);
		break;
	case RUNDIR_NOT_DIR:
		snprintf(buf, len, "%s: not a directory (as root: remove it, "
		    "then create one machine as root)", path);
		break;
	case RUNDIR_OWNER:
		snprintf(buf, len, "%s: owned by another user, who could forge "
		    "or remove machines (as root: chown root:%s %s)", path, g,
		    path);
		break;
	case RUNDIR_WORLD:
		snprintf(buf, len, "%s: writable by every user, who could block "
		    "or forge machines (as root: chown root:%s %s && chmod 1770 "
		    "%s)", path, g, path, path);
		break;
	case RUNDIR_NOT_STICKY:
		snprintf(buf, len, "%s: group-writable without the sticky bit, "
		    "so members could remove each other's machines (as root: "
		    "chmod 1770 %s)", path, path);
		break;
	case RUNDIR_SLOTS_UNSAFE:
	default:
		snprintf(buf, len, "%s/" RUNDIR_SLOTS ": not the directory "
		    "owner's file, or writable by every user (as root: rm %s/"
		    RUNDIR_SLOTS ", then create one machine as root)", path,
		    path);
		break;
	}
}
