/* The CD loader's 32-bit part: load the ELF behind the loader, enter it as multiboot would. */
#include <stddef.h>
#include <stdint.h>

#define MB_BOOT_MAGIC	0x2badb002u
#define MBI_CMDLINE	(1u << 2)
#define PT_LOAD		1
#define ELF_MAGIC	0x464c457fu	/* "\177ELF" */

/* make-iso pads the loader to a 512-byte boundary; the ELF follows. */
extern const uint8_t cdboot_start[], cdboot_end[];

struct elf_header {
	uint32_t magic;
	uint8_t ident[12];
	uint16_t type, machine;
	uint32_t version, entry, phoff, shoff, flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf_phdr {
	uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};

/* Without a menu to edit, the options are fixed: VGA console, stay up after PASS. */
static const char cmdline[] = "cdboot vga stay";

/* The part of the multiboot information the image reads (main.c); initialised,
 * so that it is in .data, which is in the loader's file (no .bss to clear). */
static struct {
	uint32_t flags;
	uint32_t mem_lower, mem_upper, boot_device;
	uint32_t cmdline;
} mbi = { .flags = MBI_CMDLINE, .cmdline = (uint32_t)cmdline };

void cdload(void) __attribute__((noreturn));

static void halt(void) __attribute__((noreturn));
static void halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void cdload(void)
{
	uintptr_t at = ((uintptr_t)cdboot_end + 511) & ~(uintptr_t)511;
	const struct elf_header *eh = (const void *)at;

	if (eh->magic != ELF_MAGIC || eh->phentsize != sizeof(struct elf_phdr))
		halt();
	for (unsigned i = 0; i < eh->phnum; i++) {
		const struct elf_phdr *ph = (const void *)(at + eh->phoff + i * sizeof(*ph));
		uint8_t *dst = (uint8_t *)ph->paddr;
		const uint8_t *src = (const uint8_t *)(at + ph->offset);

		if (ph->type != PT_LOAD)
			continue;
		for (uint32_t n = 0; n < ph->memsz; n++)
			dst[n] = n < ph->filesz ? src[n] : 0;
	}
	__asm__ volatile("jmp *%2" : : "a"(MB_BOOT_MAGIC), "b"(&mbi), "r"(eh->entry) : "memory");
	halt();
}
