/* Timer checks (PIT through the IOAPIC, LAPIC timer) and the tick-based waits. */
#include "boot.h"
#include "io.h"

#define PIT_PIN		2	/* QEMU's MADT overrides ISA IRQ0 to GSI 2 */
#define WANT_IRQS	10
#define CAL_TICKS	10	/* LAPIC clock measured over 10 ms */

/*
 * Before the first PIT tick there is no time base, so that one wait counts loop
 * iterations: 2^24 pauses is far more than 1 ms under TCG or KVM.
 */
#define FIRST_TICK_SPINS (1u << 24)

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

/* Returns LAPIC timer counts per PIT tick (1 ms), i.e. its clock in kHz. */
static uint32_t lapic_calibrate(void)
{
	uint32_t counted;

	sleep_ticks(1);		/* start on a tick edge */
	lapic_timer_oneshot(0xffffffffu);
	sleep_ticks(CAL_TICKS);
	counted = 0xffffffffu - lapic_timer_current();
	lapic_timer_stop();
	return counted / CAL_TICKS;
}

void timer_check_lapic(void)
{
	uint32_t khz, start;
	bool ok;

	intr_set_handler(VEC_LAPIC_TIMER, on_lapic_timer);
	khz = lapic_calibrate();
	if (khz == 0)
		fail("timer lapic: counter does not run");

	start = ticks();
	lapic_timer_periodic(VEC_LAPIC_TIMER, khz);	/* one period per ms */
	ok = wait_for(lapic_done, 10 * WANT_IRQS);
	lapic_timer_stop();
	if (!ok)
		fail("timer lapic: %u of %u irqs", lapic_ticks, WANT_IRQS);
	say("timer lapic: %u irqs in %u ms (%u kHz after divide by 16)",
	    lapic_ticks, ticks() - start, khz);
}
