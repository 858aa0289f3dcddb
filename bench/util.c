/*
 * Timing, statistics, error exits, and the syscall counter: two perf
 * tracepoint counters (raw_syscalls:sys_enter, syscalls:sys_enter_ioctl)
 * on this thread, so the kernel itself counts what a loop enters.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* ---- Time and statistics ---------------------------------------------------- */

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: no syscall */
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v in place. */
double
median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The rank k (1-based) such that the k-th smallest and the k-th largest
 * of n samples bound the median with at least 95% confidence: the largest
 * k with P(Binomial(n, 1/2) < k) <= 2.5%. It assumes nothing about the
 * distribution, only independent pairs. 0: n < 6, no such interval.
 */
static size_t
median_ci_rank(size_t n)
{
	double cdf = 0, lnorm = lgamma((double)n + 1) - (double)n * log(2);
	size_t k = 0;

	for (size_t j = 0; j < n; j++) {
		cdf += exp(lnorm - lgamma((double)j + 1) -
		    lgamma((double)(n - j) + 1));
		if (cdf > 0.025)
			break;
		k = j + 1;
	}
	return k;
}

struct ratio
median_ci(double *q, size_t n)
{
	struct ratio r = { 0, 0, 0, 0 };
	size_t k;

	if (n == 0)
		return r;
	r.mid = median(q, n);	/* sorts q */
	k = median_ci_rank(n);
	/* Too few for 95%: the whole range, wider than that. */
	r.lo = q[k ? k - 1 : 0];
	r.hi = q[k ? n - k : n - 1];
	r.n = (unsigned int)n;
	return r;
}

struct ratio
ratio_estimate(const double *num, const double *den, size_t n)
{
	double *q = malloc((n ? n : 1) * sizeof(*q));
	struct ratio r;
	size_t m = 0;

	if (q == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		if (den[i] > 0)
			q[m++] = num[i] / den[i];
	}
	r = median_ci(q, m);
	free(q);
	return r;
}

/* ---- Errors ----------------------------------------------------------------- */

void
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("nvmm-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void
die_errno(const char *what)
{
	die("%s: %s", what, strerror(errno));
}

/* ---- Syscall counting ------------------------------------------------------- */

static int sc_leader = -1, sc_member = -1;
static struct sc_count sc_overhead;	/* what a pause counts (itself) */
static unsigned int sc_pauses;		/* pauses made while counting */
static bool sc_on;

static long
sc_tracepoint_id(const char *event)
{
	static const char *const roots[] = {
		"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events",
	};
	char path[256];
	long id = -1;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]) && id < 0; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s/id", roots[i], event);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%ld", &id) != 1)
			id = -1;
		fclose(f);
	}
	return id;
}

static int
sc_open(const char *event, int group)
{
	struct perf_event_attr attr;
	long id = sc_tracepoint_id(event);

	if (id < 0)
		return -1;
	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = sizeof(attr);
	attr.config = (uint64_t)id;
	attr.disabled = (group == -1);
	attr.read_format = PERF_FORMAT_GROUP;
	return (int)syscall(SYS_perf_event_open, &attr, 0, -1, group, 0);
}

static struct sc_count
sc_read_raw(void)
{
	uint64_t buf[3] = { 0, 0, 0 };	/* nr, sys_enter, sys_enter_ioctl */

	if (read(sc_leader, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		die("reading the syscall counters: %s", strerror(errno));
	return (struct sc_count){ (double)buf[1], (double)buf[2] };
}

bool
sc_available(void)
{
	static int probed;

	if (probed++)
		return sc_leader >= 0;
	sc_leader = sc_open("raw_syscalls/sys_enter", -1);
	if (sc_leader >= 0)
		sc_member = sc_open("syscalls/sys_enter_ioctl", sc_leader);
	if (sc_member < 0) {
		if (sc_leader >= 0)
			close(sc_leader);
		sc_leader = -1;
		return false;
	}
	/* Measure what a pause counts, to take it out later. */
	sc_start();
	sc_pause();
	sc_overhead = sc_read_raw();
	return true;
}

void
sc_start(void)
{
	sc_pauses = 0;
	ioctl(sc_leader, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
	sc_resume();
}

/* The disabling ioctl enters while counting: it counts itself, once. */
void
sc_pause(void)
{
	if (!sc_on)
		return;
	ioctl(sc_leader, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
	sc_on = false;
	sc_pauses++;
}

/* The enabling ioctl enters before counting starts: it counts nothing. */
void
sc_resume(void)
{
	ioctl(sc_leader, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
	sc_on = true;
}

struct sc_count
sc_stop(unsigned long ops)
{
	struct sc_count c;

	sc_pause();
	c = sc_read_raw();
	c.all = (c.all - sc_pauses * sc_overhead.all) / (double)ops;
	c.ioctl = (c.ioctl - sc_pauses * sc_overhead.ioctl) / (double)ops;
	return c;
}
