/*
 * The ELF64 loader: each PT_LOAD segment gets its own guest memory, mapped
 * at its physical address with the protection its flags ask for. Segments
 * without write permission are mapped read-only, which makes KVM turn the
 * guest's stores into MEMORY exits: a small bus region then drops them,
 * as ROM does.
 */
#include <elf.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "toyvmm.h"

#define PAGE_SIZE	4096ULL
#define GUEST_LIMIT	(4ULL << 30)	/* what boot.c identity-maps */

/* ---- ROM: stores into read-only segments ---------------------------------- */

struct rom {
	uint8_t *hva;
	atomic_uint dropped;
};

static bool
rom_access(const struct bus_access *acc, void *opaque)
{
	struct rom *rom = opaque;

	if (acc->write)
		atomic_fetch_add(&rom->dropped, 1);
	else	/* reads hit RAM and do not exit; serve them anyway */
		memcpy(acc->data, rom->hva + acc->off, acc->size);
	return true;
}

/* ---- Segments ---------------------------------------------------------------- */

static int
segment_prot(const Elf64_Phdr *ph)
{
	return ((ph->p_flags & PF_R) ? PROT_READ : 0) |
	    ((ph->p_flags & PF_W) ? PROT_WRITE : 0) |
	    ((ph->p_flags & PF_X) ? PROT_EXEC : 0);
}

static void
load_segment(struct toy_vm *vm, const uint8_t *file, size_t file_size,
    const Elf64_Phdr *ph)
{
	uint64_t gpa = ph->p_paddr & ~(PAGE_SIZE - 1);
	uint64_t end = (ph->p_paddr + ph->p_memsz + PAGE_SIZE - 1) &
	    ~(PAGE_SIZE - 1);
	int prot = segment_prot(ph);
	uint8_t *hva;

	if (ph->p_filesz > ph->p_memsz || ph->p_offset > file_size ||
	    ph->p_filesz > file_size - ph->p_offset ||
	    ph->p_paddr > GUEST_LIMIT || ph->p_memsz > GUEST_LIMIT - ph->p_paddr)
		errx(1, "ELF segment at 0x%llx does not fit",
		    (unsigned long long)ph->p_paddr);
	hva = mmap(NULL, end - gpa, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (hva == MAP_FAILED)
		err(1, "mmap");
	/* hva_map gives the range fresh zeroed memory: copy afterwards. */
	if (nvmm_hva_map(&vm->mach, (uintptr_t)hva, end - gpa) == -1)
		err(1, "nvmm_hva_map");
	if (nvmm_gpa_map(&vm->mach, (uintptr_t)hva, gpa, end - gpa, prot) == -1)
		err(1, "nvmm_gpa_map(0x%llx): segments must not share pages",
		    (unsigned long long)gpa);
	memcpy(hva + (ph->p_paddr - gpa), file + ph->p_offset, ph->p_filesz);

	vm_log("load 0x%08llx-0x%08llx %c%c%c", (unsigned long long)gpa,
	    (unsigned long long)end - 1, (prot & PROT_READ) ? 'r' : '-',
	    (prot & PROT_WRITE) ? 'w' : '-', (prot & PROT_EXEC) ? 'x' : '-');
	if (!(prot & PROT_WRITE)) {
		struct rom *rom = calloc(1, sizeof(*rom));

		if (rom == NULL)
			err(1, "calloc");
		rom->hva = hva;
		bus_register(vm, &(struct bus_region){ BUS_MMIO, gpa,
		    end - gpa, rom_access, rom, "rom" });
	}
}

/* ---- The file ---------------------------------------------------------------------- */

static uint8_t *
read_file(const char *path, size_t *sizep)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long size;

	if (f == NULL)
		err(1, "%s", path);
	if (fseek(f, 0, SEEK_END) == -1 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1)
		err(1, "%s", path);
	buf = malloc((size_t)size + 1);
	if (buf == NULL)
		err(1, "malloc");
	if (fread(buf, 1, (size_t)size, f) != (size_t)size)
		errx(1, "%s: short read", path);
	fclose(f);
	*sizep = (size_t)size;
	return buf;
}

static const Elf64_Ehdr *
check_header(const char *path, const uint8_t *file, size_t size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)file;

	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		errx(1, "%s: not an ELF file", path);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		errx(1, "%s: not an x86-64 ELF executable", path);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > size ||
	    (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		errx(1, "%s: bad program headers", path);
	return eh;
}

uint64_t
load_elf64(struct toy_vm *vm, const char *path)
{
	size_t size;
	uint8_t *file = read_file(path, &size);
	const Elf64_Ehdr *eh = check_header(path, file, size);
	uint64_t entry = eh->e_entry;
	unsigned int nload = 0;

	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		/* Copy: nothing promises the headers are aligned in buf. */
		memcpy(&ph, file + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		load_segment(vm, file, size, &ph);
		nload++;
	}
	if (nload == 0)
		errx(1, "%s: no PT_LOAD segment", path);
	vm_log("kernel %s: entry 0x%llx, %u segments", path,
	    (unsigned long long)entry, nload);
	free(file);
	return entry;
}
