/*
 * The machine: create it, its vCPUs and memory, load the kernel, plug the
 * devices in; stop it; print the report and the verdict; tear it down.
 * Setup failures end the program (err(3)): there is nothing to recover.
 */
#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "toyvmm.h"

static const struct toy_device *const devices[] = {
	&dev_console, &dev_power, &dev_sysregs, &dev_msr, &dev_timer,
	&dev_faults,
};
#define NDEVICES	(sizeof(devices) / sizeof(devices[0]))

/* ---- Messages ---------------------------------------------------------------- */

void
vm_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("toyvmm: %s\n", line);	/* one call: lines stay whole */
}

void
vm_error(struct toy_vm *vm, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	atomic_fetch_add(&vm->errors, 1);
	printf("toyvmm: error: %s\n", line);
}

/* ---- Creation ------------------------------------------------------------------ */

static void
vm_create_cpu(struct toy_vm *vm, unsigned int i)
{
	struct toy_cpu *cpu = &vm->cpus[i];

	cpu->vm = vm;
	cpu->index = i;
	atomic_init(&cpu->off, false);
	irq_init(cpu);
	if (nvmm_vcpu_create(&vm->mach, i, &cpu->vcpu) == -1)
		err(1, "nvmm_vcpu_create(%u)", i);
	if (nvmm_vcpu_configure(&vm->mach, &cpu->vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, (void *)&bus_callbacks) == -1)
		err(1, "nvmm_vcpu_configure(CALLBACKS)");
}

void
vm_create(struct toy_vm *vm, const char *kernel, unsigned int ncpus)
{
	atomic_init(&vm->stopping, false);
	atomic_init(&vm->errors, 0);
	if (nvmm_init() == -1)
		err(1, "nvmm_init");
	if (nvmm_machine_create(&vm->mach) == -1)
		err(1, "nvmm_machine_create");
	vm->ncpus = ncpus;
	for (unsigned int i = 0; i < ncpus; i++)
		vm_create_cpu(vm, i);
	vm_log("machine %u: %u vCPUs", vm->mach.machid, ncpus);

	vm->entry = load_elf64(vm, kernel);
	boot_memory(vm);
	for (unsigned int i = 0; i < ncpus; i++)
		boot_cpu(&vm->cpus[i]);
	for (size_t i = 0; i < NDEVICES; i++)
		devices[i]->init(vm);
}

/* Make every vCPU leave its run loop soon. Any thread. */
void
vm_stop(struct toy_vm *vm)
{
	atomic_store(&vm->stopping, true);
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		nvmm_vcpu_stop(&vm->cpus[i].vcpu);
		irq_wake(&vm->cpus[i]);
	}
}

void
vm_destroy(struct toy_vm *vm)
{
	for (size_t i = NDEVICES; i-- > 0;) {
		if (devices[i]->fini != NULL)
			devices[i]->fini(vm);
	}
	if (nvmm_machine_destroy(&vm->mach) == -1)
		warn("nvmm_machine_destroy");
}

/* ---- Report ---------------------------------------------------------------------- */

static void
report_cpu(const struct toy_cpu *cpu)
{
	const struct toy_stats *st = &cpu->stats;
	double rate = st->seconds > 0 ? (double)st->exits / st->seconds : 0;

	vm_log("vCPU %u: %llu exits in %.3f s: %.0f exits/s "
	    "(io %llu, mmio %llu, msr %llu, hlt %llu, window %llu, "
	    "stopped %llu)", cpu->index, (unsigned long long)st->exits,
	    st->seconds, rate, (unsigned long long)st->io,
	    (unsigned long long)st->mmio, (unsigned long long)st->msr,
	    (unsigned long long)st->halted, (unsigned long long)st->window,
	    (unsigned long long)st->stopped);
}

/* Statistics, then the devices' checks, then one verdict line. */
bool
vm_report(struct toy_vm *vm)
{
	bool pass = true;

	for (unsigned int i = 0; i < vm->ncpus; i++)
		report_cpu(&vm->cpus[i]);
	for (size_t i = 0; i < NDEVICES; i++) {
		if (devices[i]->report != NULL && !devices[i]->report(vm))
			pass = false;
	}
	if (atomic_load(&vm->errors) != 0)
		pass = false;
	vm_log("%s", pass ? "PASS" : "FAIL");
	return pass;
}
