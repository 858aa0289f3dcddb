/*
 * Smoke test: a 64-bit guest halts, then does port I/O through the assist
 * and stops on an unknown MSR.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"

T_GUEST(smoke_hlt64);
T_GUEST(smoke_out64);

static uint8_t out_value;
static int out_calls;

static void
io_cb(struct nvmm_io *io)
{
	if (!io->in && io->port == 0x80 && io->size == 1) {
		out_value = io->data[0];
		out_calls++;
	}
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb };
	struct t_vm vm;

	t_require_nvmm();
	t_plan(7);

	t_vm_create(&vm, 0);
	t_vm_load(&vm, T_CODE_BASE, smoke_hlt64_begin, smoke_hlt64_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
	t_eq_u64(t_vm_run(&vm), NVMM_VCPU_EXIT_HALTED, "64-bit guest halts");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RAX), 0x1234, "RAX set by guest");

	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_vm_load(&vm, T_CODE_BASE, smoke_out64_begin, smoke_out64_end);
	t_vm_set_gpr(&vm, NVMM_X64_GPR_RIP, T_CODE_BASE);
	t_eq_u64(t_vm_run(&vm), NVMM_VCPU_EXIT_IO, "OUT exits as IO");
	t_ok(nvmm_assist_io(&vm.mach, &vm.vcpu) == 0, "assist_io");
	t_eq_u64(t_vm_run(&vm), NVMM_VCPU_EXIT_RDMSR, "unknown MSR exits");
	t_ok(out_calls == 1 && out_value == 0xAB, "callback saw OUT 0xAB");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RBX), 0x42,
	    "guest continued after the OUT");
	t_vm_destroy(&vm);
	return t_done();
}
