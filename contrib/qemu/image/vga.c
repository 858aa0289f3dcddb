/* VGA text console (80x25 at 0xb8000): the lines the image prints, for a display. */
#include "boot.h"
#include "io.h"

#define VGA_TEXT	((volatile uint16_t *)0xb8000)
#define COLS		80
#define ROWS		25
#define ATTR		0x0700	/* light grey on black */

/* CRT controller: the cursor is moved off screen so it hides no text. */
#define CRTC_INDEX	0x3d4
#define CRTC_DATA	0x3d5
#define CRTC_CURSOR_START	0x0a
#define CURSOR_OFF	0x20

static bool enabled;
static unsigned row;
static volatile uint32_t vga_lock;

/* Only on request: without a VGA device each store to 0xb8000 is an MMIO exit. */
void vga_init(void)
{
	for (unsigned i = 0; i < COLS * ROWS; i++)
		VGA_TEXT[i] = ATTR | ' ';
	outb(CRTC_INDEX, CRTC_CURSOR_START);
	outb(CRTC_DATA, CURSOR_OFF);
	row = 0;
	enabled = true;
}

static void scroll(void)
{
	for (unsigned i = 0; i < COLS * (ROWS - 1); i++)
		VGA_TEXT[i] = VGA_TEXT[i + COLS];
	for (unsigned i = 0; i < COLS; i++)
		VGA_TEXT[COLS * (ROWS - 1) + i] = ATTR | ' ';
	row = ROWS - 1;
}

/* One line per call (print.c's emit): text beyond column 80 is cut. */
void vga_write(const char *s, size_t len)
{
	unsigned col = 0;

	if (!enabled)
		return;
	while (__atomic_exchange_n(&vga_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
	if (row == ROWS)
		scroll();
	for (size_t i = 0; i < len && s[i] != '\n'; i++) {
		if (col < COLS)
			VGA_TEXT[row * COLS + col++] = ATTR | (uint8_t)s[i];
	}
	row++;
	__atomic_store_n(&vga_lock, 0, __ATOMIC_RELEASE);
}
