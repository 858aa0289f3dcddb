/* Local APIC in xAPIC mode at 0xfee00000: enable, EOI, IPIs, timer. */
#include "boot.h"
#include "io.h"

/* The reset base; the image never moves it and never uses x2APIC MSRs. */
#define LAPIC_BASE	0xfee00000u
#define REG_ID		0x020
#define REG_VERSION	0x030
#define REG_TPR		0x080
#define REG_EOI		0x0b0
#define REG_SVR		0x0f0
#define REG_ICR_LO	0x300
#define REG_ICR_HI	0x310
#define REG_LVT_TIMER	0x320
#define REG_LVT_LINT0	0x350
#define REG_LVT_ERROR	0x370
#define REG_TIMER_INIT	0x380
#define REG_TIMER_DIV	0x3e0

#define SVR_ENABLE	0x100
#define LVT_MASKED	0x10000
#define LVT_PERIODIC	0x20000
#define ICR_PENDING	0x1000
#define DIV_BY_16	0x3

/* QEMU and KVM clear the delivery bit at once; a few reads are plenty. */
#define ICR_POLL_MAX	1000

static uint32_t rd(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static void wr(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

/* Software-enable with a spurious vector; nothing arrives through LINT0 (ExtINT). */
void lapic_init(void)
{
	if (rd(REG_VERSION) == 0xffffffffu)
		fail("no local APIC at 0xfee00000");
	wr(REG_TPR, 0);
	wr(REG_LVT_LINT0, LVT_MASKED);
	wr(REG_LVT_ERROR, LVT_MASKED);
	wr(REG_LVT_TIMER, LVT_MASKED);
	wr(REG_SVR, SVR_ENABLE | VEC_SPURIOUS);
}

void lapic_eoi(void)
{
	wr(REG_EOI, 0);
}

uint8_t lapic_id(void)
{
	return (uint8_t)(rd(REG_ID) >> 24);
}

/* Physical destination; writing the low half sends the IPI. */
bool lapic_send_ipi(uint8_t dest, uint32_t icr_lo)
{
	wr(REG_ICR_HI, (uint32_t)dest << 24);
	wr(REG_ICR_LO, icr_lo);
	for (unsigned i = 0; i < ICR_POLL_MAX; i++)
		if (!(rd(REG_ICR_LO) & ICR_PENDING))
			return true;
	return false;
}

void lapic_timer_periodic(uint8_t vector, uint32_t count)
{
	wr(REG_TIMER_DIV, DIV_BY_16);
	wr(REG_LVT_TIMER, LVT_PERIODIC | vector);
	wr(REG_TIMER_INIT, count);
}

void lapic_timer_stop(void)
{
	wr(REG_LVT_TIMER, LVT_MASKED);
	wr(REG_TIMER_INIT, 0);
}
