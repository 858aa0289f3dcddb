/* CMOS RTC: a consistent read (UIP clear, two equal reads), BCD and 12-hour decoding. */
#include "boot.h"
#include "io.h"

#define CMOS_ADDR	0x70
#define CMOS_DATA	0x71
#define NMI_OFF		0x80	/* keep NMIs masked while selecting registers */

#define REG_SEC		0x00
#define REG_MIN		0x02
#define REG_HOUR	0x04
#define REG_DAY		0x07
#define REG_MONTH	0x08
#define REG_YEAR	0x09
#define REG_A		0x0a
#define REG_B		0x0b
#define REG_CENTURY	0x32	/* QEMU's FADT names this one */

#define A_UIP		0x80
#define B_24H		0x02
#define B_BINARY	0x04
#define HOUR_PM		0x80

#define READ_TRIES	3

struct rtc_time {
	uint8_t sec, min, hour, day, month, year, century;
};

static uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_ADDR, NMI_OFF | reg);
	return inb(CMOS_DATA);
}

static bool uip_clear(void)
{
	return !(cmos_read(REG_A) & A_UIP);
}

/* UIP lasts at most ~2 ms: waiting in ticks costs one or two port reads, not a poll loop. */
static void read_raw(struct rtc_time *t)
{
	if (!wait_for(uip_clear, 10))
		fail("rtc: update in progress for 10 ms");
	t->sec = cmos_read(REG_SEC);
	t->min = cmos_read(REG_MIN);
	t->hour = cmos_read(REG_HOUR);
	t->day = cmos_read(REG_DAY);
	t->month = cmos_read(REG_MONTH);
	t->year = cmos_read(REG_YEAR);
	t->century = cmos_read(REG_CENTURY);
}

static bool same(const struct rtc_time *a, const struct rtc_time *b)
{
	return a->sec == b->sec && a->min == b->min && a->hour == b->hour &&
	       a->day == b->day && a->month == b->month && a->year == b->year &&
	       a->century == b->century;
}

static uint8_t from_bcd(uint8_t v)
{
	return (uint8_t)((v >> 4) * 10 + (v & 0x0f));
}

static void decode(struct rtc_time *t, uint8_t status_b)
{
	bool pm = t->hour & HOUR_PM;

	t->hour &= (uint8_t)~HOUR_PM;
	if (!(status_b & B_BINARY)) {
		t->sec = from_bcd(t->sec);
		t->min = from_bcd(t->min);
		t->hour = from_bcd(t->hour);
		t->day = from_bcd(t->day);
		t->month = from_bcd(t->month);
		t->year = from_bcd(t->year);
		t->century = from_bcd(t->century);
	}
	if (!(status_b & B_24H))
		t->hour = (uint8_t)(t->hour % 12 + (pm ? 12 : 0));
}

void rtc_report(void)
{
	struct rtc_time a, b;
	unsigned tries, year;

	read_raw(&a);
	for (tries = 1;; tries++) {
		read_raw(&b);
		if (same(&a, &b))
			break;
		if (tries == READ_TRIES)
			fail("rtc: time changed across %u reads", READ_TRIES + 1);
		a = b;
	}
	decode(&a, cmos_read(REG_B));
	/* A zero or garbage century register means the firmware does not keep one. */
	year = (a.century >= 19 && a.century <= 99 ? a.century : 20) * 100u + a.year;
	say("rtc %04u-%02u-%02u %02u:%02u:%02u", year, a.month, a.day,
	    a.hour, a.min, a.sec);
}
