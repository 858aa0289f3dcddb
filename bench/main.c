/*
 * nvmm-bench: libnvmm against raw KVM, measured in one run, one table.
 *
 *   nvmm-bench [--quick] [--only insns|exits|state|life|map|memory]...
 *   nvmm-bench --loop pio|mmio|hlt|rdmsr raw|lib N
 *   nvmm-bench --insns-test
 *
 * The second form runs one exit loop for N exits and prints nothing, for
 * an outside syscall counter (bench/run --strace). The third checks the
 * instruction budgets as TAP (meson test perf-insns); insns.c runs its
 * counting children as nvmm-bench --insns-child.
 * Machines register under NVMM_RUNDIR; when it is unset a private
 * temporary directory is used (the 128-machine row needs every id).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

bool bench_counting;
unsigned int bench_reps_scale = 1;
static double timer_overhead;	/* two now_ns() back to back */
static char rundir[64];

/* ---- The runner ------------------------------------------------------------ */

static void
timer_calibrate(void)
{
	double s[1001];

	for (unsigned int i = 0; i < 1001; i++) {
		uint64_t t0 = now_ns();

		s[i] = (double)(now_ns() - t0);
	}
	timer_overhead = median(s, 1001);
}

double
samples_median(double *s, unsigned int n)
{
	double m = median(s, n) - timer_overhead;

	return m > 0 ? m : 0;
}

static struct sc_count
pair_count(measure_fn fn, void *ctx, const struct pair *p)
{
	struct sc_count c;

	bench_counting = true;
	sc_start();
	if (p->isolated)
		sc_pause();	/* the function resumes around its operation */
	(void)fn(ctx, p->count_n);
	c = sc_stop(p->count_n);
	bench_counting = false;
	return c;
}

/* The sides in the order of batch i: rotate, so drifts hit all alike. */
static void
pair_batch(const struct pair *p, unsigned int i, double *out)
{
	measure_fn fn[3] = { p->raw, p->lib, p->ref };
	void *ctx[3] = { p->raw_ctx, p->lib_ctx, p->ref_ctx };
	unsigned int nsides = p->ref != NULL ? 3 : 2;

	for (unsigned int k = 0; k < nsides; k++) {
		unsigned int s = (i + k) % nsides;

		out[s] = fn[s](ctx[s], p->n);
	}
}

struct result
pair_run(const struct pair *p)
{
	unsigned int reps = p->reps / bench_reps_scale;
	double v[3][reps ? reps : 1];
	struct result r = { 0 };

	if (reps == 0)
		reps = 1;
	/* Warm every side (caches, first faults) before timing. */
	(void)p->raw(p->raw_ctx, p->n < 16 ? p->n : 16);
	(void)p->lib(p->lib_ctx, p->n < 16 ? p->n : 16);
	if (p->ref != NULL)
		(void)p->ref(p->ref_ctx, p->n < 16 ? p->n : 16);
	for (unsigned int i = 0; i < reps; i++) {
		double out[3] = { 0, 0, 0 };

		pair_batch(p, i, out);
		for (unsigned int s = 0; s < 3; s++)
			v[s][i] = out[s];
	}
	r.raw = median(v[0], reps);
	r.lib = median(v[1], reps);
	r.ref = median(v[2], reps);
	if (p->count_n != 0 && sc_available()) {
		r.sc_raw = pair_count(p->raw, p->raw_ctx, p);
		r.sc_lib = pair_count(p->lib, p->lib_ctx, p);
		r.counted = true;
	}
	return r;
}

/* ---- The run directory ----------------------------------------------------------- */

static void
rundir_remove(void)
{
	DIR *d;
	struct dirent *e;
	char path[sizeof(rundir) + 300];

	if (rundir[0] == '\0' || (d = opendir(rundir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", rundir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(rundir);
}

static void
rundir_setup(void)
{
	const char *dir = getenv("NVMM_RUNDIR");

	if (dir != NULL && dir[0] != '\0')
		return;
	/*
	 * tmpfs, as /run is on most systems: on a disk file system, closing
	 * a released (unlinked) entry frees an inode and costs a millisecond.
	 */
	snprintf(rundir, sizeof(rundir), "/dev/shm/nvmm-bench.XXXXXX");
	if (mkdtemp(rundir) == NULL) {
		snprintf(rundir, sizeof(rundir), "/tmp/nvmm-bench.XXXXXX");
		if (mkdtemp(rundir) == NULL)
			die("mkdtemp: %s", strerror(errno));
	}
	setenv("NVMM_RUNDIR", rundir, 1);
	atexit(rundir_remove);
}

/* ---- main ---------------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*fn)(void);
} parts[] = {
	{ "insns", bench_insns },	/* prints its own table */
	{ "exits", bench_exits },
	{ "state", bench_state },
	{ "life", bench_lifetimes },
	{ "map", bench_big_map },
	{ "memory", bench_memory },
};
#define NPARTS	(sizeof(parts) / sizeof(parts[0]))

static void
usage(void)
{
	fprintf(stderr, "usage: nvmm-bench [--quick] [--only PART]...\n"
	    "       nvmm-bench --loop pio|mmio|hlt|rdmsr raw|lib N\n"
	    "       nvmm-bench --insns-test\n"
	    "parts: insns exits state life map memory\n");
	exit(2);
}

static void
parse_args(int argc, char **argv, bool *want)
{
	bool any = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			bench_reps_scale = 4;
			continue;
		}
		if (strcmp(argv[i], "--only") != 0 || i + 1 == argc)
			usage();
		i++;
		for (size_t j = 0; j < NPARTS; j++) {
			if (strcmp(argv[i], parts[j].name) == 0)
				want[j] = any = true;
		}
	}
	for (size_t j = 0; j < NPARTS && !any; j++)
		want[j] = true;
}

int
main(int argc, char **argv)
{
	bool want[NPARTS] = { false };
	struct utsname u;
	char title[256];

	rundir_setup();
	if (raw_init() == -1 || nvmm_init() == -1) {
		if (argc == 2 && strcmp(argv[1], "--insns-test") == 0) {
			printf("1..0 # SKIP /dev/kvm: %s\n", strerror(errno));
			return 0;
		}
		die("/dev/kvm: %s (need access to KVM)", strerror(errno));
	}
	if (argc == 5 && strcmp(argv[1], "--loop") == 0) {
		if (bench_exit_loop(argv[2], argv[3],
		    (unsigned int)strtoul(argv[4], NULL, 0)) != 0)
			usage();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--insns-test") == 0)
		return bench_insns_tap();
	if (argc >= 3 && strcmp(argv[1], "--insns-child") == 0) {
		if (bench_insns_child(argv[2], argc > 3 ? argv[3] : NULL) != 0)
			usage();
		return 0;
	}
	parse_args(argc, argv, want);
	timer_calibrate();
	/* Memory first: its children fork from a process not yet grown. */
	for (size_t j = 0; j < NPARTS; j++) {
		if (want[j] && parts[j].fn == bench_memory)
			bench_memory_measure();
	}
	for (size_t j = 0; j < NPARTS; j++) {
		if (want[j])
			parts[j].fn();
	}
	uname(&u);
	snprintf(title, sizeof(title), "libnvmm vs raw KVM, Linux %s, %s reps",
	    u.release, bench_reps_scale > 1 ? "quick" : "full");
	table_print(title);
	return 0;
}
