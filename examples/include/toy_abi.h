/*
 * The contract between the toy VMM (examples/toyvmm) and the toy kernel
 * (examples/kernel): I/O ports, the MMIO block, MSRs, vectors and the
 * values the VMM promises to show the guest. Both sides build from this
 * one file so that they cannot drift apart.
 *
 * Boot protocol: every vCPU enters the ELF entry point in 64-bit long mode
 * with paging on (the first 4 GiB identity-mapped with 2 MiB pages),
 * interrupts off, RDI = vCPU index (= NVMM cpuid = APIC id), RSI = number
 * of vCPUs, CS = TOY_SEL_CODE, other segments TOY_SEL_DATA. The kernel
 * brings its own stack, GDT (same selectors) and IDT.
 */
#ifndef TOY_ABI_H
#define TOY_ABI_H

#define TOY_MAX_CPUS		8

#define TOY_SEL_CODE		0x08
#define TOY_SEL_DATA		0x10

/* ---- I/O ports ------------------------------------------------------------ */

/* Console: bytes written are printed, one line per '\n', per vCPU. */
#define TOY_PORT_CONSOLE	0x00E9
/* Power: a 32-bit write of the number of failed checks turns the vCPU off. */
#define TOY_PORT_POWER		0x0500
/* Ticks: a 32-bit write of the timer interrupts the guest counted. */
#define TOY_PORT_TICKS		0x0504
/* Timer (banked per vCPU): write the period in microseconds (0 = off);
 * read bit 0 = a timer interrupt is pending for this vCPU. */
#define TOY_PORT_TIMER		0x0510
/* Faults: the guest's half of the NMI / #GP handshake (8-bit writes). */
#define TOY_PORT_FAULTS		0x0520
#define TOY_FAULTS_ARM		1	/* IDT ready: the VMM injects an NMI */
#define TOY_FAULTS_NMI_SEEN	2	/* then a #GP with TOY_GP_ERROR() */
#define TOY_FAULTS_GP_SEEN	3	/* handshake complete */

/* ---- Events the VMM injects ---------------------------------------------- */

#define TOY_VEC_TIMER		32
/* The #GP error code differs per vCPU, so each can check it got its own. */
#define TOY_GP_ERROR(cpu)	(0xE0u + 8u * (unsigned int)(cpu))

/* ---- MMIO register block (no RAM behind it: every access exits) --------- */

#define TOY_MMIO_BASE		0xFEB00000ULL
#define TOY_MMIO_SIZE		0x1000
#define TOY_MMIO_ID		0x00	/* RO 32-bit: TOY_MMIO_ID_VALUE */
#define TOY_MMIO_WHOAMI		0x04	/* RO 32-bit: the accessing vCPU */
#define TOY_MMIO_SCRATCH	0x08	/* RW 64-bit, banked per vCPU */
#define TOY_MMIO_COUNTER	0x10	/* RO 64-bit, +1 on every read */
#define TOY_MMIO_ID_VALUE	0x31594F54u	/* "TOY1" in memory order */

/* ---- MSRs the VMM emulates (everything else: #GP) ------------------------- */

#define TOY_MSR_APICBASE	0x0000001Bu
#define TOY_APICBASE_VALUE(cpu)	\
	(0xFEE00000ULL | 0x800 /* enabled */ | ((cpu) == 0 ? 0x100 : 0) /* BSP */)
#define TOY_MSR_SCRATCH		0x4E564D00u	/* "NVM" range, per vCPU */
#define TOY_MSR_SCRATCH_RESET(cpu)	(0x544F59564D4D0000ULL | (unsigned int)(cpu))

/* ---- CPUID changes the VMM configures (NVMM_VCPU_CONF_CPUID) -------------- */

#define TOY_CPUID_BRAND		0x5Au		/* leaf 1 EBX[7:0], set */
#define TOY_CPUID_HIDDEN_LEAF	0x80000001u	/* and in this leaf's EDX, */
#define TOY_CPUID_HIDDEN_EDX	(1u << 20)	/* NX is deleted */

#endif /* TOY_ABI_H */
