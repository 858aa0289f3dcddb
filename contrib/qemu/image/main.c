/* Boot image entry: runs each check in order and reports PASS or FAIL. */
#include "boot.h"
#include "io.h"

#define MB_BOOT_MAGIC	0x2badb002u

void kmain(uint32_t magic, uint32_t mbi);

/* Called from entry.S; every failing check ends in fail(), which powers off. */
void kmain(uint32_t magic, uint32_t mbi)
{
	(void)mbi;
	serial_init();
	say("start");
	if (magic != MB_BOOT_MAGIC)
		fail("not started by a multiboot loader (eax %x)", magic);

	idt_init();
	pic_disable();
	lapic_init();
	timer_check_pit();	/* from here on, waits are bounded in 1 ms ticks */
	rtc_report();
	timer_check_lapic();
	smp_start_ap();
	pci_report();

	if (intr_stray_count())
		fail("%u unexpected interrupts", intr_stray_count());
	say("done in %u ms of guest time after the PIT started", ticks());
	say("PASS");
	power_off(true);
}
