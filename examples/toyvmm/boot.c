/*
 * Booting straight into long mode, as toy_abi.h describes: the VMM builds
 * identity page tables for the first 4 GiB (2 MiB pages) and a GDT in a
 * small boot area, and sets each vCPU's state at the kernel's entry. Also
 * the CPUID view the VMM configures: set once, before the first run,
 * because KVM takes no new CPUID table afterwards.
 */
#include <err.h>
#include <string.h>
#include <sys/mman.h>

#include "toyvmm.h"

/* The boot area: PML4, PDPT, four page directories, GDT. */
#define BOOT_BASE	0x1000ULL
#define BOOT_PML4	0x1000ULL
#define BOOT_PDPT	0x2000ULL
#define BOOT_PD		0x3000ULL	/* 4 pages */
#define BOOT_GDT	0x7000ULL
#define BOOT_SIZE	0x7000ULL

#define PTE_P		0x1ULL
#define PTE_W		0x2ULL
#define PTE_PS		0x80ULL

#define CR0_PE		0x00000001ULL
#define CR0_ET		0x00000010ULL
#define CR0_NE		0x00000020ULL
#define CR0_WP		0x00010000ULL
#define CR0_PG		0x80000000ULL
#define CR4_PAE		0x00000020ULL
#define CR4_OSFXSR	0x00000200ULL
#define CR4_OSXMMEXCPT	0x00000400ULL
#define EFER_LME	0x00000100ULL
#define EFER_LMA	0x00000400ULL

/* ---- Memory -------------------------------------------------------------------- */

static void
put64(uint8_t *area, uint64_t gpa, uint64_t v)
{
	memcpy(area + (gpa - BOOT_BASE), &v, sizeof(v));
}

void
boot_memory(struct toy_vm *vm)
{
	uint8_t *area;

	area = mmap(NULL, BOOT_SIZE, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (area == MAP_FAILED)
		err(1, "mmap");
	if (nvmm_hva_map(&vm->mach, (uintptr_t)area, BOOT_SIZE) == -1)
		err(1, "nvmm_hva_map");
	if (nvmm_gpa_map(&vm->mach, (uintptr_t)area, BOOT_BASE, BOOT_SIZE,
	    PROT_READ | PROT_WRITE) == -1)
		err(1, "nvmm_gpa_map(boot area)");

	put64(area, BOOT_PML4, BOOT_PDPT | PTE_P | PTE_W);
	for (uint64_t i = 0; i < 4; i++) {
		put64(area, BOOT_PDPT + 8 * i, (BOOT_PD + 0x1000 * i) |
		    PTE_P | PTE_W);
	}
	for (uint64_t i = 0; i < 4 * 512; i++)
		put64(area, BOOT_PD + 8 * i, (i << 21) | PTE_P | PTE_W | PTE_PS);
	/* The kernel loads its own GDT with the same selectors. */
	put64(area, BOOT_GDT + TOY_SEL_CODE, 0x00AF9B000000FFFFULL);
	put64(area, BOOT_GDT + TOY_SEL_DATA, 0x00CF93000000FFFFULL);
}

/* ---- vCPU state ---------------------------------------------------------------- */

static void
flat_segment(struct nvmm_x64_state_seg *s, uint16_t sel, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xFFFFFFFF;
	s->attrib.type = code ? 0xB : 0x3;	/* accessed code / data */
	s->attrib.s = 1;
	s->attrib.p = 1;
	s->attrib.l = code;
	s->attrib.def = !code;
	s->attrib.g = 1;
}

static void
system_segments(struct nvmm_x64_state *st)
{
	memset(&st->segs[NVMM_X64_SEG_GDT], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_GDT].base = BOOT_GDT;
	st->segs[NVMM_X64_SEG_GDT].limit = TOY_SEL_DATA + 7;
	memset(&st->segs[NVMM_X64_SEG_IDT], 0, sizeof(st->segs[0]));
	/* No LDT; a busy 64-bit TSS, which VM entry wants and nothing uses. */
	memset(&st->segs[NVMM_X64_SEG_LDT], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_LDT].attrib.type = 2;
	memset(&st->segs[NVMM_X64_SEG_TR], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_TR].limit = 0x67;
	st->segs[NVMM_X64_SEG_TR].attrib.type = 0xB;
	st->segs[NVMM_X64_SEG_TR].attrib.p = 1;
}

static void
boot_state(struct toy_cpu *cpu)
{
	struct nvmm_machine *mach = &cpu->vm->mach;
	struct nvmm_x64_state *st = cpu->vcpu.state;

	if (nvmm_vcpu_getstate(mach, &cpu->vcpu, NVMM_X64_STATE_ALL) == -1)
		err(1, "nvmm_vcpu_getstate");
	for (int i = 0; i < NVMM_X64_SEG_GDT; i++) {
		flat_segment(&st->segs[i], i == NVMM_X64_SEG_CS ?
		    TOY_SEL_CODE : TOY_SEL_DATA, i == NVMM_X64_SEG_CS);
	}
	system_segments(st);
	st->crs[NVMM_X64_CR_CR0] = CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_PE;
	st->crs[NVMM_X64_CR_CR3] = BOOT_PML4;
	st->crs[NVMM_X64_CR_CR4] = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	st->msrs[NVMM_X64_MSR_EFER] = EFER_LME | EFER_LMA;
	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RIP] = cpu->vm->entry;
	st->gprs[NVMM_X64_GPR_RDI] = cpu->index;
	st->gprs[NVMM_X64_GPR_RSI] = cpu->vm->ncpus;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;	/* IF = 0 */
	if (nvmm_vcpu_setstate(mach, &cpu->vcpu, NVMM_X64_STATE_ALL) == -1)
		err(1, "nvmm_vcpu_setstate");
}

/* ---- CPUID ----------------------------------------------------------------------- */

static void
conf_cpuid(struct toy_cpu *cpu, const struct nvmm_vcpu_conf_cpuid *conf)
{
	if (nvmm_vcpu_configure(&cpu->vm->mach, &cpu->vcpu,
	    NVMM_VCPU_CONF_CPUID, (void *)conf) == -1)
		err(1, "nvmm_vcpu_configure(CPUID 0x%x)", conf->leaf);
}

/*
 * Leaf 1: our brand index in EBX[7:0] (set, and the other bits of the
 * byte deleted, so the guest sees exactly it). Leaf 0x80000001: NX
 * hidden; EFER.NXE stays clear, as it must without NX.
 */
static void
boot_cpuid(struct toy_cpu *cpu)
{
	struct nvmm_vcpu_conf_cpuid conf;

	memset(&conf, 0, sizeof(conf));
	conf.mask = 1;
	conf.leaf = 0x00000001;
	conf.u.mask.set.ebx = TOY_CPUID_BRAND;
	conf.u.mask.del.ebx = 0xFF & ~TOY_CPUID_BRAND;
	conf_cpuid(cpu, &conf);

	memset(&conf, 0, sizeof(conf));
	conf.mask = 1;
	conf.leaf = TOY_CPUID_HIDDEN_LEAF;
	conf.u.mask.del.edx = TOY_CPUID_HIDDEN_EDX;
	conf_cpuid(cpu, &conf);
}

void
boot_cpu(struct toy_cpu *cpu)
{
	boot_cpuid(cpu);
	boot_state(cpu);
}
