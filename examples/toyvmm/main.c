/*
 * toyvmm: boot a small ELF64 kernel on a few vCPUs, one thread each.
 *
 *	toyvmm [-n vcpus] [-t timeout-seconds] [-w linger-seconds] kernel.elf
 *
 * -w keeps the machine alive that long after the guest is done, so that
 * `nvmmctl list` can show it (make demo does).
 * This file holds only the thread setup and the run loop; the machine,
 * the loader and the devices live in their own files (see toyvmm.h).
 * Exit status 0 only if the guest's checks and the VMM's own all passed.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "toyvmm.h"

_Thread_local struct toy_cpu *current_cpu;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- The run loop -------------------------------------------------------- */

static void
vcpu_fail(struct toy_cpu *cpu, const char *what)
{
	struct nvmm_vcpu *vcpu = &cpu->vcpu;
	uint64_t rip = 0;

	if (nvmm_vcpu_getstate(&cpu->vm->mach, vcpu, NVMM_X64_STATE_GPRS) == 0)
		rip = vcpu->state->gprs[NVMM_X64_GPR_RIP];
	vm_error(cpu->vm, "vCPU %u: %s (exit 0x%llx, rip 0x%llx)", cpu->index,
	    what, (unsigned long long)vcpu->exit->reason,
	    (unsigned long long)rip);
	cpu->failed = true;
	vm_stop(cpu->vm);
}

/* HLT: sleep until an event, unless nothing could ever wake the vCPU. */
static void
vcpu_halted(struct toy_cpu *cpu)
{
	if (cpu->vcpu.exit->exitstate.rflags & (1u << 9))	/* IF */
		irq_wait(cpu);
	else if (!atomic_load(&cpu->off))
		vcpu_fail(cpu, "halted with interrupts disabled");
}

static void
vcpu_exit(struct toy_cpu *cpu)
{
	struct nvmm_machine *mach = &cpu->vm->mach;
	struct nvmm_vcpu *vcpu = &cpu->vcpu;
	struct toy_stats *st = &cpu->stats;

	st->exits++;
	switch (vcpu->exit->reason) {
	case NVMM_VCPU_EXIT_NONE:
		break;
	case NVMM_VCPU_EXIT_STOPPED:	/* a device kicked us: see irq_deliver */
		st->stopped++;
		break;
	case NVMM_VCPU_EXIT_IO:
		st->io++;
		if (nvmm_assist_io(mach, vcpu) == -1)
			vcpu_fail(cpu, strerror(errno));
		break;
	case NVMM_VCPU_EXIT_MEMORY:
		st->mmio++;
		if (nvmm_assist_mem(mach, vcpu) == -1)
			vcpu_fail(cpu, strerror(errno));
		break;
	case NVMM_VCPU_EXIT_RDMSR:
	case NVMM_VCPU_EXIT_WRMSR:
		st->msr++;
		bus_msr_exit(cpu);
		break;
	case NVMM_VCPU_EXIT_HALTED:
		st->halted++;
		vcpu_halted(cpu);
		break;
	case NVMM_VCPU_EXIT_INT_READY:
	case NVMM_VCPU_EXIT_NMI_READY:
		st->window++;	/* the window is open: irq_deliver injects */
		break;
	case NVMM_VCPU_EXIT_SHUTDOWN:
		st->other++;
		vcpu_fail(cpu, "triple fault");
		break;
	default:
		st->other++;
		vcpu_fail(cpu, "unexpected exit");
		break;
	}
}

static void *
vcpu_thread(void *arg)
{
	struct toy_cpu *cpu = arg;
	struct toy_vm *vm = cpu->vm;
	double start = now();

	current_cpu = cpu;
	while (!atomic_load(&cpu->off) && !cpu->failed &&
	    !atomic_load(&vm->stopping)) {
		irq_deliver(cpu);
		if (nvmm_vcpu_run(&vm->mach, &cpu->vcpu) == -1) {
			vcpu_fail(cpu, strerror(errno));
			break;
		}
		vcpu_exit(cpu);
	}
	cpu->stats.seconds = now() - start;
	return NULL;
}

/* ---- Threads --------------------------------------------------------------- */

/* Join every vCPU thread; past the deadline, stop the machine first. */
static void
join_all(struct toy_vm *vm, double timeout)
{
	struct timespec deadline;
	double end = (double)time(NULL) + timeout;

	deadline.tv_sec = (time_t)end;
	deadline.tv_nsec = 0;
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct toy_cpu *cpu = &vm->cpus[i];

		if (pthread_timedjoin_np(cpu->thread, NULL, &deadline) == 0)
			continue;
		vm_error(vm, "vCPU %u: still running after %.0f s, stopping",
		    cpu->index, timeout);
		vm_stop(vm);
		pthread_join(cpu->thread, NULL);
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: toyvmm [-n vcpus] [-t timeout] [-w linger] kernel.elf\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static struct toy_vm vm;
	unsigned int ncpus = 2;
	double timeout = 20, linger = 0;
	bool pass;
	int ch, error;

	while ((ch = getopt(argc, argv, "n:t:w:")) != -1) {
		if (ch == 'n')
			ncpus = (unsigned int)strtoul(optarg, NULL, 0);
		else if (ch == 't')
			timeout = strtod(optarg, NULL);
		else if (ch == 'w')
			linger = strtod(optarg, NULL);
		else
			usage();
	}
	if (optind != argc - 1 || ncpus < 1 || ncpus > TOY_MAX_CPUS ||
	    timeout <= 0 || linger < 0)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	vm_create(&vm, argv[optind], ncpus);
	for (unsigned int i = 0; i < ncpus; i++) {
		error = pthread_create(&vm.cpus[i].thread, NULL, vcpu_thread,
		    &vm.cpus[i]);
		if (error != 0) {
			errno = error;
			err(1, "pthread_create");
		}
	}
	join_all(&vm, timeout);
	pass = vm_report(&vm);
	if (linger > 0) {
		printf("toyvmm: machine %u kept for %.0f s (see nvmmctl list)\n",
		    vm.mach.machid, linger);
		nanosleep(&(struct timespec){ (time_t)linger,
		    (long)((linger - (time_t)linger) * 1e9) }, NULL);
	}
	vm_destroy(&vm);
	return pass ? EXIT_SUCCESS : EXIT_FAILURE;
}
