/*
 * The toy kernel's shared declarations: per-vCPU data, the console and
 * check helpers, and the few x86 instructions it needs as inline functions.
 * Freestanding: only the compiler's own headers are available.
 */
#ifndef TOYKERN_H
#define TOYKERN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toy_abi.h"

#define STACK_SIZE	16384

/* What each vCPU observed; written by its own code and trap handlers. */
struct percpu {
	unsigned int id;
	volatile unsigned int ticks;	/* timer interrupts */
	volatile unsigned int nmis;
	volatile unsigned int gps;
	volatile uint64_t gp_error;
	unsigned int checks;
	unsigned int failed;
	volatile bool done;
};

extern struct percpu percpu[TOY_MAX_CPUS];
extern unsigned int ncpus;

/* Which vCPU is running this code: each has its own stack (entry.S). */
struct percpu *this_cpu(void);

/* ---- console.c ------------------------------------------------------------ */

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_eq(uint64_t got, uint64_t want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- trap.c --------------------------------------------------------------- */

void idt_build(void);
void idt_load(void);

/* ---- checks.c ------------------------------------------------------------- */

void check_cpuid(struct percpu *);
void check_msr(struct percpu *);
void check_mmio(struct percpu *);
void check_rom(struct percpu *);

/* ---- lib.c ---------------------------------------------------------------- */

void *memset(void *, int, size_t);
void *memcpy(void *, const void *, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);

/* ---- x86 ------------------------------------------------------------------ */

static inline void
outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void
outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t
inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* A whole buffer in one instruction: one exit, however long the line. */
static inline void
outsb(uint16_t port, const void *buf, size_t len)
{
	__asm__ volatile("rep outsb"
	    : "+S"(buf), "+c"(len) : "d"(port) : "memory");
}

static inline void
cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	    : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	    : "a"(leaf), "c"(0));
}

static inline uint64_t
rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}

static inline void
wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr"
	    : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }

/* Sleep until an interrupt: STI's shadow covers HLT, so none is lost. */
static inline void
wait_for_interrupt(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}

#endif /* TOYKERN_H */
