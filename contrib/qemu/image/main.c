/* Boot image entry: runs each check in order and reports PASS or FAIL. */
#include "boot.h"
#include "io.h"

#define MB_BOOT_MAGIC	0x2badb002u
#define MBI_CMDLINE	(1u << 2)	/* mbi flags: cmdline field valid */

/* The part of the multiboot information the image reads. */
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper, boot_device;
	uint32_t cmdline;
};

void kmain(uint32_t magic, const struct mb_info *mbi);

/* Whether the loader's command line (QEMU: image path, then -append) holds word. */
static bool has_option(const struct mb_info *mbi, const char *word)
{
	const char *p;

	if (!(mbi->flags & MBI_CMDLINE))
		return false;
	for (p = (const char *)mbi->cmdline; *p; p++) {
		size_t i = 0;

		if (p != (const char *)mbi->cmdline && p[-1] != ' ')
			continue;
		while (word[i] && p[i] == word[i])
			i++;
		if (!word[i] && (p[i] == ' ' || !p[i]))
			return true;
	}
	return false;
}

/*
 * Called from entry.S; every failing check ends in fail(), which powers off.
 * Options (words on the loader's command line): "vga" also prints on the VGA
 * text console; "stay" halts after PASS instead of powering off, so that a
 * test can look at the running VM; "writer" (with "smp": on both CPUs,
 * with "fb": on the std VGA's framebuffer too) runs writer.c for good.
 */
void kmain(uint32_t magic, const struct mb_info *mbi)
{
	bool multiboot = magic == MB_BOOT_MAGIC;

	serial_init();
	if (multiboot && has_option(mbi, "vga"))
		vga_init();
	say("start");
	if (!multiboot)
		fail("not started by a multiboot loader (eax %x)", magic);

	idt_init();
	pic_disable();
	lapic_init();
	timer_check_pit();	/* from here on, waits are bounded in 1 ms ticks */
	if (has_option(mbi, "writer"))	/* snapshots and migration: never returns */
		writer_run(has_option(mbi, "smp"), has_option(mbi, "fb"));
	rtc_report();
	timer_check_lapic();
	smp_start_ap(has_option(mbi, "ap=spin"));
	pci_report();

	if (intr_stray_count())
		fail("%u unexpected interrupts", intr_stray_count());
	say("done after %u pit ticks", ticks());
	say("PASS");
	if (has_option(mbi, "stay")) {
		say("halted (stay)");
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	power_off(true);
}
