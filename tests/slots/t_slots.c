/*
 * Guest ranges split across KVM slots (issue 15). This program links a
 * variant of the library whose backend maps at most 256 KiB per KVM slot
 * (tests/slots/meson.build), so ordinary ranges here are split as one of
 * 8 TiB or more is in the real library. A slot boundary lies at every
 * multiple of SLOT in a range's guest-physical addresses.
 *
 * Checked across boundaries: gpa_to_hva, guest reads and writes that
 * straddle two slots, an I/O instruction whose bytes lie in two slots
 * (the exit record is read from guest memory), page tables whose levels
 * lie in different slots (the guest's walk and nvmm_gva_to_gpa), a
 * read-only range (writes exit and go to the assist), unmap and remap,
 * slot numbers reused after an unmap, and ENOBUFS when an area needs more
 * slots than KVM has.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define SLOT		0x40000ULL	/* the variant's slot size */
#define RAM		(2ULL << 20)	/* 8 slots */
#define CODE_OUTS	(SLOT - 2)	/* 2E F3 | 66 6F */
#define OUTS_DATA	(2 * SLOT - 4)	/* 3 words across a boundary */
#define OUTS_PORT	0x80

/* Tables for gva G, one level per slot; PML4 is the builder's (slot 1). */
#define PDPT		0x3E000ULL	/* slot 0 */
#define PD		0x80000ULL	/* slot 2 */
#define PT		0xC0000ULL	/* slot 3 */
#define G		0x8000000000ULL	/* PML4 entry 1 */
#define G_DATA		(G + 0xFFC)	/* pages 0, 1: 0x13F000 and 0x140000 */
#define G_OUTS		(G + 0x2FFE)	/* pages 2, 3: 0x3F000 and 0x40000 */

#define ROM_GPA		0x400000ULL	/* 1 MiB: 4 slots */
#define ROM_SIZE	(4 * SLOT)

T_GUEST(slots_outs);
T_GUEST(slots_rw);
T_GUEST(slots_rom);

/* ---- Assist callbacks ---------------------------------------------------- */

static uint8_t io_bytes[64];
static size_t io_len;

static void
io_cb(struct nvmm_io *io)
{
	if (!io->in && io->port == OUTS_PORT &&
	    io_len + io->size <= sizeof(io_bytes)) {
		memcpy(io_bytes + io_len, io->data, io->size);
		io_len += io->size;
	}
}

/* Guest writes land in shadow (at gpa - shadow_base); reads get 0xEE. */
static uint8_t shadow[16];
static gpaddr_t shadow_base;
static unsigned int nwrites, nstray;

static void
mem_cb(struct nvmm_mem *mem)
{
	if (!mem->write) {
		memset(mem->data, 0xEE, mem->size);
		return;
	}
	nwrites++;
	if (mem->gpa < shadow_base ||
	    mem->gpa + mem->size > shadow_base + sizeof(shadow)) {
		nstray++;
		return;
	}
	memcpy(shadow + (mem->gpa - shadow_base), mem->data, mem->size);
}

/* ---- Helpers ------------------------------------------------------------- */

static void
put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Long mode with RIP = rip, and gva G's tables, each level in a slot. */
static void
setup(struct t_vm *vm, uint64_t rip)
{
	const uint64_t p_w = 0x3;

	t_vm_long_mode(vm, rip, 0x8000);
	memset(vm->ram + PDPT, 0, 4096);
	memset(vm->ram + PD, 0, 4096);
	memset(vm->ram + PT, 0, 4096);
	put64(vm->ram + T_PT_BASE + 8, PDPT | p_w);
	put64(vm->ram + PDPT, PD | p_w);
	put64(vm->ram + PD, PT | p_w);
	put64(vm->ram + PT + 0 * 8, 0x13F000 | p_w);
	put64(vm->ram + PT + 1 * 8, 0x140000 | p_w);
	put64(vm->ram + PT + 2 * 8, 0x3F000 | p_w);
	put64(vm->ram + PT + 3 * 8, 0x40000 | p_w);
}

static void
check_hva(struct t_vm *vm, gpaddr_t gpa, uintptr_t want, nvmm_prot_t want_prot,
    const char *what)
{
	uintptr_t hva = 0;
	nvmm_prot_t prot = 0;
	int r = nvmm_gpa_to_hva(&vm->mach, gpa, &hva, &prot);

	if (!t_ok(r == 0 && hva == want && prot == want_prot,
	    "gpa_to_hva 0x%llx: %s", (unsigned long long)gpa, what))
		t_diag("  returned %d, hva %p prot 0x%llx, want %p 0x%llx", r,
		    (void *)hva, (unsigned long long)prot, (void *)want,
		    (unsigned long long)want_prot);
}

static void
check_enoent(struct t_vm *vm, gpaddr_t gpa, const char *what)
{
	uintptr_t hva;
	nvmm_prot_t prot;

	t_errno(nvmm_gpa_to_hva(&vm->mach, gpa, &hva, &prot), ENOENT,
	    "gpa_to_hva 0x%llx: %s: ENOENT", (unsigned long long)gpa, what);
}

/* ---- Cases --------------------------------------------------------------- */

/* rep outsw from RIP rip: the first exit's record and the bytes sent. */
static void
outs_case(struct t_vm *vm, uint64_t rip, const char *how)
{
	struct nvmm_x86_exit_io first;
	unsigned int nexits = 0;
	uint64_t reason;

	setup(vm, rip);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RSI, OUTS_DATA);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RCX, 3);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RDX, OUTS_PORT);
	io_len = 0;
	memset(&first, 0, sizeof(first));
	while ((reason = t_vm_run(vm)) == NVMM_VCPU_EXIT_IO && nexits < 8) {
		if (nexits++ == 0)
			first = vm->vcpu.exit->u.io;
		T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
	}
	t_eq_u64(reason, NVMM_VCPU_EXIT_RDMSR, "outs %s: the guest ran to its end",
	    how);
	if (!t_ok(nexits > 0 && first.port == OUTS_PORT && !first.in &&
	    first.str && first.rep && first.seg == NVMM_X64_SEG_CS &&
	    first.operand_size == 2 && first.address_size == 8 &&
	    first.npc == rip + 4, "outs %s: the exit record has the "
	    "prefixes from both slots and npc after them", how))
		t_diag("  port 0x%x str %d rep %d seg %d opsize %u adsize %u "
		    "npc 0x%llx", first.port, first.str, first.rep, first.seg,
		    first.operand_size, first.address_size,
		    (unsigned long long)first.npc);
	t_ok(io_len == 6 && memcmp(io_bytes, vm->ram + OUTS_DATA, 6) == 0,
	    "outs %s: the 3 words across a boundary reach the callback "
	    "(%zu bytes)", how, io_len);
}

/* A qword read and written through tables and pages in five slots. */
static void
paged_case(struct t_vm *vm)
{
	nvmm_prot_t prot;
	gpaddr_t gpa = 0;
	uint64_t reason;
	int r;

	setup(vm, T_CODE_BASE);
	t_vm_load(vm, T_CODE_BASE, slots_rw_begin, slots_rw_end);
	put64(vm->ram + 0x13FFFC, 0xCAFEBABEDEADBEEFULL);
	r = nvmm_gva_to_gpa(&vm->mach, &vm->vcpu, G_DATA, &gpa, &prot);
	t_ok(r == 0 && gpa == 0x13FFFC, "gva_to_gpa: tables in slots 0-3 "
	    "(0x%llx)", (unsigned long long)gpa);
	r = nvmm_gva_to_gpa(&vm->mach, &vm->vcpu, G_DATA + 4, &gpa, &prot);
	t_ok(r == 0 && gpa == 0x140000, "gva_to_gpa: the next page, next "
	    "slot (0x%llx)", (unsigned long long)gpa);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RBP, G_DATA);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RBX, 0x1122334455667788ULL);
	reason = t_vm_run(vm);
	t_eq_u64(reason, NVMM_VCPU_EXIT_RDMSR,
	    "paged qword across slots: no exit on the way");
	t_eq_u64(t_vm_gpr(vm, NVMM_X64_GPR_RAX), 0xCAFEBABEDEADBEEFULL,
	    "paged qword across slots: the guest read both halves");
	t_eq_u64(get64(vm->ram + 0x13FFFC), 0x1122334455667788ULL,
	    "paged qword across slots: the host sees both halves written");
}

/* A read-only range of 4 slots: reads from RAM, a straddling write exits. */
static void
rom_case(struct t_vm *vm, uint8_t *rom)
{
	uint8_t orig[16];
	uint64_t reason;
	unsigned int nexits = 0;
	bool writes = true;

	for (size_t i = 0; i < ROM_SIZE; i++)
		rom[i] = (uint8_t)(i * 7 + i / 4096);
	memcpy(orig, rom + SLOT - 8, sizeof(orig));
	check_hva(vm, ROM_GPA + SLOT - 1, (uintptr_t)rom + SLOT - 1,
	    NVMM_PROT_READ, "read-only, last byte of its first slot");
	check_hva(vm, ROM_GPA + 3 * SLOT, (uintptr_t)rom + 3 * SLOT,
	    NVMM_PROT_READ, "read-only, first byte of its last slot");

	setup(vm, T_CODE_BASE);
	t_vm_load(vm, T_CODE_BASE, slots_rom_begin, slots_rom_end);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RBP, ROM_GPA + SLOT - 4);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RDI, ROM_GPA + 2 * SLOT - 2);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RBX, 0xA1B2C3D4);
	shadow_base = ROM_GPA + 2 * SLOT - 8;
	memset(shadow, 0, sizeof(shadow));
	nwrites = nstray = 0;
	while ((reason = t_vm_run(vm)) == NVMM_VCPU_EXIT_MEMORY &&
	    nexits++ < 8) {
		writes &= vm->vcpu.exit->u.mem.prot == PROT_WRITE;
		T_CHECK(nvmm_assist_mem(&vm->mach, &vm->vcpu));
	}
	t_eq_u64(reason, NVMM_VCPU_EXIT_RDMSR, "rom: the guest ran to its end");
	t_ok(nexits >= 1 && writes && nwrites >= 1 && nstray == 0 &&
	    get64(shadow + 6) == 0xA1B2C3D4ULL, "rom: the write across slots "
	    "2 and 3 exits, all of it reaches the callback (%u exits)",
	    nexits);
	t_eq_u64(t_vm_gpr(vm, NVMM_X64_GPR_RAX), get64(rom + SLOT - 4),
	    "rom: a read across slots 0 and 1 comes from RAM");
	t_eq_u64(t_vm_gpr(vm, NVMM_X64_GPR_RDX), get64(rom + SLOT - 4),
	    "rom: reading again gives the same RAM");
	t_ok(memcmp(rom + SLOT - 8, orig, sizeof(orig)) == 0 &&
	    get64(rom + 2 * SLOT - 8) != 0xA1B2C3D4ULL,
	    "rom: the RAM is unchanged");
}

/* The qword at gpa read (RAX) and written (RBX) by the guest; exits seen. */
static unsigned int
rw_at(struct t_vm *vm, gpaddr_t gpa, uint64_t write, uint64_t *read)
{
	unsigned int nexits = 0;

	setup(vm, T_CODE_BASE);
	t_vm_load(vm, T_CODE_BASE, slots_rw_begin, slots_rw_end);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RBP, gpa);
	t_vm_set_gpr(vm, NVMM_X64_GPR_RBX, write);
	shadow_base = gpa;
	nwrites = nstray = 0;
	while (t_vm_run(vm) == NVMM_VCPU_EXIT_MEMORY && nexits++ < 8)
		T_CHECK(nvmm_assist_mem(&vm->mach, &vm->vcpu));
	*read = t_vm_gpr(vm, NVMM_X64_GPR_RAX);
	return nexits;
}

/* gpa_unmap removes every slot; the range maps again, elsewhere too. */
static void
unmap_case(struct t_vm *vm, uint8_t *rom)
{
	uint64_t got = 0;
	uint8_t *ram;
	unsigned int n;

	T_CHECK(nvmm_gpa_unmap(&vm->mach, (uintptr_t)rom, ROM_GPA, ROM_SIZE));
	check_enoent(vm, ROM_GPA, "unmapped, first slot");
	check_enoent(vm, ROM_GPA + 2 * SLOT + 8, "unmapped, third slot");
	check_enoent(vm, ROM_GPA + ROM_SIZE - 1, "unmapped, last byte");
	n = rw_at(vm, ROM_GPA + 2 * SLOT, 1, &got);
	t_ok(n == 2 && got == 0xEEEEEEEEEEEEEEEEULL, "unmapped: a guest "
	    "read and write in the third slot exit as MEMORY (%u exits)", n);

	ram = mmap(NULL, ROM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (ram == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	T_CHECK(nvmm_hva_map(&vm->mach, (uintptr_t)ram, ROM_SIZE));
	t_ok(nvmm_gpa_map(&vm->mach, (uintptr_t)ram, ROM_GPA, ROM_SIZE,
	    PROT_READ | PROT_WRITE) == 0, "remap: the same guest range, "
	    "read-write");
	put64(ram + 3 * SLOT - 4, 0x0102030405060708ULL);
	n = rw_at(vm, ROM_GPA + 3 * SLOT - 4, 0x5555AAAA5555AAAAULL, &got);
	t_ok(n == 0 && got == 0x0102030405060708ULL &&
	    get64(ram + 3 * SLOT - 4) == 0x5555AAAA5555AAAAULL,
	    "remap: a qword across slots 2 and 3 is RAM again (%u exits)", n);
}

/*
 * Areas take runs of slot numbers: after X (1 slot) goes, Z (2 slots)
 * must not take X's number and the next, which Y still uses.
 */
static void
reuse_case(struct t_vm *vm)
{
	uint8_t *x, *y, *z;
	uint64_t got = 0;

	x = t_vm_map(vm, 0x600000, SLOT, PROT_READ | PROT_WRITE);
	y = t_vm_map(vm, 0x700000, 3 * SLOT, PROT_READ | PROT_WRITE);
	T_CHECK(nvmm_gpa_unmap(&vm->mach, (uintptr_t)x, 0x600000, SLOT));
	z = mmap(NULL, 2 * SLOT, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (z == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	T_CHECK(nvmm_hva_map(&vm->mach, (uintptr_t)z, 2 * SLOT));
	t_ok(nvmm_gpa_map(&vm->mach, (uintptr_t)z, 0x800000, 2 * SLOT,
	    PROT_READ | PROT_WRITE) == 0,
	    "reuse: a 2-slot area maps after a 1-slot one left a hole");
	put64(y + 3 * SLOT - 8, 0x1111);
	put64(z + 2 * SLOT - 8, 0x2222);
	t_ok(rw_at(vm, 0x700000 + 3 * SLOT - 8, 0, &got) == 0 && got == 0x1111,
	    "reuse: the other area's last slot still holds its RAM");
	t_ok(rw_at(vm, 0x800000 + 2 * SLOT - 8, 0, &got) == 0 && got == 0x2222,
	    "reuse: the new area's last slot is its RAM");
}

/* More slots than KVM has: refused before KVM is asked. */
static void
enobufs_case(struct t_vm *vm)
{
	size_t size = 16ULL << 30;	/* 65536 slots; KVM has < 32768 */
	void *p;

	p = mmap(NULL, size, PROT_NONE,
	    MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	T_CHECK(nvmm_hva_map(&vm->mach, (uintptr_t)p, size));
	t_errno(nvmm_gpa_map(&vm->mach, (uintptr_t)p, 1ULL << 40, size,
	    PROT_READ | PROT_WRITE), ENOBUFS,
	    "an area needing more slots than KVM has: ENOBUFS");
	check_enoent(vm, 1ULL << 40, "the refused area is not mapped");
	T_CHECK(nvmm_hva_unmap(&vm->mach, (uintptr_t)p, size));
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb, .mem = mem_cb };
	struct t_vm vm;
	uint8_t *rom;

	t_require_nvmm();
	t_plan(31);
	t_vm_create(&vm, RAM);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	rom = t_vm_map(&vm, ROM_GPA, ROM_SIZE, PROT_READ);

	check_hva(&vm, SLOT - 1, (uintptr_t)vm.ram + SLOT - 1,
	    NVMM_PROT_READ | NVMM_PROT_WRITE | NVMM_PROT_EXEC,
	    "RAM, last byte of slot 0");
	check_hva(&vm, SLOT, (uintptr_t)vm.ram + SLOT,
	    NVMM_PROT_READ | NVMM_PROT_WRITE | NVMM_PROT_EXEC,
	    "RAM, first byte of slot 1");

	for (size_t i = 0; i < 6; i++)
		vm.ram[OUTS_DATA + i] = (uint8_t)(0x41 + i);
	t_vm_load(&vm, CODE_OUTS, slots_outs_begin, slots_outs_end);
	outs_case(&vm, CODE_OUTS, "at gpa 0x3FFFE");
	outs_case(&vm, G_OUTS, "through tables in 4 slots");
	paged_case(&vm);
	rom_case(&vm, rom);
	unmap_case(&vm, rom);
	reuse_case(&vm);
	enobufs_case(&vm);

	t_vm_destroy(&vm);
	return t_done();
}
