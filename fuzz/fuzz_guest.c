/*
 * Hostile-guest fuzzer: random guest code, page tables and register state
 * in every paging mode, run for a bounded number of exits, with the
 * emulator's side driven by the input too (assists with callbacks that
 * return random data, RIP skips, MSR answers, injections, window
 * requests, state edits between runs, nvmm_gva_to_gpa on any address).
 *
 * The host process must never crash, and every exit must be one NVMM
 * defines (KVM's internal errors become NVMM_VCPU_EXIT_INVALID); an
 * assist right after its exit must succeed; no MEMORY exit may name
 * guest RAM (only the ROM, for writes, and unbacked addresses).
 *
 * Input: mode, flags, state edits, page-table edits, RIP offset, code
 * length and code; the rest drives the emulator, one byte per decision.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fuzz.h"

#define RAM_SIZE	0x100000ULL		/* RWX at gpa 0 */
#define ROM_GPA		0x200000ULL		/* read-only: writes exit */
#define ROM_SIZE	0x10000ULL
#define HIGH_GPA	0xFFFF0000ULL		/* the reset vector */
#define HIGH_SIZE	0x10000ULL
#define CODE_GPA	0x10000ULL
#define STACK_TOP	0x60000ULL
#define PT_GPA		0x70000ULL		/* 8 pages of tables */
#define PT_SIZE		0x8000ULL
#define GDT_GPA		0x7F000ULL

#define SEL_CODE64	0x08
#define SEL_DATA	0x10
#define SEL_CODE32	0x18
#define SEL_TSS		0x20

#define MAX_EXITS	48
#define RUN_USEC	1000
#define MAX_CODE	1024

enum mode {
	MODE_RESET, MODE_REAL, MODE_PROT32, MODE_PAGING32, MODE_PAE,
	MODE_LONG, MODE_LONG_LA57, MODE_COMPAT, MODE_COUNT
};

static struct nvmm_machine mach;
static struct nvmm_vcpu vcpu;
static uint8_t *ram, *rom, *high;
static nvmm_cpuid_t next_cpuid = NVMM_MAX_VCPUS;	/* none yet */
static struct fz_input act;	/* the emulator's decisions */

/* ---- The machine ------------------------------------------------------------------ */

static uint8_t *
map_area(gpaddr_t gpa, size_t size, int prot)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	FZ_CHECK(p != MAP_FAILED, "mmap");
	FZ_CHECK(nvmm_hva_map(&mach, (uintptr_t)p, size) == 0, "hva_map");
	FZ_CHECK(nvmm_gpa_map(&mach, (uintptr_t)p, gpa, size, prot) == 0,
	    "gpa_map");
	return p;
}

/*
 * KVM cannot re-create a vCPU id, so each input takes the next id; the
 * machine is made afresh when all 128 are used.
 */
static void
machine_next_vcpu(void)
{
	if (next_cpuid == NVMM_MAX_VCPUS) {
		if (ram != NULL) {
			FZ_CHECK(nvmm_machine_destroy(&mach) == 0, "destroy");
			munmap(ram, RAM_SIZE);
			munmap(rom, ROM_SIZE);
			munmap(high, HIGH_SIZE);
		}
		FZ_CHECK(nvmm_machine_create(&mach) == 0, "machine_create");
		ram = map_area(0, RAM_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
		rom = map_area(ROM_GPA, ROM_SIZE, PROT_READ | PROT_EXEC);
		high = map_area(HIGH_GPA, HIGH_SIZE,
		    PROT_READ | PROT_WRITE | PROT_EXEC);
		next_cpuid = 0;
	}
	FZ_CHECK(nvmm_vcpu_create(&mach, next_cpuid++, &vcpu) == 0,
	    "vcpu_create");
}

/* ---- Callbacks -------------------------------------------------------------------- */

static void
cb_io(struct nvmm_io *io)
{
	FZ_CHECK(io->size == 1 || io->size == 2 || io->size == 4,
	    "io size %zu", io->size);
	if (io->in)
		fz_bytes(&act, io->data, io->size);
	if (fz_u8(&act) & 1)
		FZ_CHECK(nvmm_vcpu_getstate(io->mach, io->vcpu,
		    NVMM_X64_STATE_ALL) == 0, "getstate in io callback");
}

static void
cb_mem(struct nvmm_mem *mem)
{
	gpaddr_t gpa;
	nvmm_prot_t prot;

	FZ_CHECK(mem->size >= 1 && mem->size <= 8, "mem size %zu", mem->size);
	if (!mem->write)
		fz_bytes(&act, mem->data, mem->size);
	if (fz_u8(&act) & 1)
		(void)nvmm_gva_to_gpa(mem->mach, mem->vcpu, fz_u64(&act), &gpa,
		    &prot);
}

/* ---- Guest memory: identity page tables for each mode, and a GDT ------------------ */

static void
put64(uint8_t *base, uint64_t off, uint64_t v)
{
	memcpy(base + off, &v, sizeof(v));
}

static void
put32(uint8_t *base, uint64_t off, uint32_t v)
{
	memcpy(base + off, &v, sizeof(v));
}

#define PTE	0x7ULL		/* P W U */
#define PS	0x80ULL

/* PD at +0, 4 KiB PT at +0x1000 for the first 4 MiB, then 4 MiB pages. */
static void
tables_32(void)
{
	put32(ram, PT_GPA, (uint32_t)(PT_GPA + 0x1000) | PTE);
	for (uint32_t i = 0; i < 1024; i++)
		put32(ram, PT_GPA + 0x1000 + i * 4, i << 12 | PTE);
	for (uint32_t i = 1; i < 1024; i++)
		put32(ram, PT_GPA + i * 4, i << 22 | PTE | PS);
}

/* PDPT at +0, PD0 at +0x1000 (PT at +0x2000), PD3 at +0x3000. */
static void
tables_pae(void)
{
	put64(ram, PT_GPA, (PT_GPA + 0x1000) | 1);
	put64(ram, PT_GPA + 24, (PT_GPA + 0x3000) | 1);
	put64(ram, PT_GPA + 0x1000, (PT_GPA + 0x2000) | PTE);
	for (uint64_t i = 0; i < 512; i++)
		put64(ram, PT_GPA + 0x2000 + i * 8, i << 12 | PTE);
	for (uint64_t i = 1; i < 512; i++)
		put64(ram, PT_GPA + 0x1000 + i * 8, i << 21 | PTE | PS);
	put64(ram, PT_GPA + 0x3000 + 511 * 8, 0xFFE00000ULL | PTE | PS);
}

/*
 * PML4 at +0, PDPT at +0x1000 (a 1 GiB page at 1 GiB), PD0 at +0x2000
 * (PT at +0x4000, then 2 MiB pages), PD3 at +0x3000 for the top 2 MiB.
 */
static void
tables_long(void)
{
	put64(ram, PT_GPA, (PT_GPA + 0x1000) | PTE);
	put64(ram, PT_GPA + 0x1000, (PT_GPA + 0x2000) | PTE);
	put64(ram, PT_GPA + 0x1008, 0x40000000ULL | PTE | PS);
	put64(ram, PT_GPA + 0x1018, (PT_GPA + 0x3000) | PTE);
	put64(ram, PT_GPA + 0x2000, (PT_GPA + 0x4000) | PTE);
	for (uint64_t i = 0; i < 512; i++)
		put64(ram, PT_GPA + 0x4000 + i * 8, i << 12 | PTE);
	for (uint64_t i = 1; i < 512; i++)
		put64(ram, PT_GPA + 0x2000 + i * 8, i << 21 | PTE | PS);
	put64(ram, PT_GPA + 0x3000 + 511 * 8, 0xFFE00000ULL | PTE | PS);
}

static void
gdt(void)
{
	put64(ram, GDT_GPA + SEL_CODE64, 0x00AF9B000000FFFFULL);
	put64(ram, GDT_GPA + SEL_DATA, 0x00CF93000000FFFFULL);
	put64(ram, GDT_GPA + SEL_CODE32, 0x00CF9B000000FFFFULL);
	put64(ram, GDT_GPA + SEL_TSS, 0x00008B0000000067ULL);
}

/* XOR the input's values into table entries. */
static void
tables_edit(struct fz_input *in)
{
	unsigned int n = fz_below(in, 16);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t off = PT_GPA + (fz_u16(in) % (PT_SIZE / 8)) * 8;
		uint64_t v;

		memcpy(&v, ram + off, sizeof(v));
		v ^= fz_u64(in);
		memcpy(ram + off, &v, sizeof(v));
	}
}

/* ---- Register state for each mode -------------------------------------------------- */

static void
seg(struct nvmm_x64_state_seg *s, uint16_t sel, uint64_t base, uint32_t limit,
    uint8_t type, bool l, bool def)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->attrib.type = type;
	s->attrib.s = 1;
	s->attrib.p = 1;
	s->attrib.l = l;
	s->attrib.def = def;
	s->attrib.g = limit > 0xFFFFF;
}

static void
state_real(struct nvmm_x64_state *st, uint16_t ip)
{
	for (int i = 0; i < NVMM_X64_SEG_GDT; i++)
		seg(&st->segs[i], CODE_GPA >> 4, CODE_GPA, 0xFFFF,
		    i == NVMM_X64_SEG_CS ? 0xB : 0x3, false, false);
	st->gprs[NVMM_X64_GPR_RIP] = ip;
	st->gprs[NVMM_X64_GPR_RSP] = 0xFFF0;
}

/* Flat protected mode; code 64-bit, 32-bit (compat) or 32-bit legacy. */
static void
state_prot(struct nvmm_x64_state *st, uint64_t rip, bool code64)
{
	for (int i = 0; i < NVMM_X64_SEG_GDT; i++)
		seg(&st->segs[i], SEL_DATA, 0, 0xFFFFFFFF, 0x3, false, true);
	if (code64)
		seg(&st->segs[NVMM_X64_SEG_CS], SEL_CODE64, 0, 0xFFFFFFFF, 0xB,
		    true, false);
	else
		seg(&st->segs[NVMM_X64_SEG_CS], SEL_CODE32, 0, 0xFFFFFFFF,
		    0xB, false, true);
	memset(&st->segs[NVMM_X64_SEG_GDT], 0, 4 * sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_GDT].base = GDT_GPA;
	st->segs[NVMM_X64_SEG_GDT].limit = 0x2F;
	st->segs[NVMM_X64_SEG_LDT].attrib.type = 2;	/* p = 0: unusable */
	st->segs[NVMM_X64_SEG_TR].selector = SEL_TSS;
	st->segs[NVMM_X64_SEG_TR].limit = 0x67;
	st->segs[NVMM_X64_SEG_TR].attrib.type = 0xB;
	st->segs[NVMM_X64_SEG_TR].attrib.p = 1;
	st->crs[NVMM_X64_CR_CR0] = 0x31;		/* NE ET PE */
	st->gprs[NVMM_X64_GPR_RIP] = rip;
	st->gprs[NVMM_X64_GPR_RSP] = STACK_TOP;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;
}

static void
state_mode(struct nvmm_x64_state *st, enum mode mode, uint16_t off)
{
	uint64_t rip = CODE_GPA + off;

	switch (mode) {
	case MODE_RESET:
		break;
	case MODE_REAL:
		state_real(st, off);
		break;
	case MODE_PROT32:
		state_prot(st, rip, false);
		break;
	case MODE_PAGING32:
		state_prot(st, rip, false);
		st->crs[NVMM_X64_CR_CR0] |= 0x80010000;	/* PG WP */
		st->crs[NVMM_X64_CR_CR3] = PT_GPA;
		st->crs[NVMM_X64_CR_CR4] = 0x10;		/* PSE */
		tables_32();
		break;
	case MODE_PAE:
		state_prot(st, rip, false);
		st->crs[NVMM_X64_CR_CR0] |= 0x80010000;
		st->crs[NVMM_X64_CR_CR3] = PT_GPA;
		st->crs[NVMM_X64_CR_CR4] = 0x620;	/* PAE OSFXSR ... */
		st->msrs[NVMM_X64_MSR_EFER] = 0x800;	/* NXE */
		tables_pae();
		break;
	case MODE_LONG:
	case MODE_LONG_LA57:
	case MODE_COMPAT:
		state_prot(st, rip, mode != MODE_COMPAT);
		st->crs[NVMM_X64_CR_CR0] |= 0x80010000;
		st->crs[NVMM_X64_CR_CR3] = PT_GPA;
		st->crs[NVMM_X64_CR_CR4] = 0x620 |
		    (mode == MODE_LONG_LA57 ? 0x1000 : 0);
		st->msrs[NVMM_X64_MSR_EFER] = 0xD01;	/* NXE LMA LME SCE */
		tables_long();
		break;
	default:
		break;
	}
}

/* Bytes of the state set from the input: any field, any value. */
static void
state_edit(struct fz_input *in, struct nvmm_x64_state *st)
{
	unsigned int n = fz_below(in, 16);

	for (unsigned int i = 0; i < n; i++) {
		size_t off = fz_u16(in) % sizeof(*st);

		((uint8_t *)st)[off] = fz_u8(in);
	}
}

/* ---- The emulator's side --------------------------------------------------------------- */

static void
set_gprs(uint64_t rip, bool answer)
{
	struct nvmm_x64_state *st = vcpu.state;

	FZ_CHECK(nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_GPRS) == 0,
	    "getstate gprs");
	if (answer) {
		st->gprs[NVMM_X64_GPR_RAX] = fz_u32(&act);
		st->gprs[NVMM_X64_GPR_RDX] = fz_u32(&act);
	}
	st->gprs[NVMM_X64_GPR_RIP] = rip;
	FZ_CHECK(nvmm_vcpu_setstate(&mach, &vcpu, NVMM_X64_STATE_GPRS) == 0,
	    "setstate gprs");
}

static void
inject(unsigned int type, uint8_t vector, uint64_t error, bool *injected)
{
	vcpu.event->type = type;
	vcpu.event->vector = vector;
	vcpu.event->u.excp.error = error;
	FZ_CHECK(nvmm_vcpu_inject(&mach, &vcpu) == 0, "inject");
	*injected = true;
}

/* An exit only the emulator sees: NVMM's guarantees about it. */
static void
check_memory_exit(const struct nvmm_vcpu_exit *exit)
{
	gpaddr_t gpa = exit->u.mem.gpa;

	FZ_CHECK(gpa >= RAM_SIZE && !(gpa >= HIGH_GPA &&
	    gpa < HIGH_GPA + HIGH_SIZE), "MEMORY exit in RAM at 0x%llx",
	    (unsigned long long)gpa);
	if (gpa >= ROM_GPA && gpa < ROM_GPA + ROM_SIZE)
		FZ_CHECK(exit->u.mem.prot == PROT_WRITE,
		    "MEMORY exit reading ROM at 0x%llx",
		    (unsigned long long)gpa);
}

static void
serve(const struct nvmm_vcpu_exit *exit, uint8_t a, bool *injected)
{
	switch (exit->reason) {
	case NVMM_VCPU_EXIT_IO:
		if (a & 1)
			FZ_CHECK(nvmm_assist_io(&mach, &vcpu) == 0,
			    "assist_io after IO: %d", errno);
		if (a & 2)
			set_gprs(exit->u.io.npc, false);
		break;
	case NVMM_VCPU_EXIT_MEMORY:
		check_memory_exit(exit);
		if (a & 1)
			FZ_CHECK(nvmm_assist_mem(&mach, &vcpu) == 0,
			    "assist_mem after MEMORY: %d", errno);
		break;
	case NVMM_VCPU_EXIT_RDMSR:
	case NVMM_VCPU_EXIT_WRMSR:
		if (a & 1)
			set_gprs(exit->reason == NVMM_VCPU_EXIT_RDMSR ?
			    exit->u.rdmsr.npc : exit->u.wrmsr.npc, true);
		else if (a & 2)
			inject(NVMM_VCPU_EVENT_EXCP, 13, 0, injected);
		break;
	case NVMM_VCPU_EXIT_HALTED:
	case NVMM_VCPU_EXIT_INT_READY:
	case NVMM_VCPU_EXIT_NMI_READY:
		if (a & 1)
			inject(NVMM_VCPU_EVENT_INTR, fz_u8(&act), 0, injected);
		break;
	default:
		break;
	}
}

/* Whatever else an emulator may do between runs. */
static void
meddle(uint8_t a, bool *injected)
{
	struct nvmm_x64_state *st = vcpu.state;
	gpaddr_t gpa;
	nvmm_prot_t prot;
	int r;

	if (a & 0x10) {
		r = nvmm_gva_to_gpa(&mach, &vcpu, fz_u64(&act), &gpa, &prot);
		FZ_CHECK(r == 0 || errno == EFAULT, "gva_to_gpa: %d", errno);
		FZ_CHECK(r != 0 || (prot & ~(nvmm_prot_t)NVMM_PROT_ALL) == 0,
		    "gva_to_gpa prot 0x%llx", (unsigned long long)prot);
	}
	if (a & 0x20)
		FZ_CHECK(nvmm_vcpu_getstate(&mach, &vcpu,
		    fz_u8(&act) & NVMM_X64_STATE_ALL) == 0, "getstate");
	if (a & 0x40) {
		FZ_CHECK(nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_ALL) ==
		    0, "getstate all");
		state_edit(&act, st);
		FZ_CHECK(nvmm_vcpu_setstate(&mach, &vcpu,
		    fz_u8(&act) & NVMM_X64_STATE_ALL) == 0, "setstate");
	}
	if ((a & 0x88) == 0x88) {
		unsigned int type = fz_u8(&act) & 1;
		uint8_t vector = fz_u8(&act);

		inject(type, vector, fz_u64(&act), injected);
	}
}

static void
run_guest(void)
{
	bool injected = false;
	unsigned int dead = 0;

	for (unsigned int i = 0; i < MAX_EXITS && dead < 2; i++) {
		const struct nvmm_vcpu_exit *exit = vcpu.exit;
		uint8_t a;
		int r;

		r = fz_run(&mach, &vcpu, RUN_USEC);
		/*
		 * Only an invalid injected event makes a run fail. A run that
		 * returns an exit KVM left stashed does not take the event:
		 * a later one does, so an injection counts until a failure.
		 */
		FZ_CHECK(r == 0 || (errno == EINVAL && injected),
		    "run: %d (injected %d)", errno, injected);
		if (r != 0) {
			injected = false;
			continue;
		}
		fz_check_exit(exit);
		if (exit->reason == NVMM_VCPU_EXIT_SHUTDOWN ||
		    exit->reason == NVMM_VCPU_EXIT_INVALID)
			dead++;
		a = fz_u8(&act);
		serve(exit, a, &injected);
		meddle(a, &injected);
	}
}

/* ---- One input ------------------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_setup();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_input in = { data, size };
	struct nvmm_assist_callbacks cbs = { cb_io, cb_mem };
	enum mode mode = fz_below(&in, MODE_COUNT);
	uint16_t off, len;

	fz_begin(data, size);
	machine_next_vcpu();
	FZ_CHECK(nvmm_vcpu_configure(&mach, &vcpu, NVMM_VCPU_CONF_CALLBACKS,
	    &cbs) == 0, "callbacks");
	memset(ram, 0, RAM_SIZE);
	memset(high, 0xF4, HIGH_SIZE);	/* HLT */
	gdt();
	FZ_CHECK(nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_ALL) == 0,
	    "getstate");
	off = fz_u16(&in) % 4096;
	state_mode(vcpu.state, mode, off);
	state_edit(&in, vcpu.state);
	tables_edit(&in);
	FZ_CHECK(nvmm_vcpu_setstate(&mach, &vcpu, NVMM_X64_STATE_ALL) == 0,
	    "setstate");

	len = fz_u16(&in) % MAX_CODE;
	fz_bytes(&in, ram + CODE_GPA + off, len);
	/* The same code at the reset vector. */
	memcpy(high + HIGH_SIZE - 16, ram + CODE_GPA + off, 16);
	memcpy(high, ram + CODE_GPA + off, len);
	act = in;
	run_guest();
	FZ_CHECK(nvmm_vcpu_destroy(&mach, &vcpu) == 0, "vcpu_destroy");
	return 0;
}
