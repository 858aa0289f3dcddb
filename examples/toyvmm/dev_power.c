/*
 * Power and status: the guest ends each vCPU by writing its number of
 * failed checks, after reporting how many timer interrupts it counted.
 * The report compares that count with what the VMM injected and demands
 * that every vCPU powered off cleanly with no failed check.
 */
#include "toyvmm.h"

struct status {
	bool off;
	uint32_t failed;
	bool ticks_reported;
	uint32_t ticks;
};

static struct status status[TOY_MAX_CPUS];

static bool
power_access(const struct bus_access *acc, void *opaque)
{
	struct status *s = &status[acc->cpu->index];

	(void)opaque;
	if (!acc->write || acc->size != 4)
		return false;
	if (acc->addr == TOY_PORT_TICKS) {
		s->ticks = (uint32_t)bus_get(acc);
		s->ticks_reported = true;
	} else if (acc->addr == TOY_PORT_POWER) {
		s->failed = (uint32_t)bus_get(acc);
		s->off = true;
		/* The run loop sees this after the exit and stops the vCPU. */
		atomic_store(&acc->cpu->off, true);
	} else {
		return false;
	}
	return true;
}

static void
power_init(struct toy_vm *vm)
{
	bus_register(vm, &(struct bus_region){ BUS_PIO, TOY_PORT_POWER, 4,
	    power_access, NULL, "power" });
	bus_register(vm, &(struct bus_region){ BUS_PIO, TOY_PORT_TICKS, 4,
	    power_access, NULL, "ticks" });
}

static bool
power_report_cpu(struct toy_cpu *cpu)
{
	const struct status *s = &status[cpu->index];
	uint64_t injected = irq_injected(cpu, TOY_VEC_TIMER);
	bool ok = true;

	if (!s->off) {
		vm_log("vCPU %u: FAIL: never powered off", cpu->index);
		return false;
	}
	if (!s->ticks_reported || s->ticks != injected) {
		vm_log("vCPU %u: FAIL: timer interrupts: injected %llu, "
		    "guest counted %u", cpu->index,
		    (unsigned long long)injected, s->ticks);
		ok = false;
	} else {
		vm_log("vCPU %u: timer interrupts: injected %llu, guest "
		    "counted %u", cpu->index, (unsigned long long)injected,
		    s->ticks);
	}
	vm_log("vCPU %u: %sguest reported %u failed checks", cpu->index,
	    s->failed ? "FAIL: " : "", s->failed);
	return ok && s->failed == 0;
}

static bool
power_report(struct toy_vm *vm)
{
	bool ok = true;

	for (unsigned int i = 0; i < vm->ncpus; i++)
		ok &= power_report_cpu(&vm->cpus[i]);
	return ok;
}

const struct toy_device dev_power = {
	.name = "power",
	.init = power_init,
	.report = power_report,
};
