/*
 * The system-wide machine registry (see registry.h): id allocation by file
 * locks, publication of the owner's facts, and lookups by other processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nvmm.h>

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

/* Only regular files are entries: a FIFO or device planted there is not. */
static int
reg_is_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
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

/* ---- fork() ------------------------------------------------------------------------ */

/*
 * The descriptors holding our entries' locks, by machine id. A fork child
 * inherits them, and with them the locks: after the parent died, the
 * child would keep its machines listed. The child closes them; the locks
 * stay with the parent's descriptors. reg_lock is held from open to
 * recording, so that no fork sees an entry's descriptor unrecorded.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static int reg_held[NVMM_MAX_MACHINES];	/* -1: none, from the first use */
static pthread_once_t reg_atfork_once = PTHREAD_ONCE_INIT;

static void
reg_fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void
reg_fork_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

static void
reg_fork_child(void)
{
	for (size_t i = 0; i < NVMM_MAX_MACHINES; i++) {
		if (reg_held[i] != -1)
			close(reg_held[i]);
		reg_held[i] = -1;
	}
	pthread_mutex_unlock(&reg_lock);
}

static void
reg_fork_register(void)
{
	for (size_t i = 0; i < NVMM_MAX_MACHINES; i++)
		reg_held[i] = -1;
	(void)pthread_atfork(reg_fork_prepare, reg_fork_parent, reg_fork_child);
}

/* ---- Owner side ------------------------------------------------------------------ */

/*
 * Open an entry file for the owner, creating it if needed. Opening an
 * existing file and creating a new one are separate steps: O_CREAT on
 * another user's file in a sticky directory fails with fs.protected_regular,
 * and a failed creation means the directory itself is not writable.
 * Returns 0 with *fdp (-1: held by a file we may not open), or an errno.
 */
static int
reg_open_owner(const char *path, int *fdp)
{
	const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
	int fd;

	for (;;) {
		if ((fd = open(path, flags)) != -1)
			break;
		if (errno == EACCES || errno == EPERM || errno == ELOOP ||
		    errno == ENXIO) {
			*fdp = -1;	/* someone else's: not ours to take */
			return 0;
		}
		if (errno != ENOENT)
			return errno;
		if ((fd = open(path, flags | O_CREAT | O_EXCL, 0666)) != -1)
			break;
		if (errno != EEXIST)
			return errno;	/* e.g. EACCES: run dir not writable */
		/* Created by someone else meanwhile: open theirs. */
	}
	*fdp = fd;
	return 0;
}

/* What an attempt on one id gave. */
enum reg_try { REG_TAKEN, REG_HELD, REG_RETRY };

static int
reg_try_id(struct reg_entry *e, uint32_t machid, enum reg_try *result)
{
	char path[PATH_MAX];
	int fd = -1, error;

	*result = REG_HELD;
	if ((error = reg_path(path, sizeof(path), machid)) != 0)
		return error;
	if ((error = reg_open_owner(path, &fd)) != 0 || fd == -1)
		return error;
	if (!reg_is_regular(fd) || reg_trylock(fd) != 0) {
		close(fd);
		return 0;
	}
	if (!reg_still_linked(fd, path)) {
		*result = REG_RETRY;	/* released and unlinked under us */
		close(fd);
		return 0;
	}
	/* Nothing of a dead owner may show while we publish our record. */
	if (ftruncate(fd, 0) == -1) {
		error = errno;
		close(fd);
		return error;
	}
	/* Any user may reclaim the id once we are gone. */
	(void)fchmod(fd, 0666);
	e->fd = fd;
	e->machid = machid;
	reg_held[machid] = fd;
	*result = REG_TAKEN;
	return 0;
}

/* The lowest id we can lock, with reg_lock held. */
static int
reg_take_lowest(struct reg_entry *e, uint32_t max)
{
	enum reg_try result;
	int error;

	for (uint32_t id = 0; id < max; id++) {
		/* Ours already: five syscalls each would only say so. */
		if (reg_held[id] != -1)
			continue;
		for (int tries = 0; tries < 4; tries++) {
			if ((error = reg_try_id(e, id, &result)) != 0)
				return error;
			if (result == REG_TAKEN)
				return 0;
			if (result == REG_HELD)
				break;
		}
	}
	return ENOBUFS;
}

int
reg_acquire(struct reg_entry *e, uint32_t max)
{
	int error;

	if (max > NVMM_MAX_MACHINES)
		max = NVMM_MAX_MACHINES;
	pthread_once(&reg_atfork_once, reg_fork_register);
	if ((error = reg_make_dir()) != 0)
		return error;
	/* Say "cannot write the run dir", not "all ids taken". */
	if (faccessat(AT_FDCWD, reg_dir(), W_OK | X_OK, AT_EACCESS) == -1)
		return errno;
	e->info.pid = getpid();
	e->info.time = time(NULL);
	pthread_mutex_lock(&reg_lock);
	error = reg_take_lowest(e, max);
	pthread_mutex_unlock(&reg_lock);
	if (error == 0 && (error = reg_update(e)) != 0)
		reg_release(e);
	return error;
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

	/*
	 * Unlink while still holding the lock, so no one sees a free file. In
	 * a sticky run dir we cannot unlink a file another user created: empty
	 * it instead; unlocked, it reads as free.
	 */
	pthread_mutex_lock(&reg_lock);
	if (reg_path(path, sizeof(path), e->machid) != 0 || unlink(path) == -1)
		(void)ftruncate(e->fd, 0);
	reg_held[e->machid] = -1;
	close(e->fd);
	pthread_mutex_unlock(&reg_lock);
	e->fd = -1;
}

/* ---- Lookups ------------------------------------------------------------------------ */

/*
 * The owner rewrites its record in place while others read it, and reads of
 * a file are not atomic against writes: take a record only when two reads
 * in a row agree.
 */
static int
reg_read_record(int fd, uint32_t machid, struct reg_record *r)
{
	struct reg_record again;

	for (int tries = 0; tries < 8; tries++) {
		if (pread(fd, r, sizeof(*r), 0) != (ssize_t)sizeof(*r) ||
		    r->magic != REG_MAGIC || r->machid != machid)
			return ENOENT;		/* being created */
		if (pread(fd, &again, sizeof(again), 0) ==
		    (ssize_t)sizeof(again) && memcmp(r, &again, sizeof(*r)) == 0)
			return 0;
	}
	return EAGAIN;
}

int
reg_lookup(uint32_t machid, struct reg_info *info)
{
	struct reg_record r;
	char path[PATH_MAX];
	int fd, error, held = 0;

	if ((error = reg_path(path, sizeof(path), machid)) != 0)
		return error;
	/* O_NONBLOCK: a FIFO planted in the run dir must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return errno == ENOENT ? ENOENT : errno;
	if (!reg_is_regular(fd))
		error = ENOENT;
	if (error == 0)
		error = reg_is_held(fd, &held);
	if (error == 0 && !held)
		error = ENOENT;		/* left behind by a dead owner */
	if (error == 0)
		error = reg_read_record(fd, machid, &r);
	close(fd);
	if (error != 0)
		return error;
	info->pid = r.pid;
	info->nvcpus = (uint32_t)r.nvcpus;
	info->nram = r.nram;
	info->time = (time_t)r.time;
	return 0;
}
