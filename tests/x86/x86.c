/*
 * Helpers shared by the x86 semantics tests (see x86.h).
 */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "x86.h"

T_GUEST(x86_idt);
extern const uint8_t x86_h_nmi[], x86_h_ud[], x86_h_gp[], x86_h_pf[],
    x86_h_intr[];

/* ---- IDT ----------------------------------------------------------------- */

/* A 64-bit gate, present, DPL 0, selector 0x08, no IST. */
static void
x86_idt_gate(struct t_vm *vm, unsigned int vec, uint64_t gpa, uint8_t type)
{
	uint64_t gate[2];

	gate[0] = (gpa & 0xFFFF) | (uint64_t)T_SEL_CODE64 << 16 |
	    (uint64_t)(0x80 | type) << 40 | ((gpa >> 16) & 0xFFFF) << 48;
	gate[1] = gpa >> 32;
	memcpy(vm->ram + X86_IDT_BASE + vec * 16, gate, sizeof(gate));
}

uint64_t
x86_stub_gpa(const uint8_t *handler)
{
	return X86_STUBS_BASE + (uint64_t)(handler - x86_idt_begin);
}

void
x86_idt_set(struct t_vm *vm, unsigned int vec, const uint8_t *handler)
{
	x86_idt_gate(vm, vec, x86_stub_gpa(handler), 0xE);	/* interrupt gate */
}

void
x86_idt_trap(struct t_vm *vm, unsigned int vec, uint64_t gpa)
{
	x86_idt_gate(vm, vec, gpa, 0xF);	/* trap gate */
}

static void
x86_idt_install(struct t_vm *vm)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_SEGS));
	st->segs[NVMM_X64_SEG_IDT].base = X86_IDT_BASE;
	st->segs[NVMM_X64_SEG_IDT].limit = 256 * 16 - 1;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_SEGS));
}

/* ---- VMs ------------------------------------------------------------------ */

void
x86_vm_create(struct t_vm *vm, const uint8_t *begin, const uint8_t *end)
{
	t_vm_create(vm, 0);
	t_vm_load(vm, T_CODE_BASE, begin, end);
	t_vm_load(vm, X86_STUBS_BASE, x86_idt_begin, x86_idt_end);
	memset(vm->ram + X86_IDT_BASE, 0, 256 * 16);
	x86_idt_set(vm, 2, x86_h_nmi);
	x86_idt_set(vm, 6, x86_h_ud);
	x86_idt_set(vm, 13, x86_h_gp);
	x86_idt_set(vm, 14, x86_h_pf);
	x86_idt_set(vm, 0x40, x86_h_intr);
	t_vm_long_mode(vm, T_CODE_BASE, X86_STACK_TOP);
	x86_idt_install(vm);
}

void
x86_vcpu_add(struct t_vm *vm, nvmm_cpuid_t id, struct nvmm_vcpu *vcpu)
{
	T_CHECK(nvmm_vcpu_create(&vm->mach, id, vcpu));
	vm->vcpu = *vcpu;
	t_vm_long_mode(vm, T_CODE_BASE, X86_STACK_TOP);
	x86_idt_install(vm);
}

uint64_t
x86_code_gpa(const uint8_t *begin, const uint8_t *label)
{
	return T_CODE_BASE + (uint64_t)(label - begin);
}

/* ---- Runs and state ---------------------------------------------------------- */

uint64_t
x86_run_once(struct t_vm *vm)
{
	T_CHECK(nvmm_vcpu_run(&vm->mach, &vm->vcpu));
	return vm->vcpu.exit->reason;
}

uint64_t
x86_gpr(struct t_vm *vm, int gpr)
{
	return t_vm_gpr(vm, gpr);
}

void
x86_restart(struct t_vm *vm, uint64_t rip, uint64_t rflags)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RIP] = rip;
	st->gprs[NVMM_X64_GPR_RFLAGS] = rflags;
	st->gprs[NVMM_X64_GPR_RSP] = X86_STACK_TOP;
	for (int r = NVMM_X64_GPR_R12; r <= NVMM_X64_GPR_R15; r++)
		st->gprs[r] = 0;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
}

void
x86_inject(struct t_vm *vm, unsigned int type, uint8_t vector, uint64_t error)
{
	vm->vcpu.event->type = type;
	vm->vcpu.event->vector = vector;
	vm->vcpu.event->u.excp.error = error;
	T_CHECK(nvmm_vcpu_inject(&vm->mach, &vm->vcpu));
}

void
x86_set_windows(struct t_vm *vm, bool int_window, bool nmi_window)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_INTR));
	st->intr.int_window_exiting = int_window;
	st->intr.nmi_window_exiting = nmi_window;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_INTR));
}

bool
x86_host_intel(void)
{
	unsigned int eax, ebx, ecx, edx;

	__cpuid(0, eax, ebx, ecx, edx);
	(void)eax;
	return ebx == 0x756E6547 && edx == 0x49656E69 && ecx == 0x6C65746E;
}

bool
x86_host_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

bool
x86_kvm_param(const char *name)
{
	char path[128], c = 'N';
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/kvm/parameters/%s", name);
	if ((f = fopen(path, "r")) != NULL) {
		if (fread(&c, 1, 1, f) != 1)
			c = 'N';
		fclose(f);
	}
	return c == 'Y' || c == '1';
}
