/*
 * Flash firmware: runs from the code flash (pflash0) after the reset vector
 * and drives the variables flash (pflash1) the way OVMF does, through CFI
 * commands of the Intel/Sharp command set that QEMU's pflash_cfi01 models:
 * a CFI query for its size, then on sector ERASED a block erase, and on
 * sector PROGRAMMED a block erase and byte programs of a pattern; each step
 * is read back. contrib/qemu/checks/cfi-flash prepares the variables file
 * and checks its contents after QEMU has exited.
 *
 * Commands are never sent to the code flash: it would leave ROM mode, and
 * the next instruction fetch would hit a device in I/O mode.
 */
#include "../image/boot.h"

#define FOUR_GIB	0x100000000ull
#define SECTOR		4096u		/* QEMU's pc flash sector size */
#define SECTOR_PROGRAMMED	1u
#define SECTOR_ERASED		2u
#define OLD_BYTE	0x55		/* what the check puts in sector ERASED */

/* Intel command set */
#define CMD_PROGRAM	0x40
#define CMD_ERASE	0x20
#define CMD_CONFIRM	0xd0
#define CMD_CLEAR	0x50
#define CMD_STATUS	0x70
#define CMD_QUERY	0x98
#define CMD_READ	0xff
#define ST_READY	0x80
#define ST_ERRORS	0x3a		/* erase, program, voltage, lock errors */
#define POLL_MAX	100000

/* CFI query table offsets (byte-wide device) */
#define CFI_QRY		0x10
#define CFI_SIZE_LOG2	0x27

void fw_main(void);

/* The pattern the check expects in sector PROGRAMMED: this text, repeated. */
static const char pattern[] = "nvmm-cfi-ok ";
#define PATTERN_LEN	(sizeof(pattern) - 1)
#define PROGRAM_LEN	512u

extern const uint8_t flash_start[];	/* link.ld: first byte of the code flash */

static inline volatile uint8_t *at(uintptr_t addr)
{
	return (volatile uint8_t *)addr;
}

static uint8_t wait_ready(uintptr_t addr)
{
	uint8_t st = 0;

	*at(addr) = CMD_STATUS;
	for (unsigned i = 0; i < POLL_MAX; i++) {
		st = *at(addr);
		if (st & ST_READY)
			break;
	}
	return st;
}

/* Sends CMD to the device at addr, then the confirmation/data byte, and waits. */
static void command(uintptr_t addr, uint8_t cmd, uint8_t arg, const char *what)
{
	uint8_t st;

	*at(addr) = CMD_CLEAR;
	*at(addr) = cmd;
	*at(addr) = arg;
	st = wait_ready(addr);
	*at(addr) = CMD_READ;
	if (!(st & ST_READY) || (st & ST_ERRORS))
		fail("%s at %x: status %02x", what, (unsigned)addr, st);
}

/* The whole code flash, read as data: the check compares the sum with the file's. */
static void report_code(void)
{
	uint32_t sum = 0;
	uintptr_t len = (uintptr_t)(FOUR_GIB - (uintptr_t)flash_start);

	for (uintptr_t i = 0; i < len; i++)
		sum += flash_start[i];
	say("running in flash at %x (fw_main), code flash %x-ffffffff",
	    (unsigned)(uintptr_t)fw_main, (unsigned)(uintptr_t)flash_start);
	say("code flash: %u bytes, byte sum %08x", (unsigned)len, sum);
}

/* CFI query on the device just below the code flash: returns its base. */
static uintptr_t find_vars(void)
{
	uintptr_t probe = (uintptr_t)flash_start - SECTOR;	/* its last sector */
	uint32_t size;

	*at(probe) = CMD_QUERY;
	if (*at(probe + CFI_QRY) != 'Q' || *at(probe + CFI_QRY + 1) != 'R' ||
	    *at(probe + CFI_QRY + 2) != 'Y') {
		*at(probe) = CMD_READ;
		fail("no CFI flash below the code flash (query at %x)", (unsigned)probe);
	}
	size = 1u << *at(probe + CFI_SIZE_LOG2);
	*at(probe) = CMD_READ;
	say("vars flash: CFI QRY, %u bytes at %x", size,
	    (unsigned)((uintptr_t)flash_start - size));
	return (uintptr_t)flash_start - size;
}

static void expect_erased(uintptr_t sector)
{
	for (unsigned i = 0; i < SECTOR; i++) {
		if (*at(sector + i) != 0xff)
			fail("sector at %x not erased: byte %u is %02x",
			    (unsigned)sector, i, *at(sector + i));
	}
}

static void erase(uintptr_t sector)
{
	command(sector, CMD_ERASE, CMD_CONFIRM, "block erase");
	expect_erased(sector);
}

static void program(uintptr_t sector)
{
	for (unsigned i = 0; i < PROGRAM_LEN; i++)
		command(sector + i, CMD_PROGRAM, (uint8_t)pattern[i % PATTERN_LEN],
		    "byte program");
	for (unsigned i = 0; i < PROGRAM_LEN; i++) {
		if (*at(sector + i) != (uint8_t)pattern[i % PATTERN_LEN])
			fail("programmed byte %u at %x reads %02x", i,
			    (unsigned)sector, *at(sector + i));
	}
}

void fw_main(void)
{
	uintptr_t vars, sector;

	serial_init();
	say("start (reset vector)");
	report_code();
	vars = find_vars();

	sector = vars + SECTOR_ERASED * SECTOR;
	if (*at(sector) != OLD_BYTE)
		fail("sector %u holds %02x before the erase, not %02x",
		    SECTOR_ERASED, *at(sector), OLD_BYTE);
	erase(sector);
	say("sector %u: block erase, reads back 0xff", SECTOR_ERASED);

	sector = vars + SECTOR_PROGRAMMED * SECTOR;
	erase(sector);
	program(sector);
	say("sector %u: erase, %u bytes programmed, read back", SECTOR_PROGRAMMED,
	    PROGRAM_LEN);
	say("PASS");
	power_off(true);
}
