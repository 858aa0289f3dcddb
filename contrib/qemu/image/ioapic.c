/* IOAPIC at 0xfec00000: route one pin to a vector on one CPU. */
#include "boot.h"
#include "io.h"

#define IOAPIC_BASE	0xfec00000u
#define IOREGSEL	0x00
#define IOWIN		0x10
#define REDTBL(pin)	(0x10 + 2 * (pin))

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOREGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOWIN, v);
}

/* Fixed delivery, physical destination, edge-triggered, active high. */
void ioapic_route(unsigned pin, uint8_t vector, uint8_t apic_id)
{
	ioapic_write(REDTBL(pin) + 1, (uint32_t)apic_id << 24);
	ioapic_write(REDTBL(pin), vector);	/* low half last: it unmasks */
}
