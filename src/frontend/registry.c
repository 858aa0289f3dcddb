/*
 * The system-wide machine registry (see registry.h): ids taken with POSIX
 * locks on the slots file, records that owners publish in files of their
 * own, and lookups that believe a record only when the kernel's locks say
 * that the id's holder wrote it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nvmm.h>

#include "registry.h"
#include "rundir.h"

#define REG_MAGIC	0x6e766d6d72656732ULL	/* "nvmmreg2" */
#define REG_PREFIX	"machine."
/*
 * The owner's alone: others' facts are root's to see (nvmmctl list), as on
 * NVMM, where a plain owner's nvmm_ctl() of another's machine is EPERM.
 */
#define REG_MODE	0600
#define REG_MAX_DIRS	4	/* run directories in use at once */
#define REG_TRIES	8

/* The record stored at offset 0 of a record file. */
struct reg_record {
	uint64_t magic;
	uint32_t machid;
	int32_t pid;		/* in the owner's pid namespace: not used */
	uint64_t nvcpus;
	uint64_t nram;
	int64_t time;
};

/* ---- State ------------------------------------------------------------------ */

/*
 * A run directory this process uses. POSIX locks belong to the process,
 * and closing any descriptor of a file drops all of the process's locks
 * on it: so the process keeps one descriptor of a slots file while it
 * holds one of its ids, and every use of that file goes through it. A
 * directory stays open after its last id is given back, so that the next
 * creation finds it with two stats (reg_dir_get).
 */
struct reg_dir {
	int dfd;		/* -1: unused */
	int slots;
	dev_t dev;		/* the slots file's */
	ino_t ino;
	dev_t dir_dev;		/* the directory's */
	ino_t dir_ino;
	unsigned int held;	/* ids of ours in it */
	bool swept;		/* reg_sweep() ran on it */
};

/* An id this process holds. */
struct reg_own {
	int fd;			/* the locked record file, -1: not ours */
	dev_t dev;
	ino_t ino;
	struct reg_info info;	/* as last published */
};

/*
 * reg_lock serialises everything here, so that no fork and no other
 * thread sees an id, a descriptor or a directory half set up.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static struct reg_dir reg_dirs[REG_MAX_DIRS];
static struct reg_own reg_own[NVMM_MAX_MACHINES];
static pid_t reg_pid;		/* getpid(), a syscall, asked once a process */
static uint64_t reg_names[2];	/* record names: seed, count (reg_record_name) */

static void
reg_reset(void)
{
	for (size_t i = 0; i < REG_MAX_DIRS; i++)
		reg_dirs[i].dfd = -1;
	for (size_t i = 0; i < NVMM_MAX_MACHINES; i++)
		reg_own[i].fd = -1;
	reg_pid = getpid();
	reg_names[0] = 0;	/* a fork child names its records anew */
}

/* ---- fork() ------------------------------------------------------------------- */

/*
 * A fork child inherits our descriptors but none of our POSIX locks: it
 * closes them (which drops nothing of the parent's), and owns no id.
 */
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
		if (reg_own[i].fd != -1)
			close(reg_own[i].fd);
	}
	for (size_t i = 0; i < REG_MAX_DIRS; i++) {
		if (reg_dirs[i].dfd != -1) {
			close(reg_dirs[i].slots);
			close(reg_dirs[i].dfd);
		}
	}
	reg_reset();
	pthread_mutex_unlock(&reg_lock);
}

static void
reg_setup(void)
{
	reg_reset();
	(void)pthread_atfork(reg_fork_prepare, reg_fork_parent, reg_fork_child);
}

static void
reg_begin(void)
{
	pthread_once(&reg_once, reg_setup);
	pthread_mutex_lock(&reg_lock);
}

/* ---- Run directories and slots ---------------------------------------------------- */

static void
reg_dir_close(struct reg_dir *d)
{
	close(d->slots);
	close(d->dfd);
	d->dfd = -1;
}

/*
 * A directory already open, if the run directory's path still names it,
 * it is still safe and its slots file is the same one, still safe too
 * (rundir.h, the checks of rundir_open and rundir_slots_open): two
 * stats, where opening and checking both again takes seven calls.
 */
static int
reg_dir_known(void)
{
	struct stat dst, sst;

	if (stat(rundir_path(), &dst) == -1 || rundir_check(&dst) != RUNDIR_OK)
		return -1;
	for (int i = 0; i < REG_MAX_DIRS; i++) {
		const struct reg_dir *d = &reg_dirs[i];

		if (d->dfd == -1 || d->dir_dev != dst.st_dev ||
		    d->dir_ino != dst.st_ino)
			continue;
		if (fstatat(d->dfd, RUNDIR_SLOTS, &sst, AT_SYMLINK_NOFOLLOW) ==
		    0 && sst.st_dev == d->dev && sst.st_ino == d->ino &&
		    rundir_slots_safe(&sst, &dst))
			return i;
		break;
	}
	return -1;
}

/*
 * The current run directory, checked (rundir.h), with its slots file: one
 * already open, or a new one. Directories no id of ours holds any more
 * are closed when another one is opened.
 */
static int
reg_dir_get(bool create, int *idx)
{
	enum rundir_problem problem;
	struct stat dst, sst;
	int dfd, sfd, error, i;

	if ((*idx = reg_dir_known()) != -1)
		return 0;
	if ((error = rundir_open(create, &dfd, &dst, &problem)) != 0)
		return error;
	if (fstatat(dfd, RUNDIR_SLOTS, &sst, AT_SYMLINK_NOFOLLOW) == 0) {
		for (i = 0; i < REG_MAX_DIRS; i++) {
			if (reg_dirs[i].dfd != -1 && reg_dirs[i].dev ==
			    sst.st_dev && reg_dirs[i].ino == sst.st_ino) {
				close(dfd);
				if (!rundir_slots_safe(&sst, &dst))
					return EACCES;
				*idx = i;
				return 0;
			}
		}
	}
	for (i = 0; i < REG_MAX_DIRS; i++) {
		if (reg_dirs[i].dfd != -1 && reg_dirs[i].held == 0)
			reg_dir_close(&reg_dirs[i]);
	}
	for (i = 0; i < REG_MAX_DIRS && reg_dirs[i].dfd != -1; i++)
		continue;
	if (i == REG_MAX_DIRS) {
		close(dfd);
		return EMFILE;
	}
	if ((error = rundir_slots_open(dfd, &dst, create, &sfd, &problem)) != 0) {
		close(dfd);
		/* Missing: nothing registered, but not ours to make. */
		return (error == ENOENT && create) ? EACCES : error;
	}
	if (fstat(sfd, &sst) == -1) {
		error = errno;
		close(sfd);
		close(dfd);
		return error;
	}
	reg_dirs[i] = (struct reg_dir){ .dfd = dfd, .slots = sfd,
	    .dev = sst.st_dev, .ino = sst.st_ino, .dir_dev = dst.st_dev,
	    .dir_ino = dst.st_ino };
	*idx = i;
	return 0;
}

/* Take (F_WRLCK) or give back (F_UNLCK) byte id of the slots file. */
static bool
reg_slot_set(const struct reg_dir *d, uint32_t id, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
	    .l_start = id, .l_len = 1 };

	return fcntl(d->slots, F_SETLK, &fl) == 0;
}

/* The process holding id (0: free, -1: a holder we cannot name). */
static pid_t
reg_slot_holder(const struct reg_dir *d, uint32_t id)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
	    .l_start = id, .l_len = 1 };

	if (fcntl(d->slots, F_GETLK, &fl) == -1 || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid > 0 ? fl.l_pid : -1;
}

/* ---- Record files ---------------------------------------------------------------- */

/*
 * A name no one can guess (no one can take it first): a key drawn once
 * per process, mixed with a count (splitmix64's finaliser), rather than
 * a getrandom() per record.
 */
static void
reg_record_name(char *name, size_t len, uint32_t id)
{
	uint64_t z;

	if (reg_names[0] == 0 && getrandom(&reg_names[0], sizeof(reg_names[0]),
	    GRND_NONBLOCK) != (ssize_t)sizeof(reg_names[0]))
		reg_names[0] = (uint64_t)reg_pid << 32 ^ (uint64_t)time(NULL) ^
		    (uint64_t)rand();
	reg_names[0] |= 1;	/* drawn */
	z = reg_names[0] + 0x9E3779B97F4A7C15ULL * ++reg_names[1];
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	snprintf(name, len, REG_PREFIX "%03u.%08x", id, (uint32_t)z);
}

static int
reg_record_lock(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_SETLK, &fl) == 0 ? 0 : errno;
}

/*
 * Call fn on each name in the directory that starts with id's prefix: 0,
 * or the errno that kept us from reading the directory.
 */
static int
reg_each_record(int dfd, uint32_t id, bool (*fn)(int, const char *, void *),
    void *arg)
{
	char prefix[32];
	struct dirent *de;
	DIR *dir;
	int fd, n, error;

	n = snprintf(prefix, sizeof(prefix), REG_PREFIX "%03u.", id);
	if ((fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return errno;
	if ((dir = fdopendir(fd)) == NULL) {
		error = errno;
		close(fd);
		return error;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, prefix, (size_t)n) == 0 &&
		    !fn(dfd, de->d_name, arg))
			break;
	}
	closedir(dir);
	return 0;
}

/*
 * Records left behind by dead owners block nothing, but would pile up.
 * The first time this process registers in a directory, it removes those
 * that it may (its user's; all of them as root): a record exists only
 * while its maker holds its id (it is unlinked before the id is given
 * back), so every record of an id we could take is a dead owner's; we
 * hold the id while removing them, so that no new one appears meanwhile.
 * One pass over the directory per process, rather than one per creation.
 */
static void
reg_sweep(struct reg_dir *d)
{
	char prefix[32];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd;

	d->swept = true;
	if ((fd = openat(d->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		unsigned int id;

		if (sscanf(de->d_name, REG_PREFIX "%3u.", &id) != 1 ||
		    id >= NVMM_MAX_MACHINES || reg_own[id].fd != -1)
			continue;
		snprintf(prefix, sizeof(prefix), REG_PREFIX "%03u.", id);
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
		    !reg_slot_set(d, id, F_WRLCK))
			continue;	/* not a record, or its id is held */
		if (fstatat(d->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (geteuid() == 0 || st.st_uid == geteuid()))
			(void)unlinkat(d->dfd, de->d_name, 0);
		(void)reg_slot_set(d, id, F_UNLCK);
	}
	closedir(dir);
}

/* What a record file holds about a machine. */
static void
reg_record_make(const struct reg_info *info, uint32_t id,
    struct reg_record *r)
{
	*r = (struct reg_record){
		.magic = REG_MAGIC,
		.machid = id,
		.pid = info->pid,
		.nvcpus = info->nvcpus,
		.nram = info->nram,
		.time = info->time,
	};
}

/*
 * A locked record file made ready: its mode (the umask applies to
 * O_TMPFILE too; most umasks leave 0600 as it is), its record.
 */
static int
reg_record_fill(int fd, const struct reg_record *r, struct stat *st)
{
	if (fstat(fd, st) == -1)
		return errno;
	if ((st->st_mode & 07777) != REG_MODE)
		(void)fchmod(fd, REG_MODE);
	if (pwrite(fd, r, sizeof(*r), 0) != (ssize_t)sizeof(*r))
		return errno ? errno : EIO;
	return 0;
}

static bool reg_link_by_proc;	/* linkat() refused AT_EMPTY_PATH once; reg_lock */

/*
 * Give an O_TMPFILE record its name: by its descriptor, which Linux 6.10
 * and later let the file's opener do, else through /proc/self/fd. The
 * path walk through procfs took 10-20 us here, 3-5% of creating a
 * machine, against ~4 us by descriptor. Older kernels refuse the
 * descriptor without CAP_DAC_READ_SEARCH (ENOENT), once: then /proc.
 */
static int
reg_record_link(int fd, int dfd, const char *name)
{
	char proc[32];

	if (!reg_link_by_proc) {
		if (linkat(fd, "", dfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
		reg_link_by_proc = true;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW);
}

/*
 * A new record file, locked and written before it has a name (O_TMPFILE),
 * so that no one can take a lock on it first and no reader sees it
 * empty; where the file system cannot, named at once and given up for
 * another name if someone locked it first.
 */
static int
reg_record_open(int dfd, const struct reg_record *r, char *name, size_t len,
    int *fdp, struct stat *st)
{
	int fd, error;

	fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, REG_MODE);
	if (fd != -1) {
		if ((error = reg_record_lock(fd)) != 0 ||
		    (error = reg_record_fill(fd, r, st)) != 0) {
			close(fd);
			return error;
		}
		for (int tries = 0; tries < REG_TRIES; tries++) {
			reg_record_name(name, len, r->machid);
			if (reg_record_link(fd, dfd, name) == 0) {
				*fdp = fd;
				return 0;
			}
			if (errno != EEXIST)
				break;
		}
		error = errno;
		close(fd);
		if (error != ENOENT)	/* ENOENT: no /proc */
			return error;
	} else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		return errno;
	}
	for (int tries = 0; tries < REG_TRIES; tries++) {
		reg_record_name(name, len, r->machid);
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, REG_MODE);
		if (fd == -1) {
			if (errno == EEXIST)
				continue;
			return errno;
		}
		if (reg_record_lock(fd) == 0) {
			if ((error = reg_record_fill(fd, r, st)) == 0) {
				*fdp = fd;
				return 0;
			}
			(void)unlinkat(dfd, name, 0);
			close(fd);
			return error;
		}
		(void)unlinkat(dfd, name, 0);
		close(fd);
	}
	return EAGAIN;
}

/* ---- Owner side -------------------------------------------------------------------- */

/* Publish a record for id, which we hold in directory idx. */
static int
reg_publish(struct reg_entry *e, int idx, uint32_t id)
{
	struct reg_dir *d = &reg_dirs[idx];
	struct reg_record r;
	struct stat st;
	int fd = -1, error;

	reg_record_make(&e->info, id, &r);
	if ((error = reg_record_open(d->dfd, &r, e->name, sizeof(e->name),
	    &fd, &st)) != 0)
		return error;
	reg_own[id] = (struct reg_own){ .fd = fd, .dev = st.st_dev,
	    .ino = st.st_ino, .info = e->info };
	e->fd = fd;
	e->machid = id;
	e->dir = idx;
	d->held++;
	return 0;
}

/* The lowest id below max that we can lock, in directory idx. */
static int
reg_take_lowest(struct reg_entry *e, int idx, uint32_t max)
{
	const struct reg_dir *d = &reg_dirs[idx];
	int error;

	for (uint32_t id = 0; id < max; id++) {
		/* Our own lock would not stop us: POSIX locks nest. */
		if (reg_own[id].fd != -1 || !reg_slot_set(d, id, F_WRLCK))
			continue;
		if ((error = reg_publish(e, idx, id)) != 0)
			(void)reg_slot_set(d, id, F_UNLCK);
		return error;
	}
	return ENOBUFS;
}

int
reg_acquire(struct reg_entry *e, uint32_t max)
{
	int error, idx;

	if (max > NVMM_MAX_MACHINES)
		max = NVMM_MAX_MACHINES;
	e->fd = -1;
	e->info.time = time(NULL);
	reg_begin();
	e->info.pid = reg_pid;
	if ((error = reg_dir_get(true, &idx)) == 0) {
		if (!reg_dirs[idx].swept)
			reg_sweep(&reg_dirs[idx]);
		error = reg_take_lowest(e, idx, max);
		/* Say "cannot write the run dir", not "all ids taken". */
		if (error == ENOBUFS && faccessat(reg_dirs[idx].dfd, ".",
		    W_OK | X_OK, AT_EACCESS) == -1)
			error = errno;
	}
	pthread_mutex_unlock(&reg_lock);
	return error;
}

int
reg_update(struct reg_entry *e)
{
	struct reg_record r;
	int error = 0;

	reg_record_make(&e->info, e->machid, &r);
	reg_begin();
	if (e->fd == -1 || reg_own[e->machid].fd != e->fd) {
		error = EBADF;		/* a fork child's copy */
	} else {
		reg_own[e->machid].info = e->info;
		if (pwrite(e->fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
			error = errno ? errno : EIO;
	}
	pthread_mutex_unlock(&reg_lock);
	return error;
}

void
reg_release(struct reg_entry *e)
{
	struct reg_dir *d;

	reg_begin();
	if (e->fd != -1 && reg_own[e->machid].fd == e->fd) {
		d = &reg_dirs[e->dir];
		/* Record first: an id never shows a record of no one's. */
		(void)unlinkat(d->dfd, e->name, 0);
		close(e->fd);
		(void)reg_slot_set(d, e->machid, F_UNLCK);
		reg_own[e->machid].fd = -1;
		d->held--;
	}
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

	for (int tries = 0; tries < REG_TRIES; tries++) {
		if (pread(fd, r, sizeof(*r), 0) != (ssize_t)sizeof(*r) ||
		    r->magic != REG_MAGIC || r->machid != machid)
			return ENOENT;		/* being written */
		if (pread(fd, &again, sizeof(again), 0) ==
		    (ssize_t)sizeof(again) && memcmp(r, &again, sizeof(*r)) == 0)
			return 0;
	}
	return EAGAIN;
}

/* A lack of descriptors or memory: a lookup fails on it (reg_candidate_open()). */
static bool
reg_out_of_resources(int error)
{
	return error == EMFILE || error == ENFILE || error == ENOMEM;
}

/*
 * Whether st is a file this process keeps POSIX locks on: one of its
 * records, or a slots file it uses, which members may link in under a
 * record's name (it is theirs to read and write).
 */
static bool
reg_locked_here(const struct stat *st)
{
	for (size_t i = 0; i < NVMM_MAX_MACHINES; i++) {
		if (reg_own[i].fd != -1 && reg_own[i].ino == st->st_ino &&
		    reg_own[i].dev == st->st_dev)
			return true;
	}
	for (size_t i = 0; i < REG_MAX_DIRS; i++) {
		if (reg_dirs[i].dfd != -1 && reg_dirs[i].ino == st->st_ino &&
		    reg_dirs[i].dev == st->st_dev)
			return true;
	}
	return false;
}

/*
 * Open a candidate record for reading without ever opening one of our own
 * record files: closing that descriptor would drop our lock on it. The
 * name is resolved once (O_PATH, whose close drops nothing), checked
 * against our records' and slots files' inodes, whatever name it has (a
 * slots file's close would give back every id we hold in it), and
 * reopened through /proc. A record with a second name is still its
 * owner's: where fs.protected_hardlinks is 0, any member may link
 * another's, and skipping it would hide that machine.
 * Returns 0 with *fdp (-1: a name that is no record to read: gone, not
 * a file, ours, not ours to read), or the errno of a lack of descriptors
 * or memory: the lookup then fails, rather than call a live machine's id
 * free.
 */
static int
reg_candidate_open(int dfd, const char *name, int *fdp)
{
	char proc[64];
	struct stat st;
	int pfd, fd = -1, error = 0;

	*fdp = -1;
	if ((pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return reg_out_of_resources(errno) ? errno : 0;
	if (fstat(pfd, &st) == 0 && S_ISREG(st.st_mode) &&
	    !reg_locked_here(&st)) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		if ((fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1 &&
		    reg_out_of_resources(errno))
			error = errno;
	}
	close(pfd);
	*fdp = fd;
	return error;
}

struct reg_search {
	uint32_t id;
	pid_t holder;
	struct reg_record record;
	bool found;
	int error;		/* the search could not look at every name */
};

/* Whether name is the record that the holder of the id keeps locked. */
static bool
reg_match_record(int dfd, const char *name, void *arg)
{
	struct reg_search *s = arg;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd;

	if ((s->error = reg_candidate_open(dfd, name, &fd)) != 0)
		return false;
	if (fd == -1)
		return true;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK &&
	    fl.l_pid == s->holder &&
	    reg_read_record(fd, s->id, &s->record) == 0)
		s->found = true;
	close(fd);
	return !s->found;
}

/* The holder of an id that is not ours (0: free), in directory *idx. */
static int
reg_other_holder(uint32_t machid, int *idx, pid_t *pid)
{
	int error = reg_dir_get(false, idx);

	if (error != 0)
		return error == ENOENT ? ENOENT : error;	/* no dir: free */
	*pid = reg_slot_holder(&reg_dirs[*idx], machid);
	return 0;
}

int
reg_holder(uint32_t machid, pid_t *pid)
{
	int error = 0, idx;

	reg_begin();
	if (reg_own[machid].fd != -1) {
		*pid = reg_pid;
	} else if ((error = reg_other_holder(machid, &idx, pid)) == 0) {
		if (*pid == 0)
			error = ENOENT;
	}
	pthread_mutex_unlock(&reg_lock);
	return error;
}

int
reg_lookup(uint32_t machid, struct reg_info *info)
{
	struct reg_search s = { .id = machid };
	int error = 0, idx;

	reg_begin();
	if (reg_own[machid].fd != -1) {
		*info = reg_own[machid].info;
	} else if ((error = reg_other_holder(machid, &idx, &s.holder)) == 0) {
		if (s.holder > 0 && (error = reg_each_record(reg_dirs[idx].dfd,
		    machid, reg_match_record, &s)) == 0)
			error = s.error;
		if (error == 0 && !s.found)
			error = ENOENT;	/* free, or nothing published */
		if (error == 0) {
			/* The pid as the kernel names it, here. */
			info->pid = s.holder;
			info->nvcpus = (uint32_t)s.record.nvcpus;
			info->nram = s.record.nram;
			info->time = (time_t)s.record.time;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return error;
}
