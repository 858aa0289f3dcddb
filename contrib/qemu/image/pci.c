/* PCI configuration mechanism #1 (0xcf8/0xcfc): host bridge check and bus 0 scan. */
#include "boot.h"
#include "io.h"

#define CFG_ADDR	0xcf8
#define CFG_DATA	0xcfc
#define CFG_ENABLE	0x80000000u

#define REG_ID		0x00
#define REG_CLASS	0x08	/* class code in bits 31:16 (class, subclass) */
#define REG_HEADER	0x0c	/* header type in bits 23:16 */
#define HDR_MULTIFN	0x80
#define CLASS_HOST	0x0600

uint32_t pci_read(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	outl(CFG_ADDR, CFG_ENABLE | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
	return inl(CFG_DATA);
}

static bool present(uint32_t id)
{
	return (id & 0xffff) != 0xffff;
}

static void host_bridge(void)
{
	uint32_t id = pci_read(0, 0, 0, REG_ID);
	uint32_t class = pci_read(0, 0, 0, REG_CLASS) >> 16;

	if (!present(id) || class != CLASS_HOST)
		fail("pci: no host bridge at 00:00.0 (id %08x class %04x)", id, class);
	say("pci host bridge %04x:%04x", id & 0xffff, id >> 16);
}

/* Names of the devices a test looks for (virtio: transitional device ids). */
static const struct {
	uint32_t id;	/* device << 16 | vendor, as in config register 0 */
	const char *name;
} known[] = {
	{ 0x10001af4, "virtio-net" },
	{ 0x10011af4, "virtio-blk" },
	{ 0x10051af4, "virtio-rng" },
	{ 0x01001b36, "qxl-vga" },
	{ 0x11111234, "vga" },
	{ 0x10d38086, "e1000e" },
	{ 0x29c08086, "q35 host bridge" },
	{ 0x29188086, "ich9 lpc" },
	{ 0x29228086, "ich9 ahci" },
	{ 0x29308086, "ich9 smbus" },
};

static const char *name_of(uint32_t id)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].id == id)
			return known[i].name;
	}
	return "";
}

/* Prints and counts the functions of one device; functions 1-7 only if multi-function. */
static unsigned scan_device(unsigned dev)
{
	unsigned fn, nfn = 1, found = 0;

	for (fn = 0; fn < nfn; fn++) {
		uint32_t id = pci_read(0, dev, fn, REG_ID);

		if (!present(id))
			continue;
		if (fn == 0 && (pci_read(0, dev, 0, REG_HEADER) >> 16) & HDR_MULTIFN)
			nfn = 8;
		say("pci 00:%02x.%u %04x:%04x class %04x %s", dev, fn, id & 0xffff,
		    id >> 16, pci_read(0, dev, fn, REG_CLASS) >> 16, name_of(id));
		found++;
	}
	return found;
}

void pci_report(void)
{
	unsigned dev, found = 0;

	host_bridge();
	for (dev = 0; dev < 32; dev++)
		found += scan_device(dev);
	say("pci bus 0: %u functions", found);
}
