/*
 * Shared by the fuzzers (see fuzz.h): input reading, process set-up,
 * timer-bounded runs and exit checks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

/* Older glibc headers name the field only through the union. */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id	_sigev_un._tid
#endif

/* ---- The input ---------------------------------------------------------------- */

bool
fz_empty(const struct fz_input *in)
{
	return in->n == 0;
}

void
fz_bytes(struct fz_input *in, void *buf, size_t len)
{
	size_t take = len < in->n ? len : in->n;

	memcpy(buf, in->p, take);
	memset((uint8_t *)buf + take, 0, len - take);
	in->p += take;
	in->n -= take;
}

uint8_t
fz_u8(struct fz_input *in)
{
	uint8_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

uint16_t
fz_u16(struct fz_input *in)
{
	uint16_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

uint32_t
fz_u32(struct fz_input *in)
{
	uint32_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

uint64_t
fz_u64(struct fz_input *in)
{
	uint64_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

unsigned int
fz_below(struct fz_input *in, unsigned int n)
{
	return fz_u8(in) % n;
}

/* ---- Checks ----------------------------------------------------------------------- */

static const uint8_t *fz_data;
static size_t fz_size;

void
fz_begin(const uint8_t *data, size_t size)
{
	fz_data = data;
	fz_size = size;
}

static void
fz_save_input(void)
{
	const char *dir = getenv("FUZZ_ARTIFACTS");
	char path[4096];
	FILE *fp;

	if (dir == NULL || fz_data == NULL)
		return;
	snprintf(path, sizeof(path), "%s/check-failed-%d", dir, (int)getpid());
	if ((fp = fopen(path, "wb")) == NULL)
		return;
	fwrite(fz_data, 1, fz_size, fp);
	fclose(fp);
	fprintf(stderr, "input saved to %s\n", path);
}

void
fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: check failed: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fz_save_input();
	abort();
}

void
fz_check_result(const char *what, int r, int err, const int *allowed)
{
	FZ_CHECK(r == 0 || r == -1, "%s returned %d", what, r);
	if (r == 0)
		return;
	for (const int *e = allowed; *e != 0; e++) {
		if (err == *e)
			return;
	}
	fz_fail(__FILE__, __LINE__, "errno allowed", "%s: errno %d (%s)", what,
	    err, strerror(err));
}

/* Exits seen, by reason, printed at exit when FUZZ_STATS is set. */
static const struct {
	uint64_t reason;
	const char *name;
} fz_reasons[] = {
	{ NVMM_VCPU_EXIT_NONE, "NONE" }, { NVMM_VCPU_EXIT_STOPPED, "STOPPED" },
	{ NVMM_VCPU_EXIT_INVALID, "INVALID" },
	{ NVMM_VCPU_EXIT_MEMORY, "MEMORY" }, { NVMM_VCPU_EXIT_IO, "IO" },
	{ NVMM_VCPU_EXIT_SHUTDOWN, "SHUTDOWN" },
	{ NVMM_VCPU_EXIT_INT_READY, "INT_READY" },
	{ NVMM_VCPU_EXIT_NMI_READY, "NMI_READY" },
	{ NVMM_VCPU_EXIT_HALTED, "HALTED" },
	{ NVMM_VCPU_EXIT_TPR_CHANGED, "TPR_CHANGED" },
	{ NVMM_VCPU_EXIT_RDMSR, "RDMSR" }, { NVMM_VCPU_EXIT_WRMSR, "WRMSR" },
	{ NVMM_VCPU_EXIT_MONITOR, "MONITOR" }, { NVMM_VCPU_EXIT_MWAIT, "MWAIT" },
	{ NVMM_VCPU_EXIT_CPUID, "CPUID" },
};
#define FZ_NREASONS	(sizeof(fz_reasons) / sizeof(fz_reasons[0]))
static unsigned long fz_seen[FZ_NREASONS];

static void
fz_stats_print(void)
{
	fprintf(stderr, "fuzz: exits seen:");
	for (size_t i = 0; i < FZ_NREASONS; i++)
		if (fz_seen[i] != 0)
			fprintf(stderr, " %s %lu", fz_reasons[i].name, fz_seen[i]);
	fputc('\n', stderr);
}

static bool
exit_reason_known(uint64_t reason)
{
	for (size_t i = 0; i < FZ_NREASONS; i++) {
		if (fz_reasons[i].reason == reason) {
			fz_seen[i]++;
			return true;
		}
	}
	return false;
}

void
fz_check_exit(const struct nvmm_vcpu_exit *exit)
{
	const struct nvmm_x86_exit_io *io = &exit->u.io;
	int prot = exit->u.mem.prot;

	FZ_CHECK(exit_reason_known(exit->reason), "exit reason 0x%llx",
	    (unsigned long long)exit->reason);
	if (exit->reason == NVMM_VCPU_EXIT_IO) {
		FZ_CHECK(io->operand_size == 1 || io->operand_size == 2 ||
		    io->operand_size == 4, "io operand size %u",
		    io->operand_size);
		FZ_CHECK(io->address_size == 0 || io->address_size == 2 ||
		    io->address_size == 4 || io->address_size == 8,
		    "io address size %u", io->address_size);
		FZ_CHECK(io->seg >= -1 && io->seg < NVMM_X64_SEG_GDT,
		    "io seg %d", io->seg);
		FZ_CHECK(!io->rep || io->str, "rep without str");
	}
	if (exit->reason == NVMM_VCPU_EXIT_MEMORY)
		FZ_CHECK(prot == PROT_READ || prot == PROT_WRITE ||
		    prot == PROT_EXEC, "memory exit prot %d", prot);
}

/* ---- Bounded runs ---------------------------------------------------------------- */

static timer_t fz_timer;
static struct nvmm_vcpu *_Atomic fz_target;

/* The run outlived its time: stop the vCPU, as an emulator's timer would. */
static void
fz_stop_handler(int sig)
{
	struct nvmm_vcpu *vcpu = atomic_load(&fz_target);
	int saved = errno;

	(void)sig;
	if (vcpu != NULL)
		(void)nvmm_vcpu_stop(vcpu);
	errno = saved;
}

static void
fz_timer_setup(void)
{
	struct sigaction sa;
	struct sigevent sev;
	int sig = SIGRTMIN + 2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fz_stop_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) == -1) {
		perror("fuzz: sigaction");
		exit(1);
	}
	/* To this thread: the one that runs the vCPUs. */
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = sig;
	sev.sigev_notify_thread_id = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &fz_timer) == -1) {
		perror("fuzz: timer_create");
		exit(1);
	}
}

static void
fz_timer_set(unsigned int usec)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = usec / 1000000;
	its.it_value.tv_nsec = (long)(usec % 1000000) * 1000;
	(void)timer_settime(fz_timer, 0, &its, NULL);
}

int
fz_run(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu, unsigned int usec)
{
	int r, err;

	/* Only handles whose stop pointer is sane: stop trusts it. */
	atomic_store(&fz_target, vcpu);
	fz_timer_set(usec ? usec : 1);
	r = nvmm_vcpu_run(mach, vcpu);
	err = errno;
	fz_timer_set(0);
	atomic_store(&fz_target, NULL);
	errno = err;
	return r;
}

/* ---- Process ------------------------------------------------------------------- */

static char fz_rundir[64];

static void
fz_rundir_remove(void)
{
	char path[384];
	struct dirent *d;
	DIR *dir;

	/* Records go with their machines; a crash leaves some, and "slots". */
	if ((dir = opendir(fz_rundir)) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", fz_rundir,
			    d->d_name);
			(void)unlink(path);
		}
		closedir(dir);
	}
	(void)rmdir(fz_rundir);
}

/*
 * Always a registry of our own, even under the test suite's NVMM_RUNDIR:
 * the fuzzers check that it is empty once their machines are destroyed.
 */
static void
fz_private_rundir(void)
{
	snprintf(fz_rundir, sizeof(fz_rundir), "/tmp/nvmm-fuzz.XXXXXX");
	if (mkdtemp(fz_rundir) == NULL) {
		perror("fuzz: mkdtemp");
		exit(1);
	}
	setenv("NVMM_RUNDIR", fz_rundir, 1);
	atexit(fz_rundir_remove);
}

void
fz_setup(void)
{
	int null;

	fz_private_rundir();
	if (nvmm_init() == -1) {
		fprintf(stderr, "fuzz: nvmm_init: %s (needs /dev/kvm)\n",
		    strerror(errno));
		exit(1);
	}
	/* nvmm_vcpu_dump() prints; libFuzzer reports on stderr. */
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1) {
		fflush(stdout);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	fz_timer_setup();
	if (getenv("FUZZ_STATS") != NULL)
		atexit(fz_stats_print);
}
