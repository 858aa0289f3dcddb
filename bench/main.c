/*
 * nvmm-bench: libnvmm against raw KVM, measured in one run, one table.
 *
 *   nvmm-bench [--quick] [--aa [NS]] [--only insns|exits|state|life|map|memory]...
 *   nvmm-bench --loop pio|mmio|hlt|rdmsr raw|lib N
 *   nvmm-bench --insns-test
 *
 * --aa checks the estimator: each exit row also times a second copy of its
 * reference, NS ns of spin added to each of its exits (0 when omitted),
 * and prints their ratio, which must come out at 1.00 (NS = 0) or show
 * the spin; each lifetime row a copy of its raw side, without spin.
 * The second form runs one exit loop for N exits and prints nothing, for
 * an outside syscall counter (bench/run --strace). The exit and lifetime
 * rows run each block of rounds in a process of its own, nvmm-bench
 * --block ROW FIRST ROUNDS [AA_NS], which prints its batches' times. The
 * third form checks the instruction budgets as TAP (meson test
 * perf-insns); insns.c runs its counting children as nvmm-bench
 * --insns-child.
 * Machines register under NVMM_RUNDIR; when it is unset a private
 * temporary directory is used (the 128-machine row needs every id).
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

bool bench_counting;
unsigned int bench_reps_scale = 1;
bool bench_aa;
unsigned int bench_aa_spin_ns;
extern char **environ;
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

/*
 * The sides in round i's order: the i-th of their orders (i modulo
 * nsides!, decoded as a factorial-base number), so that over a whole
 * number of cycles each side runs in each position, and before and after
 * each other side, equally often.
 */
static void
round_order(unsigned int i, unsigned int nsides, unsigned int *order)
{
	unsigned int left[4] = { 0, 1, 2, 3 };

	for (unsigned int k = 0; k < nsides; k++) {
		unsigned int m = nsides - k, j = i % m;

		i /= m;
		order[k] = left[j];
		for (; j + 1 < m; j++)
			left[j] = left[j + 1];
	}
}

static unsigned int
factorial(unsigned int n)
{
	return n <= 1 ? 1 : n * factorial(n - 1);
}

/* Per block, whole cycles of orders: the reps asked for, rounded up. */
static unsigned int
block_rounds(const struct pair *p, unsigned int nsides, unsigned int blocks)
{
	unsigned int reps = p->reps / bench_reps_scale, f = factorial(nsides);

	reps = (reps + blocks - 1) / blocks;
	if (reps == 0)
		reps = 1;
	return (reps + f - 1) / f * f;
}

/*
 * num / den per round; with blocks, each block's median is one sample
 * (rounds within a block share its objects, so are not independent of
 * each other as to where those objects lie).
 */
static struct ratio
pair_ratio(const double *num, const double *den, unsigned int blocks,
    unsigned int per_block)
{
	double mids[blocks];

	if (blocks == 1)
		return ratio_estimate(num, den, per_block);
	for (unsigned int b = 0; b < blocks; b++)
		mids[b] = ratio_estimate(num + b * per_block,
		    den + b * per_block, per_block).mid;
	return median_ci(mids, blocks);
}

/* The sides' functions and contexts, in v's order; returns how many. */
static unsigned int
pair_sides(const struct pair *p, measure_fn *fn, void **ctx)
{
	if (p->raw_base != NULL) {
		if (p->ref != NULL || p->aa != NULL)
			die("a pair with bases has no reference");
		fn[2] = p->raw_base, ctx[2] = p->raw_ctx;
		fn[3] = p->lib_base, ctx[3] = p->lib_ctx;
	} else if (p->ref == NULL && p->aa != NULL) {
		/* A copy of raw: the third side. */
		fn[2] = p->aa, ctx[2] = p->aa_ctx;
		fn[3] = NULL, ctx[3] = NULL;
	} else {
		fn[2] = p->ref, ctx[2] = p->ref_ctx;
		fn[3] = p->aa, ctx[3] = p->aa_ctx;
	}
	fn[0] = p->raw, ctx[0] = p->raw_ctx;
	fn[1] = p->lib, ctx[1] = p->lib_ctx;
	return fn[3] != NULL ? 4 : fn[2] != NULL ? 3 : 2;
}

void
pair_rounds(const struct pair *p, unsigned int first, unsigned int rounds,
    double *v, unsigned int stride)
{
	measure_fn fn[4];
	void *ctx[4];
	unsigned int nsides = pair_sides(p, fn, ctx);

	/* Warm every side (caches, first faults) before timing. */
	for (unsigned int s = 0; s < nsides; s++)
		(void)fn[s](ctx[s], p->n < 16 ? p->n : 16);
	for (unsigned int i = 0; i < rounds; i++) {
		unsigned int order[4];

		round_order(first + i, nsides, order);
		for (unsigned int k = 0; k < nsides; k++) {
			unsigned int s = order[k];

			v[s * stride + i] = fn[s](ctx[s], p->n);
		}
	}
}

void
pair_block_print(const struct pair *p, unsigned int first, unsigned int rounds)
{
	double *v = calloc(4 * (size_t)rounds, sizeof(*v));

	if (v == NULL || rounds == 0)
		die("--block: no memory or no rounds");
	pair_rounds(p, first, rounds, v, rounds);
	for (unsigned int i = 0; i < rounds; i++)
		printf("%.1f %.1f %.1f %.1f\n", v[i], v[rounds + i],
		    v[2 * rounds + i], v[3 * rounds + i]);
	free(v);
}

/*
 * A block of p's rounds in a new process, nvmm-bench --block p->block
 * ..., which makes the row's objects anew: its batches' times read back
 * into v as pair_rounds() would have stored them.
 */
static void
pair_block_spawn(const struct pair *p, unsigned int first,
    unsigned int rounds, double *v, unsigned int stride)
{
	char a_first[16], a_rounds[16], a_spin[16];
	char *argv[] = { "/proc/self/exe", "--block", (char *)p->block,
	    a_first, a_rounds, bench_aa ? a_spin : NULL, NULL };
	posix_spawn_file_actions_t fa;
	int fd[2], status;
	pid_t pid;
	FILE *f;

	snprintf(a_first, sizeof(a_first), "%u", first);
	snprintf(a_rounds, sizeof(a_rounds), "%u", rounds);
	snprintf(a_spin, sizeof(a_spin), "%u", bench_aa_spin_ns);
	fflush(stdout);
	if (pipe(fd) == -1)
		die_errno("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fd[0]);
	posix_spawn_file_actions_addclose(&fa, fd[1]);
	errno = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (errno != 0)
		die_errno("posix_spawn nvmm-bench --block");
	close(fd[1]);
	if ((f = fdopen(fd[0], "r")) == NULL)
		die_errno("fdopen");
	for (unsigned int i = 0; i < rounds; i++) {
		for (unsigned int s = 0; s < 4; s++) {
			if (fscanf(f, "%lf", &v[s * stride + i]) != 1)
				die("%s: a block's process ended early",
				    p->block);
		}
	}
	fclose(f);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("%s: a block's process failed", p->block);
}

/* Each side less its base, round by round; the bases' own rows zeroed. */
static void
pair_less_bases(double *v, unsigned int rounds)
{
	for (unsigned int i = 0; i < rounds; i++) {
		v[i] -= v[2 * rounds + i];
		v[rounds + i] -= v[3 * rounds + i];
		v[2 * rounds + i] = v[3 * rounds + i] = 0;
	}
}

static struct sc_count
sc_less(struct sc_count a, struct sc_count b)
{
	return (struct sc_count){ a.all - b.all, a.ioctl - b.ioctl };
}

/* Syscalls per op of each side (less its base's), if they can be counted. */
static void
pair_counts(const struct pair *p, struct result *r)
{
	if (p->count_n == 0 || !sc_available())
		return;
	r->sc_raw = pair_count(p->raw, p->raw_ctx, p);
	r->sc_lib = pair_count(p->lib, p->lib_ctx, p);
	if (p->raw_base != NULL) {
		r->sc_raw = sc_less(r->sc_raw,
		    pair_count(p->raw_base, p->raw_ctx, p));
		r->sc_lib = sc_less(r->sc_lib,
		    pair_count(p->lib_base, p->lib_ctx, p));
	}
	r->counted = true;
}

struct result
pair_run(const struct pair *p)
{
	measure_fn fn[4];
	void *ctx[4];
	unsigned int nsides = pair_sides(p, fn, ctx);
	unsigned int blocks = p->blocks > 1 && p->block != NULL ? p->blocks : 1;
	bool aa_of_raw = p->ref == NULL && p->aa != NULL && p->raw_base == NULL;
	unsigned int per_block = block_rounds(p, nsides, blocks);
	unsigned int rounds = per_block * blocks;
	double *v = calloc(4 * (size_t)rounds, sizeof(*v));
	struct result r = { 0 };

	if (v == NULL)
		die("out of memory");
	for (unsigned int b = 0; b < blocks; b++) {
		unsigned int first = b * per_block;

		if (blocks > 1)
			pair_block_spawn(p, first, per_block, v + first,
			    rounds);
		else
			pair_rounds(p, first, per_block, v + first, rounds);
	}
	if (p->raw_base != NULL)
		pair_less_bases(v, rounds);
	r.q = pair_ratio(v + rounds, v, blocks, per_block);
	if (aa_of_raw) {
		r.q_aa = pair_ratio(v + 2 * rounds, v, blocks, per_block);
	} else if (p->raw_base == NULL) {
		if (fn[2] != NULL)
			r.q_ref = pair_ratio(v + rounds, v + 2 * rounds,
			    blocks, per_block);
		if (fn[3] != NULL)
			r.q_aa = pair_ratio(v + 3 * rounds, v + 2 * rounds,
			    blocks, per_block);
	}
	/* Each side's own median, for the time columns (sorts v). */
	r.raw = median(v, rounds);
	r.lib = median(v + rounds, rounds);
	r.ref = median(v + 2 * rounds, rounds);
	r.aa = median(v + 3 * rounds, rounds);
	if (aa_of_raw)
		r.aa = r.ref, r.ref = r.raw;	/* the A/A line's columns */
	free(v);
	/* Blocks timed elsewhere left this process's sides cold: warm them. */
	if (blocks > 1)
		pair_rounds(p, 0, 0, NULL, 0);
	pair_counts(p, &r);
	return r;
}

/*
 * One CPU for the whole run: a migration between two batches would give
 * one side cold caches, and the per-round pairs assume both sides ran on
 * the same CPU. The one we are on, as the scheduler chose it.
 */
static int
pin_cpu(void)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		return -1;
	return cpu;
}

static double
load_average(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f != NULL) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
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
	fprintf(stderr, "usage: nvmm-bench [--quick] [--aa [NS]] [--only PART]...\n"
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
		if (strcmp(argv[i], "--aa") == 0) {
			bench_aa = true;
			if (i + 1 < argc && argv[i + 1][0] != '-')
				bench_aa_spin_ns = (unsigned int)strtoul(argv[++i],
				    NULL, 0);
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
	double load0;
	int cpu;

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
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "--block") == 0) {
		unsigned int first = (unsigned int)strtoul(argv[3], NULL, 0);
		unsigned int rounds = (unsigned int)strtoul(argv[4], NULL, 0);

		if (argc == 6) {
			bench_aa = true;
			bench_aa_spin_ns = (unsigned int)strtoul(argv[5], NULL, 0);
		}
		timer_calibrate();
		if (bench_exit_block(argv[2], first, rounds) != 0 &&
		    bench_life_block(argv[2], first, rounds) != 0)
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
	cpu = pin_cpu();
	load0 = load_average();
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
	snprintf(title, sizeof(title), "libnvmm vs raw KVM, Linux %s, %s reps, "
	    "pinned to CPU %d of %ld, load average %.1f -> %.1f", u.release,
	    bench_reps_scale > 1 ? "quick" : "full", cpu,
	    sysconf(_SC_NPROCESSORS_ONLN), load0, load_average());
	table_print(title);
	return 0;
}
