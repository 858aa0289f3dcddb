/* Timer checks (PIT through the IOAPIC, LAPIC timer) and the tick-based waits. */
#include "boot.h"
#include "io.h"

#define PIT_PIN		2	/* QEMU's MADT overrides ISA IRQ0 to GSI 2 */
#define WANT_IRQS	10

/*
 * QEMU's local APIC (user-space or KVM's) counts a 1 GHz bus clock: divided by
 * 16, 62500 counts are 1 ms. Not calibrated against the PIT on purpose: KVM's
 * in-kernel PIT catches up on lost ticks in bursts on a slow host.
 */
#define LAPIC_1MS	62500

/*
 * Before the first PIT tick there is no time base, so that one wait counts loop
 * iterations: 2^20 pauses take from ~15 ms (native) to seconds (emulated).
 */
#define FIRST_TICK_SPINS (1u << 20)

static volatile uint32_t pit_ticks;
static volatile uint32_t lapic_ticks;

static void on_pit(struct intr_frame *f)
{
	(void)f;
	pit_ticks++;
	lapic_eoi();
}

static void on_lapic_timer(struct intr_frame *f)
{
	(void)f;
	lapic_ticks++;
	lapic_eoi();
}

/* ---- waits: every timeout is a number of 1 ms PIT ticks ---- */

uint32_t ticks(void)
{
	return pit_ticks;
}

/* Halts between checks; the next tick at the latest wakes the CPU up. */
bool wait_for(bool (*done)(void), uint32_t max_ticks)
{
	uint32_t start = pit_ticks;

	while (!done()) {
		if (pit_ticks - start >= max_ticks)
			return done();
		cpu_idle();
	}
	return true;
}

void sleep_ticks(uint32_t n)
{
	uint32_t start = pit_ticks;

	while (pit_ticks - start < n)
		cpu_idle();
}

/* ---- checks ---- */

static bool pit_done(void)
{
	return pit_ticks >= WANT_IRQS;
}

void timer_check_pit(void)
{
	uint32_t spins;

	intr_set_handler(VEC_PIT, on_pit);
	ioapic_route(PIT_PIN, VEC_PIT, lapic_id());
	pit_start(TICK_HZ);

	irq_enable();
	for (spins = 0; pit_ticks == 0 && spins < FIRST_TICK_SPINS; spins++)
		cpu_relax();
	irq_disable();
	if (pit_ticks == 0)
		fail("timer pit: no interrupt after %u spins", spins);
	if (!wait_for(pit_done, 10 * WANT_IRQS))
		fail("timer pit: %u of %u irqs", pit_ticks, WANT_IRQS);
	say("timer pit: %u irqs (%u Hz, ioapic pin %u, vector 0x%x)",
	    pit_ticks, TICK_HZ, PIT_PIN, VEC_PIT);
}

static bool lapic_done(void)
{
	return lapic_ticks >= WANT_IRQS;
}

void timer_check_lapic(void)
{
	uint32_t start = ticks();
	bool ok;

	intr_set_handler(VEC_LAPIC_TIMER, on_lapic_timer);
	lapic_timer_periodic(VEC_LAPIC_TIMER, LAPIC_1MS);
	ok = wait_for(lapic_done, 10 * WANT_IRQS);
	lapic_timer_stop();
	if (!ok)
		fail("timer lapic: %u of %u irqs", lapic_ticks, WANT_IRQS);
	say("timer lapic: %u irqs (1 ms period, vector 0x%x) in %u pit ticks",
	    lapic_ticks, VEC_LAPIC_TIMER, ticks() - start);
}
