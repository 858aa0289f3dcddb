/*
 * The fault injector: the VMM delivers an NMI and then a #GP with an
 * error code of its choosing, in a handshake with the guest so that the
 * order is fixed: the guest arms us once its IDT is loaded, we send the
 * NMI; its NMI handler acknowledges, we send #GP(TOY_GP_ERROR(vcpu)); its
 * #GP handler acknowledges. The report demands the whole sequence.
 */
#include "toyvmm.h"

enum step { IDLE, NMI_SENT, GP_SENT, DONE };

static enum step steps[TOY_MAX_CPUS];	/* each used by its vCPU only */

static const char *const step_name[] = {
	[IDLE] = "not armed", [NMI_SENT] = "NMI not acknowledged",
	[GP_SENT] = "#GP not acknowledged", [DONE] = "done",
};

/* Each guest write moves one step; anything out of order is refused. */
static bool
faults_access(const struct bus_access *acc, void *opaque)
{
	struct toy_cpu *cpu = acc->cpu;
	enum step *s = &steps[cpu->index];
	uint64_t v = bus_get(acc);

	(void)opaque;
	if (!acc->write || acc->size != 1)
		return false;
	if (v == TOY_FAULTS_ARM && *s == IDLE) {
		*s = NMI_SENT;
		irq_nmi(cpu);
	} else if (v == TOY_FAULTS_NMI_SEEN && *s == NMI_SENT) {
		*s = GP_SENT;
		irq_exception(cpu, 13, TOY_GP_ERROR(cpu->index));
	} else if (v == TOY_FAULTS_GP_SEEN && *s == GP_SENT) {
		*s = DONE;
	} else {
		return false;
	}
	return true;
}

static void
faults_init(struct toy_vm *vm)
{
	bus_register(vm, &(struct bus_region){ BUS_PIO, TOY_PORT_FAULTS, 1,
	    faults_access, NULL, "faults" });
}

static bool
faults_report(struct toy_vm *vm)
{
	bool ok = true;

	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct toy_cpu *cpu = &vm->cpus[i];

		if (steps[i] != DONE) {
			vm_log("vCPU %u: FAIL: NMI/#GP handshake: %s", i,
			    step_name[steps[i]]);
			ok = false;
			continue;
		}
		vm_log("vCPU %u: NMI injected %llu, #GP(0x%x) injected %llu, "
		    "both acknowledged", i,
		    (unsigned long long)irq_injected(cpu, 2),
		    TOY_GP_ERROR(i), (unsigned long long)irq_injected(cpu, 13));
		ok &= irq_injected(cpu, 2) == 1 && irq_injected(cpu, 13) == 1;
	}
	return ok;
}

const struct toy_device dev_faults = {
	.name = "faults",
	.init = faults_init,
	.report = faults_report,
};
