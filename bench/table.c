/*
 * The one table: rows collected while measuring, printed at the end.
 * A row with a target also checks NVMM's promise of one syscall per exit.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define MAX_ROWS	64

struct row {
	const char *section;	/* non-NULL: a heading line */
	bool ref;		/* compare libnvmm with r.ref, not r.raw */
	const char *name;
	const char *unit;
	double scale;
	struct result r;
	double target;
};

static struct row rows[MAX_ROWS];
static unsigned int nrows;

static struct row *
row_new(void)
{
	if (nrows == MAX_ROWS)
		die("too many table rows");
	return &rows[nrows++];
}

void
table_section(const char *title)
{
	row_new()->section = title;
}

void
table_row(const char *name, const char *unit, double scale,
    const struct result *r, double target)
{
	struct row *w = row_new();

	w->name = name;
	w->unit = unit;
	w->scale = scale;
	w->r = *r;
	w->target = target;
}

void
table_ref_row(const char *ref_name, const char *unit, double scale,
    const struct result *r, double target)
{
	table_row(ref_name, unit, scale, r, target);
	rows[nrows - 1].ref = true;
	rows[nrows - 1].r.raw = r->ref;
	rows[nrows - 1].r.q = r->q_ref;
	rows[nrows - 1].r.counted = false;	/* counts: see the row above */
}

void
table_aa_row(const char *name, const char *unit, double scale,
    const struct result *r)
{
	table_row(name, unit, scale, r, 0);
	rows[nrows - 1].r.raw = r->ref;
	rows[nrows - 1].r.lib = r->aa;
	rows[nrows - 1].r.q = r->q_aa;
	rows[nrows - 1].r.counted = false;
}

/* ---- Printing -------------------------------------------------------------------- */

static void
fmt_value(char *buf, size_t len, double v, const struct row *w)
{
	double x = v / w->scale;
	int prec = (fabs(x) >= 100 || x == 0) ? 0 : (fabs(x) >= 10 ? 1 : 2);

	snprintf(buf, len, "%.*f %s", prec, x, w->unit);
}

static void
fmt_counts(char *buf, size_t len, double raw, double lib, bool counted)
{
	/* Differences of counts can come out as -0.00. */
	if (fabs(raw) < 0.005)
		raw = 0;
	if (fabs(lib) < 0.005)
		lib = 0;
	if (!counted)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f / %.2f", raw, lib);
}

/*
 * Against the target, the interval decides: "ok" and "MISS" only when all
 * of it is on one side, "ok?" or "MISS?" (by the median) when it straddles.
 */
static const char *
verdict(const struct row *w, double ratio)
{
	bool sc_ok = !w->r.counted ||
	    (fabs(w->r.sc_lib.all - 1) < 0.005 && fabs(w->r.sc_lib.ioctl - 1) < 0.005);
	const struct ratio *q = &w->r.q;

	if (w->target <= 0)
		return "";
	if (!sc_ok)
		return "MISS (syscalls)";
	if (q->n == 0)
		return ratio <= w->target ? "ok" : "MISS";
	if (q->hi <= w->target)
		return "ok";
	if (q->lo > w->target)
		return "MISS";
	return ratio <= w->target ? "ok?" : "MISS?";
}

/* Per-round pairs: their median ratio; else the ratio of the medians. */
static double
row_ratio(const struct row *w)
{
	if (w->r.q.n > 0)
		return w->r.q.mid;
	return w->r.raw > 0 ? w->r.lib / w->r.raw : 0;
}

static void
print_row(const struct row *w)
{
	char raw[32], lib[32], ratio[16], ci[24], sc[32], io[32];
	double q = row_ratio(w);

	fmt_value(raw, sizeof(raw), w->r.raw, w);
	fmt_value(lib, sizeof(lib), w->r.lib, w);
	if (w->r.raw > 0 && w->target >= 0)
		snprintf(ratio, sizeof(ratio), "%.3f", q);
	else
		snprintf(ratio, sizeof(ratio), "-");
	if (w->r.q.n > 0 && w->target >= 0)
		snprintf(ci, sizeof(ci), "%.3f-%.3f", w->r.q.lo, w->r.q.hi);
	else
		snprintf(ci, sizeof(ci), "-");
	fmt_counts(sc, sizeof(sc), w->r.sc_raw.all, w->r.sc_lib.all,
	    w->r.counted);
	fmt_counts(io, sizeof(io), w->r.sc_raw.ioctl, w->r.sc_lib.ioctl,
	    w->r.counted);
	printf("  %-40s %12s %12s %7s %13s %13s %13s  %s\n", w->name, raw, lib,
	    ratio, ci, sc, io, verdict(w, q));
}

void
table_print(const char *title)
{
	printf("\n%s\n", title);
	printf("  %-40s %12s %12s %7s %13s %13s %13s  %s\n", "benchmark",
	    "raw KVM", "libnvmm", "lib/raw", "95% interval", "syscalls/op",
	    "ioctls/op", "target");
	for (unsigned int i = 0; i < nrows; i++) {
		if (rows[i].section != NULL)
			printf("%s\n", rows[i].section);
		else
			print_row(&rows[i]);
	}
	printf("(times: medians of each side's batches; lib/raw: the median of "
	    "per-round ratios, rounds of one batch per side in rotating "
	    "order, with its 95%% interval (order statistics); syscalls/ioctls "
	    "per op are raw / libnvmm, counted by the kernel; target: ratio "
	    "<= 1.03 and 1 syscall per exit, ok?/MISS?: the interval "
	    "straddles it)\n");
}
