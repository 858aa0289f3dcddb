/*
 * "writer" mode, for snapshots and migration (contrib/qemu/check-migrate):
 * each CPU keeps rewriting its own set of pages and, before each pass,
 * checks that they hold what it wrote in the pass before. A page that a
 * snapshot or a migration brought back stale (older than the registers
 * say) fails at once. Pages move whole, so the first and last words of
 * each stand for it: on a PVM host every access of this unpaged guest is
 * emulated (~50 us), and a pass must stay well under a second. Once a second the BSP prints both CPUs'
 * pass counts and, with "fb", paints three pixels of the std VGA's linear
 * framebuffer a new colour it names.
 */
#include "boot.h"
#include "io.h"

#define PAGE		4096u
#define SET_PAGES	256u			/* 1 MiB per CPU */
#define SET_BASE(cpu)	(0x2000000u + (cpu) * 0x1000000u)	/* 32, 48 MiB */
#define WORDS		(PAGE / 4)

/* Bochs VBE (QEMU's std VGA, 1234:1111): 640x480x32 on the linear framebuffer. */
#define VBE_INDEX	0x1ce
#define VBE_DATA	0x1cf
#define VBE_XRES	1
#define VBE_YRES	2
#define VBE_BPP		3
#define VBE_ENABLE	4
#define VBE_ON_LFB	0x41
#define FB_W		640
#define FB_H		480
#define FB_DEFAULT	0xc0000000u	/* when the firmware left BAR0 unset */

static volatile uint32_t passes[2];

/* Word j of page i in pass p: a pass number a stale page cannot fake. */
static uint32_t pattern(uint32_t p, uint32_t i, uint32_t j)
{
	return (p << 16 | i) ^ (j * 0x9e3779b9u);
}

static void one_pass(unsigned cpu, uint32_t p)
{
	for (uint32_t i = 0; i < SET_PAGES; i++) {
		volatile uint32_t *w = (volatile uint32_t *)(SET_BASE(cpu) + i * PAGE);

		for (uint32_t j = 0; j < WORDS; j += WORDS - 1) {	/* first, last */
			if (p > 1 && w[j] != pattern(p - 1, i, j))
				fail("writer: cpu%u page %u word %u is %x, not pass %u's %x: stale",
				     cpu, i, j, w[j], p - 1, pattern(p - 1, i, j));
			w[j] = pattern(p, i, j);
		}
	}
	passes[cpu] = p;
}

static void ap_writer(void)
{
	for (uint32_t p = 1;; p++)
		one_pass(1, p);
}

/* ---- VGA ---- */

static void vbe_set(uint16_t index, uint16_t v)
{
	outw(VBE_INDEX, index);
	outw(VBE_DATA, v);
}

static void pci_write(unsigned dev, unsigned reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | dev << 11 | (reg & 0xfc));
	outl(0xcfc, v);
}

/* The framebuffer's address, or 0 without a std VGA on bus 0. */
static uint32_t fb_start(void)
{
	uint32_t bar;

	for (unsigned dev = 0; dev < 32; dev++) {
		if (pci_read(0, dev, 0, 0) != 0x11111234)
			continue;
		bar = pci_read(0, dev, 0, 0x10) & ~0xfu;
		if (bar == 0) {
			bar = FB_DEFAULT;
			pci_write(dev, 0x10, bar);
		}
		pci_write(dev, 0x04, pci_read(0, dev, 0, 0x04) | 0x2);	/* memory */
		vbe_set(VBE_ENABLE, 0);
		vbe_set(VBE_XRES, FB_W);
		vbe_set(VBE_YRES, FB_H);
		vbe_set(VBE_BPP, 32);
		vbe_set(VBE_ENABLE, VBE_ON_LFB);
		(void)inb(0x3da);	/* attribute controller: index mode */
		outb(0x3c0, 0x20);	/* palette from the CPU's side: unblank */
		return bar;
	}
	return 0;
}

static uint32_t colour(uint32_t k)
{
	return ((k * 0x00452b1du) & 0x00ffffffu) | 0x00101010u;
}

/*
 * Three pixels on three pages (corners and centre; check-migrate looks at
 * them): a whole screen is 300k emulated writes on a PVM host.
 */
static void paint(uint32_t fb, uint32_t c)
{
	static const uint32_t at[] = { 0, 240 * FB_W + 320, FB_W * FB_H - 1 };
	volatile uint32_t *px = (volatile uint32_t *)fb;

	for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		px[at[i]] = c;
}

/* ---- BSP ---- */

void writer_run(bool smp, bool want_fb)
{
	uint32_t fb = want_fb ? fb_start() : 0, next, k = 0;

	if (want_fb && fb == 0)
		fail("writer: fb asked for, no std VGA (1234:1111) on bus 0");
	if (smp) {
		smp_start_ap(true);
		ap_job = ap_writer;
	}
	say("writer: %u pages per cpu at %x%s%s", SET_PAGES, SET_BASE(0),
	    smp ? ", 2 cpus" : "", fb ? ", fb" : "");
	/* The PIT's 1 ms ticks keep coming in, interrupting the passes. */
	irq_enable();
	next = ticks() + 1000;
	for (uint32_t p = 1;; p++) {
		one_pass(0, p);
		if ((int32_t)(ticks() - next) < 0)
			continue;
		next += 1000;
		if (fb) {
			paint(fb, colour(++k));
			say("writer: pass %u %u, screen %06x", passes[0], passes[1],
			    colour(k));
		} else {
			say("writer: pass %u %u", passes[0], passes[1]);
		}
	}
}
