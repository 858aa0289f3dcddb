/*
 * System registers: a small MMIO block with no RAM behind it, so every
 * guest access exits and reaches us through nvmm_assist_mem(). Registers
 * (toy_abi.h): a read-only ID, WHOAMI (the accessing vCPU), a 64-bit
 * scratch register banked per vCPU, and a shared counter that counts its
 * own reads. Any aligned access of 1 to 8 bytes within one register works.
 */
#include "toyvmm.h"

struct reg {
	uint64_t off;
	size_t size;
};

static const struct reg regs[] = {
	{ TOY_MMIO_ID, 4 },
	{ TOY_MMIO_WHOAMI, 4 },
	{ TOY_MMIO_SCRATCH, 8 },
	{ TOY_MMIO_COUNTER, 8 },
};

static uint64_t scratch[TOY_MAX_CPUS];	/* each used by its vCPU only */
static atomic_ullong counter;

static const struct reg *
reg_find(uint64_t off, size_t size)
{
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (off >= regs[i].off && off + size <= regs[i].off + regs[i].size)
			return &regs[i];
	}
	return NULL;
}

static uint64_t
reg_read(const struct reg *r, unsigned int cpu)
{
	switch (r->off) {
	case TOY_MMIO_ID:
		return TOY_MMIO_ID_VALUE;
	case TOY_MMIO_WHOAMI:
		return cpu;
	case TOY_MMIO_SCRATCH:
		return scratch[cpu];
	default:
		return atomic_fetch_add(&counter, 1) + 1;
	}
}

/* Merge the written bytes into the register; read-only ones ignore it. */
static void
reg_write(const struct reg *r, unsigned int cpu, unsigned int shift,
    uint64_t mask, uint64_t v)
{
	if (r->off == TOY_MMIO_SCRATCH)
		scratch[cpu] = (scratch[cpu] & ~(mask << shift)) | (v << shift);
}

static bool
sysregs_access(const struct bus_access *acc, void *opaque)
{
	const struct reg *r = reg_find(acc->off, acc->size);
	unsigned int cpu = acc->cpu->index;
	unsigned int shift;
	uint64_t mask;

	(void)opaque;
	if (r == NULL)
		return false;
	shift = (unsigned int)(acc->off - r->off) * 8;
	mask = acc->size == 8 ? ~0ULL : (1ULL << (acc->size * 8)) - 1;
	if (acc->write)
		reg_write(r, cpu, shift, mask, bus_get(acc));
	else
		bus_put(acc, (reg_read(r, cpu) >> shift) & mask);
	return true;
}

static void
sysregs_init(struct toy_vm *vm)
{
	bus_register(vm, &(struct bus_region){ BUS_MMIO, TOY_MMIO_BASE,
	    TOY_MMIO_SIZE, sysregs_access, NULL, "sysregs" });
}

const struct toy_device dev_sysregs = {
	.name = "sysregs",
	.init = sysregs_init,
};
