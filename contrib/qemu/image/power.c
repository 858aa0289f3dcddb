/* Power-off: isa-debug-exit (pass/fail status), then ACPI S5, then cli; hlt. */
#include "boot.h"
#include "io.h"

#define DEBUG_EXIT_PORT	0xf4

/* ICH9 LPC bridge (q35, 00:1f.0): PMBASE at 0x40; PM1a_CNT is PMBASE + 4. */
#define LPC_DEV		31
#define LPC_PMBASE	0x40
#define PM1_CNT		4
#define SLP_EN		(1u << 13)
#define SLP_TYP_S5	(0u << 10)	/* QEMU's _S5 object names type 0 */

/* Fallback when the isa-debug-exit device is absent: PMBASE is set by the firmware. */
static void acpi_power_off(void)
{
	uint32_t id = pci_read(0, LPC_DEV, 0, 0);
	uint16_t pmbase;

	if (id != 0x29188086)	/* not an ICH9 LPC: PMBASE layout unknown */
		return;
	pmbase = (uint16_t)(pci_read(0, LPC_DEV, 0, LPC_PMBASE) & 0xff80);
	if (pmbase)
		outw(pmbase + PM1_CNT, SLP_EN | SLP_TYP_S5);
}

void power_off(bool pass)
{
	irq_disable();
	serial_drain();
	outb(DEBUG_EXIT_PORT, pass ? EXIT_PASS : EXIT_FAIL);
	acpi_power_off();
	for (;;)
		__asm__ volatile("cli; hlt");
}
