/* IDT: 256 interrupt gates to vectors.S stubs, a handler table, exception reports. */
#include "boot.h"
#include "seg.h"

#define GATE_INTR32	0x8e	/* present, DPL 0, 32-bit interrupt gate (IF cleared) */

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t zero;
	uint8_t type;
	uint16_t off_hi;
} __attribute__((packed));

_Static_assert(sizeof(struct idt_gate) == 8, "IDT gate is 8 bytes");
_Static_assert(sizeof(struct intr_frame) == 13 * 4, "frame matches vectors.S");

extern const uint32_t intr_stubs[256];

static struct idt_gate idt[256];
static intr_handler_t handlers[256];
static volatile uint32_t strays;

void intr_dispatch(struct intr_frame *f);

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		idt[v].off_lo = (uint16_t)intr_stubs[v];
		idt[v].sel = SEL_CODE;
		idt[v].type = GATE_INTR32;
		idt[v].off_hi = (uint16_t)(intr_stubs[v] >> 16);
	}
	idt_load();
}

/* Also run by the AP, which shares the table. */
void idt_load(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) desc = { sizeof(idt) - 1, (uint32_t)idt };

	__asm__ volatile("lidt %0" : : "m"(desc));
}

void intr_set_handler(uint8_t vector, intr_handler_t fn)
{
	handlers[vector] = fn;
}

uint32_t intr_stray_count(void)
{
	return strays;
}

/* Any exception means the image (or the hypervisor under it) is broken. */
static void exception(struct intr_frame *f)
{
	uint32_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	fail("exception %u error %x at %x:%x (cr2 %x)", f->vector, f->error,
	     f->cs, f->eip, cr2);
}

void intr_dispatch(struct intr_frame *f)
{
	if (handlers[f->vector])
		handlers[f->vector](f);
	else if (f->vector < 32)
		exception(f);
	else if (f->vector != VEC_SPURIOUS) {	/* spurious vectors take no EOI */
		strays++;
		lapic_eoi();
	}
}
