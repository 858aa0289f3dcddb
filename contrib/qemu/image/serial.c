/* COM1 (16550A at 0x3f8) output: polled, FIFO-burst writes, one lock per line. */
#include "boot.h"
#include "io.h"

#define COM1		0x3f8
#define REG_THR		0	/* transmit holding (DLAB=0) */
#define REG_DLL		0	/* divisor low (DLAB=1) */
#define REG_IER		1
#define REG_DLM		1
#define REG_FCR		2
#define REG_LCR		3
#define REG_MCR		4
#define REG_LSR		5
#define LSR_THRE	0x20	/* transmit FIFO empty */
#define LSR_TEMT	0x40	/* FIFO and shift register empty */
#define FIFO_DEPTH	16

/* Each poll is a VM exit; QEMU drains its FIFO at once, so one poll usually suffices. */
#define POLL_MAX	100000

static volatile uint32_t serial_lock;

void serial_init(void)
{
	outb(COM1 + REG_IER, 0x00);	/* polled: no UART interrupts */
	outb(COM1 + REG_LCR, 0x80);	/* DLAB on */
	outb(COM1 + REG_DLL, 0x01);	/* 115200 baud */
	outb(COM1 + REG_DLM, 0x00);
	outb(COM1 + REG_LCR, 0x03);	/* 8N1, DLAB off */
	outb(COM1 + REG_FCR, 0x07);	/* enable and clear both FIFOs */
	outb(COM1 + REG_MCR, 0x03);	/* DTR, RTS; OUT2 off keeps IRQ4 quiet */
}

static bool wait_lsr(uint8_t bit)
{
	for (unsigned i = 0; i < POLL_MAX; i++) {
		if (inb(COM1 + REG_LSR) & bit)
			return true;
		cpu_relax();
	}
	return false;
}

/*
 * An empty 16550A FIFO takes 16 bytes without further checks: this costs one
 * LSR read per 16 characters instead of one per character.
 */
static void write_burst(const char *s, size_t len)
{
	while (len > 0) {
		size_t n = len < FIFO_DEPTH ? len : FIFO_DEPTH;

		wait_lsr(LSR_THRE);	/* on timeout write anyway: losing text beats hanging */
		for (size_t i = 0; i < n; i++)
			outb(COM1 + REG_THR, (uint8_t)s[i]);
		s += n;
		len -= n;
	}
}

/* Both CPUs print; the lock keeps lines whole. */
void serial_write(const char *s, size_t len)
{
	while (__atomic_exchange_n(&serial_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
	write_burst(s, len);
	__atomic_store_n(&serial_lock, 0, __ATOMIC_RELEASE);
}

/* Called before power-off so the last line is not cut. */
void serial_drain(void)
{
	wait_lsr(LSR_TEMT);
}
