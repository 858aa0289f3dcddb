/*
 * h_attack: what a hostile local user tries on the machine registry
 * ($NVMM_RUNDIR), without libnvmm. Each command prints one line of counts
 * and, if it holds locks, lives until stdin reaches EOF:
 *
 *   h_attack lock
 *	lock every byte 0..127 of "slots" it can (POSIX write locks, else
 *	read locks, then OFD locks), then read-lock every file of the
 *	directory it can open: "locked <slots> <files>"
 *   h_attack tamper
 *	on every file but its own: open for writing, truncate, chmod,
 *	rename over, unlink, replace "slots": "tampered <successes>"
 *   h_attack forge <machid> <nvcpus>
 *	plant a well-formed record of machid claiming nvcpus vCPUs, with a
 *	write lock on it: "forged <0|errno>"
 *   h_attack reach
 *	list, read and create in the directory: "reached <successes>"
 *   h_attack peek
 *	read the first bytes of every file of the directory but its own and
 *	"slots": "peeked <successes>"
 *   h_attack swap <name> <target>
 *	put a symlink to target and a file of its own at name in turn
 *	(rename), as fast as it can, until stdin reaches EOF; prints
 *	"swapping" when it starts. Against root fixing up the directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS	128

static const char *dir;

static void
wait_eof(void)
{
	char buf[64];

	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		continue;
}

static int
lock_range(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
	    .l_start = start, .l_len = len };

	return fcntl(fd, cmd, &fl);
}

static int
at(const char *name, int flags)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return open(path, flags | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW, 0666);
}

static int
cmd_lock(void)
{
	unsigned int slots = 0, files = 0;
	struct dirent *d;
	DIR *dp;
	int fd;

	if ((fd = at("slots", O_RDWR)) == -1)
		fd = at("slots", O_RDONLY);
	for (unsigned int i = 0; fd != -1 && i < SLOTS; i++) {
		if (lock_range(fd, F_SETLK, F_WRLCK, i, 1) == 0 ||
		    lock_range(fd, F_SETLK, F_RDLCK, i, 1) == 0 ||
		    lock_range(fd, F_OFD_SETLK, F_RDLCK, i, 1) == 0)
			slots++;
	}
	if ((dp = opendir(dir)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			int f;

			if (d->d_name[0] == '.' || strcmp(d->d_name, "slots") == 0)
				continue;
			if ((f = at(d->d_name, O_RDONLY)) == -1)
				continue;
			if (lock_range(f, F_OFD_SETLK, F_RDLCK, 0, 0) == 0)
				files++;	/* kept open: the lock stays */
			else
				close(f);
		}
		closedir(dp);
	}
	printf("locked %u %u\n", slots, files);
	wait_eof();
	return 0;
}

static int
cmd_tamper(void)
{
	unsigned int n = 0;
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int fd;

	if ((dp = opendir(dir)) == NULL) {
		printf("tampered 0\n");
		return 0;
	}
	while ((d = readdir(dp)) != NULL) {
		char path[4096], mine[4200];

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (lstat(path, &st) == -1 || st.st_uid == geteuid())
			continue;
		/*
		 * The group may write "slots": it must, to take write locks.
		 * What it holds does not matter; only locks on it do.
		 */
		if (strcmp(d->d_name, "slots") != 0 &&
		    (fd = at(d->d_name, O_WRONLY)) != -1) {
			n += write(fd, "forged", 6) == 6;
			n += ftruncate(fd, 0) == 0;
			close(fd);
		}
		n += chmod(path, 0666) == 0;
		snprintf(mine, sizeof(mine), "%s/.h_attack.%d", dir, (int)getpid());
		if ((fd = open(mine, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) != -1) {
			close(fd);
			n += rename(mine, path) == 0;
			(void)unlink(mine);
		}
		n += unlink(path) == 0;
	}
	closedir(dp);
	printf("tampered %u\n", n);
	return 0;
}

/* The record layout of registry.c, as an attacker would copy it. */
struct record {
	uint64_t magic;
	uint32_t machid;
	int32_t pid;
	uint64_t nvcpus;
	uint64_t nram;
	int64_t time;
};

static int
cmd_forge(unsigned int machid, unsigned int nvcpus)
{
	struct record r = { .magic = 0x6e766d6d72656732ULL, .machid = machid,
	    .pid = 1, .nvcpus = nvcpus, .nram = 1ULL << 40, .time = 0 };
	char name[64];
	int fd, error = 0;

	snprintf(name, sizeof(name), "machine.%03u.%08x", machid,
	    (unsigned int)getpid());
	if ((fd = at(name, O_RDWR | O_CREAT | O_EXCL)) == -1 ||
	    write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r) ||
	    lock_range(fd, F_SETLK, F_WRLCK, 0, 0) == -1)
		error = errno;
	printf("forged %d\n", error);
	wait_eof();
	return 0;
}

static int
cmd_reach(void)
{
	unsigned int n = 0;
	DIR *dp;
	int fd;

	if ((dp = opendir(dir)) != NULL) {
		n += readdir(dp) != NULL;
		closedir(dp);
	}
	if ((fd = at("slots", O_RDONLY)) != -1) {
		n++;
		close(fd);
	}
	if ((fd = at("h_attack.new", O_WRONLY | O_CREAT | O_EXCL)) != -1) {
		n++;
		close(fd);
	}
	printf("reached %u\n", n);
	return 0;
}

static int
cmd_peek(void)
{
	unsigned int n = 0;
	struct dirent *d;
	struct stat st;
	char buf[64];
	DIR *dp;
	int fd;

	if ((dp = opendir(dir)) != NULL) {
		while ((d = readdir(dp)) != NULL) {
			if (d->d_name[0] == '.' || strcmp(d->d_name, "slots") == 0 ||
			    (fd = at(d->d_name, O_RDONLY)) == -1)
				continue;
			if (fstat(fd, &st) == 0 && st.st_uid != geteuid())
				n += read(fd, buf, sizeof(buf)) > 0;
			close(fd);
		}
		closedir(dp);
	}
	printf("peeked %u\n", n);
	return 0;
}

static int
cmd_swap(const char *name, const char *target)
{
	struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
	char path[4096], link[4200], file[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(link, sizeof(link), "%s/.h_attack.l%d", dir, (int)getpid());
	snprintf(file, sizeof(file), "%s/.h_attack.f%d", dir, (int)getpid());
	printf("swapping\n");
	fflush(stdout);
	/* stdin's EOF shows as POLLHUP: the test is done. */
	for (unsigned long i = 0; i % 256 != 0 || poll(&in, 1, 0) == 0; i++) {
		(void)symlink(target, link);
		(void)rename(link, path);
		if ((fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
		    0644)) != -1)
			close(fd);
		(void)rename(file, path);
	}
	(void)unlink(link);
	(void)unlink(file);
	return 0;
}

int
main(int argc, char *argv[])
{
	if ((dir = getenv("NVMM_RUNDIR")) == NULL || argc < 2)
		return 2;
	if (strcmp(argv[1], "lock") == 0)
		return cmd_lock();
	if (strcmp(argv[1], "tamper") == 0)
		return cmd_tamper();
	if (strcmp(argv[1], "forge") == 0 && argc == 4)
		return cmd_forge((unsigned int)atoi(argv[2]),
		    (unsigned int)atoi(argv[3]));
	if (strcmp(argv[1], "reach") == 0)
		return cmd_reach();
	if (strcmp(argv[1], "peek") == 0)
		return cmd_peek();
	if (strcmp(argv[1], "swap") == 0 && argc == 4)
		return cmd_swap(argv[2], argv[3]);
	return 2;
}
