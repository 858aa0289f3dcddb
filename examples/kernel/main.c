/*
 * The toy kernel: every vCPU runs kmain(). It checks the machine the VMM
 * built (checks.c), takes timer interrupts, an NMI and a #GP from the VMM,
 * reports, and powers itself off. vCPU 0 also prints the summary once all
 * vCPUs are done.
 */
#include "kernel.h"

#define TIMER_PERIOD_US	2000
#define TIMER_TICKS	10

struct percpu percpu[TOY_MAX_CPUS];
unsigned int ncpus;
static volatile bool idt_ready;

extern char stacks[];

struct percpu *
this_cpu(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	return &percpu[(sp - (uintptr_t)stacks) / STACK_SIZE];
}

/* vCPU 0 builds the IDT; the others wait for it. */
static void
setup_traps(struct percpu *c)
{
	if (c->id == 0) {
		idt_build();
		__atomic_store_n(&idt_ready, true, __ATOMIC_RELEASE);
	}
	while (!__atomic_load_n(&idt_ready, __ATOMIC_ACQUIRE))
		pause();
	idt_load();
}

/* ---- Timer ------------------------------------------------------------------ */

/*
 * With IF = 0, wait until a timer interrupt is pending in the VMM, which
 * must then ask NVMM for an interrupt window (INT_READY) and inject it
 * once we set IF. It may land right after STI or wake the HLT: either
 * way it arrives, and only once IF = 1.
 */
static void
timer_window(struct percpu *c)
{
	unsigned int before;

	while ((inl(TOY_PORT_TIMER) & 1) == 0)
		pause();
	before = c->ticks;
	check_eq(c->ticks, before, "timer: pending interrupt held while IF=0");
	wait_for_interrupt();
	check(c->ticks > before, "timer: pending interrupt taken once IF=1");
}

static void
run_timer(struct percpu *c)
{
	kprintf("timer: %u us period, waiting for %u interrupts",
	    TIMER_PERIOD_US, TIMER_TICKS);
	outl(TOY_PORT_TIMER, TIMER_PERIOD_US);
	while (c->ticks < TIMER_TICKS)
		wait_for_interrupt();
	check(c->ticks >= TIMER_TICKS, "timer: %u interrupts", TIMER_TICKS);
	timer_window(c);
}

/* ---- NMI and #GP ------------------------------------------------------------ */

static void
run_faults(struct percpu *c)
{
	outb(TOY_PORT_FAULTS, TOY_FAULTS_ARM);
	while (c->gps == 0)
		wait_for_interrupt();
	check_eq(c->nmis, 1, "faults: one NMI");
	check_eq(c->gps, 1, "faults: one #GP");
	check_eq(c->gp_error, TOY_GP_ERROR(c->id), "faults: #GP error code 0x%x",
	    TOY_GP_ERROR(c->id));
}

/* ---- The end ---------------------------------------------------------------- */

static void
summary(void)
{
	unsigned int checks = 0, failed = 0;

	for (unsigned int i = 0; i < ncpus; i++) {
		while (!__atomic_load_n(&percpu[i].done, __ATOMIC_ACQUIRE))
			pause();
		checks += percpu[i].checks;
		failed += percpu[i].failed;
	}
	kprintf("summary: %u vCPUs, %u checks, %u failed: %s", ncpus, checks,
	    failed, failed == 0 ? "PASS" : "FAIL");
}

static void __attribute__((noreturn))
finish(struct percpu *c)
{
	outl(TOY_PORT_TIMER, 0);
	outl(TOY_PORT_TICKS, c->ticks);
	kprintf("vCPU %u: %u checks, %u failed", c->id, c->checks, c->failed);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	if (c->id == 0)
		summary();
	for (;;) {
		outl(TOY_PORT_POWER, c->failed);
		__asm__ volatile("cli; hlt");
	}
}

void kmain(uint64_t id, uint64_t n);

void
kmain(uint64_t id, uint64_t n)
{
	struct percpu *c = &percpu[id];

	c->id = (unsigned int)id;
	/* Every vCPU stores the same value: no one reads it before its own. */
	__atomic_store_n(&ncpus, (unsigned int)n, __ATOMIC_RELAXED);
	kprintf("toykern: vCPU %u of %u up", c->id, (unsigned int)n);
	setup_traps(c);
	check_cpuid(c);
	check_msr(c);
	check_mmio(c);
	check_rom(c);
	run_timer(c);
	run_faults(c);
	finish(c);
}
