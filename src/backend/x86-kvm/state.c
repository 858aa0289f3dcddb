/*
 * NVMM vCPU state <-> KVM, one pair of helpers per state class, and the
 * RESET state. GPRs, segments, control registers and events travel in the
 * kvm_run page (KVM_CAP_SYNC_REGS): writing them marks them dirty for the
 * next KVM_RUN; reading them costs nothing when KVM stored them at the
 * exit, which it does for GPRs always and for the others while they are
 * in use (see "The sync area"). The rest (XCR0, debug registers, MSRs,
 * FPU) needs one ioctl per class. Sanitising happens here only. The
 * GPRs' pair lives in kvmx86.h, inline with the getstate and setstate of
 * GPRS alone that most exits make.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmx86.h"

#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_PG		(1ULL << 31)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

/* CR4 bits NVMM lets a guest set (spec 2.11). */
#define CR4_ALLOWED	(0x1ULL | 0x2ULL | 0x4ULL | 0x8ULL | 0x10ULL |	\
	0x20ULL | 0x40ULL | 0x80ULL | 0x100ULL | 0x200ULL | 0x400ULL |	\
	0x800ULL /* UMIP */ | 0x10000ULL /* FSGSBASE */ |		\
	0x20000ULL /* PCIDE */ | 0x40000ULL /* OSXSAVE */ |		\
	0x100000ULL /* SMEP */ | 0x200000ULL /* SMAP */)

/* ---- RESET state (spec 3.8) --------------------------------------------------- */

#define RESET_SEG(sel, b, t, sys) {					\
	.selector = (sel), .base = (b), .limit = 0xFFFF,		\
	.attrib = { .type = (t), .s = (sys), .p = 1 } }

const struct nvmm_x64_state kvmx86_reset_state = {
	.segs = {
		[NVMM_X64_SEG_ES] = RESET_SEG(0, 0, 3, 1),
		[NVMM_X64_SEG_CS] = RESET_SEG(0xF000, 0xFFFF0000, 3, 1),
		[NVMM_X64_SEG_SS] = RESET_SEG(0, 0, 3, 1),
		[NVMM_X64_SEG_DS] = RESET_SEG(0, 0, 3, 1),
		[NVMM_X64_SEG_FS] = RESET_SEG(0, 0, 3, 1),
		[NVMM_X64_SEG_GS] = RESET_SEG(0, 0, 3, 1),
		[NVMM_X64_SEG_GDT] = RESET_SEG(0, 0, 2, 1),
		[NVMM_X64_SEG_IDT] = RESET_SEG(0, 0, 2, 1),
		[NVMM_X64_SEG_LDT] = RESET_SEG(0, 0, 2, 0),
		[NVMM_X64_SEG_TR] = RESET_SEG(0, 0, 3, 0),
	},
	.gprs = {
		[NVMM_X64_GPR_RDX] = 0x600,
		[NVMM_X64_GPR_RIP] = 0xFFF0,
		[NVMM_X64_GPR_RFLAGS] = 0x2,
	},
	.crs = {
		[NVMM_X64_CR_CR0] = 0x60000010,
		[NVMM_X64_CR_XCR0] = 0x1,
	},
	.drs = {
		[NVMM_X64_DR_DR6] = 0xFFFF0FF0,
		[NVMM_X64_DR_DR7] = 0x400,
	},
	.msrs = {
		[NVMM_X64_MSR_PAT] = 0x0007040600070406ULL,
	},
	.fpu = {
		.fx_cw = 0x0040,
		.fx_tw = 0x55,
		.fx_zero = 0x55,
		.fx_mxcsr = 0x1F80,
	},
};

/* ---- GPRS: kvmx86.h, inline ------------------------------------------------------ */

/* ---- SEGS ------------------------------------------------------------------------ */

/* Where each NVMM segment lives in struct kvm_sregs (GDT/IDT apart). */
static const size_t seg_offsets[NVMM_X64_NSEG] = {
	[NVMM_X64_SEG_ES] = offsetof(struct kvm_sregs, es),
	[NVMM_X64_SEG_CS] = offsetof(struct kvm_sregs, cs),
	[NVMM_X64_SEG_SS] = offsetof(struct kvm_sregs, ss),
	[NVMM_X64_SEG_DS] = offsetof(struct kvm_sregs, ds),
	[NVMM_X64_SEG_FS] = offsetof(struct kvm_sregs, fs),
	[NVMM_X64_SEG_GS] = offsetof(struct kvm_sregs, gs),
	[NVMM_X64_SEG_GDT] = offsetof(struct kvm_sregs, gdt),
	[NVMM_X64_SEG_IDT] = offsetof(struct kvm_sregs, idt),
	[NVMM_X64_SEG_LDT] = offsetof(struct kvm_sregs, ldt),
	[NVMM_X64_SEG_TR] = offsetof(struct kvm_sregs, tr),
};

static bool
seg_is_table(size_t i)
{
	return i == NVMM_X64_SEG_GDT || i == NVMM_X64_SEG_IDT;
}

/* NVMM's packed attribute word <-> kvm_segment's byte fields. */
static void
seg_from_kvm(const struct kvm_segment *k, struct nvmm_x64_state_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->selector = k->selector;
	s->limit = k->limit;
	s->base = k->base;
	s->attrib.type = k->type & 0xF;
	s->attrib.s = k->s & 1;
	s->attrib.dpl = k->dpl & 3;
	s->attrib.p = (k->present && !k->unusable);
	s->attrib.avl = k->avl & 1;
	s->attrib.l = k->l & 1;
	s->attrib.def = k->db & 1;
	s->attrib.g = k->g & 1;
}

static void
seg_to_kvm(const struct nvmm_x64_state_seg *s, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->selector = s->selector;
	k->limit = s->limit;
	k->base = s->base;
	k->type = s->attrib.type;
	k->s = s->attrib.s;
	k->dpl = s->attrib.dpl;
	k->present = s->attrib.p;
	k->avl = s->attrib.avl;
	k->l = s->attrib.l;
	k->db = s->attrib.def;
	k->g = s->attrib.g;
	k->unusable = !s->attrib.p;	/* NVMM: p = 0 means unusable */
}

static void
segs_from_kvm(const struct kvm_sregs *sr, struct nvmm_x64_state_seg *segs)
{
	for (size_t i = 0; i < NVMM_X64_NSEG; i++) {
		const char *p = (const char *)sr + seg_offsets[i];

		if (seg_is_table(i)) {
			const struct kvm_dtable *t = (const void *)p;

			/* Tables have a base and a limit only. */
			memset(&segs[i], 0, sizeof(segs[i]));
			segs[i].base = t->base;
			segs[i].limit = t->limit;
		} else {
			seg_from_kvm((const void *)p, &segs[i]);
		}
	}
}

static void
segs_to_kvm(const struct nvmm_x64_state_seg *segs, struct kvm_sregs *sr)
{
	for (size_t i = 0; i < NVMM_X64_NSEG; i++) {
		char *p = (char *)sr + seg_offsets[i];

		if (seg_is_table(i)) {
			struct kvm_dtable *t = (void *)p;

			t->base = segs[i].base;
			t->limit = (uint16_t)segs[i].limit;
		} else {
			seg_to_kvm(&segs[i], (void *)p);
		}
	}
}

/* ---- CRS --------------------------------------------------------------------------- */

static int
xcr0_get(struct kvmx86_vcpu *cpu, uint64_t *xcr0)
{
	struct kvm_xcrs xcrs;

	memset(&xcrs, 0, sizeof(xcrs));
	if (ioctl(cpu->fd, KVM_GET_XCRS, &xcrs) != 0)
		return errno;
	*xcr0 = 1;
	for (uint32_t i = 0; i < xcrs.nr_xcrs; i++) {
		if (xcrs.xcrs[i].xcr == 0)
			*xcr0 = xcrs.xcrs[i].value;
	}
	return 0;
}

static int
xcr0_set(struct kvmx86_vcpu *cpu, uint64_t xcr0)
{
	struct kvm_xcrs xcrs;

	memset(&xcrs, 0, sizeof(xcrs));
	xcrs.nr_xcrs = 1;
	/* x87 is mandatory; the guest may only have what NVMM exposes. */
	xcrs.xcrs[0].value = (xcr0 & kvmx86_host.xcr0_mask) | 1;
	return ioctl(cpu->fd, KVM_SET_XCRS, &xcrs) == 0 ? 0 : errno;
}

static int
crs_from_kvm(struct kvmx86_vcpu *cpu, uint64_t *crs)
{
	const struct kvm_sregs *sr = &cpu->run->s.regs.sregs;

	crs[NVMM_X64_CR_CR0] = sr->cr0;
	crs[NVMM_X64_CR_CR2] = sr->cr2;
	crs[NVMM_X64_CR_CR3] = sr->cr3;
	crs[NVMM_X64_CR_CR4] = sr->cr4;
	crs[NVMM_X64_CR_CR8] = sr->cr8;
	return xcr0_get(cpu, &crs[NVMM_X64_CR_XCR0]);
}

static int
crs_to_kvm(struct kvmx86_vcpu *cpu, const uint64_t *crs)
{
	struct kvm_sregs *sr = &cpu->run->s.regs.sregs;

	/* As NVMM: ET and NE are always on in the hardware register. */
	sr->cr0 = crs[NVMM_X64_CR_CR0] | CR0_ET | CR0_NE;
	sr->cr2 = crs[NVMM_X64_CR_CR2];
	sr->cr3 = crs[NVMM_X64_CR_CR3];
	sr->cr4 = crs[NVMM_X64_CR_CR4] & CR4_ALLOWED;
	sr->cr8 = crs[NVMM_X64_CR_CR8] & 0xF;
	/* Without an in-kernel APIC, KVM_RUN reloads CR8 from here. */
	cpu->run->cr8 = sr->cr8;
	return xcr0_set(cpu, crs[NVMM_X64_CR_XCR0]);
}

/* ---- DRS --------------------------------------------------------------------------- */

static int
drs_from_kvm(struct kvmx86_vcpu *cpu, uint64_t *drs)
{
	struct kvm_debugregs d;

	if (ioctl(cpu->fd, KVM_GET_DEBUGREGS, &d) != 0)
		return errno;
	drs[NVMM_X64_DR_DR0] = d.db[0];
	drs[NVMM_X64_DR_DR1] = d.db[1];
	drs[NVMM_X64_DR_DR2] = d.db[2];
	drs[NVMM_X64_DR_DR3] = d.db[3];
	drs[NVMM_X64_DR_DR6] = d.dr6;
	drs[NVMM_X64_DR_DR7] = d.dr7;
	return 0;
}

static int
drs_to_kvm(struct kvmx86_vcpu *cpu, const uint64_t *drs)
{
	struct kvm_debugregs d;

	memset(&d, 0, sizeof(d));
	d.db[0] = drs[NVMM_X64_DR_DR0];
	d.db[1] = drs[NVMM_X64_DR_DR1];
	d.db[2] = drs[NVMM_X64_DR_DR2];
	d.db[3] = drs[NVMM_X64_DR_DR3];
	/* The architectural registers are 32 bits wide. */
	d.dr6 = drs[NVMM_X64_DR_DR6] & 0xFFFFFFFFULL;
	d.dr7 = drs[NVMM_X64_DR_DR7] & 0xFFFFFFFFULL;
	return ioctl(cpu->fd, KVM_SET_DEBUGREGS, &d) == 0 ? 0 : errno;
}

/* ---- MSRS -------------------------------------------------------------------------- */

/* The MSRs behind msrs[] that KVM_GET/SET_MSRS carry (EFER is in sregs). */
static const uint32_t msr_numbers[NVMM_X64_NMSR] = {
	[NVMM_X64_MSR_STAR] = 0xC0000081,
	[NVMM_X64_MSR_LSTAR] = 0xC0000082,
	[NVMM_X64_MSR_CSTAR] = 0xC0000083,
	[NVMM_X64_MSR_SFMASK] = 0xC0000084,
	[NVMM_X64_MSR_KERNELGSBASE] = 0xC0000102,
	[NVMM_X64_MSR_SYSENTER_CS] = 0x174,
	[NVMM_X64_MSR_SYSENTER_ESP] = 0x175,
	[NVMM_X64_MSR_SYSENTER_EIP] = 0x176,
	[NVMM_X64_MSR_PAT] = 0x277,
	[NVMM_X64_MSR_TSC] = 0x10,
};

struct msr_list {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[NVMM_X64_NMSR];
};

static int
msrs_from_kvm(struct kvmx86_vcpu *cpu, uint64_t *msrs)
{
	struct msr_list l;
	uint32_t n = 0;
	int got;

	memset(&l, 0, sizeof(l));
	for (size_t i = 1; i < NVMM_X64_NMSR; i++)
		l.e[n++].index = msr_numbers[i];
	l.hdr.nmsrs = n;
	got = ioctl(cpu->fd, KVM_GET_MSRS, &l);
	if (got != (int)n)
		return got < 0 ? errno : EIO;
	for (size_t i = 1; i < NVMM_X64_NMSR; i++)
		msrs[i] = l.e[i - 1].data;
	msrs[NVMM_X64_MSR_EFER] = cpu->run->s.regs.sregs.efer;
	cpu->tsc_seen = msrs[NVMM_X64_MSR_TSC];
	return 0;
}

static int
msrs_to_kvm(struct kvmx86_vcpu *cpu, const uint64_t *msrs)
{
	uint64_t tsc = msrs[NVMM_X64_MSR_TSC];
	struct msr_list l;
	uint32_t n = 0;
	int set;

	memset(&l, 0, sizeof(l));
	for (size_t i = 1; i < NVMM_X64_NMSR; i++) {
		/* As NVMM: 0 or the value getstate gave leave the TSC alone. */
		if (i == NVMM_X64_MSR_TSC && (tsc == 0 || tsc == cpu->tsc_seen))
			continue;
		l.e[n].index = msr_numbers[i];
		l.e[n++].data = msrs[i];
	}
	l.hdr.nmsrs = n;
	set = ioctl(cpu->fd, KVM_SET_MSRS, &l);
	if (set != (int)n)
		return set < 0 ? errno : EINVAL;
	cpu->run->s.regs.sregs.efer = msrs[NVMM_X64_MSR_EFER];
	return 0;
}

/* ---- INTR -------------------------------------------------------------------------- */

static void
intr_from_kvm(const struct kvmx86_vcpu *cpu, struct nvmm_x64_state_intr *intr)
{
	const struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;

	memset(intr, 0, sizeof(*intr));
	intr->int_shadow = ev->interrupt.shadow != 0;
	intr->int_window_exiting = cpu->int_window;
	intr->nmi_window_exiting = cpu->nmi_window;
	intr->evt_pending = ev->exception.injected || ev->exception.pending ||
	    ev->interrupt.injected || ev->nmi.injected || ev->nmi.pending;
	/* NVMM_EXT_EVENTS: what evt_pending stands for. */
	intr->nmi_masked = ev->nmi.masked != 0;
	intr->nmi_pending = ev->nmi.pending != 0;
	intr->nmi_injected = ev->nmi.injected != 0;
	intr->intr_injected = ev->interrupt.injected != 0;
	intr->intr_vector = ev->interrupt.nr;
	intr->excp_injected = ev->exception.injected || ev->exception.pending;
	intr->excp_has_error = ev->exception.has_error_code != 0;
	intr->excp_vector = ev->exception.nr;
	intr->excp_error = ev->exception.error_code;
}

static void
intr_to_kvm(struct kvmx86_vcpu *cpu, const struct nvmm_x64_state_intr *intr)
{
	struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;
	/* KVM refuses these exception vectors: dropped, not installed. */
	bool excp = intr->excp_injected && intr->excp_vector < 32 &&
	    intr->excp_vector != 2;

	ev->interrupt.shadow = intr->int_shadow ? KVM_X86_SHADOW_INT_MOV_SS : 0;
	ev->flags |= KVM_VCPUEVENT_VALID_SHADOW;
	cpu->int_window = intr->int_window_exiting;
	cpu->nmi_window = intr->nmi_window_exiting;
	/* evt_pending is read-only; NVMM_EXT_EVENTS's fields are not. */
	ev->nmi.masked = intr->nmi_masked;
	ev->nmi.pending = intr->nmi_pending;
	ev->nmi.injected = intr->nmi_injected;
	ev->flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
	cpu->nmi_unsettled = intr->nmi_pending || intr->nmi_injected;
	ev->interrupt.injected = intr->intr_injected;
	ev->interrupt.nr = intr->intr_vector;
	ev->interrupt.soft = 0;
	ev->exception.injected = excp;
	ev->exception.pending = 0;
	ev->exception.nr = excp ? intr->excp_vector : 0;
	ev->exception.has_error_code = excp && intr->excp_has_error;
	ev->exception.error_code = excp ? intr->excp_error : 0;
}

/* ---- FPU: the legacy region of the XSAVE image is NVMM's FXSAVE area ---- */

#define XSAVE_HDR_OFFSET	512

static int
fpu_from_kvm(struct kvmx86_vcpu *cpu, struct nvmm_x64_state_fpu *fpu)
{
	struct kvm_xsave xs;

	if (ioctl(cpu->fd, KVM_GET_XSAVE, &xs) != 0)
		return errno;
	memcpy(fpu, xs.region, sizeof(*fpu));
	return 0;
}

static int
fpu_to_kvm(struct kvmx86_vcpu *cpu, const struct nvmm_x64_state_fpu *fpu)
{
	struct nvmm_x64_state_fpu *legacy;
	struct kvm_xsave xs;
	uint64_t xstate_bv = 0x3;	/* x87 and SSE come from the image */

	memset(&xs, 0, sizeof(xs));
	legacy = (void *)xs.region;
	memcpy(legacy, fpu, sizeof(*fpu));
	/* As NVMM: an MXCSR the host cannot load is masked, not refused. */
	legacy->fx_mxcsr_mask &= kvmx86_host.mxcsr_mask;
	legacy->fx_mxcsr &= kvmx86_host.mxcsr_mask;
	memcpy((char *)xs.region + XSAVE_HDR_OFFSET, &xstate_bv,
	    sizeof(xstate_bv));
	return ioctl(cpu->fd, KVM_SET_XSAVE, &xs) == 0 ? 0 : errno;
}

/* ---- Whole state -------------------------------------------------------------------- */

/* The sync classes that hold an NVMM state class, EFER living in sregs. */
static uint64_t
state_sync_classes(uint64_t flags)
{
	uint64_t classes = 0;

	if (flags & (NVMM_X64_STATE_SEGS | NVMM_X64_STATE_CRS |
	    NVMM_X64_STATE_MSRS))
		classes |= KVM_SYNC_X86_SREGS;
	if (flags & NVMM_X64_STATE_INTR)
		classes |= KVM_SYNC_X86_EVENTS;
	return classes;
}

/* Any classes (kvmx86.h: GPRS alone is converted inline). */
int
kvmx86_state_get_classes(struct kvmx86_vcpu *cpu, uint64_t flags,
    struct nvmm_x64_state *state)
{
	const struct kvm_sync_regs *s = &cpu->run->s.regs;
	int error;

	if ((error = kvmx86_sync_need(cpu, state_sync_classes(flags))) != 0)
		return error;

	if (flags & NVMM_X64_STATE_GPRS)
		kvmx86_gprs_from_kvm(&s->regs, state->gprs);
	if (flags & NVMM_X64_STATE_SEGS)
		segs_from_kvm(&s->sregs, state->segs);
	if (flags & NVMM_X64_STATE_INTR)
		intr_from_kvm(cpu, &state->intr);
	if (!error && (flags & NVMM_X64_STATE_CRS))
		error = crs_from_kvm(cpu, state->crs);
	if (!error && (flags & NVMM_X64_STATE_DRS))
		error = drs_from_kvm(cpu, state->drs);
	if (!error && (flags & NVMM_X64_STATE_MSRS))
		error = msrs_from_kvm(cpu, state->msrs);
	if (!error && (flags & NVMM_X64_STATE_FPU))
		error = fpu_from_kvm(cpu, &state->fpu);
	return error;
}

/* Hardware computes EFER.LMA; a state saying otherwise cannot be entered. */
static void
efer_fix_lma(struct kvm_sregs *sr)
{
	if ((sr->efer & EFER_LME) && (sr->cr0 & CR0_PG))
		sr->efer |= EFER_LMA;
	else
		sr->efer &= ~EFER_LMA;
}

/* Any classes (kvmx86.h: GPRS alone is converted inline). */
int
kvmx86_state_set_classes(struct kvmx86_vcpu *cpu, uint64_t flags,
    const struct nvmm_x64_state *state)
{
	struct kvm_run *run = cpu->run;
	int error;

	if (flags == 0)
		return 0;	/* most runs: the emulator committed nothing */
	/* KVM takes a sync class whole: what is not set here must be KVM's. */
	if ((error = kvmx86_sync_need(cpu, state_sync_classes(flags))) != 0)
		return error;
	if (flags & NVMM_X64_STATE_GPRS) {
		kvmx86_gprs_to_kvm(state->gprs, &run->s.regs.regs);
		run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	if (flags & NVMM_X64_STATE_SEGS)
		segs_to_kvm(state->segs, &run->s.regs.sregs);
	if (flags & NVMM_X64_STATE_INTR) {
		intr_to_kvm(cpu, &state->intr);
		run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
	}
	if (!error && (flags & NVMM_X64_STATE_CRS))
		error = crs_to_kvm(cpu, state->crs);
	if (!error && (flags & NVMM_X64_STATE_DRS))
		error = drs_to_kvm(cpu, state->drs);
	if (!error && (flags & NVMM_X64_STATE_MSRS))
		error = msrs_to_kvm(cpu, state->msrs);
	if (!error && (flags & NVMM_X64_STATE_FPU))
		error = fpu_to_kvm(cpu, &state->fpu);
	if (flags & (NVMM_X64_STATE_SEGS | NVMM_X64_STATE_CRS |
	    NVMM_X64_STATE_MSRS)) {
		efer_fix_lma(&run->s.regs.sregs);
		run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
	}
	return error;
}

/* ---- The sync area ---------------------------------------------------------------- */

/* What the sync area holds and when: kvmx86.h, "The sync area". */

/* kvmx86_sync_need() found these classes stale: fetch them by ioctl. */
int
kvmx86_sync_fetch(struct kvmx86_vcpu *cpu, uint64_t missing)
{
	struct kvm_sync_regs *s = &cpu->run->s.regs;

	if ((missing & KVM_SYNC_X86_REGS) &&
	    ioctl(cpu->fd, KVM_GET_REGS, &s->regs) != 0)
		return errno;
	if ((missing & KVM_SYNC_X86_SREGS) &&
	    ioctl(cpu->fd, KVM_GET_SREGS, &s->sregs) != 0)
		return errno;
	if (missing & KVM_SYNC_X86_EVENTS) {
		if (ioctl(cpu->fd, KVM_GET_VCPU_EVENTS, &s->events) != 0)
			return errno;
		kvmx86_sync_nmi_settled(cpu);
	}
	cpu->sync_fresh |= missing;
	return 0;
}

