/*
 * The system-wide machine registry (see registry.h): id allocation by file
 * locks, publication of the owner's facts, and lookups by other processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

#define REG_MAGIC	0x6e766d6d72656731ULL	/* "nvmmreg1" */

/* The record stored at offset 0 of an entry file. */
struct reg_record {
	uint64_t magic;
	uint32_t machid;
	int32_t pid;
	uint64_t nvcpus;
	uint64_t nram;
	int64_t time;
};

/* ---- Paths ------------------------------------------------------------------ */

static const char *
reg_dir(void)
{
	const char *dir = getenv(REG_RUNDIR_ENV);

	return (dir != NULL && dir[0] != '\0') ? dir : REG_RUNDIR_DEFAULT;
}

static int
reg_path(char *buf, size_t len, uint32_t machid)
{
	int n = snprintf(buf, len, "%s/machine.%03u", reg_dir(), machid);

	return (n < 0 || (size_t)n >= len) ? ENAMETOOLONG : 0;
}

/* The run directory is shared by every user of NVMM: sticky and writable. */
static int
reg_make_dir(void)
{
	const char *dir = reg_dir();

	if (mkdir(dir, 01777) == 0) {
		/* mkdir() applied the umask. */
		return chmod(dir, 01777) == 0 ? 0 : errno;
	}
	return errno == EEXIST ? 0 : errno;
}

/* ---- Locks -------------------------------------------------------------------- */

static int
reg_trylock(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno;
}

/* Whether some open file description (a live owner) holds the entry. */
static int
reg_is_held(int fd, int *held)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
		return errno;
	*held = (fl.l_type != F_UNLCK);
	return 0;
}

/* A locked file may have been unlinked by its releasing owner meanwhile. */
static int
reg_still_linked(int fd, const char *path)
{
	struct stat a, b;

	if (fstat(fd, &a) == -1 || stat(path, &b) == -1)
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* ---- Owner side ------------------------------------------------------------------ */

static int
reg_try_id(struct reg_entry *e, uint32_t machid, int *taken)
{
	char path[PATH_MAX];
	int fd, error;

	*taken = 0;
	if ((error = reg_path(path, sizeof(path), machid)) != 0)
		return error;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd == -1)
		return (errno == EACCES || errno == EPERM) ? 0 : errno;
	if (reg_trylock(fd) != 0 || !reg_still_linked(fd, path)) {
		close(fd);
		return 0;
	}
	/* Any user may reclaim the id once we are gone. */
	(void)fchmod(fd, 0666);
	e->fd = fd;
	e->machid = machid;
	*taken = 1;
	return 0;
}

int
reg_acquire(struct reg_entry *e, uint32_t max)
{
	int error, taken;

	if ((error = reg_make_dir()) != 0)
		return error;
	for (uint32_t id = 0; id < max; id++) {
		/* A reclaimed file may be unlinked under us: retry that id. */
		for (int tries = 0; tries < 4; tries++) {
			if ((error = reg_try_id(e, id, &taken)) != 0)
				return error;
			if (taken)
				return reg_update(e);
		}
	}
	return ENOBUFS;
}

int
reg_update(struct reg_entry *e)
{
	struct reg_record r = {
		.magic = REG_MAGIC,
		.machid = e->machid,
		.pid = e->info.pid,
		.nvcpus = e->info.nvcpus,
		.nram = e->info.nram,
		.time = e->info.time,
	};

	if (pwrite(e->fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return errno ? errno : EIO;
	return 0;
}

void
reg_release(struct reg_entry *e)
{
	char path[PATH_MAX];

	/* Unlink while still holding the lock, so no one sees a free file. */
	if (reg_path(path, sizeof(path), e->machid) == 0)
		(void)unlink(path);
	close(e->fd);
	e->fd = -1;
}

/* ---- Lookups ------------------------------------------------------------------------ */

int
reg_lookup(uint32_t machid, struct reg_info *info)
{
	struct reg_record r;
	char path[PATH_MAX];
	int fd, error, held = 0;

	if ((error = reg_path(path, sizeof(path), machid)) != 0)
		return error;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return errno == ENOENT ? ENOENT : errno;
	error = reg_is_held(fd, &held);
	if (error == 0 && !held)
		error = ENOENT;		/* left behind by a dead owner */
	if (error == 0 && (pread(fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r) ||
	    r.magic != REG_MAGIC || r.machid != machid))
		error = ENOENT;		/* being created */
	close(fd);
	if (error != 0)
		return error;
	info->pid = r.pid;
	info->nvcpus = (uint32_t)r.nvcpus;
	info->nram = r.nram;
	info->time = (time_t)r.time;
	return 0;
}
