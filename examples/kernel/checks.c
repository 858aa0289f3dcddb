/*
 * What the kernel checks about the machine the VMM built: the CPUID view
 * (NVMM's defaults plus the VMM's masks), the MSRs the VMM emulates and
 * one that stays inside KVM, the MMIO register block, and the read-only
 * mapping of .rodata. Every expected value comes from toy_abi.h.
 */
#include "kernel.h"

#define EFER		0xC0000080u
#define EFER_LMA	(1u << 10)

/* ---- CPUID ---------------------------------------------------------------- */

void
check_cpuid(struct percpu *c)
{
	uint32_t r[4];
	char sig[13];

	cpuid(0x40000000, r);
	memcpy(sig, &r[1], 4);
	memcpy(sig + 4, &r[2], 4);
	memcpy(sig + 8, &r[3], 4);
	sig[12] = '\0';
	check(memcmp(sig, "___ NVMM ___", 12) == 0,
	    "cpuid: hypervisor signature \"%s\"", sig);

	cpuid(1, r);
	check_eq(r[1] >> 24, c->id, "cpuid: APIC id %u", c->id);
	check_eq((r[1] >> 16) & 0xFF, ncpus, "cpuid: %u logical CPUs", ncpus);
	check_eq(r[2] >> 31, 1, "cpuid: hypervisor bit set");
	check_eq(r[1] & 0xFF, TOY_CPUID_BRAND,
	    "cpuid: brand index 0x%x set by the VMM", TOY_CPUID_BRAND);
	cpuid(TOY_CPUID_HIDDEN_LEAF, r);
	check_eq(r[3] & TOY_CPUID_HIDDEN_EDX, 0, "cpuid: NX hidden by the VMM");
}

/* ---- MSRs ----------------------------------------------------------------- */

void
check_msr(struct percpu *c)
{
	uint64_t v = 0x1234567800000000ULL | c->id;

	check_eq(rdmsr(TOY_MSR_APICBASE), TOY_APICBASE_VALUE(c->id),
	    "msr: APICBASE 0x%lx", (uint64_t)TOY_APICBASE_VALUE(c->id));
	check_eq(rdmsr(TOY_MSR_SCRATCH), TOY_MSR_SCRATCH_RESET(c->id),
	    "msr: scratch MSR reset value");
	wrmsr(TOY_MSR_SCRATCH, v);
	check_eq(rdmsr(TOY_MSR_SCRATCH), v, "msr: scratch MSR write, read back");
	/* EFER is one of NVMM's in-kernel MSRs: no exit, KVM answers. */
	check_eq(rdmsr(EFER) & EFER_LMA, EFER_LMA, "msr: EFER.LMA set");
}

/* ---- MMIO ----------------------------------------------------------------- */

static volatile void *
mmio(unsigned int off)
{
	return (volatile void *)(uintptr_t)(TOY_MMIO_BASE + off);
}

#define MMIO32(off)	(*(volatile uint32_t *)mmio(off))
#define MMIO64(off)	(*(volatile uint64_t *)mmio(off))
#define MMIO8(off)	(*(volatile uint8_t *)mmio(off))

void
check_mmio(struct percpu *c)
{
	uint64_t v = 0xC0FFEE0000000000ULL | c->id, a, b;

	check_eq(MMIO32(TOY_MMIO_ID), TOY_MMIO_ID_VALUE,
	    "mmio: ID register \"TOY1\"");
	check_eq(MMIO32(TOY_MMIO_WHOAMI), c->id, "mmio: WHOAMI %u", c->id);
	MMIO32(TOY_MMIO_ID) = 0;
	check_eq(MMIO32(TOY_MMIO_ID), TOY_MMIO_ID_VALUE,
	    "mmio: ID register ignores writes");
	MMIO64(TOY_MMIO_SCRATCH) = v;
	check_eq(MMIO64(TOY_MMIO_SCRATCH), v, "mmio: 64-bit scratch round trip");
	MMIO8(TOY_MMIO_SCRATCH + 1) = 0xAB;
	check_eq(MMIO64(TOY_MMIO_SCRATCH), (v & ~0xFF00ULL) | 0xAB00,
	    "mmio: byte write into scratch");
	a = MMIO64(TOY_MMIO_COUNTER);
	b = MMIO64(TOY_MMIO_COUNTER);
	check(b > a, "mmio: counter increases");
}

/* ---- Read-only memory ------------------------------------------------------- */

static const uint32_t rom_word = 0x214D4F52;	/* "ROM!", in .rodata */

/*
 * The VMM maps .rodata without write permission, so a store exits and the
 * VMM drops it, as ROM would. The store is in assembly because writing a
 * const object from C is undefined.
 */
void
check_rom(struct percpu *c)
{
	uint32_t *p = (uint32_t *)(uintptr_t)&rom_word;

	(void)c;
	__asm__ volatile("movl %1, (%0)" : : "r"(p), "r"(0xDEADBEEFu)
	    : "memory");
	/* Read it back from memory, not from what the compiler knows. */
	check_eq(*(const volatile uint32_t *)&rom_word, 0x214D4F52,
	    "rom: store to .rodata dropped");
}
