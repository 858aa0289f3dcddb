/*
 * The IDT and the C side of traps: timer interrupts are counted, the NMI
 * and the #GP the VMM injects are reported and acknowledged (the VMM sends
 * the #GP only once the NMI is acknowledged, so the order is fixed), and
 * anything else is a failure that powers the vCPU off.
 */
#include "kernel.h"

#define VEC_NMI		2
#define VEC_GP		13
#define GATE_INTR	0x8E	/* present, DPL 0, 64-bit interrupt gate */

struct trapframe {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;	/* pushed by the CPU */
};

struct gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
};
_Static_assert(sizeof(struct gate) == 16, "IDT gate layout");

extern const uint64_t trap_stubs[];
extern const uint32_t trap_nstubs;

static struct gate idt[256];

void
idt_build(void)
{
	for (uint32_t v = 0; v < trap_nstubs; v++) {
		uint64_t off = trap_stubs[v];

		idt[v].off_lo = (uint16_t)off;
		idt[v].sel = TOY_SEL_CODE;
		idt[v].ist = 0;
		idt[v].type = GATE_INTR;
		idt[v].off_mid = (uint16_t)(off >> 16);
		idt[v].off_hi = (uint32_t)(off >> 32);
		idt[v].zero = 0;
	}
}

void
idt_load(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} desc = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(desc));
}

/* ---- Handlers ------------------------------------------------------------- */

static void
trap_nmi(struct percpu *c)
{
	c->nmis++;
	kprintf("trap: NMI");
	outb(TOY_PORT_FAULTS, TOY_FAULTS_NMI_SEEN);
}

static void
trap_gp(struct percpu *c, uint64_t error)
{
	c->gps++;
	c->gp_error = error;
	kprintf("trap: #GP, error code 0x%lx", error);
	outb(TOY_PORT_FAULTS, TOY_FAULTS_GP_SEEN);
}

/* A fault we did not ask for: say where, and give up on this vCPU. */
static void __attribute__((noreturn))
trap_unexpected(struct percpu *c, const struct trapframe *tf)
{
	kprintf("FAIL: unexpected trap %lu, error 0x%lx, rip 0x%lx",
	    tf->vector, tf->error, tf->rip);
	for (;;) {
		outl(TOY_PORT_POWER, c->failed + 1);
		__asm__ volatile("cli; hlt");
	}
}

void trap(struct trapframe *);

void
trap(struct trapframe *tf)
{
	struct percpu *c = this_cpu();

	switch (tf->vector) {
	case TOY_VEC_TIMER:
		c->ticks++;
		break;
	case VEC_NMI:
		trap_nmi(c);
		break;
	case VEC_GP:
		trap_gp(c, tf->error);
		break;
	default:
		trap_unexpected(c, tf);
	}
}
