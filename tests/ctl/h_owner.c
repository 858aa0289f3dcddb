/*
 * h_owner: a second NVMM process for the ctl tests. It owns machines, or
 * looks at someone else's, and reports on stdout, one fact per line:
 *
 *   h_owner hold <count> <nvcpus> <ram_kib> <wait>
 *	(after a byte on stdin if wait is 1) create count machines with
 *	nvcpus vCPUs and ram_kib KiB of hva_map each (ram_kib may be a
 *	comma-separated list, one size per machine); print "time <t0> <t1>",
 *	"machine <id>" per machine ("error <errno>" on failure), then
 *	"ready <pid>"; live until stdin reaches EOF.
 *   h_owner info <machid> root|root-own|user|user-nofd
 *	nvmm_ctl(NVMM_CTL_MACH_INFO) as the root owner or a plain one
 *	(user-nofd: with no descriptor left to open after nvmm_init();
 *	root-own: a root owner of a machine of its own, "machine <id>"
 *	first, that lives on until stdin reaches EOF):
 *	"ok <nvcpus> <nram> <pid> <time>" or "err <errno>".
 *   h_owner rootinit
 *	nvmm_root_init(): "ok" or "err <errno>".
 *   h_owner fork
 *	own a machine with vCPU 0, fork, and report what the child sees of
 *	it ("child-* " lines, see fork_child); the child then lives until
 *	killed, the parent until stdin reaches EOF.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <nvmm.h>

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
wait_eof(void)
{
	char buf[64];

	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		continue;
}

static int
init(bool root)
{
	if ((root ? nvmm_root_init() : nvmm_init()) == 0)
		return 0;
	say("initerr %d", errno);
	return -1;
}

/* One machine with nvcpus vCPUs and ram_kib KiB of host mappings. */
static int
make_machine(struct nvmm_machine *mach, unsigned int nvcpus, size_t ram_kib)
{
	struct nvmm_vcpu vcpu;
	void *p;

	if (nvmm_machine_create(mach) == -1)
		return errno;
	for (unsigned int i = 0; i < nvcpus; i++) {
		if (nvmm_vcpu_create(mach, i, &vcpu) == -1)
			return errno;
	}
	if (ram_kib == 0)
		return 0;
	p = mmap(NULL, ram_kib * 1024, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	if (nvmm_hva_map(mach, (uintptr_t)p, ram_kib * 1024) == -1)
		return errno;
	return 0;
}

static int
cmd_hold(char **argv)
{
	unsigned int count = (unsigned int)atoi(argv[0]);
	unsigned int nvcpus = (unsigned int)atoi(argv[1]);
	const char *ram = argv[2];
	struct nvmm_machine mach;
	time_t t0, t1;
	char go;
	int error;

	if (init(false) == -1)
		return 1;
	if (atoi(argv[3]) == 1 && read(STDIN_FILENO, &go, 1) != 1)
		return 1;
	t0 = time(NULL);
	for (unsigned int i = 0; i < count; i++) {
		size_t ram_kib = (size_t)strtoul(ram, (char **)&ram, 10);

		if (*ram == ',')
			ram++;
		if ((error = make_machine(&mach, nvcpus, ram_kib)) != 0)
			say("error %d", error);
		else
			say("machine %u", mach.machid);
	}
	t1 = time(NULL);
	say("time %lld %lld", (long long)t0, (long long)t1);
	say("ready %d", (int)getpid());
	wait_eof();
	return 0;
}

/* Lower the descriptor limit to the lowest free one: no open succeeds. */
static int
no_more_fds(void)
{
	struct rlimit rl;
	int fd;

	if ((fd = dup(STDERR_FILENO)) == -1)
		return -1;
	close(fd);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	rl.rlim_cur = (rlim_t)fd;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static int
cmd_info(char **argv)
{
	struct nvmm_ctl_mach_info info;
	struct nvmm_machine mach;
	bool own = strcmp(argv[1], "root-own") == 0;
	int error;

	if (init(own || strcmp(argv[1], "root") == 0) == -1)
		return 1;
	if (strcmp(argv[1], "user-nofd") == 0 && no_more_fds() == -1)
		return 1;
	if (own) {
		if ((error = make_machine(&mach, 0, 0)) != 0) {
			say("error %d", error);
			return 1;
		}
		say("machine %u", mach.machid);
	}
	memset(&info, 0, sizeof(info));
	info.machid = (nvmm_machid_t)atoi(argv[0]);
	if (nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) == -1)
		say("err %d", errno);
	else
		say("ok %u %llu %d %lld", info.nvcpus,
		    (unsigned long long)info.nram, (int)info.pid,
		    (long long)info.time);
	if (own)
		wait_eof();
	return 0;
}

static int
cmd_rootinit(void)
{
	if (nvmm_root_init() == -1)
		say("err %d", errno);
	else
		say("ok");
	return 0;
}

/* Descriptors and mappings of KVM objects this process still holds. */
static int
count_kvm_fds(void)
{
	char path[300], target[256];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", d->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strstr(target, "kvm-vm") != NULL ||
		    strstr(target, "kvm-vcpu") != NULL;
	}
	closedir(dir);
	return n;
}

static int
count_kvm_maps(void)
{
	char line[512];
	FILE *f;
	int n = 0;

	if ((f = fopen("/proc/self/maps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, "kvm-vcpu") != NULL;
	fclose(f);
	return n;
}

static int
errno_of(int r)
{
	return r == -1 ? errno : 0;
}

/* In the fork child: the parent's machine must be out of reach. */
static void
fork_child(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct nvmm_machine own;

	say("child-getstate %d", errno_of(nvmm_vcpu_getstate(mach, vcpu,
	    NVMM_X64_STATE_GPRS)));
	say("child-run %d", errno_of(nvmm_vcpu_run(mach, vcpu)));
	say("child-stop %d", errno_of(nvmm_vcpu_stop(vcpu)));
	say("child-kvmfds %d", count_kvm_fds());
	say("child-kvmmaps %d", count_kvm_maps());
	if (nvmm_machine_create(&own) == -1)
		say("child-machine-error %d", errno);
	else
		say("child-machine %u", own.machid);
	say("child-ready %d", (int)getpid());
	for (;;)
		pause();
}

static int
cmd_fork(void)
{
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	pid_t pid;

	if (init(false) == -1)
		return 1;
	if (nvmm_machine_create(&mach) == -1 ||
	    nvmm_vcpu_create(&mach, 0, &vcpu) == -1) {
		say("error %d", errno);
		return 1;
	}
	say("machine %u", mach.machid);
	say("parent-kvmfds %d", count_kvm_fds());
	if ((pid = fork()) == -1) {
		say("error %d", errno);
		return 1;
	}
	if (pid == 0)
		fork_child(&mach, &vcpu);
	say("ready %d", (int)getpid());
	wait_eof();
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc == 6 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(argv + 2);
	if (argc == 4 && strcmp(argv[1], "info") == 0)
		return cmd_info(argv + 2);
	if (argc == 2 && strcmp(argv[1], "rootinit") == 0)
		return cmd_rootinit();
	if (argc == 2 && strcmp(argv[1], "fork") == 0)
		return cmd_fork();
	fprintf(stderr, "usage: h_owner hold|info|rootinit|fork ...\n");
	return 2;
}
