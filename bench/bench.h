/*
 * The benchmark's shared pieces: the guest image both VMMs load, the raw
 * KVM harness, the libnvmm harness, timing, syscall counting and the
 * result table. Every measurement runs raw KVM and libnvmm in the same
 * process, interleaved, so that host noise hits both alike.
 */
#ifndef NVMM_BENCH_H
#define NVMM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmm.h>

/* ---- Guest image (image.c, guests.S) ----------------------------------- */

#include "guest_layout.h"

enum guest {
	GUEST_PIO,	/* out %al, $port forever */
	GUEST_MMIO,	/* movl %eax, G_MMIO forever */
	GUEST_HLT,	/* hlt forever */
	GUEST_RDMSR,	/* rdmsr G_MSR forever */
	GUEST_TOUCH,	/* write one byte per 4 KiB page of G_BIG, then hlt */
	GUEST_COUNT
};

/* Fill ram with tables and code; returns the guest RIP of 'which'. */
uint64_t image_build(uint8_t *ram, enum guest which);

/* ---- Raw KVM (raw.c) ----------------------------------------------------------- */

struct kvm_run;

struct raw_vm {
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
};

int raw_init(void);
/*
 * VM with MSR exits (deny-all filter), RAM at 0, vCPU 0 in long mode;
 * KVM stores the KVM_SYNC_X86_* classes in sync_regs at every exit.
 */
void raw_vm_create(struct raw_vm *, enum guest, uint64_t sync_regs);
void raw_vm_destroy(struct raw_vm *);
/* One KVM_RUN; returns the KVM exit reason. */
uint32_t raw_run(struct raw_vm *);
/* Creation as the brief defines it: VM, vCPU, kvm_run mapping. */
int raw_create_bare(struct raw_vm *, bool with_vcpu);
void raw_destroy_bare(struct raw_vm *);
int raw_map(struct raw_vm *, uint32_t slot, uint64_t gpa, void *hva,
    uint64_t size);
int raw_vm_fd_create(void);

/* State classes, done the classic way: one GET/SET ioctl family each. */
struct raw_state;
struct raw_state *raw_state_alloc(void);
void raw_state_get(struct raw_vm *, struct raw_state *, uint64_t nvmm_class);
void raw_state_set(struct raw_vm *, const struct raw_state *,
    uint64_t nvmm_class);

/* ---- libnvmm (nv.c) ------------------------------------------------------------- */

struct nv_vm {
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	uint8_t *ram;
};

void nv_vm_create(struct nv_vm *, enum guest);
void nv_vm_destroy(struct nv_vm *);
/* nvmm_vcpu_run until an exit other than NONE; returns the reason. */
uint64_t nv_run(struct nv_vm *);

/* ---- Measurement (util.c) ------------------------------------------------------- */

uint64_t now_ns(void);
double median(double *v, size_t n);

/*
 * A ratio from paired batches: the median of the per-pair ratios and a
 * distribution-free 95% interval for it (order statistics). n == 0: no
 * pairs (a row derived from medians); the table then shows lib/raw.
 */
struct ratio {
	double mid, lo, hi;
	unsigned int n;
};
/* The median of q[0..n) and its interval (sorts q). */
struct ratio median_ci(double *q, size_t n);
/* Of num[i] / den[i], for every pair with den[i] > 0. */
struct ratio ratio_estimate(const double *num, const double *den, size_t n);
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_errno(const char *what) __attribute__((noreturn, cold));

/*
 * An API call's -1 ends the bench, naming the call and errno. Inline, as
 * a VMM's own test of a result is: the instruction table counts the
 * program's loop, and a call per check would be the bench's, not libnvmm's.
 */
static inline void
check(int r, const char *what)
{
	if (__builtin_expect(r == -1, 0))
		die_errno(what);
}
extern volatile uint64_t bench_sink;	/* keeps reads of guest data alive */

/* Syscalls entered by this thread, counted by the kernel (perf tracepoints). */
struct sc_count {
	double all;
	double ioctl;
};
bool sc_available(void);
void sc_start(void);
/* Leave a region out of the count (a pause costs nothing counted). */
void sc_pause(void);
void sc_resume(void);
/* Per op since sc_start, the counter's own ioctls taken out. */
struct sc_count sc_stop(unsigned long ops);

/* ---- The runner (main.c) ------------------------------------------------------- */

/*
 * One measurement on both sides: fn(ctx, n) does n operations and returns
 * the cost of one (ns). A round runs one batch of every side, the sides in
 * each of their orders in turn, so that neither position nor neighbour
 * favours a side; the ratios are taken per round, where both batches saw
 * the same host, then their median. A counting batch follows.
 */
typedef double (*measure_fn)(void *ctx, unsigned int n);

struct pair {
	measure_fn raw, lib;
	void *raw_ctx, *lib_ctx;
	measure_fn ref;		/* optional third side, timed only */
	void *ref_ctx;
	/*
	 * Optional A/A check: a copy of ref, or without ref a copy of raw
	 * (then the third side); q_aa is it against what it copies.
	 */
	measure_fn aa;
	void *aa_ctx;
	/*
	 * Optional, instead of ref and aa: what to take out of each side,
	 * timed on its context in the same round (raw - raw_base, lib -
	 * lib_base), so that a cost measured as a difference is paired too.
	 */
	measure_fn raw_base, lib_base;
	unsigned int n;		/* operations per batch */
	unsigned int reps;	/* batches per side */
	/*
	 * > 1 with block: the rounds in that many blocks, each in a process
	 * of its own (nvmm-bench --block NAME FIRST ROUNDS [AA_NS], NAME
	 * being block), which makes the row's pair anew with objects of its
	 * own and prints its batches' times (pair_block_print). A block's
	 * median ratio is then one sample: the interval covers the luck of
	 * where the kernel put each side's objects and where the process's
	 * code and data lie, which stay put for a process's life.
	 */
	unsigned int blocks;
	const char *block;
	unsigned int count_n;	/* operations in the counting batch; 0: none */
	bool isolated;		/* count only between op_begin and op_end */
};

struct result {
	double raw, lib;		/* medians, ns per operation */
	double ref;			/* the third side, if any */
	double aa;			/* the fourth side, if any */
	struct ratio q;			/* lib / raw per round */
	struct ratio q_ref;		/* lib / ref per round */
	struct ratio q_aa;		/* aa / ref (or raw) per round */
	struct sc_count sc_raw, sc_lib;
	bool counted;
};

struct result pair_run(const struct pair *);
/*
 * Rounds first .. first + rounds - 1 of a pair, here: side s's batch of
 * round first + i in v[s * stride + i] (4 sides: raw, lib, ref or
 * raw_base, aa or lib_base).
 */
void pair_rounds(const struct pair *, unsigned int first, unsigned int rounds,
    double *v, unsigned int stride);
/* In a block's process: those rounds, each one's four batch times a line. */
void pair_block_print(const struct pair *, unsigned int first,
    unsigned int rounds);
extern unsigned int bench_reps_scale;	/* --quick divides the reps */
/* --aa [NS]: exit rows also time a copy of the reference, NS ns slower. */
extern bool bench_aa;
extern unsigned int bench_aa_spin_ns;

/*
 * Isolating one operation inside a loop: timed (ns) in timing batches,
 * the only part counted in the counting batch.
 */
extern bool bench_counting;
static inline uint64_t
op_begin(void)
{
	if (bench_counting) {
		sc_resume();
		return 0;
	}
	return now_ns();
}
static inline double
op_end(uint64_t t0)
{
	if (bench_counting) {
		sc_pause();
		return 0;
	}
	return (double)(now_ns() - t0);
}
/* The median of n samples, less what two timer reads cost. */
double samples_median(double *s, unsigned int n);

/* ---- The table (table.c) -------------------------------------------------------- */

void table_section(const char *title);
/*
 * scale divides ns for the printed unit. target > 0: the ratio must stay
 * below it and libnvmm make one syscall per op; 0: no target; < 0: no
 * ratio either (raw is near zero). A result with a third side (ref) gets
 * a second line, ref_name, comparing libnvmm with it.
 */
void table_row(const char *name, const char *unit, double scale,
    const struct result *, double target);
void table_ref_row(const char *ref_name, const char *unit, double scale,
    const struct result *, double target);
/* The A/A line: the reference's copy against the reference. */
void table_aa_row(const char *name, const char *unit, double scale,
    const struct result *);
void table_print(const char *title);

/* ---- The measurements ------------------------------------------------------------ */

void bench_exits(void);		/* exits.c */
/* Serve one exit of a guest the way each side's loop does (exits.c). */
void exit_raw_serve(struct raw_vm *, enum guest);
void exit_nv_serve(struct nv_vm *, enum guest);
/* One exit loop, n exits, nothing printed: 0, or -1 for an unknown guest. */
int bench_exit_loop(const char *guest, const char *side, unsigned int n);
/*
 * One block of a row in this process (nvmm-bench --block), its batches
 * printed: 0, or -1 when the row is not one of the file's.
 */
int bench_exit_block(const char *row, unsigned int first,
    unsigned int rounds);
void bench_state(void);		/* state.c */
void bench_lifetimes(void);	/* life.c */
int bench_life_block(const char *row, unsigned int first,
    unsigned int rounds);
void bench_big_map(void);	/* map.c */
void bench_memory_measure(void);	/* mem.c: before the others */
void bench_memory(void);	/* mem.c: its rows */
/* insns.c: instructions per exit under callgrind, its own table. */
void bench_insns(void);
/* insns.c: budgets as TAP (meson test perf-insns); returns the exit status. */
int bench_insns_tap(void);
/* insns.c: the two children bench_insns() runs; 0 or -1 for a bad mode. */
int bench_insns_child(const char *mode, const char *arg);

#endif /* NVMM_BENCH_H */
