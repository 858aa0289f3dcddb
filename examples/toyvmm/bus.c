/*
 * The bus: devices register { space, base, len, handler } regions, and
 * the three ways the guest reaches a device end up here: the I/O and
 * memory assists' callbacks (once per element KVM reports) and RDMSR/
 * WRMSR exits. Regions are registered before the vCPUs start, so the
 * table is read without a lock.
 */
#include <err.h>
#include <string.h>

#include "toyvmm.h"

static const char *const space_name[] = {
	[BUS_PIO] = "port", [BUS_MMIO] = "MMIO", [BUS_MSR] = "MSR",
};

void
bus_register(struct toy_vm *vm, const struct bus_region *r)
{
	if (vm->nregions == BUS_MAX_REGIONS)
		errx(1, "bus: too many regions (%s)", r->name);
	vm->regions[vm->nregions++] = *r;
}

uint64_t
bus_get(const struct bus_access *acc)
{
	uint64_t v = 0;

	memcpy(&v, acc->data, acc->size);	/* x86: little-endian */
	return v;
}

void
bus_put(const struct bus_access *acc, uint64_t v)
{
	memcpy(acc->data, &v, acc->size);
}

static const struct bus_region *
bus_find(struct toy_vm *vm, enum bus_space space, uint64_t addr, size_t size)
{
	for (unsigned int i = 0; i < vm->nregions; i++) {
		const struct bus_region *r = &vm->regions[i];

		if (r->space == space && addr >= r->base &&
		    addr - r->base < r->len && size <= r->len - (addr - r->base))
			return r;
	}
	return NULL;
}

/* Route one access; nobody there is an error the verdict will show. */
static bool
bus_dispatch(struct toy_cpu *cpu, enum bus_space space, uint64_t addr,
    bool write, size_t size, uint8_t *data)
{
	/* An MSR is one address however wide its value. */
	const struct bus_region *r = bus_find(cpu->vm, space, addr,
	    space == BUS_MSR ? 1 : size);
	struct bus_access acc = { cpu, addr, 0, write, size, data };

	if (r != NULL) {
		acc.off = addr - r->base;
		if (r->handler(&acc, r->opaque))
			return true;
	}
	vm_error(cpu->vm, "vCPU %u: %s %s 0x%llx (%zu bytes): %s",
	    cpu->index, write ? "write to" : "read from", space_name[space],
	    (unsigned long long)addr, size, r ? "refused" : "no device");
	if (!write)
		memset(data, 0xFF, size);	/* an open bus reads all ones */
	return false;
}

/* ---- Assist callbacks ------------------------------------------------------------ */

static void
bus_io(struct nvmm_io *io)
{
	bus_dispatch(toy_cpu_of(io->vcpu), BUS_PIO, io->port, !io->in,
	    io->size, io->data);
}

static void
bus_mem(struct nvmm_mem *mem)
{
	bus_dispatch(toy_cpu_of(mem->vcpu), BUS_MMIO, mem->gpa, mem->write,
	    mem->size, mem->data);
}

const struct nvmm_assist_callbacks bus_callbacks = {
	.io = bus_io,
	.mem = bus_mem,
};

/* ---- MSRs ------------------------------------------------------------------------- */

void
bus_msr_exit(struct toy_cpu *cpu)
{
	struct nvmm_vcpu *vcpu = &cpu->vcpu;
	const struct nvmm_vcpu_exit *exit = vcpu->exit;
	bool rd = exit->reason == NVMM_VCPU_EXIT_RDMSR;
	uint32_t msr = rd ? exit->u.rdmsr.msr : exit->u.wrmsr.msr;
	uint64_t *gprs = vcpu->state->gprs;
	uint64_t val = rd ? 0 : exit->u.wrmsr.val;
	uint8_t data[8];

	if (nvmm_vcpu_getstate(&cpu->vm->mach, vcpu, NVMM_X64_STATE_GPRS) == -1)
		err(1, "nvmm_vcpu_getstate");
	memcpy(data, &val, sizeof(data));
	if (!bus_dispatch(cpu, BUS_MSR, msr, !rd, 8, data)) {
		/* #GP(0), as for an MSR the CPU lacks; RIP stays put. */
		irq_exception(cpu, 13, 0);
		return;
	}
	if (rd) {
		uint64_t v;

		memcpy(&v, data, sizeof(v));
		gprs[NVMM_X64_GPR_RAX] = (uint32_t)v;
		gprs[NVMM_X64_GPR_RDX] = v >> 32;
	}
	gprs[NVMM_X64_GPR_RIP] = rd ? exit->u.rdmsr.npc : exit->u.wrmsr.npc;
	nvmm_vcpu_setstate(&cpu->vm->mach, vcpu, NVMM_X64_STATE_GPRS);
}
