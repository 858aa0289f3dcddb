/*
 * The walker against the CPU: for each case the test plants page tables,
 * asks nvmm_gva_to_gpa() and then lets a guest make the same access in
 * 4-level, PAE and 32-bit mode. A write must land in RAM at the gpa the
 * walker gave (read back on the host), a fetch must run there, a fault
 * the walker predicts must be a #PF with the matching error code, and an
 * address past RAM must exit as MEMORY at the walker's gpa.
 */
#include <errno.h>
#include <string.h>

#include "walk_util.h"

T_GUEST(walk_write64);
T_GUEST(walk_exec64);
T_GUEST(walk_pf64);
T_GUEST(walk_write32);
T_GUEST(walk_exec32);
T_GUEST(walk_pf32);

/* Guest layout, beside the builder's (harness.h, walk_util.h). */
#define CODE64		0x10000ULL	/* write, exec, #PF: 0x100 apart */
#define CODE32		0x11000ULL
#define IDT64		0x75000ULL
#define IDT32		0x75800ULL
#define ID_PT32		0x76000ULL	/* 32-bit: PT for the first 4 MiB */
#define ID_PD_PAE	0x77000ULL	/* PAE: PD for the first 4 MiB */
#define STACK		0x8000ULL
#define HLT_AT		0x12000ULL	/* a lone HLT, for the mode probes */
#define NO_FAULT	0xDEADULL	/* RCX unless the #PF handler ran */

/* #PF error code bits. */
#define PF_P		0x01u
#define PF_W		0x02u
#define PF_RSVD		0x08u
#define PF_I		0x10u

enum cpu_op { DO_WRITE, DO_EXEC };
enum cpu_outcome { CPU_OK, CPU_PF, CPU_MMIO };

struct cpu_case {
	struct wt_case w;
	enum cpu_op op;
	enum cpu_outcome cpu;
	uint32_t pf_err;
};

#define L4G(x)		(0x0000008000000000ULL | (x))	/* PML4 index 1 */

static const struct cpu_case cases[] = {
	/* ---- 4-level: the first GiB is the harness's identity map. */
	{ { "4K page", M_L4, L4G(0x403ABC), 1, 0x345000 | PWU,
	    .gpa = 0x345ABC, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "2M page", M_L4, L4G(0x40123450), 2, 0x200000 | PWU | PS,
	    .gpa = 0x323450, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "1G page", M_L4, 0x000000C000312340ULL, 3, 0 | PWU | PS,
	    .gpa = 0x312340, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "canonical high half", M_L4, 0xFFFF800000403ABCULL, 1,
	    0x346000 | PWU, .gpa = 0x346ABC, .prot = ALL_ },
	    DO_WRITE, CPU_OK, 0 },
	{ { "PAT bit in a 4K PTE", M_L4, L4G(0x404ABC), 1,
	    0x347000 | PWU | PAT4K, .gpa = 0x347ABC, .prot = ALL_ },
	    DO_WRITE, CPU_OK, 0 },
	{ { "PTE bits 62:52 ignored", M_L4, L4G(0x405ABC), 1,
	    0x348000 | PWU | 0x7FF0000000000000ULL, .gpa = 0x348ABC,
	    .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "read-only page", M_L4, L4G(0x406ABC), 1, 0x349000 | P | U,
	    .gpa = 0x349ABC, .prot = R_ | X_ | U_ },
	    DO_WRITE, CPU_PF, PF_P | PF_W },
	{ { "PTE not present", M_L4, L4G(0x407ABC), 1, 0x34A000 | NP,
	    .err = EFAULT }, DO_WRITE, CPU_PF, PF_W },
	{ { "PTE bit MAXPHYADDR reserved", M_L4, L4G(0x408ABC), 1,
	    0x34B000 | PWU, .hi = HI_RSVD, .hi_level = 1, .err = EFAULT },
	    DO_WRITE, CPU_PF, PF_P | PF_W | PF_RSVD },
	{ { "2M page, bit 13 reserved", M_L4, L4G(0x40323450), 2,
	    0x200000 | PWU | PS | 1ULL << 13, .err = EFAULT },
	    DO_WRITE, CPU_PF, PF_P | PF_W | PF_RSVD },
	{ { "PML4E PS reserved", M_L4, 0x0000010000403ABCULL, 1,
	    0x34B000 | PWU, .flags[4] = PWU | PS, .err = EFAULT },
	    DO_WRITE, CPU_PF, PF_P | PF_W | PF_RSVD },
	{ { "PTE bit MAXPHYADDR-1 is an address bit", M_L4, L4G(0x409ABC),
	    1, 0x34C000 | PWU, .hi = HI_ADDR, .hi_level = 1,
	    .gpa = 0x34CABC, .prot = ALL_ }, DO_WRITE, CPU_MMIO, 0 },
	{ { "NX page", M_L4, L4G(0x40A100), 1, 0x34D000 | PWU | NX,
	    .gpa = 0x34D100, .prot = R_ | W_ | U_ },
	    DO_EXEC, CPU_PF, PF_P | PF_I },
	{ { "executable page", M_L4, L4G(0x40B100), 1, 0x34E000 | PWU,
	    .gpa = 0x34E100, .prot = ALL_ }, DO_EXEC, CPU_OK, 0 },
	{ { "NX in the PML4E", M_L4, 0x000001800040C100ULL, 1,
	    0x34F000 | PWU, .flags[4] = PWU | NX, .gpa = 0x34F100,
	    .prot = R_ | W_ | U_ }, DO_EXEC, CPU_PF, PF_P | PF_I },
	{ { "NX reserved without NXE", M_L4_NOX, L4G(0x40DABC), 1,
	    0x350000 | PWU | NX, .err = EFAULT },
	    DO_WRITE, CPU_PF, PF_P | PF_W | PF_RSVD },

	/* ---- PAE: PDPTE 0 maps the first 4 MiB. */
	{ { "4K page", M_PAE, 0x40403ABC, 1, 0x351000 | PWU,
	    .gpa = 0x351ABC, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "2M page", M_PAE, 0x80323450, 2, 0x200000 | PWU | PS,
	    .gpa = 0x323450, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "PTE bit 52 reserved", M_PAE, 0x40404ABC, 1,
	    0x352000 | PWU | 1ULL << 52, .err = EFAULT },
	    DO_WRITE, CPU_PF, PF_P | PF_W | PF_RSVD },
	{ { "NX page", M_PAE, 0x40405100, 1, 0x353000 | PWU | NX,
	    .gpa = 0x353100, .prot = R_ | W_ | U_ },
	    DO_EXEC, CPU_PF, PF_P | PF_I },
	{ { "PTE bit MAXPHYADDR-1 is an address bit", M_PAE, 0x40406ABC, 1,
	    0x354000 | PWU, .hi = HI_ADDR, .hi_level = 1, .gpa = 0x354ABC,
	    .prot = ALL_ }, DO_WRITE, CPU_MMIO, 0 },

	/* ---- 32-bit: PDE 0 maps the first 4 MiB. */
	{ { "4K page", M_32PSE, 0x00803ABC, 1, 0x355000 | PWU,
	    .gpa = 0x355ABC, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "4M page", M_32PSE, 0x00F23450, 2, 0 | PWU | PS,
	    .gpa = 0x323450, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "4M page, PSE-36", M_32PSE, 0x01323450, 2,
	    0 | PWU | PS | 1ULL << 13, .gpa = 0x100323450ULL, .prot = ALL_ },
	    DO_WRITE, CPU_MMIO, 0 },
	{ { "4M page, bit 21 reserved", M_32PSE, 0x01723450, 2,
	    0 | PWU | PS | 1ULL << 21, .err = EFAULT },
	    DO_WRITE, CPU_PF, PF_P | PF_W | PF_RSVD },
	{ { "PAT bit in a 4K PTE", M_32PSE, 0x00804ABC, 1,
	    0x356000 | PWU | PAT4K, .gpa = 0x356ABC, .prot = ALL_ },
	    DO_WRITE, CPU_OK, 0 },
	{ { "read-only page", M_32PSE, 0x00805ABC, 1, 0x357000 | P,
	    .gpa = 0x357ABC, .prot = R_ | X_ }, DO_WRITE, CPU_PF, PF_P | PF_W },
	{ { "PTE not present", M_32PSE, 0x00806ABC, 1, 0x357000 | NP,
	    .err = EFAULT }, DO_WRITE, CPU_PF, PF_W },
	{ { "PDE PS ignored without CR4.PSE", M_32, 0x00807ABC, 1,
	    0x358000 | PWU, .flags[2] = PWU | PS, .gpa = 0x358ABC,
	    .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
	{ { "4K page", M_32, 0x00C08ABC, 1, 0x359000 | PWU,
	    .gpa = 0x359ABC, .prot = ALL_ }, DO_WRITE, CPU_OK, 0 },
};

#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/* ---- Guest set-up ----------------------------------------------------------------- */

static void
put_gate(struct wt_vm *w, bool long64)
{
	uint64_t off = (long64 ? CODE64 : CODE32) + 0x200;

	if (long64) {
		uint64_t g[2] = { (off & 0xFFFF) |
		    (uint64_t)T_SEL_CODE64 << 16 | 0x8E00ULL << 32 |
		    ((off >> 16) & 0xFFFF) << 48, off >> 32 };

		memcpy(w->vm.ram + IDT64 + 14 * 16, g, sizeof(g));
	} else {
		uint32_t g[2] = { (uint32_t)(off & 0xFFFF) | T_SEL_CODE32 << 16,
		    (uint32_t)(off & 0xFFFF0000) | 0x8E00 };

		memcpy(w->vm.ram + IDT32 + 14 * 8, g, sizeof(g));
	}
}

/* Code, IDTs and the identity tables the low 4 MiB need in each mode. */
static void
setup_guest(struct wt_vm *w)
{
	t_vm_long_mode(&w->vm, CODE64, STACK);
	t_vm_load(&w->vm, CODE64, walk_write64_begin, walk_write64_end);
	t_vm_load(&w->vm, CODE64 + 0x100, walk_exec64_begin, walk_exec64_end);
	t_vm_load(&w->vm, CODE64 + 0x200, walk_pf64_begin, walk_pf64_end);
	t_vm_load(&w->vm, CODE32, walk_write32_begin, walk_write32_end);
	t_vm_load(&w->vm, CODE32 + 0x100, walk_exec32_begin, walk_exec32_end);
	t_vm_load(&w->vm, CODE32 + 0x200, walk_pf32_begin, walk_pf32_end);
	put_gate(w, true);
	put_gate(w, false);
	for (unsigned int i = 0; i < 1024; i++)
		wt_put(w, ID_PT32, i, 4, (uint64_t)i << 12 | P | W);
	wt_put(w, ID_PD_PAE, 0, 8, 0x000000 | P | W | PS);
	wt_put(w, ID_PD_PAE, 1, 8, 0x200000 | P | W | PS);
	w->vm.ram[HLT_AT] = 0xF4;
}

/* The case's tables plus entry 0 of the root: the low memory. */
static gpaddr_t
build_tables(struct wt_vm *w, const struct wt_case *c)
{
	gpaddr_t root = wt_build(w, c);

	if (wt_modes[c->mode].long64)
		wt_put(w, root, 0, 8, (T_PT_BASE + 0x1000) | P | W);
	else if (wt_modes[c->mode].esize == 8)
		wt_put(w, root, 0, 8, ID_PD_PAE | P);
	else
		wt_put(w, root, 0, 4, ID_PT32 | P | W);
	return root;
}

static void
set_cpu(struct wt_vm *w, const struct cpu_case *cc, uint32_t marker)
{
	struct nvmm_x64_state *st = w->vm.vcpu.state;
	bool long64 = wt_modes[cc->w.mode].long64;
	struct nvmm_x64_state_seg *cs = &st->segs[NVMM_X64_SEG_CS];
	gpaddr_t code = long64 ? CODE64 : CODE32;

	T_CHECK(nvmm_vcpu_getstate(&w->vm.mach, &w->vm.vcpu,
	    NVMM_X64_STATE_ALL));
	cs->selector = long64 ? T_SEL_CODE64 : T_SEL_CODE32;
	cs->attrib.l = long64;
	cs->attrib.def = !long64;
	st->segs[NVMM_X64_SEG_IDT].base = long64 ? IDT64 : IDT32;
	st->segs[NVMM_X64_SEG_IDT].limit = long64 ? 0xFFF : 0x7FF;
	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RIP] = code + (cc->op == DO_EXEC ? 0x100 : 0);
	st->gprs[NVMM_X64_GPR_RSP] = STACK;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;
	st->gprs[NVMM_X64_GPR_RDI] = cc->w.gva;
	st->gprs[NVMM_X64_GPR_RAX] = marker;
	st->gprs[NVMM_X64_GPR_RCX] = NO_FAULT;
	T_CHECK(nvmm_vcpu_setstate(&w->vm.mach, &w->vm.vcpu,
	    NVMM_X64_STATE_GPRS | NVMM_X64_STATE_SEGS));
}

/* ---- What the CPU did ------------------------------------------------------------- */

static bool
cpu_ok(struct wt_vm *w, const struct cpu_case *cc, uint64_t reason,
    uint32_t marker)
{
	uint64_t *g = w->vm.vcpu.state->gprs;
	gpaddr_t gpa = wt_want_gpa(w, &cc->w);
	uint32_t seen = 0;

	if (reason != NVMM_VCPU_EXIT_HALTED || g[NVMM_X64_GPR_RCX] != NO_FAULT)
		return false;
	if (cc->op == DO_EXEC)
		return g[NVMM_X64_GPR_RIP] == cc->w.gva + 1;
	if (gpa + 4 > w->vm.ram_size)
		return false;
	memcpy(&seen, w->vm.ram + gpa, sizeof(seen));
	return seen == marker && g[NVMM_X64_GPR_RBX] == marker;
}

/* Without Page1GB in its CPUID the guest faults on a 1 GiB page. */
static enum cpu_outcome
cpu_expected(const struct wt_vm *w, const struct cpu_case *cc,
    uint32_t *pf_err)
{
	*pf_err = cc->pf_err;
	if (!wt_no_1g(w, &cc->w))
		return cc->cpu;
	*pf_err = PF_P | (cc->op == DO_EXEC ? PF_I : PF_W) | PF_RSVD;
	return CPU_PF;
}

static bool
cpu_outcome(struct wt_vm *w, const struct cpu_case *cc, uint64_t reason,
    uint32_t marker)
{
	uint64_t *g = w->vm.vcpu.state->gprs;
	uint64_t mask = wt_modes[cc->w.mode].long64 ? ~0ULL : 0xFFFFFFFFULL;
	uint32_t pf_err;

	switch (cpu_expected(w, cc, &pf_err)) {
	case CPU_OK:
		return cpu_ok(w, cc, reason, marker);
	case CPU_PF:
		return reason == NVMM_VCPU_EXIT_HALTED &&
		    g[NVMM_X64_GPR_RCX] == pf_err &&
		    g[NVMM_X64_GPR_RDX] == (cc->w.gva & mask);
	case CPU_MMIO:
		return reason == NVMM_VCPU_EXIT_MEMORY &&
		    w->vm.vcpu.exit->u.mem.gpa == wt_want_gpa(w, &cc->w) &&
		    w->vm.vcpu.exit->u.mem.prot == PROT_WRITE;
	}
	return false;
}

/*
 * Whether this host runs guests in the mode at all: a HLT in identity-mapped
 * low memory. Some hosts cannot (a software nested hypervisor that only
 * runs long-mode paging shuts such a guest down on its first fetch); their
 * CPU checks are skipped, never passed.
 */
static bool
mode_runs(struct wt_vm *w, enum wt_mode_id mode)
{
	const struct cpu_case probe = {
		{ .what = "probe", .mode = mode, .gva = 0x40000000, .leaf = 1,
		    .entry = NP }, DO_WRITE, CPU_OK, 0,
	};
	gpaddr_t root = build_tables(w, &probe.w);

	wt_set_paging(w, &probe.w, root);
	set_cpu(w, &probe, 0);
	w->vm.vcpu.state->gprs[NVMM_X64_GPR_RIP] = HLT_AT;
	T_CHECK(nvmm_vcpu_setstate(&w->vm.mach, &w->vm.vcpu,
	    NVMM_X64_STATE_GPRS));
	return t_vm_run(&w->vm) == NVMM_VCPU_EXIT_HALTED &&
	    t_vm_gpr(&w->vm, NVMM_X64_GPR_RIP) == HLT_AT + 1;
}

static const char *const outcome_names[] = {
	[CPU_OK] = "access done", [CPU_PF] = "#PF", [CPU_MMIO] = "MEMORY exit",
};

static void
run_case(struct wt_vm *w, const struct cpu_case *cc, uint32_t marker,
    bool runs)
{
	uint64_t *g = w->vm.vcpu.state->gprs;
	gpaddr_t root = build_tables(w, &cc->w);
	uint64_t reason;
	uint32_t pf_err;

	wt_set_paging(w, &cc->w, root);
	wt_check_walk(w, &cc->w);
	if (!runs) {
		t_skip("%s: %s: CPU: this host cannot run %s guests",
		    wt_modes[cc->w.mode].name, cc->w.what,
		    wt_modes[cc->w.mode].name);
		return;
	}
	if (cc->op == DO_EXEC && cc->w.err == 0 && cc->w.gpa < WT_RAM_SIZE)
		w->vm.ram[cc->w.gpa] = 0xF4;	/* HLT */
	set_cpu(w, cc, marker);
	reason = t_vm_run(&w->vm);
	T_CHECK(nvmm_vcpu_getstate(&w->vm.mach, &w->vm.vcpu,
	    NVMM_X64_STATE_GPRS));
	if (!t_ok(cpu_outcome(w, cc, reason, marker), "%s: %s: CPU: %s",
	    wt_modes[cc->w.mode].name, cc->w.what,
	    outcome_names[cpu_expected(w, cc, &pf_err)]))
		t_diag("  exit %llu, rip 0x%llx rbx 0x%llx rcx (#PF code) "
		    "0x%llx rdx (CR2) 0x%llx, mem gpa 0x%llx",
		    (unsigned long long)reason,
		    (unsigned long long)g[NVMM_X64_GPR_RIP],
		    (unsigned long long)g[NVMM_X64_GPR_RBX],
		    (unsigned long long)g[NVMM_X64_GPR_RCX],
		    (unsigned long long)g[NVMM_X64_GPR_RDX],
		    (unsigned long long)w->vm.vcpu.exit->u.mem.gpa);
}

int
main(void)
{
	int runs[M_COUNT];
	struct wt_vm w;

	t_require_nvmm();
	t_plan(2 * NCASES);
	wt_vm_create(&w);
	wt_probe_cpuid(&w);
	setup_guest(&w);
	for (int m = 0; m < M_COUNT; m++)
		runs[m] = -1;
	for (size_t i = 0; i < NCASES; i++) {
		enum wt_mode_id m = cases[i].w.mode;

		if (runs[m] < 0 && !(runs[m] = mode_runs(&w, m)))
			t_diag("%s guests do not run on this host",
			    wt_modes[m].name);
		run_case(&w, &cases[i], 0xC0DE0000u + (uint32_t)i, runs[m]);
	}
	t_vm_destroy(&w.vm);
	return t_done();
}
