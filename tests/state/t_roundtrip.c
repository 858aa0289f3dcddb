/*
 * State round trips: every field of every class is set to a distinctive
 * value, a guest runs that stores what it sees (state_dump64), and the
 * state read back afterwards must equal what was set, except where NVMM
 * documents sanitising: CR0.ET/NE forced, CR4 masked, XCR0 x87 forced and
 * masked to xcr0_mask, MXCSR masked, DR6/DR7 truncated to 32 bits, EFER.LMA
 * derived, and the TSC written only when neither 0 nor the last value read.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "harness.h"
#include "state_util.h"

T_GUEST(state_dump64);
T_GUEST(state_xgetbv64);
T_GUEST(state_fxprobe64);

#define XGETBV_GPA	(T_CODE_BASE + 0x1000)
#define FXPROBE_CODE	(T_CODE_BASE + 0x2000)

#define TSC_SET		(1ULL << 40)
#define TSC_SLACK	(1ULL << 37)	/* ~30 s at 5 GHz: generous */

static struct nvmm_capability cap;
static bool amd;
/* The host TSC around the last run_dump(), and whether the guest saw it raw. */
static uint64_t host_tsc0, host_tsc1;
static bool tsc_raw;
/* Whether the guest's own FXSAVE64 keeps all 64 bits of FIP and FDP. */
static bool fx_pointers64;

/* ---- The distinctive state ----------------------------------------------------- */

static void
seg(struct nvmm_x64_state_seg *s, uint16_t sel, uint64_t base,
    uint32_t limit, uint8_t type, bool sys, bool code64, bool g, bool avl)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->attrib.type = type;
	s->attrib.s = sys;
	s->attrib.p = 1;
	s->attrib.avl = avl;
	s->attrib.l = code64;
	s->attrib.def = !code64 && sys;
	s->attrib.g = g;
}

/* CR4 bits this host lets a guest have, beyond what long mode needs. */
static uint64_t
cr4_bits(void)
{
	unsigned int a, b, c, d;
	uint64_t cr4 = 0x8 | 0x4 | 0x20 | 0x80 | 0x100 | 0x200 | 0x400;

	__cpuid(1, a, b, c, d);
	if (c & (1u << 26))
		cr4 |= 0x40000;		/* OSXSAVE */
	__cpuid_count(7, 0, a, b, c, d);
	cr4 |= (b & 1) ? 0x10000 : 0;		/* FSGSBASE */
	cr4 |= (b & (1u << 7)) ? 0x100000 : 0;	/* SMEP */
	cr4 |= (b & (1u << 20)) ? 0x200000 : 0;	/* SMAP */
	cr4 |= (c & (1u << 2)) ? 0x800 : 0;	/* UMIP */
	return cr4;
}

static void
set_segs(struct nvmm_x64_state *s)
{
	seg(&s->segs[NVMM_X64_SEG_ES], 0x10, 0x12345000, 0xFFFFF, 3, 1, 0, 0, 1);
	seg(&s->segs[NVMM_X64_SEG_CS], 0x08, 0, 0xFFFFFFFF, 0xB, 1, 1, 1, 0);
	seg(&s->segs[NVMM_X64_SEG_SS], 0x10, 0, 0xFFFFFFFF, 3, 1, 0, 1, 0);
	seg(&s->segs[NVMM_X64_SEG_DS], 0x10, 0x1000, 0xFFFF, 3, 1, 0, 0, 0);
	seg(&s->segs[NVMM_X64_SEG_FS], 0x10, 0x00007F1234567000ULL,
	    0xFFFFFFFF, 3, 1, 0, 1, 0);
	seg(&s->segs[NVMM_X64_SEG_GS], 0x10, 0xFFFF812345678000ULL,
	    0xFFFFFFFF, 3, 1, 0, 1, 1);
	/* Tables have a base and a limit only. */
	memset(&s->segs[NVMM_X64_SEG_GDT], 0, 2 * sizeof(s->segs[0]));
	s->segs[NVMM_X64_SEG_GDT].base = 0x12340000;
	s->segs[NVMM_X64_SEG_GDT].limit = 0x3FF;
	s->segs[NVMM_X64_SEG_IDT].base = 0xFFFF800000001000ULL;
	s->segs[NVMM_X64_SEG_IDT].limit = 0xFFF;
	seg(&s->segs[NVMM_X64_SEG_LDT], 0x28, 0x5000, 0x67, 2, 0, 0, 0, 0);
	seg(&s->segs[NVMM_X64_SEG_TR], 0x20, 0x6000, 0x67, 0xB, 0, 0, 0, 0);
}

static void
set_fpu(struct nvmm_x64_state_fpu *f)
{
	memset(f, 0, sizeof(*f));
	f->fx_cw = 0x027F;
	f->fx_sw = 0x7900;		/* C3, TOP 7, C0 */
	f->fx_tw = 0x81;
	f->fx_opcode = 0x07FF;
	f->fx_ip.fa_64 = 0x0000123456789ABCULL;
	f->fx_dp.fa_64 = 0x00007FFFDEADBEE0ULL;
	f->fx_mxcsr = 0xBFE5;		/* FZ RC=01 masks DAZ and flags */
	f->fx_mxcsr_mask = cap.arch.mxcsr_mask;
	for (int i = 0; i < 8; i++) {
		f->fx_87_ac[i].mm_significand = 0x8000000000000000ULL |
		    (0x0101010101010101ULL * (uint64_t)(i + 1));
		f->fx_87_ac[i].mm_exp_sign = (uint16_t)(0x3FF0 + i);
	}
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < 16; j++)
			f->fx_xmm[i].xmm_bytes[j] = (uint8_t)((i * 16 + j) ^ 0xA5);
	}
}

/* Everything but the GPRs the builder already holds: a 64-bit guest. */
static void
distinctive_state(struct t_vm *vm, struct nvmm_x64_state *s)
{
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	memcpy(s, vm->vcpu.state, sizeof(*s));
	set_segs(s);
	for (int i = 0; i < 16; i++)
		s->gprs[i] = 0x0123456789ABCDEFULL ^ (0x1111111111111111ULL * i);
	s->gprs[NVMM_X64_GPR_RSP] = DUMP_STACK;
	s->gprs[NVMM_X64_GPR_RIP] = T_CODE_BASE;
	s->gprs[NVMM_X64_GPR_RFLAGS] = 0xCD7;	/* OF DF SF ZF AF PF CF */

	s->crs[NVMM_X64_CR_CR0] = 0x80050033;	/* PG AM WP NE ET MP PE */
	s->crs[NVMM_X64_CR_CR2] = 0xFEDCBA9876543210ULL;
	s->crs[NVMM_X64_CR_CR3] = T_PT_BASE | 0x18;	/* PCD PWT */
	s->crs[NVMM_X64_CR_CR4] = cr4_bits();
	s->crs[NVMM_X64_CR_CR8] = 0x7;
	s->crs[NVMM_X64_CR_XCR0] = cap.arch.xcr0_mask;

	/* Canonical addresses the guest never touches; no breakpoint on. */
	s->drs[NVMM_X64_DR_DR0] = 0x00007FFF11112220ULL;
	s->drs[NVMM_X64_DR_DR1] = 0xFFFF800011112228ULL;
	s->drs[NVMM_X64_DR_DR2] = 0x0000000123456780ULL;
	s->drs[NVMM_X64_DR_DR3] = 0xFFFFFFFF87654320ULL;
	s->drs[NVMM_X64_DR_DR6] = 0xFFFF4FF1;
	s->drs[NVMM_X64_DR_DR7] = 0xFFFF0700;	/* RW/LEN, GE, LE */

	s->msrs[NVMM_X64_MSR_EFER] = 0xD01;	/* NXE LMA LME SCE */
	s->msrs[NVMM_X64_MSR_STAR] = 0x0023001000000000ULL;
	s->msrs[NVMM_X64_MSR_LSTAR] = 0xFFFFFFFF81000000ULL;
	s->msrs[NVMM_X64_MSR_CSTAR] = 0xFFFFFFFF81000100ULL;
	s->msrs[NVMM_X64_MSR_SFMASK] = 0x47700;
	s->msrs[NVMM_X64_MSR_KERNELGSBASE] = 0xFFFF888012345000ULL;
	s->msrs[NVMM_X64_MSR_SYSENTER_CS] = 0x10;
	s->msrs[NVMM_X64_MSR_SYSENTER_ESP] = 0xFFFFC90000001000ULL;
	s->msrs[NVMM_X64_MSR_SYSENTER_EIP] = 0xFFFFFFFF81800000ULL;
	s->msrs[NVMM_X64_MSR_PAT] = 0x0007010600070106ULL;
	s->msrs[NVMM_X64_MSR_TSC] = TSC_SET;

	memset(&s->intr, 0, sizeof(s->intr));
	s->intr.int_window_exiting = 1;	/* IF = 0: stays armed */
	s->intr.evt_pending = 1;	/* read-only: ignored */
	set_fpu(&s->fpu);
}

/* Set it all, run state_dump64 to its end, read it all back. */
static void
run_dump(struct t_vm *vm, const struct nvmm_x64_state *s, uint64_t flags)
{
	memset(vm->ram + DUMP_GPA, 0xEE, 0x2000);
	memcpy(vm->vcpu.state, s, sizeof(*s));
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, flags));
	host_tsc0 = __rdtsc();
	if (t_vm_run(vm) != NVMM_VCPU_EXIT_RDMSR)
		t_diag("  the guest ended with exit 0x%llx, hwcode 0x%llx",
		    (unsigned long long)vm->vcpu.exit->reason,
		    (unsigned long long)vm->vcpu.exit->u.inv.hwcode);
	host_tsc1 = __rdtsc();
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
}

/*
 * Whether the guest read the host's TSC although another value was set:
 * some KVMs (PVM, on this nested host) cannot offset the guest's TSC.
 */
static bool
guest_tsc_is_host(const struct t_vm *vm)
{
	uint64_t t = dump_of(vm)->tsc;

	return t >= host_tsc0 && t <= host_tsc1;
}

/* ---- What the guest saw ----------------------------------------------------------- */

static void
guest_saw(struct t_vm *vm, const struct nvmm_x64_state *s)
{
	const struct dump *d = dump_of(vm);
	const struct nvmm_x64_state_seg *sg = s->segs;
	const uint64_t *m = s->msrs;
	struct nvmm_x64_state_fpu want, got;
	unsigned int bad = 0;

	for (int i = 0; i < 16; i++)
		cmp_u64(&bad, gpr_names[i], d->gprs[i], s->gprs[i]);
	cmp_u64(&bad, "RFLAGS", d->rflags, s->gprs[NVMM_X64_GPR_RFLAGS]);
	t_ok(bad == 0, "the guest sees the GPRs and RFLAGS");

	bad = 0;
	for (int i = 0; i < 6; i++)
		cmp_u64(&bad, seg_names[i], d->sel[i], sg[i].selector);
	cmp_u64(&bad, "GDTR base", d->gdt_base, sg[NVMM_X64_SEG_GDT].base);
	cmp_u64(&bad, "GDTR limit", d->gdt_limit, sg[NVMM_X64_SEG_GDT].limit);
	cmp_u64(&bad, "IDTR base", d->idt_base, sg[NVMM_X64_SEG_IDT].base);
	cmp_u64(&bad, "IDTR limit", d->idt_limit, sg[NVMM_X64_SEG_IDT].limit);
	cmp_u64(&bad, "LDTR", d->ldtr, sg[NVMM_X64_SEG_LDT].selector);
	cmp_u64(&bad, "TR", d->tr, sg[NVMM_X64_SEG_TR].selector);
	cmp_u64(&bad, "FS base", d->fsbase, sg[NVMM_X64_SEG_FS].base);
	cmp_u64(&bad, "GS base", d->gsbase, sg[NVMM_X64_SEG_GS].base);
	t_ok(bad == 0, "the guest sees the segments");

	bad = 0;
	cmp_u64(&bad, "CR0", d->cr0, s->crs[NVMM_X64_CR_CR0]);
	cmp_u64(&bad, "CR2", d->cr2, s->crs[NVMM_X64_CR_CR2]);
	cmp_u64(&bad, "CR3", d->cr3, s->crs[NVMM_X64_CR_CR3]);
	cmp_u64(&bad, "CR4", d->cr4, s->crs[NVMM_X64_CR_CR4]);
	cmp_u64(&bad, "CR8", d->cr8, s->crs[NVMM_X64_CR_CR8]);
	t_ok(bad == 0, "the guest sees the control registers");

	bad = 0;
	for (int i = 0; i < 6; i++)
		cmp_u64(&bad, dr_names[i], d->dr[i], s->drs[i]);
	t_ok(bad == 0, "the guest sees the debug registers");

	bad = 0;
	cmp_u64(&bad, "EFER", d->efer, m[NVMM_X64_MSR_EFER]);
	cmp_u64(&bad, "STAR", d->star, m[NVMM_X64_MSR_STAR]);
	cmp_u64(&bad, "LSTAR", d->lstar, m[NVMM_X64_MSR_LSTAR]);
	cmp_u64(&bad, "CSTAR", d->cstar, m[NVMM_X64_MSR_CSTAR]);
	cmp_u64(&bad, "SFMASK", d->sfmask, m[NVMM_X64_MSR_SFMASK]);
	cmp_u64(&bad, "KERNELGSBASE", d->kgsbase, m[NVMM_X64_MSR_KERNELGSBASE]);
	cmp_u64(&bad, "SYSENTER_CS", d->sysenter_cs, m[NVMM_X64_MSR_SYSENTER_CS]);
	cmp_u64(&bad, "SYSENTER_ESP", d->sysenter_esp,
	    m[NVMM_X64_MSR_SYSENTER_ESP]);
	cmp_u64(&bad, "SYSENTER_EIP", d->sysenter_eip,
	    m[NVMM_X64_MSR_SYSENTER_EIP]);
	cmp_u64(&bad, "PAT", d->pat, m[NVMM_X64_MSR_PAT]);
	t_ok(bad == 0, "the guest sees the MSRs");
	tsc_raw = guest_tsc_is_host(vm);
	if (tsc_raw)
		t_skip("the guest's TSC counts from the value set: this KVM "
		    "does not offset it (guest 0x%llx = host)",
		    (unsigned long long)d->tsc);
	else
		t_ok(d->tsc >= TSC_SET && d->tsc - TSC_SET < TSC_SLACK,
		    "the guest's TSC counts from the value set (0x%llx)",
		    (unsigned long long)d->tsc);

	/* Everything, FIP and FDP up to bit 31; their upper halves below. */
	bad = 0;
	want = s->fpu;
	got = *dump_fpu(vm);
	want.fx_ip.fa_64 &= 0xFFFFFFFF;
	want.fx_dp.fa_64 &= 0xFFFFFFFF;
	got.fx_ip.fa_64 &= 0xFFFFFFFF;
	got.fx_dp.fa_64 &= 0xFFFFFFFF;
	cmp_fpu(&bad, &got, &want, !amd);
	t_ok(bad == 0, "the guest sees the FPU state (FXSAVE)");
	if (amd) {
		t_skip("FIP and FDP: AMD saves them only with an x87 "
		    "exception pending");
	} else if (!fx_pointers64) {
		t_skip("FIP and FDP above bit 31: this host's KVM loses them "
		    "in the guest's own FXRSTOR64/FXSAVE64 (probed)");
	} else {
		bad = 0;
		cmp_u64(&bad, "fx_ip", dump_fpu(vm)->fx_ip.fa_64,
		    s->fpu.fx_ip.fa_64);
		cmp_u64(&bad, "fx_dp", dump_fpu(vm)->fx_dp.fa_64,
		    s->fpu.fx_dp.fa_64);
		t_ok(bad == 0, "the guest sees FIP and FDP in full (FXSAVE64)");
	}
}

/*
 * Whether FIP and FDP keep their upper halves through the guest's own
 * FXRSTOR64 and FXSAVE64, with no state call in between. Under PVM they
 * do not: those instructions at CPL0 reach KVM's instruction emulator,
 * which saves with a 32-bit FXSAVE (raw KVM loses the same bits).
 */
static bool
probe_fx_pointers64(struct t_vm *vm)
{
	struct nvmm_x64_state_fpu *in, *out;

	in = (struct nvmm_x64_state_fpu *)(vm->ram + FXPROBE_GPA);
	out = in + 1;
	set_fpu(in);
	memset(out, 0, sizeof(*out));
	t_vm_set_gpr(vm, NVMM_X64_GPR_RIP, FXPROBE_CODE);
	if (t_vm_run(vm) != NVMM_VCPU_EXIT_RDMSR) {
		t_diag("the FXSAVE64 probe did not run (exit 0x%llx): FIP and "
		    "FDP are checked in full", (unsigned long long)
		    vm->vcpu.exit->reason);
		return true;
	}
	return out->fx_ip.fa_64 == in->fx_ip.fa_64 &&
	    out->fx_dp.fa_64 == in->fx_dp.fa_64;
}

/* XCR0 as the guest reads it, when this host's KVM can run XGETBV. */
static void
guest_xcr0(struct t_vm *vm, uint64_t want, const char *what)
{
	t_vm_set_gpr(vm, NVMM_X64_GPR_RIP, XGETBV_GPA);
	if (t_vm_run(vm) == NVMM_VCPU_EXIT_INVALID) {
		t_skip("%s: this KVM cannot run XGETBV (hwcode 0x%llx)", what,
		    (unsigned long long)vm->vcpu.exit->u.inv.hwcode);
		return;
	}
	t_eq_u64(dump_of(vm)->xcr0, want, "%s", what);
}

/* ---- What came back ------------------------------------------------------------------ */

static void
read_back(struct t_vm *vm, const struct nvmm_x64_state *s)
{
	const struct nvmm_x64_state *g = vm->vcpu.state;
	const struct dump *d = dump_of(vm);
	unsigned int bad = 0;

	for (int i = 0; i < NVMM_X64_NSEG; i++)
		cmp_seg(&bad, seg_names[i], &g->segs[i], &s->segs[i]);
	t_ok(bad == 0, "SEGS come back exactly");

	/* The guest changed RAX, RCX, RDX and RIP only. */
	bad = 0;
	for (int i = 0; i < NVMM_X64_NGPR; i++) {
		if (i > NVMM_X64_GPR_RDX && i != NVMM_X64_GPR_RIP)
			cmp_u64(&bad, gpr_names[i], g->gprs[i], s->gprs[i]);
	}
	cmp_u64(&bad, "RCX (TEST_END)", g->gprs[NVMM_X64_GPR_RCX], 0xFFFFFFFF);
	cmp_u64(&bad, "RIP (at the RDMSR)", g->gprs[NVMM_X64_GPR_RIP],
	    vm->vcpu.exit->u.rdmsr.npc - 2);
	t_ok(bad == 0, "GPRS come back exactly");

	bad = 0;
	for (int i = 0; i < NVMM_X64_NCR; i++)
		cmp_u64(&bad, cr_names[i], g->crs[i], s->crs[i]);
	t_ok(bad == 0, "CRS come back exactly");

	bad = 0;
	for (int i = 0; i < NVMM_X64_NDR; i++)
		cmp_u64(&bad, dr_names[i], g->drs[i], s->drs[i]);
	t_ok(bad == 0, "DRS come back exactly");

	bad = 0;
	for (int i = 0; i < NVMM_X64_MSR_TSC; i++)
		cmp_u64(&bad, msr_names[i], g->msrs[i], s->msrs[i]);
	t_ok(bad == 0, "MSRS come back exactly");
	t_ok(g->msrs[NVMM_X64_MSR_TSC] >= d->tsc &&
	    g->msrs[NVMM_X64_MSR_TSC] - d->tsc < TSC_SLACK,
	    "TSC reads on from what the guest saw");

	t_ok(g->intr.int_window_exiting == 1 && g->intr.int_shadow == 0 &&
	    g->intr.nmi_window_exiting == 0 && g->intr.evt_pending == 0,
	    "INTR: the window request stays, evt_pending is read-only");

	bad = 0;
	cmp_fpu(&bad, &g->fpu, &s->fpu, !amd);
	t_ok(bad == 0, "FPU comes back exactly");
}

/* ---- Sanitising ------------------------------------------------------------------- */

static void
sanitising(struct t_vm *vm, const struct nvmm_x64_state *base)
{
	const struct nvmm_x64_state *g = vm->vcpu.state;
	const struct dump *d = dump_of(vm);
	struct nvmm_x64_state s = *base;
	uint64_t cr4 = base->crs[NVMM_X64_CR_CR4];

	s.crs[NVMM_X64_CR_CR0] &= ~0x30ULL;			/* no ET NE */
	s.crs[NVMM_X64_CR_CR4] |= 0x1000 | 0x2000 | 0x4000 | 0x400000;
	s.crs[NVMM_X64_CR_XCR0] = 0x2;				/* no x87 */
	s.drs[NVMM_X64_DR_DR6] |= 0xABCD000000000000ULL;
	s.drs[NVMM_X64_DR_DR7] |= 0x1234000000000000ULL;
	s.msrs[NVMM_X64_MSR_EFER] &= ~0x400ULL;			/* no LMA */
	s.msrs[NVMM_X64_MSR_TSC] = 0;
	s.fpu.fx_mxcsr |= 0xFFFC0000;
	s.fpu.fx_mxcsr_mask = 0xFFFFFFFF;
	run_dump(vm, &s, NVMM_X64_STATE_ALL);

	t_ok(g->crs[NVMM_X64_CR_CR0] == base->crs[NVMM_X64_CR_CR0] &&
	    d->cr0 == base->crs[NVMM_X64_CR_CR0], "CR0: ET and NE forced");
	t_ok(g->crs[NVMM_X64_CR_CR4] == cr4 && d->cr4 == cr4,
	    "CR4: LA57 VMXE SMXE PKE dropped");
	t_eq_u64(g->crs[NVMM_X64_CR_XCR0], cap.arch.xcr0_mask | 1,
	    "XCR0: x87 forced");
	t_ok(g->drs[NVMM_X64_DR_DR6] == base->drs[NVMM_X64_DR_DR6] &&
	    g->drs[NVMM_X64_DR_DR7] == base->drs[NVMM_X64_DR_DR7] &&
	    d->dr[4] == base->drs[NVMM_X64_DR_DR6] &&
	    d->dr[5] == base->drs[NVMM_X64_DR_DR7], "DR6 DR7: 32 bits");
	t_ok(g->msrs[NVMM_X64_MSR_EFER] == 0xD01 && d->efer == 0xD01,
	    "EFER.LMA derived from LME and PG");
	t_ok(g->fpu.fx_mxcsr == (s.fpu.fx_mxcsr & cap.arch.mxcsr_mask) &&
	    dump_fpu(vm)->fx_mxcsr == g->fpu.fx_mxcsr,
	    "MXCSR masked with mxcsr_mask (0x%x)", g->fpu.fx_mxcsr);
	t_eq_u64(g->fpu.fx_mxcsr_mask, cap.arch.mxcsr_mask,
	    "fx_mxcsr_mask: the host's");
	guest_xcr0(vm, cap.arch.xcr0_mask | 1, "XCR0: the guest sees x87");

	/* XCR0 beyond what NVMM exposes (AVX) is masked too. */
	s = *base;
	s.crs[NVMM_X64_CR_XCR0] = 0x7;
	run_dump(vm, &s, NVMM_X64_STATE_ALL);
	t_eq_u64(g->crs[NVMM_X64_CR_XCR0], cap.arch.xcr0_mask,
	    "XCR0: masked to xcr0_mask");
	guest_xcr0(vm, cap.arch.xcr0_mask, "XCR0: the guest sees it masked");
}

/* The TSC is written only when neither 0 nor the last value read. */
static void
tsc_rules(struct t_vm *vm, const struct nvmm_x64_state *base)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	const struct dump *d = dump_of(vm);
	struct nvmm_x64_state s = *base;
	uint64_t t1, h0, h1;

	run_dump(vm, &s, NVMM_X64_STATE_ALL);	/* TSC = TSC_SET */
	t1 = vm->vcpu.state->msrs[NVMM_X64_MSR_TSC];

	/* Read, wait, set the same value back: not rewritten. */
	h0 = __rdtsc();
	nanosleep(&nap, NULL);
	h1 = __rdtsc();
	s = *vm->vcpu.state;
	s.gprs[NVMM_X64_GPR_RIP] = T_CODE_BASE;
	run_dump(vm, &s, NVMM_X64_STATE_ALL);
	t_ok(d->tsc - t1 >= (h1 - h0) / 2,
	    "TSC set to the value read: left alone (moved 0x%llx, host 0x%llx)",
	    (unsigned long long)(d->tsc - t1), (unsigned long long)(h1 - h0));

	/* Zero: left alone. */
	t1 = vm->vcpu.state->msrs[NVMM_X64_MSR_TSC];
	s = *vm->vcpu.state;
	s.gprs[NVMM_X64_GPR_RIP] = T_CODE_BASE;
	s.msrs[NVMM_X64_MSR_TSC] = 0;
	run_dump(vm, &s, NVMM_X64_STATE_ALL);
	t_ok(d->tsc >= t1 && d->tsc - t1 < TSC_SLACK,
	    "TSC set to 0: left alone");

	/* Anything else: written. */
	s.msrs[NVMM_X64_MSR_TSC] = 3 * TSC_SET;
	run_dump(vm, &s, NVMM_X64_STATE_ALL);
	if (tsc_raw)
		t_skip("TSC set to a new value: written (not offset here)");
	else
		t_ok(d->tsc >= 3 * TSC_SET && d->tsc - 3 * TSC_SET < TSC_SLACK &&
		    vm->vcpu.state->msrs[NVMM_X64_MSR_TSC] >= d->tsc,
		    "TSC set to a new value: written");
}

/* Each class alone: setstate of one class installs that class only. */
static void
one_class_at_a_time(struct t_vm *vm, const struct nvmm_x64_state *base)
{
	struct nvmm_x64_state s;

	run_dump(vm, base, NVMM_X64_STATE_ALL);
	s = *vm->vcpu.state;
	s.gprs[NVMM_X64_GPR_RIP] = T_CODE_BASE;
	s.gprs[NVMM_X64_GPR_RBX] = 0x5555AAAA5555AAAAULL;
	s.drs[NVMM_X64_DR_DR0] = 0x1234;	/* not committed below */
	run_dump(vm, &s, NVMM_X64_STATE_GPRS);
	t_ok(dump_of(vm)->gprs[3] == 0x5555AAAA5555AAAAULL &&
	    dump_of(vm)->dr[0] == base->drs[NVMM_X64_DR_DR0] &&
	    vm->vcpu.state->drs[NVMM_X64_DR_DR0] == base->drs[NVMM_X64_DR_DR0],
	    "setstate(GPRS) leaves the uncommitted DRS alone");
}

/*
 * GPRS alone, both ways after a run: the setstate and getstate most exits
 * make, which convert the GPRs apart from the per-class code. Each
 * register holds a value of its own, so one moved to another's place
 * shows.
 */
static void
gprs_alone(struct t_vm *vm, const struct nvmm_x64_state *base)
{
	const struct dump *d = dump_of(vm);
	const uint64_t *g = vm->vcpu.state->gprs;
	uint64_t want[NVMM_X64_NGPR];
	unsigned int bad = 0;

	run_dump(vm, base, NVMM_X64_STATE_ALL);
	for (int i = 0; i < 16; i++)
		want[i] = base->gprs[i] ^ 0x00FF00FF00FF00FFULL;
	want[NVMM_X64_GPR_RSP] = DUMP_STACK;
	want[NVMM_X64_GPR_RIP] = T_CODE_BASE;
	want[NVMM_X64_GPR_RFLAGS] = base->gprs[NVMM_X64_GPR_RFLAGS];
	memset(vm->ram + DUMP_GPA, 0xEE, 0x2000);
	memcpy(vm->vcpu.state->gprs, want, sizeof(want));
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	t_eq_u64(t_vm_run(vm), NVMM_VCPU_EXIT_RDMSR, "GPRS alone: the guest ran");
	for (int i = 0; i < 16; i++)
		cmp_u64(&bad, gpr_names[i], d->gprs[i], want[i]);
	cmp_u64(&bad, "RFLAGS", d->rflags, want[NVMM_X64_GPR_RFLAGS]);
	t_ok(bad == 0, "setstate(GPRS) alone: the guest sees each GPR");

	/* As read_back(): the guest changed RAX, RCX, RDX and RIP only. */
	bad = 0;
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	for (int i = 0; i < NVMM_X64_NGPR; i++) {
		if (i > NVMM_X64_GPR_RDX && i != NVMM_X64_GPR_RIP)
			cmp_u64(&bad, gpr_names[i], g[i], want[i]);
	}
	cmp_u64(&bad, "RCX (TEST_END)", g[NVMM_X64_GPR_RCX], 0xFFFFFFFF);
	cmp_u64(&bad, "RIP (at the RDMSR)", g[NVMM_X64_GPR_RIP],
	    vm->vcpu.exit->u.rdmsr.npc - 2);
	t_ok(bad == 0, "getstate(GPRS) alone: each GPR comes back");
}

static bool
host_is_amd(void)
{
	unsigned int a, b, c, d;

	__cpuid(0, a, b, c, d);
	(void)a;
	return b == 0x68747541 && d == 0x69746E65 && c == 0x444D4163;
}

int
main(void)
{
	struct nvmm_x64_state s;
	struct t_vm vm;

	t_require_nvmm();
	t_plan(8 + 8 + 1 + 10 + 3 + 1 + 3);
	T_CHECK(nvmm_capability(&cap));
	/* AMD saves FIP/FDP/FOP only with an x87 exception pending. */
	amd = host_is_amd();

	t_vm_create(&vm, 0);
	t_vm_load(&vm, T_CODE_BASE, state_dump64_begin, state_dump64_end);
	t_vm_load(&vm, XGETBV_GPA, state_xgetbv64_begin, state_xgetbv64_end);
	t_vm_load(&vm, FXPROBE_CODE, state_fxprobe64_begin,
	    state_fxprobe64_end);
	t_vm_long_mode(&vm, T_CODE_BASE, DUMP_STACK);
	fx_pointers64 = probe_fx_pointers64(&vm);
	distinctive_state(&vm, &s);
	run_dump(&vm, &s, NVMM_X64_STATE_ALL);
	guest_saw(&vm, &s);
	read_back(&vm, &s);
	guest_xcr0(&vm, s.crs[NVMM_X64_CR_XCR0], "the guest sees XCR0");
	sanitising(&vm, &s);
	tsc_rules(&vm, &s);
	one_class_at_a_time(&vm, &s);
	gprs_alone(&vm, &s);
	t_vm_destroy(&vm);
	return t_done();
}
