/*
 * The x86 backend over /dev/kvm: per-machine and per-vCPU data and the
 * functions its files share. One backend serves AMD SVM and Intel VMX
 * hosts alike, since KVM drives the hardware.
 */
#ifndef NVMM_KVMX86_H
#define NVMM_KVMX86_H

#include <emmintrin.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "../../frontend/nvmm_impl.h"
#include "../../lib/x86_walk.h"

#define KVMX86_CPUID_MAXOPS	32	/* NVMM's conf_cpuid_maxops */
#define KVMX86_XCR0_MASK	0x3ULL	/* x87|SSE, as NVMM exposes */

/* Host facts probed once. */
struct kvmx86_host {
	int kvm_fd;
	bool intel;		/* VMX host, else SVM */
	size_t run_size;
	uint64_t xcr0_mask;
	uint32_t mxcsr_mask;
	struct kvm_cpuid2 *supported;	/* KVM_GET_SUPPORTED_CPUID */
	int kick_signal;
	uint32_t nr_slots;	/* KVM_CAP_NR_MEMSLOTS */
	bool dirty;		/* manual-protect dirty log (dirty.c) */
};
extern struct kvmx86_host kvmx86_host;

struct kvmx86_park;

/* What a vCPU's CPUID table is built from (cpuid.c): same inputs, same table. */
struct kvmx86_cpuid_key {
	unsigned int nvcpus;
	unsigned int nconf;
	struct nvmm_vcpu_conf_cpuid conf[KVMX86_CPUID_MAXOPS];
};

/*
 * A vCPU's decode memo check reads host words of guest memory without
 * the maps lock (insn.h). Its peek word says whether a check is ON, and
 * whether a slot went away since the vCPU last looked (STALE): a
 * gpa_unmap marks every word STALE, each once no check is ON
 * (kvm.c, kvmx86_peeks_stale()), and a check that finds STALE forgets
 * the vCPU's memos. One cache line each: 64 bytes apart.
 */
enum { KVMX86_PEEK_IDLE, KVMX86_PEEK_ON, KVMX86_PEEK_STALE };
struct kvmx86_peek {
	atomic_uint word;
	char pad[64 - sizeof(atomic_uint)];
};

struct kvmx86_machine {
	int vm_fd;
	uint64_t maps_gen;	/* slot changes (under the maps lock) */
	struct kvmx86_peek peek[NVMM_MAX_VCPUS];	/* by vCPU id */
	pthread_mutex_t lock;	/* first runs, parked vCPUs (kvm.c) */
	bool msr_filtered;	/* the MSR filter is in */
	struct kvmx86_park *parked;	/* KVM vCPUs of destroyed vCPUs */
};

/*
 * Guest areas over KVM slots. KVM caps one slot at 2^31-1 pages (just
 * under 8 TiB), so an area larger than KVMX86_SLOT_SIZE is several
 * slots: slot a->slot + i maps the KVMX86_SLOT_SIZE bytes from
 * a->gpa + i * KVMX86_SLOT_SIZE, the last one what is left.
 * kvmx86_area_slot() is the one place that says so; every op on an
 * area's slots goes through it. Pieces are whole GiB, so huge pages line
 * up in every slot as in the area, and a dirty bitmap of the area splits
 * into whole 64-bit words per slot. A test variant of the library is
 * built with a small value (tests/slots); it is not a run-time setting.
 */
#ifndef KVMX86_SLOT_SIZE
#define KVMX86_SLOT_SIZE	((8ULL << 40) - (1ULL << 30))
#endif
_Static_assert(KVMX86_SLOT_SIZE % (64 * 4096) == 0 &&
    KVMX86_SLOT_SIZE / 4096 <= 0x7FFFFFFF,
    "a slot is whole 64-page groups, within KVM's 2^31-1 pages");

static inline struct kvm_userspace_memory_region
kvmx86_area_slot(const struct fe_area *a, uint32_t i)
{
	uint64_t ofs = (uint64_t)i * KVMX86_SLOT_SIZE;
	uint64_t left = a->size - ofs;

	return (struct kvm_userspace_memory_region){
		.slot = a->slot + i,
		/* Without PROT_WRITE, guest writes exit as MEMORY. */
		.flags = ((a->prot & NVMM_PROT_WRITE) ? 0 : KVM_MEM_READONLY) |
		    (a->dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0),
		.guest_phys_addr = a->gpa + ofs,
		.memory_size = left < KVMX86_SLOT_SIZE ? left : KVMX86_SLOT_SIZE,
		.userspace_addr = a->hva + ofs,
	};
}

/*
 * The KVM operation an exit left half done; KVM_RUN finishes it. The
 * frontend's names for those the assists serve (struct fe_access).
 */
enum kvmx86_pending {
	KVMX86_PENDING_NONE = FE_ACCESS_NONE,
	KVMX86_PENDING_IO = FE_ACCESS_IO,
	KVMX86_PENDING_MMIO = FE_ACCESS_MEM,
	KVMX86_PENDING_MSR,
};

/*
 * insn.c: a word of guest memory an answer depends on, as it was read:
 * the aligned 8 bytes around a table entry or code bytes.
 */
struct kvmx86_watch {
	const void *word;		/* host address, 8-byte aligned */
	uint64_t val;
};

/* insn.c: a code page translated, and the table entries the walk read. */
#define KVMX86_CODE_PATH_MAX	5
struct kvmx86_code_page {
	bool valid;
	uint64_t gen;			/* kvmx86_machine.maps_gen */
	struct x86_paging pg;		/* compared bytewise: memset first */
	uint64_t page;			/* guest-linear */
	uintptr_t hva;
	unsigned int n;
	struct kvmx86_watch entry[KVMX86_CODE_PATH_MAX];
	bool full;			/* the walk read more than that */
};

/*
 * insn.c: all a fetch reads of the exit's state, as words compared at once
 * (a hit is one branch on their XOR): RIP, CS, CR0, for IO exits the
 * access KVM reports and DX, and with paging on (CR0.PG) the registers
 * of the walk. Without paging the fetch reads none of those (0 here).
 */
struct kvmx86_insn_key {
	uint64_t rip;
	uint64_t cs_base;
	uint64_t cs_mode;		/* CS from DPL on (D/B, L: insn.c) */
	uint64_t cr0;
	uint64_t io;			/* IO exits: insn.h's insn_key_io() */
	uint64_t cr3, cr4, efer;	/* CR0.PG only */
};

/*
 * insn.c: the last fetch's key and what else it depended on: the walks
 * of the code pages (two where the bytes straddle a page boundary) and
 * the code bytes examined (at most 30: five more words), as host words
 * of slots still there (the peek word). The answer itself is the exit's
 * record that only these exits write: cpu->exit_io (IO), cpu->exit_npc
 * (MSR), and start here. Empty: key.cr0 INSN_MEMO_EMPTY (insn.h).
 */
#define KVMX86_MEMO_WATCH	(2 * KVMX86_CODE_PATH_MAX + 5)
struct kvmx86_insn_memo {
	struct kvmx86_insn_key key;
	uint64_t io_mask;		/* the bits of key.io the fetch read */
	unsigned int n;			/* insn.c's insn_memo_watch_layout() */
	struct kvmx86_watch watch[KVMX86_MEMO_WATCH];
	uint64_t start;			/* the instruction's RIP */
};

struct kvmx86_vcpu {
	int fd;
	struct kvm_run *run;
	struct fe_machine *mach;
	struct fe_vcpu *vcpu;		/* the frontend's, once it ran */
	nvmm_cpuid_t cpuid;

	/*
	 * What sends a run down its slow path (run.c, "The run"): one byte
	 * each, so that the fast path tests them all with one load.
	 */
	union {
		struct {
			/* An exit KVM produced while finishing the previous one. */
			bool stashed;
			/* The pending operation: kvm_run encodes how it ends. */
			bool settled;
			/* NVMM window exiting requests (intr state). */
			bool int_window;
			bool nmi_window;
			/* kvm_run's request_interrupt_window may be set. */
			bool window_asked;
			/* An injected NMI KVM may still hold (state.c, events.c). */
			bool nmi_unsettled;
		};
		uint64_t unusual;
	};

	/*
	 * What the last exit left pending, and whether an assist served it:
	 * the first words of the record the assists read in place
	 * (v->access), which IO and MMIO exits fill (kvmx86_access_io/mem).
	 */
	union {
		struct fe_access access;
		struct {
			uint8_t pending;	/* enum kvmx86_pending */
			bool served;		/* an assist served it */
		};
	};
	/* NVMM's RIP at that exit. */
	uint64_t exit_rip;
	/* The records of the last MSR and IO exit, also memo_*'s answers. */
	uint64_t exit_npc;		/* MSR exits: RIP after the insn */
	struct nvmm_x86_exit_io exit_io;	/* IO exits: the record */
	struct nvmm_vcpu_exit stash;	/* the stashed exit */
	/*
	 * msr.c: the last filtered MSR read [0] and written [1] that was
	 * the emulator's, plus one (0: none).
	 */
	uint64_t msr_theirs[2];
	/* MSRS: the TSC getstate returned, which setstate does not rewrite. */
	uint64_t tsc_seen;
	/* pio.c's answer per direction [in], once asked (run.c). */
	bool pio_asked;
	bool pio_ends[2];

	/* CPUID configuration, installed before the first run. */
	struct nvmm_vcpu_conf_cpuid cpuid_conf[KVMX86_CPUID_MAXOPS];
	unsigned int ncpuid_conf;
	bool cpuid_dirty;
	unsigned int cpuid_nvcpus;	/* of the table installed */
	bool misc_set;			/* MISC_ENABLE as NVMM shows it */
	bool has_run;
	/*
	 * The table the KVM vCPU took when it ran for an earlier vCPU of
	 * this id (kvm.c, "Parked vCPUs"); NULL: it never ran.
	 */
	struct kvmx86_cpuid_key *cpuid_kvm;

	/*
	 * state.c: which classes of the kvm_run sync area hold KVM's state
	 * now. GPRs come back with every exit; segments/CRs and events only
	 * while recently used (KVM storing them costs ~2% and ~1% of an exit
	 * here), else they are fetched when first needed.
	 */
	uint64_t sync_fresh;		/* KVM_SYNC_X86_* */
	uint8_t sync_used;		/* classes used since the last review */
	uint8_t sync_ttl;		/* runs until the next review */

	/* insn.c: the last two code pages (an instruction may straddle). */
	struct kvmx86_code_page code[2];
	unsigned int code_next;		/* the one to replace */
	/* insn.c: the last fetch at an IO exit and at an MSR exit. */
	atomic_uint *peek;		/* ours in kvmx86_machine's */
	struct kvmx86_insn_memo memo_io;
	struct kvmx86_insn_memo memo_insn;

	/*
	 * Kicks: who runs the vCPU, and where it is (run.c, "Kicks":
	 * RUN_OUT, RUN_IN, RUN_KICKED, RUN_KICKED_OUT).
	 */
	atomic_int running;
	atomic_int tid;
	uint64_t adopted;	/* run.c's serial of that thread; 0: none */
	uint64_t runner;	/* the same, once it ran the vCPU: fast path */
};

_Static_assert(offsetof(struct kvmx86_vcpu, nmi_unsettled) -
    offsetof(struct kvmx86_vcpu, stashed) < sizeof(uint64_t),
    "the slow-path causes all lie in 'unusual'");

/* Whether the emulator asked for a window: rare, so checked inline. */
static inline bool
kvmx86_window_wanted(const struct kvmx86_vcpu *cpu)
{
	return cpu->int_window || cpu->nmi_window;
}

/* The code runs in 64-bit mode: EFER.LMA and CS.L. */
static inline bool
kvmx86_code64(const struct kvm_sregs *sr)
{
	return (sr->efer & (1ULL << 10)) && sr->cs.l;
}

static inline struct kvmx86_vcpu *
kvmx86_cpu(struct fe_vcpu *v)
{
	return v->cpudata;
}

/* state.c: NVMM <-> KVM, per state class. */
extern const struct nvmm_x64_state kvmx86_reset_state;
int kvmx86_state_get_classes(struct kvmx86_vcpu *, uint64_t flags,
    struct nvmm_x64_state *);
int kvmx86_state_set_classes(struct kvmx86_vcpu *, uint64_t flags,
    const struct nvmm_x64_state *);
int kvmx86_sync_fetch(struct kvmx86_vcpu *, uint64_t missing);

/*
 * The GPRs, here and inline: every exit with a getstate or setstate of
 * GPRS converts them. NVMM's order is RAX RCX RDX RBX RSP RBP RSI RDI
 * R8-R15 RIP RFLAGS, KVM's RAX RBX RCX RDX RSI RDI RSP RBP R8-R15 RIP
 * RFLAGS: they move as the blocks both share, the pairs RCX-RDX, RSP-RBP
 * and RSI-RDI and R8 to RFLAGS (80 bytes), and RAX and RBX alone.
 */
static inline void
kvmx86_gprs_from_kvm(const struct kvm_regs *r, uint64_t *g)
{
	g[NVMM_X64_GPR_RAX] = r->rax;
	g[NVMM_X64_GPR_RBX] = r->rbx;
	memcpy(&g[NVMM_X64_GPR_RCX], &r->rcx, 2 * sizeof(uint64_t));
	memcpy(&g[NVMM_X64_GPR_RSP], &r->rsp, 2 * sizeof(uint64_t));
	memcpy(&g[NVMM_X64_GPR_RSI], &r->rsi, 2 * sizeof(uint64_t));
	memcpy(&g[NVMM_X64_GPR_R8], &r->r8, 10 * sizeof(uint64_t));
}

static inline void
kvmx86_gprs_to_kvm(const uint64_t *g, struct kvm_regs *r)
{
	r->rax = g[NVMM_X64_GPR_RAX];
	r->rbx = g[NVMM_X64_GPR_RBX];
	memcpy(&r->rcx, &g[NVMM_X64_GPR_RCX], 2 * sizeof(uint64_t));
	memcpy(&r->rsp, &g[NVMM_X64_GPR_RSP], 2 * sizeof(uint64_t));
	memcpy(&r->rsi, &g[NVMM_X64_GPR_RSI], 2 * sizeof(uint64_t));
	memcpy(&r->r8, &g[NVMM_X64_GPR_R8], 10 * sizeof(uint64_t));
}

/* 16 bytes of g XORed with 16 of r: the pairs both layouts share. */
static inline __m128i
kvmx86_pair_xor(const uint64_t *g, const __u64 *r)
{
	return _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)g),
	    _mm_loadu_si128((const __m128i *)(const void *)r));
}

/*
 * Whether NVMM's g and KVM's r differ in RBX, RCX or RSP to R15 (0: they
 * agree): the GPRs an MSR completion leaves alone. Branch-free, the blocks
 * both layouts share XORed and ORed 16 bytes at a time (SSE2, which every
 * x86-64 has): 34 instructions per RDMSR exit, where compares one by one
 * and memcmp() took 49.
 */
static inline uint64_t
kvmx86_gprs_differ(const uint64_t *g, const struct kvm_regs *r)
{
	__m128i d;

	d = _mm_or_si128(kvmx86_pair_xor(&g[NVMM_X64_GPR_RSP], &r->rsp),
	    kvmx86_pair_xor(&g[NVMM_X64_GPR_RSI], &r->rsi));
	d = _mm_or_si128(d, kvmx86_pair_xor(&g[NVMM_X64_GPR_R8], &r->r8));
	d = _mm_or_si128(d, kvmx86_pair_xor(&g[NVMM_X64_GPR_R10], &r->r10));
	d = _mm_or_si128(d, kvmx86_pair_xor(&g[NVMM_X64_GPR_R12], &r->r12));
	d = _mm_or_si128(d, kvmx86_pair_xor(&g[NVMM_X64_GPR_R14], &r->r14));
	d = _mm_or_si128(d, _mm_unpackhi_epi64(d, d));
	return (uint64_t)_mm_cvtsi128_si64(d) |
	    (g[NVMM_X64_GPR_RBX] ^ r->rbx) | (g[NVMM_X64_GPR_RCX] ^ r->rcx);
}

_Static_assert(NVMM_X64_GPR_RDX == NVMM_X64_GPR_RCX + 1 &&
    NVMM_X64_GPR_RBP == NVMM_X64_GPR_RSP + 1 &&
    NVMM_X64_GPR_RDI == NVMM_X64_GPR_RSI + 1 &&
    NVMM_X64_GPR_R15 == NVMM_X64_GPR_R8 + 7 &&
    NVMM_X64_GPR_RIP == NVMM_X64_GPR_R8 + 8 &&
    NVMM_X64_GPR_RFLAGS == NVMM_X64_GPR_R8 + 9 &&
    NVMM_X64_NGPR == NVMM_X64_GPR_R8 + 10, "NVMM's GPR order");
_Static_assert(offsetof(struct kvm_regs, rdx) ==
    offsetof(struct kvm_regs, rcx) + 8 &&
    offsetof(struct kvm_regs, rbp) == offsetof(struct kvm_regs, rsp) + 8 &&
    offsetof(struct kvm_regs, rdi) == offsetof(struct kvm_regs, rsi) + 8 &&
    offsetof(struct kvm_regs, rip) == offsetof(struct kvm_regs, r8) + 8 * 8 &&
    offsetof(struct kvm_regs, rflags) ==
    offsetof(struct kvm_regs, r8) + 9 * 8, "KVM's GPR order");

/*
 * GPRS alone is what most getstates and setstates after an exit ask for
 * (an emulator reading and answering an instruction). For the GPRs no
 * sync class is fetched (KVM stores them at every exit) and nothing is
 * sanitised, so then both are the conversion alone, inline; any other
 * classes go through state.c's per-class code, which converts GPRS the
 * same way.
 */
static inline int
kvmx86_state_get(struct kvmx86_vcpu *cpu, uint64_t flags,
    struct nvmm_x64_state *state)
{
	if (flags != NVMM_X64_STATE_GPRS)
		return kvmx86_state_get_classes(cpu, flags, state);
	kvmx86_gprs_from_kvm(&cpu->run->s.regs.regs, state->gprs);
	return 0;
}

static inline int
kvmx86_state_set(struct kvmx86_vcpu *cpu, uint64_t flags,
    const struct nvmm_x64_state *state)
{
	if (flags != NVMM_X64_STATE_GPRS)
		return kvmx86_state_set_classes(cpu, flags, state);
	kvmx86_gprs_to_kvm(state->gprs, &cpu->run->s.regs.regs);
	cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	return 0;
}

/*
 * At an IO or MMIO exit (exit.c): the access as the assists' callbacks get
 * it, but mach and vcpu; the data buffer is KVM's, in kvm_run.
 */
static inline void
kvmx86_access_io(struct kvmx86_vcpu *cpu)
{
	struct kvm_run *run = cpu->run;
	struct fe_io_access *acc = &cpu->access.io;

	acc->io.port = run->io.port;
	acc->io.in = (run->io.direction == KVM_EXIT_IO_IN);
	acc->io.size = run->io.size;
	acc->io.data = (uint8_t *)run + run->io.data_offset;
	acc->count = run->io.count;
}

static inline void
kvmx86_access_mem(struct kvmx86_vcpu *cpu)
{
	struct kvm_run *run = cpu->run;
	struct nvmm_mem *mem = &cpu->access.mem;

	mem->gpa = run->mmio.phys_addr;
	mem->write = run->mmio.is_write;
	mem->size = run->mmio.len;
	mem->data = run->mmio.data;
}

/*
 * Fresh events from KVM: is an NMI of ours still in flight? Inline and
 * asked only while one may be: this runs at every exit that stores events.
 */
static inline void
kvmx86_sync_nmi_settled(struct kvmx86_vcpu *cpu)
{
	const struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;

	if (cpu->nmi_unsettled && !ev->nmi.pending && !ev->nmi.injected)
		cpu->nmi_unsettled = false;
}

/* ---- The sync area (state.c fetches, these run at every exit) ------------- */

/*
 * KVM stores the classes named in kvm_valid_regs at every exit. GPRs are
 * wanted at every exit (RIP, RFLAGS); segments/CRs (instruction fetch for
 * I/O and MSR exits, getstate) and events (exit state with IF = 0 or an
 * NMI in flight, windows, injection) only at some. A class is asked for
 * while it is used, else fetched by ioctl on first use: loops of one kind
 * of exit never pay the ioctl, and loops that do not use a class stop
 * paying for KVM to store it.
 *
 * KVM only reads kvm_valid_regs, so it holds the request from one exit to
 * the next: REGS and the classes asked for. A use marks its class used
 * (and asks for it, if it was not); every KVMX86_SYNC_KEEP runs, a review
 * keeps asking for the classes used since the last one and drops the
 * others (kvmx86_sync_review()). A run counts down one byte and writes
 * nothing else (a test of the request first cost as much).
 */
#define KVMX86_SYNC_KEEP	8
#define KVMX86_SYNC_OPTIONAL	(KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS)

/* Make the sync area hold KVM's current state of these classes. */
static inline int
kvmx86_sync_need(struct kvmx86_vcpu *cpu, uint64_t classes)
{
	uint64_t missing = classes & ~cpu->sync_fresh;

	cpu->sync_used |= classes & KVMX86_SYNC_OPTIONAL;
	if (missing == 0)
		return 0;
	/* Not fresh, so not asked for: from the next exit on. */
	cpu->run->kvm_valid_regs |= classes;
	return kvmx86_sync_fetch(cpu, missing);
}

/*
 * Before a slow path's KVM_RUN: REGS always (a new kvm_run holds 0), and
 * the first review's countdown (a new vCPU's is 0).
 */
static inline void
kvmx86_sync_request(struct kvmx86_vcpu *cpu)
{
	cpu->run->kvm_valid_regs |= KVM_SYNC_X86_REGS;
	if (cpu->sync_ttl == 0)
		cpu->sync_ttl = KVMX86_SYNC_KEEP;
}

/* Keep asking for the classes used since the last review, only those. */
static inline void
kvmx86_sync_review(struct kvmx86_vcpu *cpu)
{
	cpu->run->kvm_valid_regs = KVM_SYNC_X86_REGS | cpu->sync_used;
	cpu->sync_used = 0;
	cpu->sync_ttl = KVMX86_SYNC_KEEP;
}

/* After a KVM_RUN: count down to a review. */
static inline void
kvmx86_sync_age(struct kvmx86_vcpu *cpu)
{
	if (--cpu->sync_ttl == 0)
		kvmx86_sync_review(cpu);
}

/*
 * After a KVM_RUN: stored tells whether KVM went through it (and so
 * stored what was asked); a refused run leaves what we wrote, not KVM's.
 */
static inline void
kvmx86_sync_stored(struct kvmx86_vcpu *cpu, bool stored)
{
	uint64_t valid = cpu->run->kvm_valid_regs;

	cpu->sync_fresh = stored ? valid : KVM_SYNC_X86_REGS;
	if ((cpu->sync_fresh & KVM_SYNC_X86_EVENTS) && cpu->nmi_unsettled)
		kvmx86_sync_nmi_settled(cpu);
	kvmx86_sync_age(cpu);
}

/* ---- The exit state (at every exit, so inline) ------------------------------ */

#define KVMX86_RFLAGS_IF	(1ULL << 9)

/* An exception, interrupt or NMI KVM still has to deliver. */
static inline bool
kvmx86_event_pending(const struct kvm_vcpu_events *ev)
{
	return ev->exception.injected || ev->exception.pending ||
	    ev->interrupt.injected || ev->nmi.injected || ev->nmi.pending;
}

/*
 * The same and the interrupt shadow, as the exit state reads them at every
 * exit that needs KVM's word: the bytes tested as two words, masked.
 */
_Static_assert(offsetof(struct kvm_vcpu_events, exception.pending) == 3 &&
    offsetof(struct kvm_vcpu_events, interrupt.injected) == 8 &&
    offsetof(struct kvm_vcpu_events, interrupt.shadow) == 11 &&
    offsetof(struct kvm_vcpu_events, nmi.injected) == 12 &&
    offsetof(struct kvm_vcpu_events, nmi.pending) == 13,
    "kvm_vcpu_events: the event bytes in two words");
#define KVMX86_EV_EXCP	0xFF0000FFULL		/* injected, pending */
#define KVMX86_EV_INTR	0x0000FFFF000000FFULL	/* injected; NMI's two */
#define KVMX86_EV_SHADOW	0xFF000000ULL

static inline void
kvmx86_event_words(const struct kvm_vcpu_events *ev, bool *shadow,
    bool *pending)
{
	uint64_t excp, intr;

	memcpy(&excp, &ev->exception, sizeof(excp));
	memcpy(&intr, &ev->interrupt, sizeof(intr));
	*shadow = (intr & KVMX86_EV_SHADOW) != 0;
	*pending = ((excp & KVMX86_EV_EXCP) | (intr & KVMX86_EV_INTR)) != 0;
}

/*
 * Whether the exit alone tells that no interrupt shadow and no event is
 * in flight, so that KVM's event state need not be fetched, for an exit
 * other than HLT and no NMI of ours in flight (NMIs come only from us):
 * KVM sets ready_for_interrupt_injection (no in-kernel irqchip) only with
 * IF = 1, no shadow, and no exception or interrupt in flight.
 */
static inline bool
kvmx86_exit_ready(const struct kvm_run *run)
{
	return (run->s.regs.regs.rflags & KVMX86_RFLAGS_IF) &&
	    run->ready_for_interrupt_injection;
}

/*
 * The same for any exit: KVM also reports HLT only once it stepped over
 * it, which ends any shadow, and an instruction runs only once pending
 * events are delivered.
 */
static inline bool
kvmx86_exit_all_clear(const struct kvmx86_vcpu *cpu,
    const struct nvmm_vcpu_exit *exit)
{
	if (cpu->nmi_unsettled)
		return false;
	return kvmx86_exit_ready(cpu->run) ||
	    (exit->reason == NVMM_VCPU_EXIT_HALTED &&
	    cpu->run->exit_reason == KVM_EXIT_HLT);
}

/*
 * NVMM's exit state from the run page: KVM's events read only where they
 * are known (fresh, or fetched: kvmx86_sync_need()); where KVM would not
 * say, the state reports no shadow and nothing pending. Built whole, then
 * stored: bit-fields in memory cost a load each.
 */
static inline void
kvmx86_exitstate_build(const struct kvm_run *run,
    struct nvmm_vcpu_exit *exit, bool known, bool int_window,
    bool nmi_window)
{
	bool shadow, pending;

	if (!known) {
		/* Apart: without KVM's word it is three plain stores. */
		exit->exitstate = (struct nvmm_x86_exit_state){
			.rflags = run->s.regs.regs.rflags,
			.cr8 = run->cr8,
			.int_window_exiting = int_window,
			.nmi_window_exiting = nmi_window,
		};
		return;
	}
	kvmx86_event_words(&run->s.regs.events, &shadow, &pending);
	exit->exitstate = (struct nvmm_x86_exit_state){
		.rflags = run->s.regs.regs.rflags,
		.cr8 = run->cr8,
		.int_shadow = shadow,
		.int_window_exiting = int_window,
		.nmi_window_exiting = nmi_window,
		.evt_pending = pending,
	};
}

/*
 * NVMM's exit state, clear as kvmx86_exit_all_clear() says, and the window
 * requests as they stand after the exit. Only exits that need KVM's word
 * keep it coming; when it came anyway, it is read all the same.
 */
static inline void
kvmx86_exitstate_as(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit,
    bool clear, bool int_window, bool nmi_window)
{
	bool known;

	if (clear)
		known = (cpu->sync_fresh & KVM_SYNC_X86_EVENTS) != 0;
	else
		known = kvmx86_sync_need(cpu, KVM_SYNC_X86_EVENTS) == 0;
	kvmx86_exitstate_build(cpu->run, exit, known, int_window, nmi_window);
}

/*
 * The same where KVM's events are fresh or not needed (ready: the exit
 * alone tells, kvmx86_exit_ready()) and no window is requested: no fetch,
 * so nothing called (the run's fast path: run.c, which has run, ready and
 * fresh at hand).
 */
static inline void
kvmx86_exitstate_fresh(struct kvmx86_vcpu *cpu, const struct kvm_run *run,
    struct nvmm_vcpu_exit *exit, bool ready, uint64_t fresh)
{
	if (!ready)
		cpu->sync_used |= KVM_SYNC_X86_EVENTS;	/* kvmx86_sync_need() */
	kvmx86_exitstate_build(run, exit, (fresh & KVM_SYNC_X86_EVENTS) != 0,
	    false, false);
}

/* NVMM's exit state, after every run (events.c: the windows). */
static inline void
kvmx86_exitstate(struct kvmx86_vcpu *cpu, struct nvmm_vcpu_exit *exit)
{
	kvmx86_exitstate_as(cpu, exit, kvmx86_exit_all_clear(cpu, exit),
	    cpu->int_window, cpu->nmi_window);
}

/*
 * exit.c's HLT for the run's fast path, inline there: the exit with the
 * most to skip (no payload; KVM reports HLT once past it, so no shadow
 * and nothing in flight to ask KVM about: ready). As kvmx86_exit_usual().
 */
static inline void
kvmx86_exit_halted_usual(struct kvmx86_vcpu *cpu, const struct kvm_run *run,
    struct nvmm_vcpu_exit *exit, uint64_t fresh)
{
	kvmx86_exitstate_fresh(cpu, run, exit, true, fresh);
	exit->reason = NVMM_VCPU_EXIT_HALTED;
	memset(&exit->u, 0, sizeof(exit->u));
}

/* cpuid.c */
int kvmx86_cpuid_probe(void);
int kvmx86_cpuid_vm_setup(int vm_fd);
int kvmx86_cpuid_install(struct kvmx86_vcpu *, unsigned int nvcpus);
struct kvmx86_cpuid_key *kvmx86_cpuid_kept(struct kvmx86_vcpu *);
int kvmx86_cpuid_configure(struct kvmx86_vcpu *,
    const struct nvmm_vcpu_conf_cpuid *);
int kvmx86_cpuid_leaf(struct fe_vcpu *, uint32_t leaf, uint32_t index,
    uint32_t regs[4]);

/* msr.c */
int kvmx86_msr_setup(int vm_fd);

/* dirty.c: the dirty-page tracking extension over KVM's dirty log. */
void kvmx86_dirty_probe(void);
int kvmx86_dirty_vm_setup(int vm_fd);
int kvmx86_dirty_log(struct fe_machine *, const struct fe_area *);
int kvmx86_dirty_fetch(struct fe_machine *, const struct fe_area *,
    uint64_t *bits);
int kvmx86_dirty_clear(struct fe_machine *, const struct fe_area *,
    const uint64_t *bits);
int kvmx86_msr_vcpu_setup(struct kvmx86_vcpu *);
int kvmx86_msr_tsc_reset(struct kvmx86_vcpu *);
bool kvmx86_msr_decide(struct kvmx86_vcpu *, bool write);

/*
 * After an MSR exit: whether it is known to be the emulator's, not one
 * the backend answers as NVMM's kernel would (msr.c). A driver loop exits
 * on one MSR again and again, and the tables are const: the last
 * filtered MSR found to be the emulator's is known with one compare;
 * others go through the tables (kvmx86_msr_decide(), which answers).
 */
static inline bool
kvmx86_msr_theirs(const struct kvmx86_vcpu *cpu, bool write)
{
	const struct kvm_run *run = cpu->run;

	return run->msr.reason == KVM_MSR_EXIT_REASON_FILTER &&
	    cpu->msr_theirs[write] == (uint64_t)run->msr.index + 1;
}

/* events.c */
int kvmx86_inject(struct kvmx86_vcpu *, const struct nvmm_vcpu_event *);
bool kvmx86_window_ready(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);
void kvmx86_window_arm(struct kvmx86_vcpu *);
void kvmx86_window_exit(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);
void kvmx86_window_halted(struct kvmx86_vcpu *);
bool kvmx86_insn_failed(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);

/* insn.c (the exits' fetches: insn.h) */
/* Copy guest-linear memory (current paging); returns the bytes copied. */
size_t kvmx86_read_linear(struct kvmx86_vcpu *, uint64_t lin, void *buf,
    size_t len);

/* pio.c: whether RIP = npc in the sync area finishes an IN (OUT) for KVM. */
bool kvmx86_pio_rip_ends(bool in);

/*
 * exit.c: the exit of a KVM_RUN that returned run_error (0 or an errno);
 * kvmx86_exit() adds the exit state.
 */
void kvmx86_exit_translate(struct kvmx86_vcpu *, int run_error,
    struct nvmm_vcpu_exit *);
void kvmx86_exit(struct kvmx86_vcpu *, int run_error,
    struct nvmm_vcpu_exit *);
/*
 * The same for the run's fast path (run.c): KVM_RUN returned 0, no window
 * asked for, no NMI of ours in flight. Returns the run's result, 0.
 */
int kvmx86_exit_usual(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);
/*
 * The I/O and MMIO exits alone, after the fast path filled the exit state
 * (these change nothing it reads). Return 0.
 */
int kvmx86_exit_io(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);
int kvmx86_exit_mmio(struct kvmx86_vcpu *, struct nvmm_vcpu_exit *);

/* run.c */
int kvmx86_complete(struct kvmx86_vcpu *);
void kvmx86_kick(struct fe_vcpu *);
int kvmx86_vcpu_prepare(struct fe_machine *, struct kvmx86_vcpu *);
int kvmx86_vcpu_run(struct fe_machine *, struct fe_vcpu *,
    struct nvmm_vcpu_exit *);
int kvmx86_access_done(struct fe_vcpu *);
int kvmx86_getstate(struct fe_vcpu *);
int kvmx86_kick_setup(void);

#endif /* NVMM_KVMX86_H */
