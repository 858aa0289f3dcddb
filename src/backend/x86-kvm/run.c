/*
 * Running a vCPU: install what the emulator committed, inject its event,
 * enter KVM, translate the exit. Also the two things NVMM does that KVM
 * does differently:
 *
 * - Pending operations. After an IO, MMIO or MSR exit, KVM finishes the
 *   instruction (RIP, registers, guest memory) inside the next KVM_RUN,
 *   whereas NVMM's emulator finishes it through the assists or setstate.
 *   The common sequences map onto KVM's for free; the others make KVM
 *   finish the instruction first (KVM_RUN with immediate_exit: no guest
 *   code runs) and then install what the emulator asked for.
 *
 * - Stops. nvmm_vcpu_stop() sets the stop word and, when the vCPU is
 *   inside KVM_RUN, immediate_exit and a signal to its thread; KVM's
 *   signal mask for the vCPU lets that signal through even where the
 *   thread blocks it. nvmm_vcpu_inject() from another thread kicks the
 *   same way, without the stop word: the run returns NONE and the next
 *   one injects. An event posted while a run starts goes in at its entry.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../frontend/frontend.h"
#include "kvmx86.h"

#define RESTORE_TRIES	16

/*
 * Functions marked noinline are off the common run: kept out of line, so
 * that the fast path's frame stays small (kvmx86_vcpu_run()).
 */

/* ---- Kicks ------------------------------------------------------------------- */

static void
kick_handler(int sig)
{
	(void)sig;	/* Its only job: make KVM_RUN return -EINTR. */
}

int
kvmx86_kick_setup(void)
{
	int sig = SIGRTMAX - 1;
	struct sigaction sa, old;

	if (sigaction(sig, NULL, &old) == -1)
		return errno;
	/* Keep a handler the program installed itself: it interrupts too. */
	if (!(old.sa_flags & SA_SIGINFO) &&
	    (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kick_handler;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL) == -1)
			return errno;
	}
	kvmx86_host.kick_signal = sig;
	return 0;
}

/*
 * Where the vCPU is, for kicks ('running'). A guest entry swaps RUN_IN in
 * and looks at the stop word and the event box only if a kick came since
 * the last entry (RUN_KICKED_OUT); KVM_RUN's return stores RUN_OUT.
 */
#define RUN_OUT		0	/* outside KVM_RUN */
#define RUN_IN		1	/* entering or inside KVM_RUN */
#define RUN_KICKED	2	/* inside, kicked already */
#define RUN_KICKED_OUT	3	/* outside, kicked since: the entry looks */

/*
 * Out of KVM_RUN (or not entering it). Sequentially consistent, though it
 * costs a locked XCHG (~10 ns here, 0.15% of an exit): it is one side of
 * a store-then-load pair with kvmx86_kick(). The runner stores RUN_OUT,
 * then (next run) reads the event box and the stop word; a kicker stores
 * its request, then reads 'running' in its compare-and-swap. Only with
 * both sides in one total order must one of them see the other's store:
 * a release store here lets the runner miss the event while the kicker
 * still sees RUN_IN and takes the thread for inside KVM_RUN. On x86 the
 * entry points' locked take and put would happen to fence it, but that is
 * theirs to change, not a guarantee of this protocol.
 */
static inline void
run_left(struct kvmx86_vcpu *cpu)
{
	atomic_store(&cpu->running, RUN_OUT);
}

/*
 * Async-signal-safe: atomics and tgkill. The caller's request (the stop
 * word, a posted event) is stored first. Outside KVM_RUN the kick leaves
 * RUN_KICKED_OUT, and the entry, which swaps 'running' before it enters,
 * sees that and looks at the request (run_enter_checked()). Inside, the
 * first kick of the entry (RUN_IN -> RUN_KICKED) sets immediate_exit, for
 * a KVM_RUN about to start, and signals the thread. Later kicks of the
 * same entry add nothing: the kick signal is a real-time one, every
 * tgkill queues one more, and an emulator injecting in a loop would keep
 * the vCPU thread in the handler; and an immediate_exit at every inject
 * would keep the guest from running at all.
 */
void
kvmx86_kick(struct fe_vcpu *v)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	int state = atomic_load(&cpu->running), tid;

	for (;;) {
		if (state == RUN_OUT && atomic_compare_exchange_weak(
		    &cpu->running, &state, RUN_KICKED_OUT))
			return;
		if (state == RUN_IN && atomic_compare_exchange_weak(
		    &cpu->running, &state, RUN_KICKED))
			break;
		if (state != RUN_OUT && state != RUN_IN)
			return;		/* kicked already */
	}
	__atomic_store_n(&cpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if ((tid = atomic_load(&cpu->tid)) > 0)
		(void)syscall(SYS_tgkill, getpid(), tid,
		    kvmx86_host.kick_signal);
}

/*
 * Which thread this is: a serial from 1 on, RUN_NO_SERIAL until the thread
 * first runs a vCPU (never a vCPU's runner, which is 0 until it has one).
 * Not pthread_self(): a new thread often gets the pthread_t of one that
 * was joined, and kicks would go to the dead one. Initial-exec: no
 * __tls_get_addr call at every run.
 */
#define RUN_NO_SERIAL	UINT64_MAX
static __thread uint64_t run_serial
    __attribute__((tls_model("initial-exec"))) = RUN_NO_SERIAL;

static uint64_t
run_thread_serial(void)
{
	static atomic_uint_fast64_t next = 1;

	if (run_serial == RUN_NO_SERIAL)
		run_serial = atomic_fetch_add(&next, 1);
	return run_serial;
}

/* The first run on a thread: record it and let kicks through KVM_RUN. */
static int
run_adopt_thread(struct kvmx86_vcpu *cpu)
{
	struct {
		struct kvm_signal_mask hdr;
		uint8_t set[8];
	} mask;
	uint64_t self = run_thread_serial();
	sigset_t cur;
	int r;

	if (self == cpu->adopted)
		return 0;
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0)
		return EINVAL;
	/*
	 * A KVM signal mask costs two mask swaps in every KVM_RUN: only a
	 * thread that blocks the kick signal gets one (QEMU's vCPU threads).
	 */
	if (sigismember(&cur, kvmx86_host.kick_signal)) {
		sigdelset(&cur, kvmx86_host.kick_signal);
		mask.hdr.len = sizeof(mask.set);
		memcpy(mask.set, &cur, sizeof(mask.set));	/* kernel's 64 bits */
		r = ioctl(cpu->fd, KVM_SET_SIGNAL_MASK, &mask);
	} else {
		r = ioctl(cpu->fd, KVM_SET_SIGNAL_MASK, NULL);
	}
	if (r == -1)
		return errno;
	atomic_store(&cpu->tid, (int)gettid());
	cpu->adopted = self;
	cpu->runner = 0;	/* kicks go here now: no other thread's fast path */
	return 0;
}

/* ---- Entering KVM -------------------------------------------------------------- */

/*
 * KVM_RUN: 0, or the errno. The system call made here, not through
 * glibc's ioctl(), whose variadic entry spills the argument registers
 * and goes through errno (21 instructions per exit, this takes ~5). The
 * x86-64 system call ABI: the number in RAX, the arguments in RDI, RSI,
 * RDX; RAX comes back as the result or -errno; RCX and R11 are
 * clobbered. errno is left alone: the callers take the value returned.
 * The tests and the bench count KVM_RUN where the kernel sees it
 * (bench/runcount.c); valgrind and the sanitizers see the system call
 * itself (ASan's ioctl() check has nothing to check for KVM_RUN).
 */
static inline int
run_kvm(const struct kvmx86_vcpu *cpu)
{
	long ret;

	__asm__ volatile("syscall"
	    : "=a"(ret)
	    : "0"((long)SYS_ioctl), "D"((long)cpu->fd), "S"((long)KVM_RUN),
	    "d"(0L)
	    : "rcx", "r11", "memory");
	return ret < 0 ? (int)-ret : 0;
}

/*
 * A thread that blocks the kick signal takes it only inside KVM_RUN (the
 * vCPU's signal mask): KVM returns, but the signal stays pending and would
 * end every later KVM_RUN at once. Consume it, as QEMU does.
 */
static __attribute__((noinline)) void
run_eat_kicks(void)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, kvmx86_host.kick_signal);
	while (sigtimedwait(&kick, NULL, &zero) > 0)
		continue;
}

/* NVMM's stop word of the vCPU (what vcpu->stop points at). */
static bool
run_stop_set(const struct fe_vcpu *v)
{
	return __atomic_load_n(&v->cell->stop, __ATOMIC_SEQ_CST) != 0;
}

/*
 * An event another thread posted since this run took one: it goes in at
 * this entry, replacing one not yet delivered, and whatever is posted
 * from now on kicks. An invalid one ends the run as NONE and stays for
 * the next run, which fails with EINVAL as for any invalid event.
 */
static __attribute__((noinline)) bool
run_late_event(struct kvmx86_vcpu *cpu, struct fe_vcpu *v)
{
	fe_event_take(v);
	if (!v->event_commit)
		return true;	/* still being written: its kick follows */
	if (kvmx86_inject(cpu, &v->event) != 0)
		return false;
	v->event_commit = false;
	kvmx86_window_arm(cpu);	/* an NMI asks for its window */
	return true;
}

/*
 * The end of a KVM_RUN that returned error (EINTR: ended by a signal or
 * immediate_exit), with 'running' back to RUN_OUT.
 */
static void
run_kvm_failed(struct kvmx86_vcpu *cpu, int error)
{
	kvmx86_sync_stored(cpu, error == EINTR);
	if (error == EINTR)
		run_eat_kicks();
}

/*
 * One KVM_RUN once 'running' is RUN_IN, honouring a stop requested, or an
 * event posted, before or during it. *entered tells whether KVM saw the
 * run (and so finished any pending operation).
 */
static int
run_enter_checked(struct kvmx86_vcpu *cpu, struct fe_vcpu *v, bool *entered)
{
	int error;

	/*
	 * After 'running': a stop, or an event another thread posts, is
	 * either seen here or kicks KVM_RUN.
	 */
	if (run_stop_set(v) ||
	    (fe_event_posted(v) && !run_late_event(cpu, v))) {
		run_left(cpu);
		*entered = false;
		return EINTR;
	}
	kvmx86_sync_request(cpu);
	error = run_kvm(cpu);
	run_left(cpu);
	*entered = true;
	if (error != 0)
		run_kvm_failed(cpu, error);
	else
		kvmx86_sync_stored(cpu, true);
	return error;
}

/* One KVM_RUN from the slow path: the windows asked for, the checks. */
static int
run_enter(struct kvmx86_vcpu *cpu, struct fe_vcpu *v, bool *entered)
{
	/* Atomic: a kick's store may race with it (a late one is harmless). */
	__atomic_store_n(&cpu->run->immediate_exit, 0, __ATOMIC_RELAXED);
	/* NVMM's window exiting: KVM arms it at this entry (events.c). */
	if (kvmx86_window_wanted(cpu)) {
		kvmx86_window_arm(cpu);
	} else {
		cpu->run->request_interrupt_window = 0;
		cpu->window_asked = false;
	}
	(void)atomic_exchange(&cpu->running, RUN_IN);
	return run_enter_checked(cpu, v, entered);
}

/*
 * KVM ends a REP INS/OUTS by running it once more with a zero count, while
 * NVMM's assist moves RIP past it as soon as the count runs out: do that.
 */
static uint64_t
run_addr_mask(unsigned int address_size)
{
	return address_size >= 8 || address_size == 0 ? ~0ULL :
	    (1ULL << (8 * address_size)) - 1;
}

static void
run_rep_done(struct kvmx86_vcpu *cpu)
{
	struct kvm_regs *regs = &cpu->run->s.regs.regs;
	const struct nvmm_x86_exit_io *io = &cpu->exit_io;

	if (!io->rep || (regs->rcx & run_addr_mask(io->address_size)) != 0 ||
	    regs->rip != cpu->exit_rip)
		return;
	regs->rip = io->npc;
	cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}

/*
 * The GPRs of the pending exit as NVMM shows them, for the rare paths that
 * need them all (an unserved access restored, GPRs merged after an assist):
 * the sync area's, which KVM stored at the exit, and the RIP of the
 * instruction (exit_rip: KVM may be past an OUT). Not copied at the exit,
 * as the common exit needs none of them; valid until the first write to the
 * sync area since the exit, i.e. while the exit is pending and no run
 * installed anything (!settled) and KVM did not run (kvmx86_complete()).
 * Callers copy them before they let KVM finish the instruction.
 */
static void
run_exit_regs(const struct kvmx86_vcpu *cpu, struct kvm_regs *regs)
{
	*regs = cpu->run->s.regs.regs;
	regs->rip = cpu->exit_rip;
}

/*
 * An INS the emulator did not serve: finishing it, KVM still stores its
 * data buffer at ES:RDI. Fill the buffer with what that memory holds, so
 * the store changes nothing: on NVMM the instruction just runs again, or
 * the emulator did it itself (its bytes written, its GPRs committed), and
 * nothing else writes guest memory.
 */
static void
run_ins_keep(struct kvmx86_vcpu *cpu, const struct kvm_regs *exit_regs)
{
	const struct nvmm_x86_exit_io *io = &cpu->exit_io;
	struct kvm_run *run = cpu->run;
	const struct kvm_sregs *sr = &run->s.regs.sregs;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint64_t mask = run_addr_mask(io->address_size);
	uint64_t rdi = exit_regs->rdi;
	bool down = (exit_regs->rflags & 0x400) != 0;	/* DF */
	bool long64;

	if (!io->str || !io->in || run->io.direction != KVM_EXIT_IO_IN ||
	    kvmx86_sync_need(cpu, KVM_SYNC_X86_SREGS) != 0)
		return;
	long64 = kvmx86_code64(sr);
	for (uint32_t i = 0; i < run->io.count; i++) {
		uint64_t step = (uint64_t)i * run->io.size;
		uint64_t lin = (down ? rdi - step : rdi + step) & mask;

		if (!long64)
			lin = (lin + sr->es.base) & 0xFFFFFFFFULL;
		(void)kvmx86_read_linear(cpu, lin, data + step, run->io.size);
	}
}

/*
 * Let KVM finish the pending instruction without running guest code. KVM
 * may stop again inside it (one MMIO fragment after another): that exit is
 * stashed for the next run to return.
 */
int
kvmx86_complete(struct kvmx86_vcpu *cpu)
{
	bool served_io = cpu->pending == KVMX86_PENDING_IO && cpu->served;
	int error;

	if (cpu->pending == KVMX86_PENDING_NONE || cpu->stashed)
		return 0;
	__atomic_store_n(&cpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	error = run_kvm(cpu);
	__atomic_store_n(&cpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	kvmx86_sync_stored(cpu, error == 0 || error == EINTR);
	cpu->pending = KVMX86_PENDING_NONE;
	cpu->settled = false;
	if (error == 0) {
		kvmx86_exit_translate(cpu, 0, &cpu->stash);
		cpu->stashed = true;
		return 0;
	}
	if (error != EINTR)
		return error;
	if (served_io)
		run_rep_done(cpu);
	return 0;
}

/* ---- Pending operations ---------------------------------------------------------- */

/* An IN's data into AL, AX or EAX; a 32-bit load zero-extends. */
static void
run_io_in_data(const struct kvm_run *run, uint64_t *rax)
{
	uint64_t data = 0;

	memcpy(&data, (const uint8_t *)run + run->io.data_offset,
	    run->io.size);
	if (run->io.size == 4)
		*rax = data;
	else
		*rax = (*rax & ~((1ULL << (8 * run->io.size)) - 1)) | data;
}

/* A served IN or OUT, not a string one, that no run has settled since. */
static inline bool
run_io_served(const struct kvmx86_vcpu *cpu)
{
	return cpu->pending == KVMX86_PENDING_IO && cpu->served &&
	    !cpu->settled && !cpu->stashed && !cpu->exit_io.str;
}

/*
 * pio.c's answer, asked once per vCPU when first needed (through
 * pthread_once, ~20 instructions; once per process a throwaway VM).
 */
static void __attribute__((noinline))
run_pio_ask(struct kvmx86_vcpu *cpu)
{
	cpu->pio_ends[false] = kvmx86_pio_rip_ends(false);
	cpu->pio_ends[true] = kvmx86_pio_rip_ends(true);
	cpu->pio_asked = true;
}

/*
 * A served IN or OUT that KVM leaves alone once RIP is at npc (pio.c):
 * getstate shows it finished without a KVM_RUN, and a commit of GPRs
 * with RIP = npc stands as it is.
 */
static inline bool
run_io_ours(struct kvmx86_vcpu *cpu)
{
	if (!run_io_served(cpu))
		return false;
	if (!cpu->pio_asked)
		run_pio_ask(cpu);
	return cpu->pio_ends[cpu->exit_io.in];
}

/* run_io_ours() without asking: false until pio.c was asked. */
static inline bool
run_io_ours_known(const struct kvmx86_vcpu *cpu)
{
	return run_io_served(cpu) && cpu->pio_ends[cpu->exit_io.in];
}

/* The GPRs once the served IN/OUT is finished: RIP = npc, an IN's AL/AX/EAX. */
static inline void
run_io_finish(const struct kvmx86_vcpu *cpu, uint64_t *gprs)
{
	gprs[NVMM_X64_GPR_RIP] = cpu->exit_io.npc;
	if (cpu->exit_io.in)
		run_io_in_data(cpu->run, &gprs[NVMM_X64_GPR_RAX]);
}

struct run_plan {
	bool msr_answer;	/* the emulator set RIP = npc: KVM skips */
	bool msr_gp;		/* the emulator injected #GP: KVM injects */
};

/*
 * KVM's RDMSR completion loads EAX and EDX, zero-extended, whatever the
 * sync area says: an answer with bits above 31 in RAX or RDX is the
 * emulator's own registers, installed after KVM finished. So is one that
 * changes RFLAGS: on this host KVM's completion ends with the exit's flags
 * (its instruction emulator ran the RDMSR/WRMSR; t_msr).
 */
static bool
run_msr_answer_fits(const struct kvmx86_vcpu *cpu,
    const struct nvmm_comm_page *comm)
{
	const uint64_t *g = comm->state.gprs;

	return (cpu->run->exit_reason != KVM_EXIT_X86_RDMSR ||
	    ((g[NVMM_X64_GPR_RAX] | g[NVMM_X64_GPR_RDX]) >> 32) == 0) &&
	    g[NVMM_X64_GPR_RFLAGS] == cpu->run->s.regs.regs.rflags;
}

/* KVM's MSR completion can inject #GP, but only with error code 0. */
static bool
event_is_gp(const struct fe_vcpu *v)
{
	return v->event_commit && v->event.type == NVMM_VCPU_EVENT_EXCP &&
	    v->event.vector == 13 && v->event.u.excp.error == 0;
}

/*
 * Whether KVM's own completion of the pending operation (none, settled and
 * stashed aside) gives what NVMM gives after what the emulator did, so
 * that the coming KVM_RUN finishes it; the plan says what to hand KVM.
 * Always inline: the fast path's cost depends on it (a call and the plan
 * in memory were ~20 instructions per exit, which GCC chose once the MSR
 * case grew by a compare). The fast path does not ask pio.c (ask false):
 * a call there would give it a frame; not yet asked, it answers false,
 * and the slow path asks and decides.
 */
static inline __attribute__((always_inline)) bool
run_settle_free(struct kvmx86_vcpu *cpu, const struct fe_vcpu *v,
    struct run_plan *plan, bool ask)
{
	const struct nvmm_comm_page *comm = &v->comm;
	bool gprs = (comm->state_commit & NVMM_X64_STATE_GPRS) != 0;
	uint64_t rip = comm->state.gprs[NVMM_X64_GPR_RIP];

	switch (cpu->pending) {
	case KVMX86_PENDING_NONE:
		return true;
	case KVMX86_PENDING_IO:
	case KVMX86_PENDING_MMIO:
		if (cpu->served && !gprs)
			return true;
		/* The committed GPRs finish it. */
		return gprs && rip == cpu->exit_io.npc &&
		    (ask ? run_io_ours(cpu) : run_io_ours_known(cpu));
	case KVMX86_PENDING_MSR:
		if (gprs && rip == cpu->exit_npc &&
		    run_msr_answer_fits(cpu, comm)) {
			plan->msr_answer = true;
			return true;
		}
		if (event_is_gp(v) && (!gprs || rip == cpu->exit_rip)) {
			plan->msr_gp = true;
			return true;
		}
		return false;
	}
	return false;
}

/*
 * Decide how the pending operation ends. When KVM's own completion gives
 * what NVMM gives, leave it to the coming KVM_RUN; otherwise finish it now
 * and, if the emulator neither served it nor set GPRs, restore the GPRs of
 * the exit so that the instruction runs again, as on NVMM.
 */
static int
run_settle(struct kvmx86_vcpu *cpu, const struct fe_vcpu *v,
    struct run_plan *plan)
{
	bool gprs = (v->comm.state_commit & NVMM_X64_STATE_GPRS) != 0;
	struct kvm_regs exit_regs;
	bool restore;
	int error = 0;

	/*
	 * Settled: an earlier run already told KVM how it ends. A stashed
	 * exit is the emulator's next one, not an unserved one.
	 */
	if (cpu->settled || cpu->stashed || run_settle_free(cpu, v, plan, true))
		return 0;
	if (cpu->pending == KVMX86_PENDING_MSR)
		cpu->run->msr.error = 0;
	restore = !cpu->served && !gprs;
	if (!cpu->served) {
		/* Not settled: the exit's, until KVM runs (and stashes another). */
		run_exit_regs(cpu, &exit_regs);
		if (cpu->pending == KVMX86_PENDING_IO)
			run_ins_keep(cpu, &exit_regs);
	}
	for (int i = 0; i < RESTORE_TRIES && error == 0; i++) {
		error = kvmx86_complete(cpu);
		if (!cpu->stashed)
			break;
		if (!restore)
			return 0;	/* the emulator gets the next access */
		cpu->stashed = false;	/* unserved: finish with nothing */
	}
	if (error == 0 && restore) {
		cpu->run->s.regs.regs = exit_regs;
		cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	return error;
}

/*
 * Whether KVM's own completion of the MSR exit ends with the committed GPRs
 * anyway, so that they need not be installed: a dirty KVM_SYNC_X86_REGS
 * costs KVM a register load and an event check, ~2% of an exit. KVM moves
 * RIP past the instruction and an RDMSR loads EAX and EDX, zero-extended
 * (run_msr_answer_fits(), which also saw RFLAGS unchanged); every other
 * GPR must be as at the exit, which the sync area holds while nothing was
 * installed (run_exit_regs()).
 */
static inline bool
run_msr_gprs_are_kvms(const struct kvmx86_vcpu *cpu, const uint64_t *g)
{
	const struct kvm_regs *r = &cpu->run->s.regs.regs;

	if (cpu->run->exit_reason != KVM_EXIT_X86_RDMSR &&
	    (g[NVMM_X64_GPR_RAX] != r->rax || g[NVMM_X64_GPR_RDX] != r->rdx))
		return false;
	return kvmx86_gprs_differ(g, r) == 0;
}

/*
 * After the commit is installed: hand the MSR answer (the committed RAX
 * and RDX) to KVM's completion.
 */
static void
run_msr_plan(struct kvmx86_vcpu *cpu, const struct nvmm_comm_page *comm,
    const struct run_plan *plan)
{
	struct kvm_run *run = cpu->run;
	const uint64_t *g = comm->state.gprs;

	if (plan->msr_answer) {
		run->msr.error = 0;
		run->msr.data = (g[NVMM_X64_GPR_RAX] & 0xFFFFFFFFULL) |
		    g[NVMM_X64_GPR_RDX] << 32;
		/* KVM moves RIP past the instruction itself. */
		run->s.regs.regs.rip = cpu->exit_rip;
	} else if (plan->msr_gp) {
		run->msr.error = 1;	/* KVM injects #GP(0) */
	}
}

/* ---- The run ---------------------------------------------------------------------- */

/* The run ends INVALID before entry: the errno in hwcode. */
static void
run_invalid(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit, int error)
{
	memset(&exit->u, 0, sizeof(exit->u));
	exit->reason = NVMM_VCPU_EXIT_INVALID;
	exit->u.inv.hwcode = (uint64_t)0xFFFFFFFEu << 32 | (uint32_t)error;
	kvmx86_exitstate(cpu, exit);
}

/* As NetBSD: a requested stop wins over any exit found before entry. */
static bool
run_stop_requested(struct kvmx86_vcpu *cpu, const struct fe_vcpu *v,
    struct nvmm_vcpu_exit *exit)
{
	if (!run_stop_set(v))
		return false;
	memset(&exit->u, 0, sizeof(exit->u));
	exit->reason = NVMM_VCPU_EXIT_STOPPED;
	kvmx86_exitstate(cpu, exit);
	return true;
}

/*
 * Install the committed state and event; EINVAL for an invalid event, a
 * state KVM refuses in *state_error.
 */
static int
run_install(struct kvmx86_vcpu *cpu, struct fe_vcpu *v,
    const struct run_plan *plan, int *state_error)
{
	struct nvmm_comm_page *comm = &v->comm;
	bool bad_event = false;

	*state_error = comm->state_commit == 0 ? 0 :
	    kvmx86_state_set(cpu, comm->state_commit, &comm->state);
	comm->state_commit = 0;
	/* Once the guest runs, nothing the emulator holds is current. */
	comm->state_cached = 0;
	if (v->event_commit) {
		v->event_commit = false;
		bad_event = !plan->msr_gp && kvmx86_inject(cpu, &v->event) != 0;
	}
	run_msr_plan(cpu, comm, plan);
	/* KVM finishes the pending operation as encoded now, whenever it runs. */
	cpu->settled = (cpu->pending != KVMX86_PENDING_NONE);
	return bad_event ? EINVAL : 0;
}

/* A committed state KVM refuses: the run ends INVALID, the guest not entered. */
static __attribute__((noinline)) void
run_state_refused(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit,
    int error)
{
	/* Dropped: the sync area holds our writes, not KVM's state. */
	cpu->run->kvm_dirty_regs = 0;
	kvmx86_sync_stored(cpu, false);
	run_invalid(cpu, exit, error);
}

/* After run_enter(): what KVM did with the pending operation, and the exit. */
static inline void
run_exit(struct kvmx86_vcpu *cpu, const struct fe_vcpu *v, int error,
    bool entered, struct nvmm_vcpu_exit *exit)
{
	if (entered && (error == 0 || error == EINTR)) {
		cpu->pending = KVMX86_PENDING_NONE;	/* KVM finished it */
		cpu->settled = false;
	} else if (entered) {
		cpu->run->kvm_dirty_regs = 0;		/* KVM refused it */
	}
	if (entered) {
		/* From now on this thread's runs may take the fast path. */
		cpu->has_run = true;
		cpu->runner = cpu->adopted;
	}
	kvmx86_exit(cpu, error, exit);
	/* After the exit state, which is the same for NONE and STOPPED. */
	if (error == EINTR && run_stop_set(v))
		exit->reason = NVMM_VCPU_EXIT_STOPPED;
}

/*
 * A run the fast path does not take: every step, from the thread's and
 * the vCPU's setup to the exit. Returns the run's result: 0 with *exit
 * filled, or EINVAL for an invalid event.
 */
static __attribute__((noinline)) int
run_slow(struct fe_machine *m, struct fe_vcpu *v, struct nvmm_vcpu_exit *exit)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	struct run_plan plan = { false, false };
	int error, state_error;
	bool entered;

	cpu->vcpu = v;		/* before any fast path (run_usual()) */
	if ((error = run_adopt_thread(cpu)) == 0 && !cpu->has_run)
		error = kvmx86_vcpu_prepare(m, cpu);
	if (error == 0)
		error = run_settle(cpu, v, &plan);
	if (error != 0) {
		run_invalid(cpu, exit, error);
		return 0;
	}
	if (cpu->stashed && run_stop_requested(cpu, v, exit))
		return 0;	/* the stashed exit waits for the next run */
	if (cpu->stashed) {
		/* An access KVM stopped at while finishing: no guest entry. */
		*exit = cpu->stash;
		cpu->stashed = false;
		v->comm.state_cached = 0;
		kvmx86_exitstate(cpu, exit);
		return 0;
	}
	if ((error = run_install(cpu, v, &plan, &state_error)) != 0)
		return error;
	if (state_error != 0) {
		run_state_refused(cpu, exit, state_error);
		return 0;
	}
	if (run_stop_requested(cpu, v, exit))
		return 0;
	if (cpu->pending == KVMX86_PENDING_NONE &&
	    kvmx86_window_wanted(cpu) && kvmx86_window_ready(cpu, exit)) {
		kvmx86_exitstate(cpu, exit);
		return 0;
	}
	error = run_enter(cpu, v, &entered);
	run_exit(cpu, v, error, entered, exit);
	return 0;
}

/*
 * Whether this run can take the fast path, which skips the steps of
 * run_slow() that have nothing to do in the common run:
 * - this thread ran the vCPU last, and it entered the guest then (its
 *   signal mask and kicks, CPUID installed: run_adopt_thread(), has_run;
 *   'runner' is set only then, and cleared when another thread adopts);
 * - nothing 'unusual': no stashed exit to return without entering, no
 *   pending operation settled by an earlier run, no window asked for
 *   (the check for an open one before entry) nor left in kvm_run, no NMI
 *   of ours in flight (the exit state asks KVM);
 * - no event committed;
 * - nothing committed, and nothing pending (HLT) or a served I/O or MMIO
 *   access (run_fast_access()); or run_fast_pending()'s conditions.
 * A stop or a posted event is still seen: a kick since the last entry
 * sends the entry to run_enter_checked(), as in the slow path; one during
 * the entry ends KVM_RUN.
 */
static inline bool
run_usual(const struct kvmx86_vcpu *cpu, const struct fe_vcpu *v)
{
	return cpu->runner == run_serial && cpu->unusual == 0 &&
	    !v->event_commit;
}

/*
 * The fast path's entry when a kick came since the last entry: what the
 * slow path does from its entry on. The commit is in, so a pending
 * operation is settled until KVM finishes it.
 */
static __attribute__((noinline)) int
run_fast_kicked(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	bool entered;
	int error;

	cpu->settled = (cpu->pending != KVMX86_PENDING_NONE);
	error = run_enter_checked(cpu, cpu->vcpu, &entered);
	run_exit(cpu, cpu->vcpu, error, entered, exit);
	return 0;
}

/* The fast path's KVM_RUN failed: the slow path's end of it. */
static __attribute__((noinline)) int
run_fast_failed(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit,
    int error)
{
	cpu->settled = (cpu->pending != KVMX86_PENDING_NONE);
	run_kvm_failed(cpu, error);
	run_exit(cpu, cpu->vcpu, error, true, exit);
	return 0;
}

/*
 * The fast path from the guest entry on: run_enter() without a window to
 * arm (none asked for, none left in kvm_run) and with the request of the
 * sync area standing, then run_exit(). Apart from the gate and the
 * install, so that only cpu and exit live across KVM_RUN.
 */
static __attribute__((noinline)) int
run_fast_enter(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	int (*translate)(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);
	const struct kvm_run *run;
	uint64_t valid;
	bool ready;
	int error;

	__atomic_store_n(&cpu->run->immediate_exit, 0, __ATOMIC_RELAXED);
	if (atomic_exchange(&cpu->running, RUN_IN) != RUN_OUT)
		return run_fast_kicked(cpu, exit);
	error = run_kvm(cpu);
	run_left(cpu);
	if (error != 0)
		return run_fast_failed(cpu, exit, error);
	/* kvmx86_sync_stored(), and run_exit(): KVM finished the operation. */
	run = cpu->run;
	valid = run->kvm_valid_regs;
	cpu->sync_fresh = valid;
	kvmx86_sync_age(cpu);	/* no NMI in flight: run_usual() */
	cpu->pending = KVMX86_PENDING_NONE;
	if (run->exit_reason == KVM_EXIT_HLT) {
		kvmx86_exit_halted_usual(cpu, run, exit, valid);
		return 0;
	}
	/*
	 * The PIO and MMIO loops' exits, where KVM's events came if they are
	 * needed: the payload cleared and the exit state filled here, before
	 * the translation, which changes nothing the state reads (RFLAGS,
	 * CR8, KVM's events), so that it is the tail call. Not MSR exits: an
	 * MSR the backend answers is finished at once (kvmx86_msr_decide()),
	 * and the exit state is the one after that. A fetch of the events, as
	 * any exit.
	 */
	if (run->exit_reason == KVM_EXIT_IO)
		translate = kvmx86_exit_io;
	else if (run->exit_reason == KVM_EXIT_MMIO)
		translate = kvmx86_exit_mmio;
	else
		return kvmx86_exit_usual(cpu, exit);
	ready = kvmx86_exit_ready(run);
	if (!ready && !(valid & KVM_SYNC_X86_EVENTS))
		return kvmx86_exit_usual(cpu, exit);
	kvmx86_exitstate_fresh(cpu, run, exit, ready, valid);
	memset(&exit->u, 0, sizeof(exit->u));
	return translate(cpu, exit);
}

/*
 * The fast path with something committed or pending: at most GPRS
 * committed (what emulators commit after an I/O, MMIO or MSR exit), and a
 * pending operation, if any, that KVM's completion finishes as NVMM would
 * (run_settle_free(): nothing to settle). Then run_install() with no
 * event (KVM refuses nothing of GPRS alone); an MSR answer's GPRs only
 * where KVM's completion would not end with them anyway (the slow path
 * installs them always).
 */
static __attribute__((noinline)) int
run_fast_pending(struct fe_machine *m, struct fe_vcpu *v,
    struct nvmm_vcpu_exit *exit)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	struct nvmm_comm_page *comm = &v->comm;
	struct run_plan plan = { false, false };

	if ((comm->state_commit & ~(uint64_t)NVMM_X64_STATE_GPRS) != 0 ||
	    !run_settle_free(cpu, v, &plan, false))
		return run_slow(m, v, exit);
	if (comm->state_commit != 0 && (!plan.msr_answer ||
	    !run_msr_gprs_are_kvms(cpu, comm->state.gprs)))
		(void)kvmx86_state_set(cpu, NVMM_X64_STATE_GPRS, &comm->state);
	if (plan.msr_answer)
		run_msr_plan(cpu, comm, &plan);
	comm->state_commit = 0;
	comm->state_cached = 0;
	return run_fast_enter(cpu, exit);
}

/* 'pending' and 'served' as one word: RUN_SERVED(what) when served. */
_Static_assert(offsetof(struct kvmx86_vcpu, served) ==
    offsetof(struct kvmx86_vcpu, pending) + 1, "pending, then served");
#define RUN_SERVED(what)	((uint16_t)((what) | 1u << 8))

static inline uint16_t
run_pending_served(const struct kvmx86_vcpu *cpu)
{
	uint16_t w;

	memcpy(&w, &cpu->pending, sizeof(w));
	return w;
}

/*
 * Nothing committed and a served I/O or MMIO access (run_settle_free()'s
 * first answer for them), the PIO and MMIO loops' run: nothing to install.
 * The rest: run_fast_pending().
 */
static __attribute__((noinline)) int
run_fast_access(struct fe_machine *m, struct fe_vcpu *v,
    struct nvmm_vcpu_exit *exit)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	uint16_t access = run_pending_served(cpu);

	if (v->comm.state_commit != 0 ||
	    (access != RUN_SERVED(KVMX86_PENDING_IO) &&
	    access != RUN_SERVED(KVMX86_PENDING_MMIO)))
		return run_fast_pending(m, v, exit);
	v->comm.state_cached = 0;
	return run_fast_enter(cpu, exit);
}

int
kvmx86_vcpu_run(struct fe_machine *m, struct fe_vcpu *v,
    struct nvmm_vcpu_exit *exit)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	struct nvmm_comm_page *comm = &v->comm;

	if (!run_usual(cpu, v))
		return run_slow(m, v, exit);
	if ((comm->state_commit | run_pending_served(cpu)) != 0)
		return run_fast_access(m, v, exit);
	/* Nothing committed, nothing pending (HLT): nothing to install. */
	comm->state_cached = 0;
	return run_fast_enter(cpu, exit);
}

/* ---- State and assists ----------------------------------------------------------- */

/* After KVM finished an instruction: carry its GPR changes into the cache. */
static void
run_merge_gprs(const struct kvm_regs *exit_regs, const struct kvm_regs *now,
    struct nvmm_comm_page *comm)
{
	uint64_t before[NVMM_X64_NGPR], after[NVMM_X64_NGPR];

	kvmx86_gprs_from_kvm(exit_regs, before);
	kvmx86_gprs_from_kvm(now, after);
	for (size_t i = 0; i < NVMM_X64_NGPR; i++) {
		if (after[i] != before[i])
			comm->state.gprs[i] = after[i];
	}
}

/* Any classes after any exit: the cases of kvmx86_getstate() in full. */
static int __attribute__((noinline))
getstate_any(struct kvmx86_vcpu *cpu, struct nvmm_comm_page *comm)
{
	uint64_t wanted = comm->state_wanted;
	bool ours = run_io_ours(cpu);
	int error;

	/* An answered instruction is finished before anyone looks. */
	if (cpu->pending != KVMX86_PENDING_NONE && !ours &&
	    (cpu->served || cpu->settled) &&
	    (error = kvmx86_complete(cpu)) != 0)
		return error;
	if ((error = kvmx86_state_get(cpu, wanted, &comm->state)) != 0)
		return error;
	if (wanted & NVMM_X64_STATE_GPRS) {
		if (ours)
			run_io_finish(cpu, comm->state.gprs);
		/* An unserved OUT KVM already stepped over: NVMM shows it at RIP. */
		else if (cpu->pending == KVMX86_PENDING_IO && !cpu->served)
			comm->state.gprs[NVMM_X64_GPR_RIP] = cpu->exit_rip;
	}
	comm->state_cached |= wanted;
	return 0;
}

/* KVM's GPRs are NVMM's: nothing pending, or an MMIO/MSR exit unanswered. */
static inline bool
getstate_gprs_as_kvms(const struct kvmx86_vcpu *cpu)
{
	return cpu->pending != KVMX86_PENDING_IO &&
	    ((!cpu->served && !cpu->settled) ||
	    cpu->pending == KVMX86_PENDING_NONE);
}

/*
 * Fast path: GPRS alone (an emulator reading the registers of an exit),
 * where nothing is to be finished first: KVM's GPRs as they stand, or
 * with the served IN/OUT finished by us. It takes the same decisions as
 * getstate_any(), which does everything else (and asks pio.c first).
 */
int
kvmx86_getstate(struct fe_vcpu *v)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	struct nvmm_comm_page *comm = &v->comm;
	bool ours = run_io_ours_known(cpu);

	if (comm->state_wanted != NVMM_X64_STATE_GPRS ||
	    (!ours && !getstate_gprs_as_kvms(cpu)))
		return getstate_any(cpu, comm);
	kvmx86_gprs_from_kvm(&cpu->run->s.regs.regs, comm->state.gprs);
	if (ours)
		run_io_finish(cpu, comm->state.gprs);
	comm->state_cached |= NVMM_X64_STATE_GPRS;
	return 0;
}

/*
 * After an assist served the access, when the emulator holds GPRs (a
 * getstate before the assist): NVMM's assists update them, so do we. Only
 * then is the backend called; it copies the exit's GPRs (144 bytes), which
 * most assists, made before any getstate, need not. The access was
 * unserved until now, so no run installed anything since its exit (an
 * unserved IO or MMIO exit is finished before any install: run_settle()),
 * and the sync area holds the exit's GPRs (run_exit_regs()).
 */
int
kvmx86_access_done(struct fe_vcpu *v)
{
	struct kvmx86_vcpu *cpu = kvmx86_cpu(v);
	struct nvmm_comm_page *comm = &v->comm;
	struct kvm_regs exit_regs;
	int error;

	/* Before KVM finishes the instruction over them. */
	run_exit_regs(cpu, &exit_regs);
	if (run_io_ours(cpu)) {
		uint64_t now[NVMM_X64_NGPR];

		kvmx86_gprs_from_kvm(&exit_regs, now);
		run_io_finish(cpu, now);
		comm->state.gprs[NVMM_X64_GPR_RIP] = now[NVMM_X64_GPR_RIP];
		comm->state.gprs[NVMM_X64_GPR_RAX] = now[NVMM_X64_GPR_RAX];
		return 0;
	}
	if ((error = kvmx86_complete(cpu)) != 0)
		return error;
	run_merge_gprs(&exit_regs, &cpu->run->s.regs.regs, comm);
	return 0;
}
