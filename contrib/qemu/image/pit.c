/* 8254 PIT channel 0 as a periodic tick source. */
#include "boot.h"
#include "io.h"

#define PIT_CH0		0x40
#define PIT_CMD		0x43
#define PIT_HZ		1193182
#define CMD_CH0_LOHI_RATE	0x34	/* channel 0, lobyte/hibyte, mode 2 */

void pit_start(uint32_t hz)
{
	uint32_t div = (PIT_HZ + hz / 2) / hz;

	outb(PIT_CMD, CMD_CH0_LOHI_RATE);
	outb(PIT_CH0, (uint8_t)div);
	outb(PIT_CH0, (uint8_t)(div >> 8));
}
