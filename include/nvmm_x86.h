/*
 * NVMM for Linux: x86 public types (exits, events, vCPU state, capability and
 * configuration layouts), source compatible with NetBSD/DragonFly's
 * <dev/nvmm/x86/nvmm_x86.h>. Included by <nvmm.h>; do not include directly.
 */
#ifndef NVMM_X86_H
#define NVMM_X86_H

#include <stdbool.h>
#include <stdint.h>

/* ---- Exit reasons -------------------------------------------------------- */

/* Generic. */
#define NVMM_VCPU_EXIT_NONE		0x0000000000000000ULL
#define NVMM_VCPU_EXIT_STOPPED		0xFFFFFFFFFFFFFFFEULL
#define NVMM_VCPU_EXIT_INVALID		0xFFFFFFFFFFFFFFFFULL
/* x86: operations. */
#define NVMM_VCPU_EXIT_MEMORY		0x0000000000000001ULL
#define NVMM_VCPU_EXIT_IO		0x0000000000000002ULL
/* x86: changes in vCPU state. */
#define NVMM_VCPU_EXIT_SHUTDOWN		0x0000000000001000ULL
#define NVMM_VCPU_EXIT_INT_READY	0x0000000000001001ULL
#define NVMM_VCPU_EXIT_NMI_READY	0x0000000000001002ULL
#define NVMM_VCPU_EXIT_HALTED		0x0000000000001003ULL
#define NVMM_VCPU_EXIT_TPR_CHANGED	0x0000000000001004ULL
/* x86: instructions. */
#define NVMM_VCPU_EXIT_RDMSR		0x0000000000002000ULL
#define NVMM_VCPU_EXIT_WRMSR		0x0000000000002001ULL
#define NVMM_VCPU_EXIT_MONITOR		0x0000000000002002ULL
#define NVMM_VCPU_EXIT_MWAIT		0x0000000000002003ULL
#define NVMM_VCPU_EXIT_CPUID		0x0000000000002004ULL

struct nvmm_x86_exit_memory {
	int prot;		/* PROT_READ, PROT_WRITE or PROT_EXEC */
	uint64_t gpa;
	uint8_t inst_len;	/* 0: bytes not provided */
	uint8_t inst_bytes[15];
};

struct nvmm_x86_exit_io {
	bool in;
	uint16_t port;
	int8_t seg;		/* NVMM_X64_SEG_*, -1 if unknown */
	uint8_t address_size;
	uint8_t operand_size;
	bool rep;
	bool str;
	uint64_t npc;
};

struct nvmm_x86_exit_rdmsr {
	uint32_t msr;
	uint64_t npc;
};

struct nvmm_x86_exit_wrmsr {
	uint32_t msr;
	uint64_t val;
	uint64_t npc;
};

struct nvmm_x86_exit_insn {
	uint64_t npc;
};

struct nvmm_x86_exit_invalid {
	uint64_t hwcode;
};

/* Exit state, reported after every run. */
struct nvmm_x86_exit_state {
	uint64_t rflags;
	uint64_t cr8;
	uint64_t int_shadow:1;
	uint64_t int_window_exiting:1;
	uint64_t nmi_window_exiting:1;
	uint64_t evt_pending:1;
	uint64_t rsvd:60;
};

struct nvmm_x86_exit {
	uint64_t reason;
	union nvmm_x86_exit_payload {
		struct nvmm_x86_exit_memory mem;
		struct nvmm_x86_exit_io io;
		struct nvmm_x86_exit_rdmsr rdmsr;
		struct nvmm_x86_exit_wrmsr wrmsr;
		struct nvmm_x86_exit_insn insn;
		struct nvmm_x86_exit_invalid inv;
	} u;
	struct nvmm_x86_exit_state exitstate;
};
#define nvmm_vcpu_exit		nvmm_x86_exit

/* ---- Events ---------------------------------------------------------------- */

#define NVMM_VCPU_EVENT_EXCP	0
#define NVMM_VCPU_EVENT_INTR	1	/* vector 2 is an NMI */

struct nvmm_x86_event {
	unsigned int type;
	uint8_t vector;
	union {
		struct {
			uint64_t error;
		} excp;
	} u;
};
#define nvmm_vcpu_event		nvmm_x86_event

/* ---- Capability (arch part) and configuration ------------------------------ */

struct nvmm_cap_md {
	uint64_t mach_conf_support;
	uint64_t vcpu_conf_support;
#define NVMM_CAP_ARCH_VCPU_CONF_CPUID	0x01
#define NVMM_CAP_ARCH_VCPU_CONF_TPR	0x02
	uint64_t xcr0_mask;
	uint32_t mxcsr_mask;
	uint32_t conf_cpuid_maxops;
	uint64_t rsvd[6];
};

/* No machine configuration ops on x86. */

#define NVMM_VCPU_CONF_CPUID	NVMM_VCPU_CONF_MD_BEGIN
#define NVMM_VCPU_CONF_TPR	(NVMM_VCPU_CONF_MD_BEGIN + 1)

struct nvmm_vcpu_conf_cpuid {
	uint32_t mask:1;
	uint32_t exit:1;
	uint32_t rsvd:30;
	uint32_t leaf;
	union {
		struct {
			struct {
				uint32_t eax;
				uint32_t ebx;
				uint32_t ecx;
				uint32_t edx;
			} set;
			struct {
				uint32_t eax;
				uint32_t ebx;
				uint32_t ecx;
				uint32_t edx;
			} del;
		} mask;
	} u;
};

struct nvmm_vcpu_conf_tpr {
	uint32_t exit_changed:1;
	uint32_t rsvd:31;
};

/* ---- vCPU state ------------------------------------------------------------ */

/* Segment indexes: the hardware encoding (ES=0 ... GS=5), then the tables. */
#define NVMM_X64_SEG_ES		0
#define NVMM_X64_SEG_CS		1
#define NVMM_X64_SEG_SS		2
#define NVMM_X64_SEG_DS		3
#define NVMM_X64_SEG_FS		4
#define NVMM_X64_SEG_GS		5
#define NVMM_X64_SEG_GDT	6
#define NVMM_X64_SEG_IDT	7
#define NVMM_X64_SEG_LDT	8
#define NVMM_X64_SEG_TR		9
#define NVMM_X64_NSEG		10

#define NVMM_X64_GPR_RAX	0
#define NVMM_X64_GPR_RCX	1
#define NVMM_X64_GPR_RDX	2
#define NVMM_X64_GPR_RBX	3
#define NVMM_X64_GPR_RSP	4
#define NVMM_X64_GPR_RBP	5
#define NVMM_X64_GPR_RSI	6
#define NVMM_X64_GPR_RDI	7
#define NVMM_X64_GPR_R8		8
#define NVMM_X64_GPR_R9		9
#define NVMM_X64_GPR_R10	10
#define NVMM_X64_GPR_R11	11
#define NVMM_X64_GPR_R12	12
#define NVMM_X64_GPR_R13	13
#define NVMM_X64_GPR_R14	14
#define NVMM_X64_GPR_R15	15
#define NVMM_X64_GPR_RIP	16
#define NVMM_X64_GPR_RFLAGS	17
#define NVMM_X64_NGPR		18

#define NVMM_X64_CR_CR0		0
#define NVMM_X64_CR_CR2		1
#define NVMM_X64_CR_CR3		2
#define NVMM_X64_CR_CR4		3
#define NVMM_X64_CR_CR8		4
#define NVMM_X64_CR_XCR0	5
#define NVMM_X64_NCR		6

#define NVMM_X64_DR_DR0		0
#define NVMM_X64_DR_DR1		1
#define NVMM_X64_DR_DR2		2
#define NVMM_X64_DR_DR3		3
#define NVMM_X64_DR_DR6		4
#define NVMM_X64_DR_DR7		5
#define NVMM_X64_NDR		6

#define NVMM_X64_MSR_EFER		0
#define NVMM_X64_MSR_STAR		1
#define NVMM_X64_MSR_LSTAR		2
#define NVMM_X64_MSR_CSTAR		3
#define NVMM_X64_MSR_SFMASK		4
#define NVMM_X64_MSR_KERNELGSBASE	5
#define NVMM_X64_MSR_SYSENTER_CS	6
#define NVMM_X64_MSR_SYSENTER_ESP	7
#define NVMM_X64_MSR_SYSENTER_EIP	8
#define NVMM_X64_MSR_PAT		9
#define NVMM_X64_MSR_TSC		10
#define NVMM_X64_NMSR			11

/* Segment attributes use the AMD VMCB packing. */
struct nvmm_x64_state_seg {
	uint16_t selector;
	struct nvmm_x64_state_seg_attrib {
		uint16_t type:4;
		uint16_t s:1;
		uint16_t dpl:2;
		uint16_t p:1;
		uint16_t avl:1;
		uint16_t l:1;
		uint16_t def:1;
		uint16_t g:1;
		uint16_t rsvd:4;
	} __attribute__((__packed__)) attrib;
	uint32_t limit;
	uint64_t base;
} __attribute__((__packed__));

struct nvmm_x64_state_intr {
	uint64_t int_shadow:1;
	uint64_t int_window_exiting:1;
	uint64_t nmi_window_exiting:1;
	uint64_t evt_pending:1;
	/*
	 * Linux extension (NVMM_EXT_EVENTS), in bits NVMM reserves: the
	 * events evt_pending stands for and NMI blocking, read and written
	 * with the class, so that a saved vCPU resumes exactly (snapshots,
	 * migration). Zero in a state NVMM programs build: nothing pending.
	 */
	uint64_t nmi_masked:1;		/* NMIs blocked until an IRET */
	uint64_t nmi_pending:1;		/* an NMI waits for delivery */
	uint64_t nmi_injected:1;	/* an NMI is being delivered */
	uint64_t intr_injected:1;	/* interrupt intr_vector is ... */
	uint64_t intr_vector:8;
	uint64_t excp_injected:1;	/* exception excp_vector is ... */
	uint64_t excp_has_error:1;	/* ... with error code excp_error */
	uint64_t excp_vector:8;
	uint64_t rsvd:6;
	uint64_t excp_error:32;
};

/* The legacy FXSAVE image. */
union nvmm_x64_state_fpu_addr {
	uint64_t fa_64;
	struct {
		uint32_t fa_off;
		uint16_t fa_seg;
		uint16_t fa_opcode;
	} fa_32;
};

struct nvmm_x64_state_fpu_mmreg {
	uint64_t mm_significand;
	uint16_t mm_exp_sign;
	uint8_t mm_rsvd[6];
};

struct nvmm_x64_state_fpu_xmmreg {
	uint8_t xmm_bytes[16];
};

struct nvmm_x64_state_fpu {
	uint16_t fx_cw;
	uint16_t fx_sw;
	uint8_t fx_tw;
	uint8_t fx_zero;
	uint16_t fx_opcode;
	union nvmm_x64_state_fpu_addr fx_ip;
	union nvmm_x64_state_fpu_addr fx_dp;
	uint32_t fx_mxcsr;
	uint32_t fx_mxcsr_mask;
	struct nvmm_x64_state_fpu_mmreg fx_87_ac[8];
	struct nvmm_x64_state_fpu_xmmreg fx_xmm[16];
	uint8_t fx_rsvd[96];
} __attribute__((__aligned__(16)));

/* Sub-state flags for nvmm_vcpu_getstate() and nvmm_vcpu_setstate(). */
#define NVMM_X64_STATE_SEGS	0x01
#define NVMM_X64_STATE_GPRS	0x02
#define NVMM_X64_STATE_CRS	0x04
#define NVMM_X64_STATE_DRS	0x08
#define NVMM_X64_STATE_MSRS	0x10
#define NVMM_X64_STATE_INTR	0x20
#define NVMM_X64_STATE_FPU	0x40
#define NVMM_X64_STATE_ALL	0x7F

struct nvmm_x64_state {
	struct nvmm_x64_state_seg segs[NVMM_X64_NSEG];
	uint64_t gprs[NVMM_X64_NGPR];
	uint64_t crs[NVMM_X64_NCR];
	uint64_t drs[NVMM_X64_NDR];
	uint64_t msrs[NVMM_X64_NMSR];
	struct nvmm_x64_state_intr intr;
	struct nvmm_x64_state_fpu fpu;
};
#define nvmm_vcpu_state		nvmm_x64_state

/* ---- Layout checks --------------------------------------------------------- */

#ifdef __cplusplus
#define NVMM_X86_ASSERT(e, m)	static_assert(e, m)
#else
#define NVMM_X86_ASSERT(e, m)	_Static_assert(e, m)
#endif
NVMM_X86_ASSERT(sizeof(struct nvmm_x64_state_seg) == 16, "seg layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_x64_state_intr) == 8, "intr layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_x64_state_fpu) == 512, "fpu layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_x64_state) == 1008, "state layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_x86_exit) == 64, "exit layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_x86_event) == 16, "event layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_cap_md) == 80, "cap_md layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_vcpu_conf_cpuid) == 40, "conf_cpuid layout");
NVMM_X86_ASSERT(sizeof(struct nvmm_vcpu_conf_tpr) == 4, "conf_tpr layout");
#undef NVMM_X86_ASSERT

#endif /* NVMM_X86_H */
