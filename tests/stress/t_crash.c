/*
 * Owners killed with SIGKILL at random points: while creating and
 * destroying machines, while running vCPUs that touch their RAM, while
 * mapping and unmapping memory. Afterwards nothing of theirs may remain:
 * no registry entry is held (read as any process can, and through
 * nvmm_ctl), every machine id can be taken again (all 128 at once),
 * `nvmmctl list` shows no machine, and the host's memory (MemAvailable,
 * and SecPageTables: KVM's EPT/NPT pages) comes back.
 *
 * Usage: t_crash [nvmmctl]   (the list check needs root)
 * The owners are this program again: t_crash --owner ROLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stress.h"

T_GUEST(stress_touch64);

#define ROUNDS		36		/* divisible by the roles */
#define RUN_RAM		(64u << 20)	/* each running owner's RAM */
#define TOUCH_FROM	0x200000ULL

enum role { ROLE_CREATE, ROLE_RUN, ROLE_MAP, ROLE_COUNT };

/* ---- The owners ------------------------------------------------------------------ */

/* Machines come and go, each with vCPUs and memory. */
static void
owner_create(int ready)
{
	for (unsigned int i = 0;; i++) {
		struct t_vm vm;

		t_vm_create(&vm, 1u << 20);
		T_CHECK(nvmm_vcpu_create(&vm.mach, 1, &vm.vcpu));
		t_vm_destroy(&vm);
		munmap(vm.ram, vm.ram_size);
		if (i == 0)
			(void)!write(ready, "r", 1);
	}
}

static void *
owner_run_vcpu(void *arg)
{
	struct t_vm *vm = arg;

	for (;;)
		T_CHECK(nvmm_vcpu_run(&vm->mach, &vm->vcpu));
	return NULL;
}

/* Two vCPUs writing over all their RAM, on two threads. */
static void
owner_run(int ready)
{
	static struct t_vm vm, second;
	pthread_t th;

	t_vm_create(&vm, RUN_RAM);
	memset(vm.ram, 1, vm.ram_size);
	t_vm_load(&vm, T_CODE_BASE, stress_touch64_begin, stress_touch64_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RBX, RUN_RAM);
	second = vm;
	T_CHECK(nvmm_vcpu_create(&vm.mach, 1, &second.vcpu));
	t_vm_long_mode(&second, T_CODE_BASE, 0x9000);
	t_vm_set_gpr(&second, NVMM_X64_GPR_RBX, RUN_RAM);
	if (pthread_create(&th, NULL, owner_run_vcpu, &second) != 0)
		_exit(1);
	(void)!write(ready, "r", 1);
	owner_run_vcpu(&vm);
}

/* Host and guest mappings come and go on one machine. */
static void
owner_map(int ready)
{
	struct t_vm vm;

	t_vm_create(&vm, 1u << 20);
	(void)!write(ready, "r", 1);
	for (gpaddr_t gpa = 1u << 20;; gpa = (gpa + (1u << 20)) % (1ULL << 30)) {
		uint8_t *p = t_vm_map(&vm, gpa + (1u << 20), 1u << 20,
		    PROT_READ | PROT_WRITE);

		memset(p, 2, 1u << 20);
		T_CHECK(nvmm_gpa_unmap(&vm.mach, (uintptr_t)p, gpa + (1u << 20),
		    1u << 20));
		T_CHECK(nvmm_hva_unmap(&vm.mach, (uintptr_t)p, 1u << 20));
	}
}

#define OWNER_FLAG	"--owner"
#define READY_FD	3

/*
 * An owner of the given role, a fresh process (this program again, so that
 * no thread of ours is inherited: TSan refuses threads after a fork of a
 * threaded process); it reports on 'ready' once it is going.
 */
static pid_t
owner_start(enum role role, int *ready)
{
	char arg[16];
	int fds[2], null;
	pid_t pid;

	if (pipe(fds) == -1 || (pid = fork()) == -1)
		t_bail("pipe/fork: %s", strerror(errno));
	if (pid > 0) {
		close(fds[1]);
		*ready = fds[0];
		return pid;
	}
	/* Its failures must not end up in our TAP stream. */
	if ((null = open("/dev/null", O_WRONLY)) != -1)
		dup2(null, STDOUT_FILENO);
	dup2(fds[1], READY_FD);
	snprintf(arg, sizeof(arg), "%d", (int)role);
	execl("/proc/self/exe", "t_crash", OWNER_FLAG, arg, (char *)NULL);
	_exit(1);
}

static void
owner_main(enum role role)
{
	t_require_nvmm();
	if (role == ROLE_CREATE)
		owner_create(READY_FD);
	else if (role == ROLE_RUN)
		owner_run(READY_FD);
	else
		owner_map(READY_FD);
	_exit(1);
}

/* ---- Rounds -------------------------------------------------------------------------- */

struct tally {
	unsigned int killed[ROLE_COUNT];
	unsigned int died_early;	/* the owner failed before the kill */
	unsigned int run_ready;		/* running owners killed, RAM held */
	long released;			/* kB of MemAvailable they gave back */
};

/*
 * How much host memory comes back once a running owner, which holds its
 * RAM, is dead: the host's anonymous pages just before the kill against a
 * moment after. Not MemFree or MemAvailable: this VM's balloon reports
 * freed pages to its hypervisor and they come back over seconds. Short
 * windows keep the noise of whatever else runs on the host small.
 */
static long
released_after(const struct s_mem *at_kill)
{
	long best = 0;

	for (int i = 0; i < 40 && best < (long)(RUN_RAM >> 10) / 2; i++) {
		struct s_mem now;

		s_mem_read(&now);
		if (at_kill->anon - now.anon > best)
			best = at_kill->anon - now.anon;
		usleep(5000);
	}
	return best;
}

/*
 * Kill at a random point: right away (mid-creation), or some time after
 * the owner said it was going.
 */
static void
round_once(enum role role, unsigned int *seed, struct tally *t)
{
	unsigned int when = (unsigned int)rand_r(seed) % 4;
	int ready, status;
	bool holds = false;
	struct s_mem m;
	char c;
	pid_t pid = owner_start(role, &ready);

	if (when == 0)
		usleep((unsigned int)rand_r(seed) % 3000);
	else if (read(ready, &c, 1) == 1) {
		holds = (role == ROLE_RUN);	/* its RAM is written */
		usleep((unsigned int)rand_r(seed) % 20000);
	}
	s_mem_read(&m);
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid)
		t_bail("waitpid: %s", strerror(errno));
	close(ready);
	if (holds) {
		t->run_ready++;
		t->released += released_after(&m);
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		t->killed[role]++;
	else
		t->died_early++;
}

/* ---- Checks --------------------------------------------------------------------------- */

static unsigned int
ctl_visible(void)
{
	unsigned int n = 0;

	for (nvmm_machid_t id = 0; id < NVMM_MAX_MACHINES; id++) {
		struct nvmm_ctl_mach_info info = { .machid = id };

		if (nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) == 0 ||
		    errno != ENOENT)
			n++;
	}
	return n;
}

/* Every id at once: none is held by a dead owner. */
static void
check_all_ids(void)
{
	static struct nvmm_machine m[NVMM_MAX_MACHINES];
	unsigned int made = 0;
	bool in_order = true;

	for (; made < NVMM_MAX_MACHINES; made++) {
		if (nvmm_machine_create(&m[made]) == -1) {
			t_diag("machine %u: %s", made, strerror(errno));
			break;
		}
		in_order &= (m[made].machid == made);
	}
	t_ok(made == NVMM_MAX_MACHINES && in_order,
	    "all %u machine ids can be taken again (%u were)",
	    NVMM_MAX_MACHINES, made);
	for (unsigned int i = 0; i < made; i++)
		T_CHECK(nvmm_machine_destroy(&m[i]));
}

/* `nvmmctl list`: its header and nothing else. */
static void
check_nvmmctl(const char *nvmmctl)
{
	char cmd[4200], line[256];
	unsigned int lines = 0;
	FILE *p;

	if (nvmmctl == NULL || geteuid() != 0) {
		t_skip("nvmmctl list needs root and the program's path");
		return;
	}
	snprintf(cmd, sizeof(cmd), "'%s' list 2>&1", nvmmctl);
	if ((p = popen(cmd, "r")) == NULL)
		t_bail("popen: %s", strerror(errno));
	while (fgets(line, sizeof(line), p) != NULL) {
		if (++lines > 2)
			t_diag("  listed: %s", line);
	}
	t_ok(pclose(p) == 0 && lines == 2, "nvmmctl list: no machine listed");
}

/*
 * Memory comes back once the owners are gone: what each running owner
 * held (checked round by round), and KVM's EPT/NPT pages overall (other
 * VMs on the host move that figure a little).
 */
static void
check_memory(const struct s_mem *before, const struct tally *t)
{
	long want = (long)t->run_ready * (long)(RUN_RAM >> 10) / 2;
	struct s_mem now;

	for (int i = 0; i < 20; i++) {
		s_mem_read(&now);
		if (now.secpagetables <= before->secpagetables + 4096)
			break;
		usleep(100000);
	}
	s_mem_diag("after the killed owners", before, &now);
	t_ok(t->run_ready > 0 && t->released >= want, "host memory came back: "
	    "%ld MiB as %u running owners holding %u MiB each died", t->released
	    >> 10, t->run_ready, RUN_RAM >> 20);
	t_ok(now.secpagetables <= before->secpagetables + 4096,
	    "KVM's EPT/NPT pages came back (SecPageTables %+ld kB)",
	    now.secpagetables - before->secpagetables);
}

int
main(int argc, char **argv)
{
	struct tally t = { { 0 }, 0, 0, 0 };
	unsigned int seed = (unsigned int)getpid();
	const char *rundir;
	struct s_mem before;
	double t0;

	if (argc == 3 && strcmp(argv[1], OWNER_FLAG) == 0)
		owner_main((enum role)atoi(argv[2]));
	t_require_nvmm();
	rundir = s_private_rundir("crash");
	t_plan(7);
	s_mem_read(&before);
	t0 = s_now();
	s_watchdog_start(300);
	for (unsigned int i = 0; i < ROUNDS; i++)
		round_once((enum role)(i % ROLE_COUNT), &seed, &t);
	t_diag("%u owners killed in %.1f s (create %u, run %u, map %u)",
	    ROUNDS, s_now() - t0, t.killed[ROLE_CREATE], t.killed[ROLE_RUN],
	    t.killed[ROLE_MAP]);
	t_ok(t.died_early == 0, "every owner was alive when killed "
	    "(%u were not)", t.died_early);
	t_ok(s_registry_held(rundir) == 0, "no registry entry held after "
	    "its owner died");
	t_ok(ctl_visible() == 0, "nvmm_ctl sees no machine of a dead owner");
	check_all_ids();
	check_nvmmctl(argc > 1 ? argv[1] : NULL);
	check_memory(&before, &t);
	s_watchdog_stop();
	return t_done();
}
