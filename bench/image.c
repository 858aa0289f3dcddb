/*
 * The guest image both VMMs load into their 1 MiB of RAM: a GDT, page
 * tables identity-mapping the first 4 GiB with 2 MiB pages (so that the
 * MMIO address and the 1 GiB touch area are reachable), and the guests.
 */
#include <string.h>

#include "bench.h"

extern const uint8_t bench_guests_begin[], bench_guests_end[];
extern const uint8_t bench_pio[], bench_mmio[], bench_hlt[], bench_rdmsr[],
    bench_touch[];

static const uint8_t *const guest_entry[GUEST_COUNT] = {
	[GUEST_PIO] = bench_pio,
	[GUEST_MMIO] = bench_mmio,
	[GUEST_HLT] = bench_hlt,
	[GUEST_RDMSR] = bench_rdmsr,
	[GUEST_TOUCH] = bench_touch,
};

static void
put64(uint8_t *ram, uint64_t gpa, uint64_t v)
{
	memcpy(ram + gpa, &v, sizeof(v));
}

static void
image_page_tables(uint8_t *ram)
{
	const uint64_t pdpt = G_PML4 + 0x1000, pd = G_PML4 + 0x2000;
	const uint64_t p_w = 0x3, ps = 0x80;

	memset(ram + G_PML4, 0, 6 * 0x1000);
	put64(ram, G_PML4, pdpt | p_w);
	for (uint64_t i = 0; i < 4; i++)
		put64(ram, pdpt + i * 8, (pd + i * 0x1000) | p_w);
	for (uint64_t i = 0; i < 4 * 512; i++)
		put64(ram, pd + i * 8, (i << 21) | p_w | ps);
}

/* Null, 64-bit code, data, 64-bit TSS (two slots). */
static void
image_gdt(uint8_t *ram)
{
	memset(ram + G_GDT, 0, 0x1000);
	put64(ram, G_GDT + G_SEL_CODE, 0x00AF9B000000FFFFULL);
	put64(ram, G_GDT + G_SEL_DATA, 0x00CF93000000FFFFULL);
	put64(ram, G_GDT + G_SEL_TSS, 0x00008B0000000067ULL);
}

uint64_t
image_build(uint8_t *ram, enum guest which)
{
	image_page_tables(ram);
	image_gdt(ram);
	memcpy(ram + G_CODE, bench_guests_begin,
	    (size_t)(bench_guests_end - bench_guests_begin));
	return G_CODE + (uint64_t)(guest_entry[which] - bench_guests_begin);
}
