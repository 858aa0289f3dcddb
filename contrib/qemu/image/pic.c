/* Legacy 8259 PICs: remapped off the exception vectors and fully masked. */
#include "boot.h"
#include "io.h"

#define PIC1_CMD	0x20
#define PIC1_DATA	0x21
#define PIC2_CMD	0xa0
#define PIC2_DATA	0xa1
#define ICW1_INIT_ICW4	0x11
#define ICW4_8086	0x01

/*
 * Interrupts go through the IOAPIC. The PICs are still remapped first, so that
 * a spurious IRQ7/15 cannot land on an exception vector.
 */
void pic_disable(void)
{
	outb(PIC1_CMD, ICW1_INIT_ICW4);
	outb(PIC2_CMD, ICW1_INIT_ICW4);
	outb(PIC1_DATA, VEC_PIC_BASE);		/* ICW2: vector base */
	outb(PIC2_DATA, VEC_PIC_BASE + 8);
	outb(PIC1_DATA, 0x04);			/* ICW3: slave on IRQ2 */
	outb(PIC2_DATA, 0x02);			/* ICW3: cascade identity */
	outb(PIC1_DATA, ICW4_8086);
	outb(PIC2_DATA, ICW4_8086);
	outb(PIC1_DATA, 0xff);			/* OCW1: mask every line */
	outb(PIC2_DATA, 0xff);
}
