/*
 * Exit records when the guest's code or page tables change between two
 * exits at the same RIP. The backend keeps the last decode of an IO and
 * an MSR exit's instruction and answers the next exit at that RIP from
 * it: this test rewrites the code in place and points the page table at
 * other code, switches CR3 to tables that point elsewhere, and maps other
 * memory at the code's guest-physical page (the old memory, still mapped
 * in this process, unchanged), and in real mode runs one IP under other
 * CS bases, and one code under another DX: each exit record (RIP, npc)
 * must still be the one of the code the guest ran. Variants pair up so that consecutive
 * exits share RIP and access on both kinds of host: same start (KVM
 * reports RIP on an OUT) and same end (KVM reports RIP past it).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define PORT		123
#define PORT_DX		124	/* DX of the DX test, where it is not PORT */
#define MSR		0xFFFFFFFFu	/* exits as RDMSR (guest.h) */
#define RAM_SIZE	(8u << 20)
#define PT		T_PT_BASE	/* the builder's tables: PML4 PDPT PD */
#define PT2		0x78000		/* a copy, for a CR3 switch */
#define LIN		(0x200000 + 0x800)	/* the code: PD entry 1 */
#define PAGE_A		0x200000	/* where entry 1 may point */
#define PAGE_B		0x400000
#define PAGE_C		0x600000
#define PAGE_X		RAM_SIZE	/* a 2 MiB area of its own, remapped */
#define PAGE_SIZE_2M	(2u << 20)

T_GUEST(cc_enter);
#define CC_VARIANT(name)						\
	T_GUEST(name);							\
	extern const uint8_t name##_insn[], name##_next[]
CC_VARIANT(cc_out_imm);
CC_VARIANT(cc_out_dx);
CC_VARIANT(cc_nop_out_dx);
CC_VARIANT(cc_rdmsr);
CC_VARIANT(cc_rex_rdmsr);

struct variant {
	const char *text;
	const uint8_t *begin, *end, *insn, *next;
	bool io;
};

#define V(text, name, io)						\
	{ text, name##_begin, name##_end, name##_insn, name##_next, io }

static const struct variant out_imm = V("outb %al, $123", cc_out_imm, true);
static const struct variant out_dx = V("outb %al, %dx", cc_out_dx, true);
static const struct variant nop_out_dx = V("nop; outb %al, %dx",
    cc_nop_out_dx, true);
static const struct variant rdmsr = V("rdmsr", cc_rdmsr, false);
static const struct variant rex_rdmsr = V("rex.W rdmsr", cc_rex_rdmsr,
    false);

/*
 * Run the variant at page (guest-physical) through entry 1 of the PD
 * under cr3; remap: PAGE_X gets new host memory first.
 */
struct step {
	const struct variant *v;
	uint64_t page;
	const char *why;
	uint64_t cr3;		/* 0: PT */
	bool remap;
};

#define STEP(v, page, why)	{ &v, page, why, 0, false }
#define STEP_CR3(v, page, why)	{ &v, page, why, PT2, false }
#define STEP_REMAP(v, why)	{ &v, PAGE_X, why, 0, true }

static const struct step steps[] = {
	STEP(out_imm, PAGE_A, "first"),
	STEP(out_imm, PAGE_A, "again"),
	STEP(out_dx, PAGE_A, "code rewritten, same start"),
	STEP(out_imm, PAGE_A, "code rewritten back"),
	STEP(nop_out_dx, PAGE_A, "code rewritten, same end"),
	STEP(out_imm, PAGE_A, "code rewritten back"),
	STEP(out_dx, PAGE_B, "page table moved, same start"),
	STEP(out_imm, PAGE_A, "page table moved back"),
	STEP(nop_out_dx, PAGE_C, "page table moved, same end"),
	STEP(out_imm, PAGE_A, "page table moved back"),
	STEP(rdmsr, PAGE_A, "first"),
	STEP(rdmsr, PAGE_A, "again"),
	STEP(rex_rdmsr, PAGE_A, "code rewritten"),
	STEP(rdmsr, PAGE_A, "code rewritten back"),
	STEP(rex_rdmsr, PAGE_B, "page table moved"),
	STEP(rdmsr, PAGE_A, "page table moved back"),
	/* PT's entry stays on PAGE_A's code: only CR3 tells them apart. */
	STEP(out_imm, PAGE_A, "before a CR3 switch"),
	STEP_CR3(out_dx, PAGE_B, "CR3 switched, same start"),
	STEP(out_imm, PAGE_A, "CR3 switched back"),
	STEP_CR3(nop_out_dx, PAGE_C, "CR3 switched, same end"),
	STEP(out_imm, PAGE_A, "CR3 switched back"),
	STEP_CR3(rex_rdmsr, PAGE_B, "CR3 switched"),
	STEP(rdmsr, PAGE_A, "CR3 switched back"),
	/* Same tables, same bytes at the old host memory: only the slot moved. */
	STEP_REMAP(out_imm, "in an area of its own"),
	STEP_REMAP(out_dx, "area remapped, same start"),
	STEP_REMAP(out_imm, "area remapped back"),
	STEP_REMAP(nop_out_dx, "area remapped, same end"),
	STEP_REMAP(rdmsr, "area remapped"),
	STEP_REMAP(rex_rdmsr, "area remapped"),
};

#define NSTEPS		(sizeof(steps) / sizeof(steps[0]))

static unsigned int io_calls, io_bad;

static void
io_cb(struct nvmm_io *io)
{
	if ((io->port == PORT || io->port == PORT_DX) && !io->in &&
	    io->size == 1)
		io_calls++;
	else
		io_bad++;
}

/* The tables at PT2: PT's, one level after the other. */
static void
tables_copy(struct t_vm *vm)
{
	uint64_t pml4e = (PT2 + 0x1000) | 0x3, pdpte = (PT2 + 0x2000) | 0x3;

	memcpy(vm->ram + PT2, vm->ram + PT, 3 * 4096);
	memcpy(vm->ram + PT2, &pml4e, sizeof(pml4e));
	memcpy(vm->ram + PT2 + 0x1000, &pdpte, sizeof(pdpte));
}

/*
 * PAGE_X on new host memory. The old stays registered (hva_unmap would
 * unmap it), so it keeps its bytes where a stale decode would read them.
 */
static uint8_t *
area_remap(struct t_vm *vm)
{
	static uint8_t *x;

	if (x != NULL)
		T_CHECK(nvmm_gpa_unmap(&vm->mach, (uintptr_t)x, PAGE_X,
		    PAGE_SIZE_2M));
	x = t_vm_map(vm, PAGE_X, PAGE_SIZE_2M,
	    PROT_READ | PROT_WRITE | PROT_EXEC);
	return x;
}

/* Plant the step's code, point PD entry 1 at it, enter at cc_enter. */
static void
step_start(struct t_vm *vm, const struct step *s)
{
	struct nvmm_x64_state *st = vm->vcpu.state;
	uint64_t pde = s->page | 0x83;		/* P W PS */
	uint64_t cr3 = s->cr3 ? s->cr3 : PT;
	size_t size = (size_t)(s->v->end - s->v->begin);

	if (s->remap)
		memcpy(area_remap(vm) + (LIN & 0x1FFFFF), s->v->begin, size);
	else
		t_vm_load(vm, s->page + (LIN & 0x1FFFFF), s->v->begin,
		    s->v->end);
	memcpy(vm->ram + cr3 + 0x2000 + 8, &pde, sizeof(pde));
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_CRS));
	st->crs[NVMM_X64_CR_CR3] = cr3;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_CRS));
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RIP] = T_CODE_BASE;
	st->gprs[NVMM_X64_GPR_RBX] = LIN;
	st->gprs[NVMM_X64_GPR_RCX] = MSR;
	st->gprs[NVMM_X64_GPR_RDX] = PORT;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
}

/* The exit record of the variant's instruction; false with a diagnostic. */
static bool
step_exit_ok(struct t_vm *vm, const struct step *s, uint64_t reason)
{
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;
	uint64_t rip = t_vm_gpr(vm, NVMM_X64_GPR_RIP);
	uint64_t start = LIN + (uint64_t)(s->v->insn - s->v->begin);
	uint64_t npc = LIN + (uint64_t)(s->v->next - s->v->begin);
	uint64_t got_npc;
	bool ok;

	if (s->v->io) {
		const struct nvmm_x86_exit_io *io = &exit->u.io;

		ok = reason == NVMM_VCPU_EXIT_IO && io->port == PORT &&
		    !io->in && io->operand_size == 1 && !io->str && !io->rep;
		got_npc = io->npc;
	} else {
		ok = reason == NVMM_VCPU_EXIT_RDMSR &&
		    exit->u.rdmsr.msr == MSR;
		got_npc = exit->u.rdmsr.npc;
	}
	ok = ok && rip == start && got_npc == npc;
	if (!ok)
		t_diag("  exit 0x%llx, RIP +0x%llx npc +0x%llx; want RIP "
		    "+0x%llx npc +0x%llx", (unsigned long long)reason,
		    (unsigned long long)(rip - LIN),
		    (unsigned long long)(got_npc - LIN),
		    (unsigned long long)(start - LIN),
		    (unsigned long long)(npc - LIN));
	return ok;
}

/* Serve the exit as an emulator would; the guest then reaches its HLT. */
static void
step_serve(struct t_vm *vm, const struct step *s)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	if (s->v->io) {
		T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
		return;
	}
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RAX] = 0;
	st->gprs[NVMM_X64_GPR_RDX] = 0;
	st->gprs[NVMM_X64_GPR_RIP] = vm->vcpu.exit->u.rdmsr.npc;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
}

static void
step_run(struct t_vm *vm, const struct step *s)
{
	unsigned int calls = io_calls;
	bool ok;

	step_start(vm, s);
	ok = step_exit_ok(vm, s, t_vm_run(vm));
	t_ok(ok, "%s at page 0x%llx (%s): exit record", s->v->text,
	    (unsigned long long)s->page, s->why);
	if (ok)
		step_serve(vm, s);
	t_ok(ok && t_vm_run(vm) == NVMM_VCPU_EXIT_HALTED &&
	    io_calls == calls + s->v->io && io_bad == 0,
	    "%s at page 0x%llx (%s): served, the guest goes on", s->v->text,
	    (unsigned long long)s->page, s->why);
}

/*
 * Real mode: one IP under two CS bases is two places, each code left as
 * it is. The code as bytes: out $PORT, %al / out %al, %dx / nop; then hlt.
 */
static const uint8_t rm_out_imm[] = { 0xE6, PORT, 0xF4 };
static const uint8_t rm_out_dx[] = { 0xEE, 0xF4 };
static const uint8_t rm_nop_out_dx[] = { 0x90, 0xEE, 0xF4 };

#define RM_IP		0x100
#define RM_STEP(sel, code, insn, next, why)				\
	{ sel, code, sizeof(code), RM_IP + (insn), RM_IP + (next), why }

struct rm_step {
	uint16_t sel;
	const uint8_t *code;
	size_t size;
	uint16_t insn, next;	/* IP of the OUT, and after it */
	const char *why;
};

static const struct rm_step rm_steps[] = {
	RM_STEP(0x1000, rm_out_imm, 0, 2, "first"),
	RM_STEP(0x2000, rm_out_dx, 0, 1, "CS base changed, same start"),
	RM_STEP(0x1000, rm_out_imm, 0, 2, "CS base changed back"),
	RM_STEP(0x3000, rm_nop_out_dx, 1, 2, "CS base changed, same end"),
	RM_STEP(0x1000, rm_out_imm, 0, 2, "CS base changed back"),
};

#define RM_NSTEPS	(sizeof(rm_steps) / sizeof(rm_steps[0]))

static void
rm_step_run(struct t_vm *vm, const struct rm_step *s)
{
	const struct nvmm_x86_exit_io *io = &vm->vcpu.exit->u.io;
	unsigned int calls = io_calls;
	uint64_t reason, rip;
	bool ok;

	t_vm_load(vm, ((uint64_t)s->sel << 4) + RM_IP, s->code,
	    s->code + s->size);
	t_vm_real_mode(vm, s->sel, RM_IP);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RDX, PORT);
	reason = t_vm_run(vm);
	rip = t_vm_gpr(vm, NVMM_X64_GPR_RIP);
	ok = reason == NVMM_VCPU_EXIT_IO && io->port == PORT && !io->in &&
	    io->operand_size == 1 && !io->str && rip == s->insn &&
	    io->npc == s->next;
	if (!ok)
		t_diag("  exit 0x%llx, RIP 0x%llx npc 0x%llx; want 0x%x 0x%x",
		    (unsigned long long)reason, (unsigned long long)rip,
		    (unsigned long long)io->npc, s->insn, s->next);
	t_ok(ok, "real mode, CS 0x%04x (%s): exit record", s->sel, s->why);
	if (ok)
		T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
	t_ok(ok && t_vm_run(vm) == NVMM_VCPU_EXIT_HALTED &&
	    io_calls == calls + 1 && io_bad == 0,
	    "real mode, CS 0x%04x (%s): served, the guest goes on", s->sel,
	    s->why);
}

/*
 * Real mode, one code under two DX values: out $PORT, %al; out %al, %dx.
 * Where KVM reports RIP past the first OUT, the bytes at RIP decode to
 * the reported access only while DX holds PORT, so a decode there hangs
 * on DX, and so must its memo: with DX = PORT_DX the record is the first
 * OUT's, whatever the exit before found with DX = PORT.
 */
static const uint8_t rm_out_imm_dx[] = { 0xE6, PORT, 0xEE, 0xF4 };

static void
rm_dx_run(struct t_vm *vm, uint16_t dx, bool check)
{
	const struct nvmm_x86_exit_io *io = &vm->vcpu.exit->u.io;
	uint64_t reason, rip;
	bool ok;

	t_vm_load(vm, (0x1000 << 4) + RM_IP, rm_out_imm_dx,
	    rm_out_imm_dx + sizeof(rm_out_imm_dx));
	t_vm_real_mode(vm, 0x1000, RM_IP);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RDX, dx);
	reason = t_vm_run(vm);
	rip = t_vm_gpr(vm, NVMM_X64_GPR_RIP);
	if (check) {
		ok = reason == NVMM_VCPU_EXIT_IO && io->port == PORT &&
		    rip == RM_IP && io->npc == RM_IP + 2;
		if (!ok)
			t_diag("  exit 0x%llx, RIP 0x%llx npc 0x%llx",
			    (unsigned long long)reason,
			    (unsigned long long)rip,
			    (unsigned long long)io->npc);
		t_ok(ok, "real mode, DX 0x%x after DX 0x%x: exit record",
		    dx, PORT);
	}
	if (reason == NVMM_VCPU_EXIT_IO) {
		T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
		/* To the HLT: the IO memo stays this exit's. */
		if (!check)
			t_vm_set_gpr(vm, NVMM_X64_GPR_RIP, RM_IP + 3);
		reason = t_vm_run(vm);
	}
	while (reason == NVMM_VCPU_EXIT_IO) {
		T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
		reason = t_vm_run(vm);
	}
	t_ok(reason == NVMM_VCPU_EXIT_HALTED && io_bad == 0,
	    "real mode, DX 0x%x: served, the guest goes on", dx);
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb, .mem = NULL };
	struct t_vm vm;

	t_require_nvmm();
	t_plan(2 * (NSTEPS + RM_NSTEPS) + 3);

	t_vm_create(&vm, RAM_SIZE);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_vm_load(&vm, T_CODE_BASE, cc_enter_begin, cc_enter_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
	tables_copy(&vm);
	for (size_t i = 0; i < NSTEPS; i++)
		step_run(&vm, &steps[i]);
	t_vm_destroy(&vm);

	t_vm_create(&vm, 1u << 20);	/* RESET state: real mode */
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	for (size_t i = 0; i < RM_NSTEPS; i++)
		rm_step_run(&vm, &rm_steps[i]);
	rm_dx_run(&vm, PORT, false);
	rm_dx_run(&vm, PORT_DX, true);
	t_vm_destroy(&vm);
	return t_done();
}
