/* Declarations shared by the boot image's files, grouped by the file that defines them. */
#ifndef NVMM_BOOT_BOOT_H
#define NVMM_BOOT_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* isa-debug-exit values: QEMU exits with status (v << 1) | 1, i.e. 33 and 35. */
#define EXIT_PASS	0x10
#define EXIT_FAIL	0x11

/* Interrupt vectors. The legacy PIC is parked at 0x20-0x2f with every line masked. */
#define VEC_PIC_BASE	0x20
#define VEC_PIT		0x30
#define VEC_LAPIC_TIMER	0x31
#define VEC_IPI		0x32
#define VEC_SPURIOUS	0xff

/* PIT rate: 1 ms ticks are the time base of every timeout. */
#define TICK_HZ		1000

/* ---- serial.c ---- */
void serial_init(void);
void serial_write(const char *s, size_t len);
void serial_drain(void);

/* ---- vga.c ---- */
void vga_init(void);
void vga_write(const char *s, size_t len);

/* ---- print.c ---- */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- power.c ---- */
void power_off(bool pass) __attribute__((noreturn));

/* ---- mem.c ---- */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

/* ---- idt.c ---- */
struct intr_frame {
	uint32_t edi, esi, ebp, esp0, ebx, edx, ecx, eax;	/* pushal */
	uint32_t vector, error;					/* vectors.S */
	uint32_t eip, cs, eflags;				/* CPU */
};
typedef void (*intr_handler_t)(struct intr_frame *f);

void idt_init(void);
void idt_load(void);
void intr_set_handler(uint8_t vector, intr_handler_t fn);
uint32_t intr_stray_count(void);

/* ---- pic.c, pit.c, ioapic.c ---- */
void pic_disable(void);
void pit_start(uint32_t hz);
void ioapic_route(unsigned pin, uint8_t vector, uint8_t apic_id);

/* ---- lapic.c ---- */
void lapic_init(void);
void lapic_eoi(void);
uint8_t lapic_id(void);
bool lapic_send_ipi(uint8_t dest, uint32_t icr_lo);
void lapic_timer_periodic(uint8_t vector, uint32_t count);
void lapic_timer_stop(void);

/* ---- timer.c ---- */
uint32_t ticks(void);
bool wait_for(bool (*done)(void), uint32_t max_ticks);
void sleep_ticks(uint32_t n);
void timer_check_pit(void);
void timer_check_lapic(void);

/* ---- rtc.c, smp.c, pci.c ---- */
void rtc_report(void);
void smp_start_ap(bool park_spinning);
extern void (*volatile ap_job)(void);	/* a parked, spinning AP runs it */
uint32_t pci_read(unsigned bus, unsigned dev, unsigned fn, unsigned reg);
void pci_report(void);

/* ---- writer.c ---- */
void writer_run(bool smp, bool fb) __attribute__((noreturn));

#endif
