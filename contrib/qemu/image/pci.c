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

/* Returns the number of functions of one device; functions 1-7 only if multi-function. */
static unsigned scan_device(unsigned dev)
{
	unsigned fn, nfn = 1, found = 0;

	for (fn = 0; fn < nfn; fn++) {
		uint32_t id = pci_read(0, dev, fn, REG_ID);

		if (!present(id))
			continue;
		if (fn == 0 && (pci_read(0, dev, 0, REG_HEADER) >> 16) & HDR_MULTIFN)
			nfn = 8;
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
