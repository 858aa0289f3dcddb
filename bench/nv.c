/*
 * The libnvmm harness: the same guests as raw.c, built the way an NVMM
 * emulator does it (hva_map + gpa_map, getstate/setstate of the whole
 * state once, assist callbacks that read what the guest wrote).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

volatile uint64_t bench_sink;	/* keeps the callbacks' reads alive */

static void
nv_io_cb(struct nvmm_io *io)
{
	bench_sink += io->data[0];
}

static void
nv_mem_cb(struct nvmm_mem *mem)
{
	uint32_t v = 0;

	memcpy(&v, mem->data, mem->size < sizeof(v) ? mem->size : sizeof(v));
	bench_sink += v;
}

static const struct nvmm_assist_callbacks nv_cbs = {
	.io = nv_io_cb,
	.mem = nv_mem_cb,
};

static void
nv_seg(struct nvmm_x64_state_seg *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xFFFFFFFF;
	s->attrib.type = type;
	s->attrib.s = 1;
	s->attrib.p = 1;
	s->attrib.l = code;
	s->attrib.def = !code;
	s->attrib.g = 1;
}

static void
nv_long_mode_segs(struct nvmm_x64_state *st)
{
	nv_seg(&st->segs[NVMM_X64_SEG_CS], G_SEL_CODE, 0xB, true);
	nv_seg(&st->segs[NVMM_X64_SEG_DS], G_SEL_DATA, 0x3, false);
	st->segs[NVMM_X64_SEG_ES] = st->segs[NVMM_X64_SEG_DS];
	st->segs[NVMM_X64_SEG_FS] = st->segs[NVMM_X64_SEG_DS];
	st->segs[NVMM_X64_SEG_GS] = st->segs[NVMM_X64_SEG_DS];
	st->segs[NVMM_X64_SEG_SS] = st->segs[NVMM_X64_SEG_DS];
	memset(&st->segs[NVMM_X64_SEG_TR], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_TR].selector = G_SEL_TSS;
	st->segs[NVMM_X64_SEG_TR].limit = 0x67;
	st->segs[NVMM_X64_SEG_TR].attrib.type = 0xB;
	st->segs[NVMM_X64_SEG_TR].attrib.p = 1;
	memset(&st->segs[NVMM_X64_SEG_LDT], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_LDT].attrib.type = 2;	/* p = 0: unusable */
	memset(&st->segs[NVMM_X64_SEG_GDT], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_GDT].base = G_GDT;
	st->segs[NVMM_X64_SEG_GDT].limit = 0x27;
	memset(&st->segs[NVMM_X64_SEG_IDT], 0, sizeof(st->segs[0]));
}

static void
nv_long_mode(struct nv_vm *vm, uint64_t rip)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	check(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL),
	    "nvmm_vcpu_getstate");
	nv_long_mode_segs(st);
	st->crs[NVMM_X64_CR_CR0] = G_CR0;
	st->crs[NVMM_X64_CR_CR3] = G_PML4;
	st->crs[NVMM_X64_CR_CR4] = G_CR4;
	st->msrs[NVMM_X64_MSR_EFER] = G_EFER;
	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RIP] = rip;
	st->gprs[NVMM_X64_GPR_RSP] = G_STACK;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;
	check(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL),
	    "nvmm_vcpu_setstate");
}

void
nv_vm_create(struct nv_vm *vm, enum guest which)
{
	uint64_t rip;

	memset(vm, 0, sizeof(*vm));
	check(nvmm_machine_create(&vm->mach), "nvmm_machine_create");
	check(nvmm_vcpu_create(&vm->mach, 0, &vm->vcpu), "nvmm_vcpu_create");
	check(nvmm_vcpu_configure(&vm->mach, &vm->vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, (void *)(uintptr_t)&nv_cbs),
	    "NVMM_VCPU_CONF_CALLBACKS");
	vm->ram = mmap(NULL, G_RAM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->ram == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	check(nvmm_hva_map(&vm->mach, (uintptr_t)vm->ram, G_RAM_SIZE),
	    "nvmm_hva_map");
	check(nvmm_gpa_map(&vm->mach, (uintptr_t)vm->ram, 0, G_RAM_SIZE,
	    PROT_READ | PROT_WRITE | PROT_EXEC), "nvmm_gpa_map");
	rip = image_build(vm->ram, which);
	nv_long_mode(vm, rip);
}

void
nv_vm_destroy(struct nv_vm *vm)
{
	check(nvmm_machine_destroy(&vm->mach), "nvmm_machine_destroy");
	munmap(vm->ram, G_RAM_SIZE);
}

uint64_t
nv_run(struct nv_vm *vm)
{
	do {
		check(nvmm_vcpu_run(&vm->mach, &vm->vcpu), "nvmm_vcpu_run");
	} while (vm->vcpu.exit->reason == NVMM_VCPU_EXIT_NONE);
	return vm->vcpu.exit->reason;
}
