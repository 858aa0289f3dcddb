/* Second CPU: INIT-SIPI-SIPI through a trampoline below 1 MiB, and the AP's C entry. */
#include "boot.h"
#include "io.h"

/* Page-aligned, below 1 MiB, clear of the BIOS data areas: SIPI vector 0x08. */
#define TRAMP_BASE	0x8000u
#define SIPI_VECTOR	(TRAMP_BASE >> 12)

/* QEMU numbers the CPUs of one socket 0..n-1, so -smp 2 gives the AP id 1. */
#define AP_APIC_ID	1

#define ICR_INIT	0x00004500u	/* INIT, level assert */
#define ICR_STARTUP	0x00004600u	/* start-up, level assert */
#define ICR_FIXED	0x00004000u	/* fixed, level assert */

extern const char tramp_start[], tramp_end[];

static uint8_t bsp_apic_id;
static bool ap_spins;
static volatile uint32_t ap_up;
static volatile uint32_t ipis;
void (*volatile ap_job)(void);

/* ---- AP side ---- */

void ap_main(void);

/* Entered from trampoline.S in protected mode on ap_stack; never returns. */
void ap_main(void)
{
	idt_load();
	lapic_init();
	say("cpu1 up (apic id %u)", lapic_id());
	ap_up = 1;
	/* Wake the BSP from HLT: checks IPI delivery between the two vCPUs too. */
	lapic_send_ipi(bsp_apic_id, ICR_FIXED | VEC_IPI);
	/*
	 * Park halted, as an idle OS would. "ap=spin" parks in a PAUSE loop instead,
	 * to tell a hypervisor's HLT handling apart from the rest when a run hangs.
	 */
	for (;;) {
		if (ap_spins && ap_job)
			ap_job();
		if (ap_spins)
			cpu_relax();
		else
			__asm__ volatile("cli; hlt");
	}
}

/* ---- BSP side ---- */

static void on_ipi(struct intr_frame *f)
{
	(void)f;
	ipis++;
	lapic_eoi();
}

static bool ap_is_up(void)
{
	return ap_up;
}

static bool ipi_seen(void)
{
	return ipis > 0;
}

static void send(uint32_t icr, const char *what)
{
	if (!lapic_send_ipi(AP_APIC_ID, icr))
		fail("smp: %s IPI stuck in delivery", what);
}

void smp_start_ap(bool park_spinning)
{
	ap_spins = park_spinning;
	bsp_apic_id = lapic_id();
	intr_set_handler(VEC_IPI, on_ipi);
	memcpy((void *)TRAMP_BASE, tramp_start, (size_t)(tramp_end - tramp_start));

	send(ICR_INIT, "INIT");
	sleep_ticks(10);			/* the MP spec's 10 ms after INIT */
	send(ICR_STARTUP | SIPI_VECTOR, "SIPI");
	/* The MP spec's second SIPI, in case the first was lost; a running AP ignores it. */
	if (!wait_for(ap_is_up, 1))
		send(ICR_STARTUP | SIPI_VECTOR, "SIPI");
	if (!wait_for(ap_is_up, 200))
		fail("smp: cpu1 (apic id %u) not up within 200 ms", AP_APIC_ID);
	if (!wait_for(ipi_seen, 100))
		fail("smp: no IPI from cpu1 within 100 ms");
	say("smp: ipi from cpu1 received (vector 0x%x)", VEC_IPI);
}
