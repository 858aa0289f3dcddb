/*
 * The MSRs the VMM emulates. NVMM sends every MSR outside its in-kernel
 * set to us: APICBASE, read-only, with the BSP flag on vCPU 0 only, and a
 * scratch MSR per vCPU. Anything else is refused, and the bus turns that
 * into #GP as the CPU would.
 */
#include "toyvmm.h"

static uint64_t scratch[TOY_MAX_CPUS];	/* each used by its vCPU only */

static bool
msr_apicbase(const struct bus_access *acc, void *opaque)
{
	uint64_t value = TOY_APICBASE_VALUE(acc->cpu->index);

	(void)opaque;
	if (!acc->write) {
		bus_put(acc, value);
		return true;
	}
	return bus_get(acc) == value;	/* no relocation, no disable */
}

static bool
msr_scratch(const struct bus_access *acc, void *opaque)
{
	uint64_t *v = &scratch[acc->cpu->index];

	(void)opaque;
	if (acc->write)
		*v = bus_get(acc);
	else
		bus_put(acc, *v);
	return true;
}

static void
msr_init(struct toy_vm *vm)
{
	for (unsigned int i = 0; i < vm->ncpus; i++)
		scratch[i] = TOY_MSR_SCRATCH_RESET(i);
	bus_register(vm, &(struct bus_region){ BUS_MSR, TOY_MSR_APICBASE, 1,
	    msr_apicbase, NULL, "apicbase" });
	bus_register(vm, &(struct bus_region){ BUS_MSR, TOY_MSR_SCRATCH, 1,
	    msr_scratch, NULL, "msr-scratch" });
}

const struct toy_device dev_msr = {
	.name = "msr",
	.init = msr_init,
};
