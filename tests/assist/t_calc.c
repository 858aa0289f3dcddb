/*
 * calc-vm as a test (spec 6.4): from the RESET state (real mode, CS.base
 * 0xFFFF0000, RIP 0xFFF0), code "01 C3 F4" in a read-only page at
 * 0xFFFF0000, RIP = 0, RAX = 3, RBX = 5; the vCPU must halt with RBX = 8
 * and RIP past the HLT. A second run shows the add is 16-bit.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define CALC_GPA	0xFFFF0000ULL

T_GUEST(calc);

static void
calc_set(struct t_vm *vm, uint64_t rax, uint64_t rbx)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RIP] = 0;
	st->gprs[NVMM_X64_GPR_RAX] = rax;
	st->gprs[NVMM_X64_GPR_RBX] = rbx;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
}

int
main(void)
{
	static const uint8_t want_code[] = { 0x01, 0xC3, 0xF4 };
	struct nvmm_x64_state *st;
	struct t_vm vm;
	uint8_t *page;

	t_require_nvmm();
	t_plan(8);

	memset(&vm, 0, sizeof(vm));
	T_CHECK(nvmm_machine_create(&vm.mach));
	T_CHECK(nvmm_vcpu_create(&vm.mach, 0, &vm.vcpu));
	st = vm.vcpu.state;
	page = t_vm_map(&vm, CALC_GPA, 4096, PROT_READ | PROT_EXEC);
	memcpy(page, calc_begin, (size_t)(calc_end - calc_begin));
	t_ok(calc_end - calc_begin == 3 && memcmp(page, want_code, 3) == 0,
	    "guest code is 01 C3 F4");

	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_SEGS));
	t_ok(st->segs[NVMM_X64_SEG_CS].base == CALC_GPA &&
	    st->segs[NVMM_X64_SEG_CS].selector == 0xF000 &&
	    !st->segs[NVMM_X64_SEG_CS].attrib.def,
	    "RESET state: 16-bit CS F000 based at 0xFFFF0000");

	/* t_vm_run() loops on NONE, as calc-vm does. */
	calc_set(&vm, 3, 5);
	t_eq_u64(t_vm_run(&vm), NVMM_VCPU_EXIT_HALTED, "3 + 5: HALTED");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RBX), 8, "3 + 5: Result: 8");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RIP), 3, "RIP is past the HLT");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RAX), 3, "RAX is untouched");

	/* 01 C3 in 16-bit code adds BX += AX only: bits 16 and up stay. */
	calc_set(&vm, 0x10005, 0x20003);
	t_eq_u64(t_vm_run(&vm), NVMM_VCPU_EXIT_HALTED, "second run: HALTED");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RBX), 0x20008,
	    "the add is 16-bit (BX = 5 + 3, upper RBX kept)");
	t_vm_destroy(&vm);
	return t_done();
}
