/*
 * The system-wide machine registry and nvmm_ctl(NVMM_CTL_MACH_INFO): ids
 * unique across processes, the limit of 128 machines across processes,
 * facts kept current, owners that die (SIGKILL, fork children), and the
 * errors of nvmm_ctl and nvmm_root_init.
 *
 * The other processes are h_owner helpers (argv[1]). The test keeps its
 * registry in a private NVMM_RUNDIR: it fills every id, and must not see or
 * disturb the machines of tests running beside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY		65534

static const char *helper;
static bool refuse_fd_links;	/* proc_start(): the helper's kernel says no */
static char rundir[] = "/tmp/nvmm-t-registry-XXXXXX";

/* ---- Helper processes --------------------------------------------------------- */

struct proc {
	pid_t pid;
	int in;		/* its stdin */
	FILE *out;	/* its stdout */
};

/*
 * Make linkat() with AT_EMPTY_PATH fail with ENOENT from here on (and
 * across exec), as kernels before 6.10 answer a caller without
 * CAP_DAC_READ_SEARCH: the registry must then name records another way.
 */
static int
refuse_empty_path_links(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_linkat, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, args[4])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, AT_EMPTY_PATH, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOENT),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Start the helper with args; as user 'nobody' when drop is set. */
static void
proc_start(struct proc *p, bool drop, const char *a1, const char *a2,
    const char *a3, const char *a4, const char *a5)
{
	int in[2], out[2];

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1)
		t_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((p->pid = fork()) == -1)
		t_bail("fork: %s", strerror(errno));
	if (p->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		if (drop && (setgroups(0, NULL) == -1 ||
		    setresgid(NOBODY, NOBODY, NOBODY) == -1 ||
		    setresuid(NOBODY, NOBODY, NOBODY) == -1))
			_exit(126);
		if (refuse_fd_links && refuse_empty_path_links() == -1)
			_exit(125);
		execl(helper, helper, a1, a2, a3, a4, a5, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = fdopen(out[0], "r");
}

/* The rest of the next line starting with key (other lines are skipped). */
static bool
proc_expect(struct proc *p, const char *key, char *val, size_t len)
{
	char line[256];
	size_t klen = strlen(key);

	while (fgets(line, sizeof(line), p->out) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			snprintf(val, len, "%s", line + klen + 1);
			return true;
		}
		if (strncmp(line, "error", 5) == 0 ||
		    strncmp(line, "initerr", 7) == 0)
			t_diag("helper: %s", line);
	}
	return false;
}

static void
proc_wait(struct proc *p)
{
	int status;

	close(p->in);
	waitpid(p->pid, &status, 0);
	fclose(p->out);
}

static void
proc_kill(struct proc *p)
{
	kill(p->pid, SIGKILL);
	proc_wait(p);
}

/* One line of output of a helper that runs to completion. */
static void
helper_line(bool drop, const char *a1, const char *a2, const char *a3,
    char *line, size_t len)
{
	struct proc p;

	proc_start(&p, drop, a1, a2, a3, NULL, NULL);
	if (fgets(line, (int)len, p.out) == NULL)
		snprintf(line, len, "(no output)");
	line[strcspn(line, "\n")] = '\0';
	proc_wait(&p);
}

/* How many files of the run directory start with prefix; *st: the last. */
static unsigned int
record_count(const char *prefix, struct stat *st)
{
	char path[PATH_MAX];
	unsigned int n = 0;
	struct dirent *d;
	DIR *dir;

	if ((dir = opendir(rundir)) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (strncmp(d->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", rundir, d->d_name);
		if (stat(path, st) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

/* ---- nvmm_ctl --------------------------------------------------------------------- */

static int
mach_info(nvmm_machid_t machid, struct nvmm_ctl_mach_info *info)
{
	memset(info, 0, sizeof(*info));
	info->machid = machid;
	return nvmm_ctl(NVMM_CTL_MACH_INFO, info, sizeof(*info));
}

static void
test_ctl_errors(void)
{
	struct nvmm_ctl_mach_info info = { .machid = 0 };

	info.machid = NVMM_MAX_MACHINES;
	t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)), EINVAL,
	    "nvmm_ctl: machid 128 is EINVAL");
	info.machid = 0;
	t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info) - 1), EINVAL,
	    "nvmm_ctl: wrong size is EINVAL");
	t_errno(nvmm_ctl(NVMM_CTL_MACH_INFO + 1, &info, sizeof(info)), EINVAL,
	    "nvmm_ctl: unknown op is EINVAL");
	t_errno(mach_info(7, &info), ENOENT, "nvmm_ctl: free id is ENOENT");
}

/* The facts of our own machine follow its changes. */
static void
test_facts(void)
{
	struct nvmm_ctl_mach_info info;
	struct nvmm_machine mach;
	struct nvmm_vcpu v0, v3;
	char path[128], line[256], id[16];
	size_t big = 2u << 20, small = 64u << 10;
	time_t t0, t1;
	void *ram;
	struct stat st;
	int r;

	t0 = time(NULL);
	T_CHECK(nvmm_machine_create(&mach));
	t1 = time(NULL);
	r = mach_info(mach.machid, &info);
	t_ok(r == 0 && info.pid == getpid() && info.nvcpus == 0 &&
	    info.nram == 0 && info.time >= t0 && info.time <= t1,
	    "new machine: owner pid, no vCPU, no RAM, creation time");
	snprintf(path, sizeof(path), "machine.%03u.", mach.machid);
	t_ok(record_count(path, &st) == 1 && st.st_uid == geteuid() &&
	    (st.st_mode & 07777) == 0600,
	    "its record lives under NVMM_RUNDIR, ours, mode 0600");

	T_CHECK(nvmm_vcpu_create(&mach, 0, &v0));
	T_CHECK(nvmm_vcpu_create(&mach, 3, &v3));
	r = mach_info(mach.machid, &info);
	t_ok(r == 0 && info.nvcpus == 2, "two vCPUs counted (%u)", info.nvcpus);

	ram = mmap(NULL, big + small, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_CHECK(ram == MAP_FAILED ? -1 : 0);
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)ram, big));
	T_CHECK(nvmm_hva_map(&mach, (uintptr_t)ram + big, small));
	r = mach_info(mach.machid, &info);
	t_ok(r == 0 && info.nram == big + small,
	    "RAM is the sum of hva_map sizes (%llu)",
	    (unsigned long long)info.nram);
	T_CHECK(nvmm_hva_unmap(&mach, (uintptr_t)ram + big, small));
	T_CHECK(nvmm_vcpu_destroy(&mach, &v3));
	t_ok(mach_info(mach.machid, &info) == 0 && info.nram == big &&
	    info.nvcpus == 1, "hva_unmap and vcpu_destroy are reflected");

	/* Another process: a plain owner may not look, root may. */
	snprintf(id, sizeof(id), "%u", mach.machid);
	helper_line(false, "info", id, "user", line, sizeof(line));
	t_ok(strcmp(line, "err 1") == 0,
	    "another process's plain owner gets EPERM (%s)", line);
	/*
	 * Short of descriptors, a plain owner cannot look at the registry:
	 * the lookup fails, never calls the held id free (ENOENT).
	 */
	helper_line(false, "info", id, "user-nofd", line, sizeof(line));
	t_ok(strcmp(line, "err 24") == 0,
	    "another's machine, short of descriptors: EMFILE, not ENOENT (%s)",
	    line);
	T_CHECK(stat(rundir, &st));
	T_CHECK(chmod(rundir, 0777));
	helper_line(false, "info", id, "user", line, sizeof(line));
	T_CHECK(chmod(rundir, st.st_mode & 07777));
	t_ok(strcmp(line, "err 13") == 0,
	    "another's machine, run dir writable by all: EACCES (%s)", line);
	helper_line(false, "info", id, "root", line, sizeof(line));
	snprintf(path, sizeof(path), "ok 1 %zu %d %lld", big, (int)getpid(),
	    (long long)info.time);
	if (geteuid() == 0)
		t_ok(strcmp(line, path) == 0,
		    "root owner of another process sees the same facts (%s)",
		    line);
	else
		t_skip("root owner needs euid 0");

	T_CHECK(nvmm_machine_destroy(&mach));
	t_errno(mach_info(mach.machid, &info), ENOENT,
	    "destroyed machine: ENOENT");
	munmap(ram, big + small);
}

/*
 * A kernel that refuses to link a file by its descriptor (before 6.10,
 * without CAP_DAC_READ_SEARCH): machines are still created and
 * registered, each with its one record, found by nvmm_ctl.
 */
static void
test_fd_link_refused(void)
{
	char val[64], prefix[32], id[16], line[256], want[64];
	unsigned int ids[2], n = 0, records = 0, owned = 0;
	struct stat st;
	struct proc p;
	int pid = 0;

	refuse_fd_links = true;
	proc_start(&p, false, "hold", "2", "1", "0", "0");
	refuse_fd_links = false;
	while (n < 2 && proc_expect(&p, "machine", val, sizeof(val)))
		ids[n++] = (unsigned int)atoi(val);
	if (proc_expect(&p, "ready", val, sizeof(val)))
		pid = atoi(val);
	for (unsigned int i = 0; i < n; i++) {
		snprintf(prefix, sizeof(prefix), "machine.%03u.", ids[i]);
		records += record_count(prefix, &st) == 1;
		/* Another process's machine: nvmm_ctl as its root owner. */
		snprintf(id, sizeof(id), "%u", ids[i]);
		helper_line(false, "info", id, "root", line, sizeof(line));
		snprintf(want, sizeof(want), "ok 1 0 %d ", pid);
		owned += pid != 0 && strncmp(line, want, strlen(want)) == 0;
	}
	t_ok(n == 2 && records == 2,
	    "linkat(AT_EMPTY_PATH) refused: 2 machines created (%u), one record each (%u)",
	    n, records);
	if (geteuid() == 0)
		t_ok(n == 2 && owned == 2,
		    "their owner and vCPU count are known to nvmm_ctl (%u of 2)",
		    owned);
	else
		t_skip("nvmm_ctl on another process's machine needs euid 0");
	proc_wait(&p);
}

/*
 * Move the first record whose name starts with prefix to "aside.<name>"
 * (back when !out, prefix then being that name); returns its name.
 */
static const char *
record_aside(const char *prefix, bool out)
{
	static char name[256];
	char from[600], to[600];
	struct dirent *d;
	DIR *dir;

	if (!out) {
		snprintf(from, sizeof(from), "%s/aside.%s", rundir, prefix);
		snprintf(to, sizeof(to), "%s/%s", rundir, prefix);
		T_CHECK(rename(from, to));
		return prefix;
	}
	if ((dir = opendir(rundir)) == NULL)
		t_bail("%s: %s", rundir, strerror(errno));
	name[0] = '\0';
	while ((d = readdir(dir)) != NULL) {
		if (strncmp(d->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(name, sizeof(name), "%s", d->d_name);
			break;
		}
	}
	closedir(dir);
	snprintf(from, sizeof(from), "%s/%s", rundir, name);
	snprintf(to, sizeof(to), "%s/aside.%s", rundir, name);
	T_CHECK(rename(from, to));
	return name;
}

/*
 * Closing any descriptor of a file drops the process's POSIX locks on it.
 * The slots file is the group's to read and write, so a member may give
 * it a record's name (a hard link, even with fs.protected_hardlinks 1):
 * a lookup by a root owner must not open it, or that owner's ids go free
 * under its machines and the next creation takes one of them again.
 */
static void
test_slots_as_record(void)
{
	struct nvmm_machine mach;
	struct proc holder, looker;
	char val[64], name[600], slots[600], id[16], prefix[32];
	const char *aside;
	int b = -1, a = -1;

	proc_start(&holder, false, "hold", "1", "0", "0", "0");
	if (proc_expect(&holder, "machine", val, sizeof(val)))
		b = atoi(val);
	snprintf(slots, sizeof(slots), "%s/slots", rundir);
	snprintf(name, sizeof(name), "%s/machine.%03d.slots", rundir, b);
	snprintf(id, sizeof(id), "%d", b);
	T_CHECK(link(slots, name));
	/* The holder's own record aside: the lookup meets the link first. */
	snprintf(prefix, sizeof(prefix), "machine.%03d.", b);
	aside = record_aside(prefix, true);
	proc_start(&looker, false, "info", id, "root-own", NULL, NULL);
	if (proc_expect(&looker, "machine", val, sizeof(val)))
		a = atoi(val);
	if (fgets(val, sizeof(val), looker.out) == NULL)	/* its lookup's answer */
		val[0] = '\0';
	T_CHECK(nvmm_machine_create(&mach));
	t_ok(b >= 0 && a >= 0 && mach.machid != (nvmm_machid_t)a &&
	    mach.machid != (nvmm_machid_t)b,
	    "slots linked in as a record: a root owner's lookup keeps its id "
	    "(%u, held: %d, %d)", mach.machid, a, b);
	T_CHECK(nvmm_machine_destroy(&mach));
	unlink(name);
	(void)record_aside(aside, false);
	proc_wait(&looker);
	proc_wait(&holder);
}

static void
test_root_init_denied(void)
{
	char line[256];

	helper_line(geteuid() == 0, "rootinit", NULL, NULL, line, sizeof(line));
	t_ok(strcmp(line, "err 13") == 0,
	    "nvmm_root_init as a non-root user: EACCES (%s)", line);
}

/* ---- Ids across processes ------------------------------------------------------------ */

#define PER_HELPER	60

/* Read a hold helper's ids into seen[]; returns how many. */
static unsigned int
collect_ids(struct proc *p, unsigned int *seen)
{
	char line[64];
	unsigned int n = 0;

	while (fgets(line, sizeof(line), p->out) != NULL) {
		unsigned int id;

		if (sscanf(line, "machine %u", &id) == 1 && id < NVMM_MAX_MACHINES) {
			seen[id]++;
			n++;
		} else if (strncmp(line, "ready", 5) == 0) {
			break;
		} else if (strncmp(line, "time", 4) != 0) {
			t_diag("helper: %s", line);
		}
	}
	return n;
}

/* Two processes create at once; then the 129th machine of the host fails. */
static void
test_race_and_limit(void)
{
	static struct nvmm_machine mine[NVMM_MAX_MACHINES];
	unsigned int seen[NVMM_MAX_MACHINES] = { 0 }, got = 0, dup = 0, n = 0;
	struct nvmm_ctl_mach_info info;
	struct proc a, b;
	bool all_free = true;
	unsigned int stale;
	struct stat st;
	int r;

	proc_start(&a, false, "hold", "60", "0", "0", "1");
	proc_start(&b, false, "hold", "60", "0", "0", "1");
	/* Both start creating at the same moment. */
	if (write(a.in, "g", 1) != 1 || write(b.in, "g", 1) != 1)
		t_bail("go: %s", strerror(errno));
	got = collect_ids(&a, seen) + collect_ids(&b, seen);
	for (unsigned int i = 0; i < NVMM_MAX_MACHINES; i++)
		dup += seen[i] > 1;
	t_ok(got == 2 * PER_HELPER && dup == 0,
	    "two processes creating at once get %u distinct ids (%u dup)",
	    got, dup);

	while ((r = nvmm_machine_create(&mine[n])) == 0 &&
	    n < NVMM_MAX_MACHINES - 1)
		n++;
	t_ok(r == -1 && errno == ENOBUFS && got + n == NVMM_MAX_MACHINES,
	    "machine %u of the host fails ENOBUFS (%s)", got + n + 1,
	    r == 0 ? "succeeded" : strerror(errno));
	t_ok(mach_info(mine[0].machid, &info) == 0 && info.pid == getpid(),
	    "our machines are listed as ours");

	/* Owners killed: nothing of theirs stays, every id is free again. */
	proc_kill(&a);
	proc_kill(&b);
	for (unsigned int i = 0; i < NVMM_MAX_MACHINES; i++) {
		if (seen[i] && mach_info(i, &info) != -1)
			all_free = false;
		if (seen[i] && errno != ENOENT)
			all_free = false;
	}
	t_ok(all_free, "SIGKILLed owners leave no machine listed (ENOENT)");
	for (unsigned int i = 0; i < n; i++)
		T_CHECK(nvmm_machine_destroy(&mine[i]));
	T_CHECK(nvmm_machine_create(&mine[0]));
	t_ok(mine[0].machid == 0, "their ids are reused: lowest free is 0 (%u)",
	    mine[0].machid);
	T_CHECK(nvmm_machine_destroy(&mine[0]));

	/*
	 * Their records stay behind, blocking nothing; a process registering
	 * for the first time removes them (we registered before they died).
	 */
	stale = record_count("machine.", &st);
	proc_start(&a, false, "hold", "1", "0", "0", "0");
	got = collect_ids(&a, seen);
	t_ok(stale == 2 * PER_HELPER && got == 1 &&
	    record_count("machine.", &st) == 1,
	    "dead owners' %u records: removed by the next process to "
	    "register, whose own is then the only one", stale);
	proc_wait(&a);
}

/* ---- fork ----------------------------------------------------------------------------- */

static int
expect_int(struct proc *p, const char *key)
{
	char val[64];

	return proc_expect(p, key, val, sizeof(val)) ? atoi(val) : -1000;
}

static void
test_fork(void)
{
	struct nvmm_ctl_mach_info info;
	struct proc p;
	int parent_id, child_id, child_pid, status;

	/* Orphans of the helper come back to us, so we can reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	proc_start(&p, false, "fork", NULL, NULL, NULL, NULL);
	parent_id = expect_int(&p, "machine");
	t_ok(expect_int(&p, "parent-kvmfds") >= 2, "owner holds KVM descriptors");
	t_ok(expect_int(&p, "child-getstate") == EPERM,
	    "fork child: the parent's machine is another owner's (EPERM)");
	t_ok(expect_int(&p, "child-run") == EPERM, "fork child: run is EPERM");
	t_ok(expect_int(&p, "child-stop") == EINVAL,
	    "fork child: nvmm_vcpu_stop on the parent's vCPU is EINVAL");
	t_ok(expect_int(&p, "child-kvmfds") == 0,
	    "fork child: no KVM VM or vCPU descriptor inherited");
	t_ok(expect_int(&p, "child-kvmmaps") == 0,
	    "fork child: no kvm_run mapping inherited");
	child_id = expect_int(&p, "child-machine");
	t_ok(child_id >= 0 && child_id != parent_id,
	    "fork child creates its own machine (%d, parent's %d)", child_id,
	    parent_id);
	child_pid = expect_int(&p, "child-ready");

	kill(p.pid, SIGKILL);
	waitpid(p.pid, &status, 0);
	t_ok(parent_id >= 0 && mach_info((nvmm_machid_t)parent_id, &info) == -1 &&
	    errno == ENOENT && kill(child_pid, 0) == 0,
	    "parent SIGKILLed, child alive: the parent's machine is gone");
	t_ok(child_id >= 0 && mach_info((nvmm_machid_t)child_id, &info) == -1 &&
	    errno == EPERM, "the child's own machine is still there");
	if (child_pid > 0) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, &status, 0);
	}
	t_ok(child_id >= 0 && mach_info((nvmm_machid_t)child_id, &info) == -1 &&
	    errno == ENOENT, "child SIGKILLed: its machine is gone too");
	close(p.in);
	fclose(p.out);
}

/* ---- Main ------------------------------------------------------------------------------ */

static void
rundir_remove(void)
{
	struct dirent *d;
	DIR *dir;
	char path[512];

	if ((dir = opendir(rundir)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", rundir, d->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(rundir);
}

int
main(int argc, char *argv[])
{
	if (argc != 2)
		t_bail("usage: t_registry <h_owner>");
	helper = argv[1];
	if (mkdtemp(rundir) == NULL)
		t_bail("%s: %s", rundir, strerror(errno));
	setenv("NVMM_RUNDIR", rundir, 1);
	atexit(rundir_remove);

	t_require_nvmm();
	t_plan(34);
	test_ctl_errors();
	test_facts();
	test_fd_link_refused();
	test_slots_as_record();
	test_root_init_denied();
	test_race_and_limit();
	test_fork();
	return t_done();
}
