/*
 * Every libnvmm entry point against the handles it is given: before
 * nvmm_init() (EBADF), a machine id out of range, NULL handles, free ids,
 * vCPUs that do not exist, stale handles after destroy, and a handle whose
 * machine id was handed out again to a new machine. Nothing may crash.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api_util.h"
#include "harness.h"

/* A page of ours for the mapping calls; never registered. */
static uintptr_t hva;

/* ---- The entry points that take a machine, with fixed other arguments ---- */

typedef int (*call_fn)(struct nvmm_machine *, struct nvmm_vcpu *);

static int
c_machine_destroy(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	(void)v;
	return nvmm_machine_destroy(m);
}

static int
c_vcpu_create(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	struct nvmm_vcpu tmp;

	(void)v;
	return nvmm_vcpu_create(m, 7, &tmp);
}

static int
c_vcpu_destroy(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_destroy(m, v);
}

static int
c_conf_cpuid(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	struct nvmm_vcpu_conf_cpuid c = { .mask = 1, .leaf = 0x40000000 };

	return nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CPUID, &c);
}

static int
c_conf_callbacks(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	struct nvmm_assist_callbacks cbs = { NULL, NULL };

	return nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_CALLBACKS, &cbs);
}

static int
c_setstate(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_setstate(m, v, NVMM_X64_STATE_GPRS);
}

static int
c_getstate(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_getstate(m, v, NVMM_X64_STATE_ALL);
}

static int
c_inject(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_inject(m, v);
}

static int
c_run(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_run(m, v);
}

static int
c_gva_to_gpa(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	gpaddr_t gpa;
	nvmm_prot_t prot;

	return nvmm_gva_to_gpa(m, v, 0, &gpa, &prot);
}

static int
c_gpa_to_hva(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	uintptr_t h;
	nvmm_prot_t prot;

	(void)v;
	return nvmm_gpa_to_hva(m, 0, &h, &prot);
}

static int
c_assist_io(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_assist_io(m, v);
}

static int
c_assist_mem(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_assist_mem(m, v);
}

static int
c_hva_map(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	(void)v;
	return nvmm_hva_map(m, hva, 4096);
}

static int
c_hva_unmap(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	(void)v;
	return nvmm_hva_unmap(m, hva, 4096);
}

static int
c_gpa_map(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	(void)v;
	return nvmm_gpa_map(m, hva, 0, 4096, PROT_READ);
}

static int
c_gpa_unmap(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	(void)v;
	return nvmm_gpa_unmap(m, hva, 0, 4096);
}

/* The dirty-page tracking extension takes the same machine handles. */
static int
c_dirty_start(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	(void)v;
	return nvmm_gpa_dirty_start(m, 0, 4096);
}

static int
c_dirty_stop(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	(void)v;
	return nvmm_gpa_dirty_stop(m, 0, 4096);
}

static int
c_dirty_fetch(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	uint64_t bits;

	(void)v;
	return nvmm_gpa_dirty_fetch(m, 0, 4096, &bits, sizeof(bits), 0);
}

static int
c_dirty_clear(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	uint64_t bits = 1;

	(void)v;
	return nvmm_gpa_dirty_clear(m, 0, 4096, &bits, sizeof(bits));
}

static int
c_dump(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_dump(m, v);
}

struct call {
	const char *name;
	call_fn fn;
	bool vcpu;	/* takes a vCPU handle */
};

/* Destroy last: if a stale handle wrongly works, the rest still run. */
static const struct call calls[] = {
	{ "nvmm_vcpu_create", c_vcpu_create, false },
	{ "nvmm_vcpu_destroy", c_vcpu_destroy, true },
	{ "nvmm_vcpu_configure(CPUID)", c_conf_cpuid, true },
	{ "nvmm_vcpu_configure(CALLBACKS)", c_conf_callbacks, true },
	{ "nvmm_vcpu_setstate", c_setstate, true },
	{ "nvmm_vcpu_getstate", c_getstate, true },
	{ "nvmm_vcpu_inject", c_inject, true },
	{ "nvmm_vcpu_run", c_run, true },
	{ "nvmm_gva_to_gpa", c_gva_to_gpa, true },
	{ "nvmm_gpa_to_hva", c_gpa_to_hva, false },
	{ "nvmm_assist_io", c_assist_io, true },
	{ "nvmm_assist_mem", c_assist_mem, true },
	{ "nvmm_hva_map", c_hva_map, false },
	{ "nvmm_hva_unmap", c_hva_unmap, false },
	{ "nvmm_gpa_map", c_gpa_map, false },
	{ "nvmm_gpa_unmap", c_gpa_unmap, false },
	{ "nvmm_gpa_dirty_start", c_dirty_start, false },
	{ "nvmm_gpa_dirty_stop", c_dirty_stop, false },
	{ "nvmm_gpa_dirty_fetch", c_dirty_fetch, false },
	{ "nvmm_gpa_dirty_clear", c_dirty_clear, false },
	{ "nvmm_vcpu_dump", c_dump, true },
	{ "nvmm_machine_destroy", c_machine_destroy, false },
};
#define NCALLS		(sizeof(calls) / sizeof(calls[0]))
#define NVCPU_CALLS	11

/* Every call in the table (or only those taking a vCPU) fails with e. */
static void
expect_all(struct nvmm_machine *m, struct nvmm_vcpu *v, bool vcpu_only,
    int e, const char *what)
{
	for (size_t i = 0; i < NCALLS; i++) {
		if (vcpu_only && !calls[i].vcpu)
			continue;
		t_errno(calls[i].fn(m, v), e, "%s: %s", what, calls[i].name);
	}
}

/* ---- Before nvmm_init(), in a child that never initialises ---------------- */

struct before_init {
	int error[NCALLS + 6];
};

static int
c_errno(int r)
{
	return r == -1 ? errno : 0;
}

static void
before_init_child(int fd)
{
	struct nvmm_machine m = { .machid = 0 };
	struct nvmm_vcpu v = { .cpuid = 0 };
	struct nvmm_ctl_mach_info info = { .machid = 0 };
	struct nvmm_capability cap;
	struct before_init r;
	size_t n = 0;
	int stop = 0;

	v.stop = &stop;
	for (size_t i = 0; i < NCALLS; i++) {
		errno = 0;
		r.error[n++] = c_errno(calls[i].fn(&m, &v));
	}
	r.error[n++] = c_errno(nvmm_capability(&cap));
	r.error[n++] = c_errno(nvmm_machine_create(&m));
	r.error[n++] = c_errno(nvmm_machine_configure(&m,
	    NVMM_MACH_CONF_MD_BEGIN, &info));
	r.error[n++] = c_errno(nvmm_vcpu_stop(&v));
	r.error[n++] = c_errno(nvmm_ctl(NVMM_CTL_MACH_INFO, &info,
	    sizeof(info)));
	/* And initialising afterwards works. */
	r.error[n++] = c_errno(nvmm_init());
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	_exit(0);
}

static const char *const before_init_extra[] = {
	"nvmm_capability", "nvmm_machine_create", "nvmm_machine_configure",
	"nvmm_vcpu_stop", "nvmm_ctl",
};

/* Fork before this process initialises: the child has never seen init. */
static pid_t
before_init_start(int *fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p) == -1)
		t_bail("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		t_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		before_init_child(p[1]);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

static void
before_init_check(pid_t pid, int fd)
{
	struct before_init r;
	size_t n = 0;
	int status;

	memset(&r, 0xFF, sizeof(r));
	if (read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		t_diag("the child reported nothing");
	close(fd);
	waitpid(pid, &status, 0);
	t_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "before init: the child did not crash");
	for (size_t i = 0; i < NCALLS; i++, n++)
		t_eq_u64(r.error[n], EBADF, "before init: %s: EBADF",
		    calls[i].name);
	for (size_t i = 0; i < 5; i++, n++)
		t_eq_u64(r.error[n], EBADF, "before init: %s: EBADF",
		    before_init_extra[i]);
	t_eq_u64(r.error[n], 0, "before init: nvmm_init afterwards works");
}

/* ---- One call of each of the 24 entry points with a bad handle ------------ */

static void
every_entry_point(struct nvmm_vcpu *live)
{
	struct nvmm_machine bad = { .machid = NVMM_MAX_MACHINES };
	struct nvmm_vcpu nostop = { .cpuid = 0 };
	struct nvmm_vcpu_conf_cpuid conf = { .mask = 1, .leaf = 0 };

	t_ok(nvmm_init() == 0, "nvmm_init again: 0 (already initialised)");
	t_ok(nvmm_root_init() == 0,
	    "nvmm_root_init after nvmm_init: 0 (already initialised)");
	t_errno(nvmm_capability(NULL), EFAULT, "nvmm_capability(NULL): EFAULT");
	t_errno(nvmm_machine_create(NULL), EINVAL,
	    "nvmm_machine_create(NULL): EINVAL");
	t_errno(nvmm_machine_configure(&bad, NVMM_MACH_CONF_MD_BEGIN, &conf),
	    EINVAL, "nvmm_machine_configure(bad id): EINVAL");
	t_errno(nvmm_ctl(-1, NULL, 0), EINVAL, "nvmm_ctl(bad op): EINVAL");
	t_errno(nvmm_vcpu_stop(&nostop), EINVAL,
	    "nvmm_vcpu_stop(vCPU never created): EINVAL");
	t_errno(nvmm_vcpu_stop(NULL), EINVAL, "nvmm_vcpu_stop(NULL): EINVAL");
	expect_all(&bad, live, false, EINVAL, "machid 128");
}

/* ---- vCPU handles ---------------------------------------------------------------- */

static int
stop_in_child(void *arg)
{
	return nvmm_vcpu_stop(arg);
}

static void
check_stop_stale(struct nvmm_vcpu *v, const char *what)
{
	int r = api_in_child(stop_in_child, v);

	if (!t_ok(r == EINVAL, "nvmm_vcpu_stop(%s): EINVAL, no crash", what))
		t_diag("  child returned %d", r);
}

static void
vcpu_handles(struct nvmm_machine *m, struct nvmm_machine *other)
{
	struct nvmm_vcpu v, gone, mine;

	expect_all(m, NULL, true, EINVAL, "NULL vCPU");
	t_errno(nvmm_vcpu_create(m, 1, NULL), EINVAL,
	    "nvmm_vcpu_create(NULL vCPU): EINVAL");

	memset(&v, 0, sizeof(v));
	v.cpuid = 5;
	expect_all(m, &v, true, ENOENT, "vCPU 5 never created");
	v.cpuid = NVMM_MAX_VCPUS;
	expect_all(m, &v, true, EINVAL, "vCPU id 128");

	T_CHECK(nvmm_vcpu_create(m, 3, &gone));
	T_CHECK(nvmm_vcpu_destroy(m, &gone));
	expect_all(m, &gone, true, ENOENT, "destroyed vCPU");
	check_stop_stale(&gone, "destroyed vCPU");

	/* Another machine's vCPU 0, while this machine has a vCPU 0 too. */
	T_CHECK(nvmm_vcpu_create(other, 0, &v));
	T_CHECK(nvmm_vcpu_create(m, 0, &mine));
	expect_all(m, &v, true, ENOENT, "another machine's vCPU");
	t_ok(nvmm_vcpu_getstate(m, &mine, NVMM_X64_STATE_ALL) == 0,
	    "the machine's own vCPU 0 still works");
}

/* ---- Machine handles ------------------------------------------------------------ */

static void
machine_handles(struct nvmm_vcpu *live)
{
	struct nvmm_machine old, fresh, none = { .machid = NVMM_MAX_MACHINES - 1 };
	struct nvmm_vcpu v, nv;

	expect_all(NULL, live, false, EINVAL, "NULL machine");
	/* The registry is ours: nobody holds id 127. */
	expect_all(&none, live, false, ENOENT, "free machine id 127");

	T_CHECK(nvmm_machine_create(&old));
	T_CHECK(nvmm_vcpu_create(&old, 0, &v));
	T_CHECK(nvmm_machine_destroy(&old));
	expect_all(&old, &v, false, ENOENT, "destroyed machine");
	check_stop_stale(&v, "vCPU of a destroyed machine");

	/* The lowest free id: the one the destroyed machine had. */
	T_CHECK(nvmm_machine_create(&fresh));
	t_eq_u64(fresh.machid, old.machid, "the id is handed out again");
	expect_all(&old, &v, false, ENOENT, "stale handle of a reused id");
	t_ok(nvmm_vcpu_create(&fresh, 0, &nv) == 0,
	    "the new machine under that id works");
	t_errno(nvmm_vcpu_getstate(&fresh, &v, NVMM_X64_STATE_GPRS), ENOENT,
	    "the old machine's vCPU 0 is not the new machine's vCPU 0");
	T_CHECK(nvmm_machine_destroy(&fresh));
}

int
main(void)
{
	struct nvmm_machine live, other;
	struct nvmm_vcpu live_vcpu;
	pid_t child;
	void *p;
	int fd;

	api_private_rundir("handles");
	child = before_init_start(&fd);
	t_require_nvmm();
	t_plan(1 + NCALLS + 6 +			/* before init */
	    8 + NCALLS +			/* every entry point */
	    NVCPU_CALLS + 1 + 2 * NVCPU_CALLS +	/* NULL, missing, range */
	    NVCPU_CALLS + 1 + NVCPU_CALLS + 1 +	/* destroyed, other */
	    NCALLS * 2 + NCALLS + 1 + 1 + NCALLS + 2);	/* machines */
	before_init_check(child, fd);

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	hva = (uintptr_t)p;

	T_CHECK(nvmm_machine_create(&live));
	T_CHECK(nvmm_machine_create(&other));
	T_CHECK(nvmm_vcpu_create(&live, 2, &live_vcpu));
	every_entry_point(&live_vcpu);
	vcpu_handles(&live, &other);
	machine_handles(&live_vcpu);
	T_CHECK(nvmm_machine_destroy(&other));
	T_CHECK(nvmm_machine_destroy(&live));
	return t_done();
}
