/*
 * The toy VMM: a machine of a few vCPUs that boots an ELF64 kernel over
 * libnvmm. This header holds what the parts share:
 *
 *   main.c      vCPU threads and the run loop
 *   machine.c   building and tearing down the machine, the verdict
 *   loader.c    ELF64 PT_LOAD segments -> guest memory
 *   boot.c      long-mode page tables, GDT, vCPU state, CPUID masks
 *   bus.c       device regions { space, base, len, handler } and dispatch
 *   irq.c       per-vCPU pending events, delivered by the vCPU's own thread
 *   dev_*.c     one device per file
 */
#ifndef TOYVMM_H
#define TOYVMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmm.h>

#include "toy_abi.h"

struct toy_vm;
struct toy_cpu;

/* ---- Bus ------------------------------------------------------------------- */

enum bus_space { BUS_PIO, BUS_MMIO, BUS_MSR };

struct bus_access {
	struct toy_cpu *cpu;	/* the vCPU that made the access */
	uint64_t addr;		/* port, GPA or MSR number */
	uint64_t off;		/* addr - region base */
	bool write;
	size_t size;		/* 1, 2, 4 or 8 bytes */
	uint8_t *data;		/* the value, little-endian */
};

/* false: the device refuses the access (an MSR then raises #GP). */
typedef bool (*bus_handler_t)(const struct bus_access *, void *opaque);

struct bus_region {
	enum bus_space space;
	uint64_t base, len;
	bus_handler_t handler;
	void *opaque;
	const char *name;
};

#define BUS_MAX_REGIONS	32

void bus_register(struct toy_vm *, const struct bus_region *);
extern const struct nvmm_assist_callbacks bus_callbacks;
/* Answer an RDMSR/WRMSR exit through the MSR regions. */
void bus_msr_exit(struct toy_cpu *);
uint64_t bus_get(const struct bus_access *);
void bus_put(const struct bus_access *, uint64_t);

/* ---- Interrupts and exceptions -------------------------------------------------- */

struct toy_irq {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a halted vCPU waits here */
	uint64_t intr;			/* pending vectors 32..95: bit v - 32 */
	bool nmi;
	bool excp;
	uint8_t excp_vector;
	uint32_t excp_error;
	uint64_t injected[256];		/* per vector, exceptions included */
};

void irq_init(struct toy_cpu *);
/* Any thread: make an event pending and kick the vCPU. */
void irq_raise(struct toy_cpu *, uint8_t vector);
void irq_nmi(struct toy_cpu *);
void irq_exception(struct toy_cpu *, uint8_t vector, uint32_t error);
bool irq_is_pending(struct toy_cpu *, uint8_t vector);
uint64_t irq_injected(struct toy_cpu *, uint8_t vector);
/* The vCPU's thread, before each run: inject one event or ask a window. */
void irq_deliver(struct toy_cpu *);
/* The vCPU's thread after HLT: sleep until an event or the machine stops. */
void irq_wait(struct toy_cpu *);
void irq_wake(struct toy_cpu *);

/* ---- vCPUs and the machine ----------------------------------------------------- */

struct toy_stats {
	uint64_t exits, io, mmio, msr, halted, window, stopped, other;
	double seconds;
};

struct toy_cpu {
	struct nvmm_vcpu vcpu;
	struct toy_vm *vm;
	unsigned int index;		/* = NVMM cpuid = APIC id */
	pthread_t thread;
	atomic_bool off;		/* powered off by the guest */
	bool failed;			/* stopped on an error */
	struct toy_irq irq;
	struct toy_stats stats;
};

struct toy_device {
	const char *name;
	void (*init)(struct toy_vm *);
	void (*fini)(struct toy_vm *);
	/* Print the VMM's own checks; false if one failed. */
	bool (*report)(struct toy_vm *);
};

struct toy_vm {
	struct nvmm_machine mach;
	unsigned int ncpus;
	struct toy_cpu cpus[TOY_MAX_CPUS];
	struct bus_region regions[BUS_MAX_REGIONS];
	unsigned int nregions;
	uint64_t entry;
	atomic_bool stopping;		/* every vCPU must leave its loop */
	atomic_uint errors;		/* what the VMM saw go wrong */
};

/* machine.c */
void vm_create(struct toy_vm *, const char *kernel, unsigned int ncpus);
void vm_destroy(struct toy_vm *);
void vm_stop(struct toy_vm *);
bool vm_report(struct toy_vm *);
void vm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vm_error(struct toy_vm *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The vCPU running on this thread, NULL elsewhere. */
extern _Thread_local struct toy_cpu *current_cpu;

/* loader.c: map and copy the kernel; returns its entry point. */
uint64_t load_elf64(struct toy_vm *, const char *path);
/* boot.c */
void boot_memory(struct toy_vm *);
void boot_cpu(struct toy_cpu *);

/* Devices. */
extern const struct toy_device dev_console, dev_sysregs, dev_timer,
    dev_msr, dev_power, dev_faults;

_Static_assert(offsetof(struct toy_cpu, vcpu) == 0,
    "the assist callbacks find the toy_cpu from its nvmm_vcpu");

static inline struct toy_cpu *
toy_cpu_of(struct nvmm_vcpu *vcpu)
{
	return (struct toy_cpu *)(void *)vcpu;
}

#endif /* TOYVMM_H */
