/*
 * Ownership across processes: a machine created in a child is refused in
 * the parent (EPERM) while the child lives, is visible to a root owner
 * (nvmm_root_init), and is gone once the child exits, normally or by
 * SIGKILL: nvmm_ctl() says ENOENT and the id is handed out again. A
 * machine of the parent is refused in a fork child.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_util.h"
#include "harness.h"

/* ---- The owner child: creates a machine, reports it, waits ------------------- */

struct owner {
	pid_t pid;
	int cmd;		/* parent -> child: one byte ends it */
	nvmm_machid_t machid;
};

static void
owner_main(int report, int cmd)
{
	struct nvmm_machine m;
	struct nvmm_vcpu v;
	nvmm_machid_t id = UINT32_MAX;
	char c;

	if (nvmm_init() == 0 && nvmm_machine_create(&m) == 0 &&
	    nvmm_vcpu_create(&m, 0, &v) == 0)
		id = m.machid;
	if (write(report, &id, sizeof(id)) != (ssize_t)sizeof(id))
		_exit(1);
	/* Until told, or until the parent is gone. No destroy: exit does it. */
	(void)read(cmd, &c, 1);
	_exit(0);
}

static void
owner_start(struct owner *o)
{
	int rep[2], cmd[2];

	if (pipe(rep) == -1 || pipe(cmd) == -1)
		t_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((o->pid = fork()) == -1)
		t_bail("fork: %s", strerror(errno));
	if (o->pid == 0) {
		close(rep[0]);
		close(cmd[1]);
		owner_main(rep[1], cmd[0]);
	}
	close(rep[1]);
	close(cmd[0]);
	o->cmd = cmd[1];
	if (read(rep[0], &o->machid, sizeof(o->machid)) !=
	    (ssize_t)sizeof(o->machid))
		o->machid = UINT32_MAX;
	close(rep[0]);
}

static void
owner_end(struct owner *o, bool kill9)
{
	int status;

	if (kill9)
		kill(o->pid, SIGKILL);
	else
		(void)write(o->cmd, "x", 1);
	close(o->cmd);
	waitpid(o->pid, &status, 0);
}

/* ---- A root owner's view, from a child that never called nvmm_init -------- */

struct root_view {
	int error;
	struct nvmm_ctl_mach_info info;
};

static void
root_view(nvmm_machid_t machid, struct root_view *rv)
{
	struct root_view r;
	int p[2], status;
	pid_t pid;

	memset(rv, 0, sizeof(*rv));
	rv->error = -1;
	if (pipe(p) == -1)
		t_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((pid = fork()) == 0) {
		memset(&r, 0, sizeof(r));
		r.info.machid = machid;
		r.error = nvmm_root_init() == -1 ? errno :
		    nvmm_ctl(NVMM_CTL_MACH_INFO, &r.info, sizeof(r.info)) == -1 ?
		    errno : 0;
		_exit(write(p[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], rv, sizeof(*rv)) != (ssize_t)sizeof(*rv))
		rv->error = -1;
	close(p[0]);
	waitpid(pid, &status, 0);
}

/* ---- Checks ----------------------------------------------------------------------- */

static int
ctl_errno(nvmm_machid_t machid)
{
	struct nvmm_ctl_mach_info info = { .machid = machid };

	return nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) == -1 ?
	    errno : 0;
}

/* The parent acting on the child's machine id. */
static void
refused(nvmm_machid_t machid, const char *when)
{
	struct nvmm_machine m = { .machid = machid };
	struct nvmm_vcpu v = { .cpuid = 0 };

	t_eq_u64(ctl_errno(machid), EPERM, "%s: nvmm_ctl: EPERM", when);
	t_errno(nvmm_vcpu_create(&m, 1, &v), EPERM,
	    "%s: nvmm_vcpu_create: EPERM", when);
	t_errno(nvmm_vcpu_run(&m, &v), EPERM, "%s: nvmm_vcpu_run: EPERM", when);
	t_errno(nvmm_machine_destroy(&m), EPERM,
	    "%s: nvmm_machine_destroy: EPERM", when);
}

/* After the owner is gone: no entry, and the id is free again. */
static void
gone(nvmm_machid_t machid, const char *when)
{
	struct nvmm_machine m;

	t_eq_u64(ctl_errno(machid), ENOENT, "%s: nvmm_ctl: ENOENT", when);
	t_ok(nvmm_machine_create(&m) == 0 && m.machid == machid,
	    "%s: the id is handed out again", when);
}

static int
getstate_in_child(void *arg)
{
	struct t_vm *vm = arg;

	return nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL);
}

int
main(void)
{
	struct root_view rv;
	struct owner o;
	struct t_vm vm;

	api_private_rundir("owner");
	/* Both children before this process initialises. */
	owner_start(&o);
	root_view(o.machid, &rv);
	t_require_nvmm();
	t_plan(1 + 4 + 1 + 3 + 2 + 1 + 4 + 2 + 1);

	t_ok(o.machid == 0, "the child created machine 0");
	refused(o.machid, "child alive");
	t_eq_u64(rv.error, 0, "a root owner may look at it");
	t_eq_u64(rv.info.pid, o.pid, "  its pid is the child's");
	t_eq_u64(rv.info.nvcpus, 1, "  one vCPU");
	t_ok(rv.info.time > 0, "  a creation time");
	owner_end(&o, false);
	gone(o.machid, "child exited");

	/* This process is initialised and owns machine 0: the child inherits. */
	owner_start(&o);
	t_ok(o.machid == 1, "a child forked after init creates machine 1");
	refused(o.machid, "second child alive");
	owner_end(&o, true);
	gone(o.machid, "child killed by SIGKILL");

	t_vm_create(&vm, 0);
	t_eq_u64(api_in_child(getstate_in_child, &vm), EPERM,
	    "the parent's machine in a fork child: EPERM");
	t_vm_destroy(&vm);
	return t_done();
}
