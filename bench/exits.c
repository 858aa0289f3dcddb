/*
 * Exit round trips: one guest instruction that exits, served and resumed,
 * in a loop. Raw KVM serves it in kvm_run (reads the PIO or MMIO data,
 * writes the MSR answer); libnvmm serves it the NVMM way (assists with
 * callbacks that read the data; RDMSR answered through getstate/setstate).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MSR_VALUE	0x1122334455667788ULL

/*
 * Exits per batch and rounds: short batches keep a round's sides close in
 * time, so that the host's changes of pace hit them alike.
 */
#ifndef EXIT_BATCH
#define EXIT_BATCH	100
#endif
#ifndef EXIT_ROUNDS
#define EXIT_ROUNDS	504
#endif
#ifndef EXIT_BLOCKS
#define EXIT_BLOCKS	24
#endif

static const char *const exit_names[GUEST_TOUCH] = {
	[GUEST_PIO] = "PIO out + nvmm_assist_io",
	[GUEST_MMIO] = "MMIO write + nvmm_assist_mem",
	[GUEST_HLT] = "HLT",
	[GUEST_RDMSR] = "RDMSR + getstate/setstate GPRS",
};

static const uint32_t raw_reason[GUEST_TOUCH] = {
	[GUEST_PIO] = KVM_EXIT_IO,
	[GUEST_MMIO] = KVM_EXIT_MMIO,
	[GUEST_HLT] = KVM_EXIT_HLT,
	[GUEST_RDMSR] = KVM_EXIT_X86_RDMSR,
};

static const uint64_t nv_reason[GUEST_TOUCH] = {
	[GUEST_PIO] = NVMM_VCPU_EXIT_IO,
	[GUEST_MMIO] = NVMM_VCPU_EXIT_MEMORY,
	[GUEST_HLT] = NVMM_VCPU_EXIT_HALTED,
	[GUEST_RDMSR] = NVMM_VCPU_EXIT_RDMSR,
};

struct exit_raw {
	struct raw_vm vm;
	enum guest g;
	unsigned int spin_ns;	/* the A/A check's slowdown, per exit */
};

struct exit_nv {
	struct nv_vm vm;
	enum guest g;
};

/* ---- Raw KVM ------------------------------------------------------------------ */

void
exit_raw_serve(struct raw_vm *vm, enum guest g)
{
	struct kvm_run *run = vm->run;
	uint32_t v = 0;

	switch (g) {
	case GUEST_PIO:
		bench_sink += *((uint8_t *)run + run->io.data_offset);
		break;
	case GUEST_MMIO:
		memcpy(&v, run->mmio.data, run->mmio.len < 4 ? run->mmio.len : 4);
		bench_sink += v;
		break;
	case GUEST_RDMSR:
		run->msr.error = 0;
		run->msr.data = MSR_VALUE;
		break;
	default:
		break;
	}
}

/* Busy for ns of wall time: a known slowdown the estimator must see. */
static void
spin(unsigned int ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

static double
raw_exits(void *ctx, unsigned int n)
{
	struct exit_raw *e = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();
		uint32_t r = raw_run(&e->vm);

		if (r != raw_reason[e->g])
			die("%s: KVM exit %u", exit_names[e->g], r);
		exit_raw_serve(&e->vm, e->g);
		if (e->spin_ns != 0)
			spin(e->spin_ns);
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

/* ---- libnvmm ------------------------------------------------------------------ */

static void
nv_answer_rdmsr(struct nv_vm *vm)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	check(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS),
	    "nvmm_vcpu_getstate");
	st->gprs[NVMM_X64_GPR_RAX] = MSR_VALUE & 0xFFFFFFFF;
	st->gprs[NVMM_X64_GPR_RDX] = MSR_VALUE >> 32;
	st->gprs[NVMM_X64_GPR_RIP] = vm->vcpu.exit->u.rdmsr.npc;
	check(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS),
	    "nvmm_vcpu_setstate");
}

void
exit_nv_serve(struct nv_vm *vm, enum guest g)
{
	switch (g) {
	case GUEST_PIO:
		check(nvmm_assist_io(&vm->mach, &vm->vcpu), "nvmm_assist_io");
		break;
	case GUEST_MMIO:
		check(nvmm_assist_mem(&vm->mach, &vm->vcpu), "nvmm_assist_mem");
		break;
	case GUEST_RDMSR:
		nv_answer_rdmsr(vm);
		break;
	default:
		break;
	}
}

static double
nv_exits(void *ctx, unsigned int n)
{
	struct exit_nv *e = ctx;
	double s[n];

	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0 = op_begin();
		uint64_t r = nv_run(&e->vm);

		if (r != nv_reason[e->g])
			die("%s: NVMM exit 0x%llx", exit_names[e->g],
			    (unsigned long long)r);
		exit_nv_serve(&e->vm, e->g);
		s[i] = op_end(t0);
	}
	return samples_median(s, n);
}

/* ---- The rows -------------------------------------------------------------------- */

/*
 * The reference: raw KVM storing, at each exit, the classes libnvmm has it
 * store in that loop (x86-kvm/state.c, "The sync area"; guests run with
 * IF = 0). libnvmm against it is what libnvmm costs in user space.
 */
#define SYNC_R		KVM_SYNC_X86_REGS
#define SYNC_RSE	(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS)
#define SYNC_RE		(KVM_SYNC_X86_REGS | KVM_SYNC_X86_EVENTS)

static const struct {
	uint64_t sync;
	const char *name;
} exit_refs[GUEST_TOUCH] = {
	[GUEST_PIO] = { SYNC_RSE, "  raw + kvm_run regs, sregs, events" },
	[GUEST_MMIO] = { SYNC_RE, "  raw + kvm_run regs, events" },
	[GUEST_HLT] = { SYNC_R, "  raw + kvm_run regs" },
	[GUEST_RDMSR] = { SYNC_RSE, "  raw + kvm_run regs, sregs, events" },
};

/* One row's sides: raw KVM, the reference, its A/A copy, libnvmm. */
struct exit_sides {
	struct exit_raw raw, sync, copy;
	struct exit_nv nv;
	unsigned int made;	/* times created: rotates the order */
};

/*
 * Each block creates the sides in the next order, so that none is always
 * the first to get the kernel's fresh allocations.
 */
static void
sides_create(struct exit_sides *x)
{
	enum guest g = x->raw.g;
	unsigned int nsides = bench_aa ? 4 : 3;

	for (unsigned int k = 0; k < nsides; k++) {
		switch ((x->made + k) % nsides) {
		case 0:
			raw_vm_create(&x->raw.vm, g, 0);
			break;
		case 1:
			raw_vm_create(&x->sync.vm, g, exit_refs[g].sync);
			break;
		case 2:
			nv_vm_create(&x->nv.vm, g);
			break;
		default:
			raw_vm_create(&x->copy.vm, g, exit_refs[g].sync);
			break;
		}
	}
	x->made++;
}

static void
sides_destroy(struct exit_sides *x)
{
	raw_vm_destroy(&x->raw.vm);
	raw_vm_destroy(&x->sync.vm);
	if (bench_aa)
		raw_vm_destroy(&x->copy.vm);
	nv_vm_destroy(&x->nv.vm);
}

static const char *const loop_names[GUEST_TOUCH] = {
	[GUEST_PIO] = "pio", [GUEST_MMIO] = "mmio", [GUEST_HLT] = "hlt",
	[GUEST_RDMSR] = "rdmsr",
};

/*
 * Every block in a new process (main.c, pair_block_spawn), with new VMs.
 * Two VMs made alike can differ by ~2% per exit for as long as they live
 * (an A/A pair showed it in one row of four), and two processes by ~1%
 * in the RDMSR row (its ratio 1.027-1.034 in four runs, 1.022-1.024 in
 * four without address space randomization): more than libnvmm's own
 * cost. Only a new process and new VMs for each block let the interval
 * see that luck.
 */
/* A row's pair: the same in the table's process and in each block's. */
static struct pair
exit_pair(struct exit_sides *x)
{
	return (struct pair){
		.raw = raw_exits, .lib = nv_exits, .ref = raw_exits,
		.raw_ctx = &x->raw, .lib_ctx = &x->nv, .ref_ctx = &x->sync,
		.aa = bench_aa ? raw_exits : NULL, .aa_ctx = &x->copy,
		.n = EXIT_BATCH, .reps = EXIT_ROUNDS,
		.blocks = EXIT_BLOCKS, .block = loop_names[x->raw.g],
		.count_n = 2000, .isolated = true,
	};
}

static void
exit_sides_init(struct exit_sides *x, enum guest g)
{
	*x = (struct exit_sides){
		.raw = { .g = g }, .sync = { .g = g },
		.copy = { .g = g, .spin_ns = bench_aa_spin_ns },
		.nv = { .g = g },
	};
}

int
bench_exit_block(const char *row, unsigned int first, unsigned int rounds)
{
	for (enum guest g = GUEST_PIO; g < GUEST_TOUCH; g++) {
		struct exit_sides x;
		struct pair p;

		if (strcmp(row, loop_names[g]) != 0)
			continue;
		exit_sides_init(&x, g);
		/* The order of creation turns with the blocks, as the rounds'. */
		x.made = rounds ? first / rounds : 0;
		sides_create(&x);
		p = exit_pair(&x);
		pair_block_print(&p, first, rounds);
		sides_destroy(&x);
		return 0;
	}
	return -1;
}

/* What the spin adds to an exit, timed alone: the clock reads included. */
static double
spin_cost(unsigned int ns)
{
	double s[1001];

	for (unsigned int i = 0; i < 1001; i++) {
		uint64_t t0 = now_ns();

		spin(ns);
		s[i] = (double)(now_ns() - t0);
	}
	return samples_median(s, 1001);
}

void
bench_exits(void)
{
	static char aa_name[64];

	snprintf(aa_name, sizeof(aa_name), "    A/A: ref + spin %u (%.0f ns) vs ref",
	    bench_aa_spin_ns, bench_aa_spin_ns ? spin_cost(bench_aa_spin_ns) : 0.0);
	table_section("exit round trip (ns per exit)");
	for (enum guest g = GUEST_PIO; g < GUEST_TOUCH; g++) {
		struct exit_sides x;
		struct pair p;
		struct result r;

		exit_sides_init(&x, g);
		p = exit_pair(&x);
		/* Here only for the counting batch: the blocks make their own. */
		sides_create(&x);
		r = pair_run(&p);
		table_row(exit_names[g], "ns", 1, &r, 1.03);
		table_ref_row(exit_refs[g].name, "ns", 1, &r, 1.03);
		if (bench_aa)
			table_aa_row(aa_name, "ns", 1, &r);
		sides_destroy(&x);
	}
}

/* ---- One loop alone, for an outside counter (bench/run --strace) ------------- */

int
bench_exit_loop(const char *guest, const char *side, unsigned int n)
{
	for (enum guest g = GUEST_PIO; g < GUEST_TOUCH; g++) {
		struct exit_raw raw = { .g = g };
		struct exit_nv nv = { .g = g };

		if (strcmp(guest, loop_names[g]) != 0)
			continue;
		if (strcmp(side, "raw") == 0) {
			raw_vm_create(&raw.vm, g, 0);
			(void)raw_exits(&raw, n);
		} else {
			nv_vm_create(&nv.vm, g);
			(void)nv_exits(&nv, n);
		}
		return 0;
	}
	return -1;
}
