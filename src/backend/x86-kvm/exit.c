/*
 * Exit translation: KVM's exit reasons to NVMM's, one small function per
 * KVM exit and a table to dispatch them. Exits KVM must still finish on
 * the next KVM_RUN (I/O, MMIO, MSR) are recorded as pending.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "insn.h"
#include "kvmx86.h"

/* NVMM's hwcode for an INVALID exit (see libnvmm(3), "Linux"). */
#define HWCODE_KVM(reason, detail)	((uint64_t)(reason) << 32 | (detail))
#define HWCODE_ERRNO(e)			HWCODE_KVM(0xFFFFFFFEu, (uint32_t)(e))
#define HWCODE_ENTRY_FAILED		((uint64_t)-1)

typedef void (*exit_fn)(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);

/*
 * The exit's GPRs stay in the sync area, KVM's until the next KVM_RUN or
 * a run's install: only the RIP is ours to keep (run.c, run_exit_regs()).
 * Not 'settled': every KVM_RUN that went through clears it before its exit
 * is translated (run.c: run_exit(), kvmx86_complete(), and the fast path,
 * which runs only unsettled).
 */
static void
exit_pending(struct kvmx86_vcpu *cpu, enum kvmx86_pending what, uint64_t rip)
{
	cpu->pending = what;
	cpu->served = false;
	cpu->exit_rip = rip;
}

static void
exit_invalid(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit->reason = NVMM_VCPU_EXIT_INVALID;
	exit->u.inv.hwcode = HWCODE_KVM(cpu->run->exit_reason, 0);
}

/*
 * An IO exit's record is cpu->exit_io, and its instruction's RIP
 * memo_io.start: the decode memo's answer where it holds (insn.h), else
 * fetched again into them. NVMM's RIP is on the instruction, even where
 * KVM is past an OUT.
 */
static inline void
exit_io_record(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit->reason = NVMM_VCPU_EXIT_IO;
	exit->u.io = cpu->exit_io;
	exit_pending(cpu, KVMX86_PENDING_IO, cpu->memo_io.start);
	kvmx86_access_io(cpu);
}

/* Apart, so that the hit's path needs no frame: the miss is a tail call. */
static __attribute__((noinline)) void
exit_io_slow(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	kvmx86_io_exit_slow(cpu);
	exit_io_record(cpu, exit);
}

static void
exit_io(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	if (!insn_memo_holds(cpu, &cpu->memo_io, true)) {
		exit_io_slow(cpu, exit);
		return;
	}
	exit_io_record(cpu, exit);
}

static void
exit_mmio(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit->reason = NVMM_VCPU_EXIT_MEMORY;
	exit->u.mem.prot = cpu->run->mmio.is_write ? PROT_WRITE : PROT_READ;
	exit->u.mem.gpa = cpu->run->mmio.phys_addr;
	exit->u.mem.inst_len = 0;	/* KVM decoded it already */
	exit_pending(cpu, KVMX86_PENDING_MMIO, cpu->run->s.regs.regs.rip);
	kvmx86_access_mem(cpu);
}

/*
 * MSRs NVMM's kernel answers never reach the emulator (msr.c). Apart
 * from exit_msr_local(), so that its call is a tail call.
 */
static __attribute__((noinline)) void
exit_msr_decide(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit,
    bool write)
{
	if (kvmx86_msr_decide(cpu, write)) {
		memset(&exit->u, 0, sizeof(exit->u));
		exit->reason = NVMM_VCPU_EXIT_NONE;
	}
}

static inline void
exit_msr_local(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit,
    bool write)
{
	if (!kvmx86_msr_theirs(cpu, write))
		exit_msr_decide(cpu, exit, write);
}

/*
 * An MSR exit's npc is cpu->exit_npc: the decode memo's answer where it
 * holds (insn.h), else fetched again into it.
 */
static inline void
exit_msr_record(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit,
    bool write)
{
	const struct kvm_run *run = cpu->run;

	if (write) {
		exit->reason = NVMM_VCPU_EXIT_WRMSR;
		exit->u.wrmsr.msr = run->msr.index;
		exit->u.wrmsr.val = run->msr.data;
		exit->u.wrmsr.npc = cpu->exit_npc;
	} else {
		exit->reason = NVMM_VCPU_EXIT_RDMSR;
		exit->u.rdmsr.msr = run->msr.index;
		exit->u.rdmsr.npc = cpu->exit_npc;
	}
	exit_pending(cpu, KVMX86_PENDING_MSR, run->s.regs.regs.rip);
	exit_msr_local(cpu, exit, write);
}

/* Apart, so that the hit's path needs no frame: the miss is a tail call. */
static __attribute__((noinline)) void
exit_msr_slow(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit,
    bool write)
{
	kvmx86_msr_npc_slow(cpu);
	exit_msr_record(cpu, exit, write);
}

static void
exit_rdmsr(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	if (!insn_memo_holds(cpu, &cpu->memo_insn, false)) {
		exit_msr_slow(cpu, exit, false);
		return;
	}
	exit_msr_record(cpu, exit, false);
}

static void
exit_wrmsr(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	if (!insn_memo_holds(cpu, &cpu->memo_insn, false)) {
		exit_msr_slow(cpu, exit, true);
		return;
	}
	exit_msr_record(cpu, exit, true);
}

static void
exit_hlt(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit->reason = NVMM_VCPU_EXIT_HALTED;
	if (cpu->int_window)
		kvmx86_window_halted(cpu);
}

static void
exit_shutdown(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	(void)cpu;
	exit->reason = NVMM_VCPU_EXIT_SHUTDOWN;
}

static void
exit_irq_window(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	/* INT_READY or NMI_READY (events.c), disarmed as NVMM's. */
	kvmx86_window_exit(cpu, exit);
}

/* Host-side reasons the emulator need not see: run again. */
static void
exit_none(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	(void)cpu;
	exit->reason = NVMM_VCPU_EXIT_NONE;
}

static void
exit_fail_entry(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	(void)cpu;
	exit->reason = NVMM_VCPU_EXIT_INVALID;
	exit->u.inv.hwcode = HWCODE_ENTRY_FAILED;
}

static void
exit_internal(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	if (kvmx86_insn_failed(cpu, exit))
		return;		/* MONITOR, MWAIT, RDTSCP (events.c) */
	exit->reason = NVMM_VCPU_EXIT_INVALID;
	exit->u.inv.hwcode = HWCODE_KVM(KVM_EXIT_INTERNAL_ERROR,
	    cpu->run->internal.suberror);
}

static const exit_fn exit_table[] = {
	[KVM_EXIT_IO] = exit_io,
	[KVM_EXIT_MMIO] = exit_mmio,
	[KVM_EXIT_X86_RDMSR] = exit_rdmsr,
	[KVM_EXIT_X86_WRMSR] = exit_wrmsr,
	[KVM_EXIT_HLT] = exit_hlt,
	[KVM_EXIT_SHUTDOWN] = exit_shutdown,
	[KVM_EXIT_IRQ_WINDOW_OPEN] = exit_irq_window,
	[KVM_EXIT_INTR] = exit_none,
	[KVM_EXIT_SET_TPR] = exit_none,		/* no TPR conf on KVM */
	[KVM_EXIT_TPR_ACCESS] = exit_none,
	[KVM_EXIT_X86_BUS_LOCK] = exit_none,
	[KVM_EXIT_FAIL_ENTRY] = exit_fail_entry,
	[KVM_EXIT_INTERNAL_ERROR] = exit_internal,
};

/* Exits after which an open window the emulator asked for is reported. */
static bool
exit_window_may_override(uint64_t reason)
{
	return reason == NVMM_VCPU_EXIT_NONE;
}

static inline void
exit_translate(struct kvmx86_vcpu *cpu, int run_error,
    struct nvmm_vcpu_exit *exit)
{
	uint32_t reason = cpu->run->exit_reason;

	memset(&exit->u, 0, sizeof(exit->u));
	if (run_error == 0 && reason < sizeof(exit_table) /
	    sizeof(exit_table[0]) && exit_table[reason] != NULL) {
		exit_table[reason](cpu, exit);
	} else if (run_error == 0) {
		exit_invalid(cpu, exit);
	} else if (run_error == EINTR || run_error == EAGAIN) {
		exit->reason = NVMM_VCPU_EXIT_NONE;
	} else {
		/* KVM refused to run: a state it rejects, a bad mapping. */
		exit->reason = NVMM_VCPU_EXIT_INVALID;
		exit->u.inv.hwcode = HWCODE_ERRNO(run_error);
	}
	if (exit_window_may_override(exit->reason) && kvmx86_window_wanted(cpu))
		kvmx86_window_ready(cpu, exit);
}

void
kvmx86_exit_translate(struct kvmx86_vcpu *cpu, int run_error,
    struct nvmm_vcpu_exit *exit)
{
	exit_translate(cpu, run_error, exit);
}

void
kvmx86_exit(struct kvmx86_vcpu *cpu, int run_error,
    struct nvmm_vcpu_exit *exit)
{
	exit_translate(cpu, run_error, exit);
	kvmx86_exitstate(cpu, exit);
}

/*
 * kvmx86_exit() where the fast path's conditions make most of it moot: no
 * window asked for (so none to report or end), no NMI of ours in flight,
 * KVM_RUN went through. The exits a driver loop makes go straight to
 * their function, inline here (HLT, and the I/O and MMIO exits whose exit
 * state needs no fetch, are the run's: run.c); the others through the
 * table, as kvmx86_exit() does.
 */
int
kvmx86_exit_usual(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	memset(&exit->u, 0, sizeof(exit->u));
	switch (cpu->run->exit_reason) {
	case KVM_EXIT_IO:
		exit_io(cpu, exit);
		break;
	case KVM_EXIT_MMIO:
		exit_mmio(cpu, exit);
		break;
	case KVM_EXIT_X86_RDMSR:
		exit_rdmsr(cpu, exit);
		break;
	case KVM_EXIT_X86_WRMSR:
		exit_wrmsr(cpu, exit);
		break;
	default:
		exit_translate(cpu, 0, exit);
		break;
	}
	kvmx86_exitstate_as(cpu, exit, kvmx86_exit_ready(cpu->run), false,
	    false);
	return 0;
}

/*
 * The I/O and MMIO exits for the run's fast path (run.c), which cleared
 * the payload and filled the exit state first: the run's tail call, with
 * the exit's function inline (flatten), so that nothing is kept across a
 * call.
 */
__attribute__((flatten)) int
kvmx86_exit_io(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit_io(cpu, exit);
	return 0;
}

__attribute__((flatten)) int
kvmx86_exit_mmio(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit_mmio(cpu, exit);
	return 0;
}
