/*
 * The decode memos' hit test (insn.c has the rest): inline in the IO and
 * MSR exits of exit.c, because a driver loop takes it at every exit and
 * a call with its frame costs as much as a quarter of it. What a memo
 * depends on, and so what is compared here, is told in insn.c ("Memos").
 */
#ifndef NVMM_KVMX86_INSN_H
#define NVMM_KVMX86_INSN_H

#include <stddef.h>
#include <string.h>

#include "kvmx86.h"

/*
 * CS's mode as the eight bytes of its kvm_segment from DPL on: one load.
 * D/B and L are what a fetch reads; the others (DPL, S, G, AVL, unusable)
 * rarely change, and a change is only a miss.
 */
_Static_assert(offsetof(struct kvm_segment, dpl) == 16 &&
    offsetof(struct kvm_segment, db) == 17 &&
    offsetof(struct kvm_segment, l) == 19 &&
    sizeof(struct kvm_segment) == 24, "kvm_segment: DPL to the end is 8 bytes");
#define KEY_CS_DB	(0xFFULL << 8)
#define KEY_CS_L	(0xFFULL << 24)
#define KEY_CR0_PG	(1ULL << 31)

/*
 * The IO word of a key: KVM's direction, size and port as one 32-bit
 * load, and DX above them (a DX form matches only where DX is the port:
 * a memo compares these bits only if its fetch asked, insn.c).
 */
_Static_assert(offsetof(struct kvm_run, io.size) ==
    offsetof(struct kvm_run, io.direction) + 1 &&
    offsetof(struct kvm_run, io.port) ==
    offsetof(struct kvm_run, io.direction) + 2,
    "kvm_run.io: direction, size, port in 4 bytes");
#define KEY_IO_ACCESS	0xFFFFFFFFULL
#define KEY_IO_DX	(0xFFFFULL << 32)

static inline uint64_t
insn_key_io(const struct kvm_run *run)
{
	uint32_t access;

	memcpy(&access, &run->io.direction, sizeof(access));
	return access | run->s.regs.regs.rdx << 32;	/* DX: KEY_IO_DX */
}

/* All a fetch reads of the exit besides guest memory. */
static inline void
insn_key(const struct kvm_run *run, bool io, struct kvmx86_insn_key *k)
{
	const struct kvm_sregs *sr = &run->s.regs.sregs;

	memset(k, 0, sizeof(*k));
	k->rip = run->s.regs.regs.rip;
	k->cs_base = sr->cs.base;
	memcpy(&k->cs_mode, &sr->cs.dpl, sizeof(k->cs_mode));
	k->cr0 = sr->cr0;
	if (io)
		k->io = insn_key_io(run);
	if (k->cr0 & KEY_CR0_PG) {
		k->cr3 = sr->cr3;
		k->cr4 = sr->cr4;
		k->efer = sr->efer;
	}
}

/* One watched word as it is now, XORed with its value when kept. */
static inline uint64_t
insn_watch_diff(const struct kvmx86_watch *w)
{
	uint64_t now;

	memcpy(&now, w->word, sizeof(now));
	return now ^ w->val;
}

/*
 * A memo's watched words: at least what a decode usually watches, two
 * code words, with paging also three table entries (a short list is
 * padded with words that watch themselves, insn.c), read without a loop.
 */
#define INSN_WATCH_FIXED(paging)	((paging) ? 5u : 2u)

static inline bool
insn_memo_watch_same(const struct kvmx86_insn_memo *m, bool paging)
{
	const struct kvmx86_watch *w = m->watch;
	uint64_t diff = insn_watch_diff(&w[0]) | insn_watch_diff(&w[1]);

	if (paging)
		diff |= insn_watch_diff(&w[2]) | insn_watch_diff(&w[3]) |
		    insn_watch_diff(&w[4]);
	/* More: from the fifth on, with paging or not (insn.c). */
	for (unsigned int i = INSN_WATCH_FIXED(true); i < m->n; i++)
		diff |= insn_watch_diff(&w[i]);
	return diff == 0;
}

/* A memo that holds nothing: no CR0 has bits 63:32 set (KVM refuses them). */
#define INSN_MEMO_EMPTY	(~0ULL)

/* A slot went away since the memos were made: they hold nothing now. */
static inline void
insn_memos_forget(struct kvmx86_vcpu *cpu)
{
	cpu->memo_io.key.cr0 = INSN_MEMO_EMPTY;
	cpu->memo_insn.key.cr0 = INSN_MEMO_EMPTY;
}

/*
 * Whether the memo of this kind of exit holds: the fast path of every IO
 * and MSR exit, inlined in each caller. The watched words are host memory
 * a slot change may take away, so the check sets the vCPU's peek word ON
 * first; what it held says whether a slot went away since the last
 * check (STALE: kvm.c, kvmx86_peeks_stale(), which waits while a check
 * is ON). Then the exit's words, as the key's (a memo made with paging
 * off compares no paging register: its fetch read none), and only if all
 * match, the watched words. No lock and no call, so the exits that
 * inline it need no stack frame. A miss goes on in a slow path of its
 * own (kvmx86_io_exit_slow(), kvmx86_msr_npc_slow()), which fetches under
 * the maps lock.
 */
static inline __attribute__((always_inline)) bool
insn_memo_holds(struct kvmx86_vcpu *cpu, const struct kvmx86_insn_memo *m,
    bool io)
{
	const struct kvm_run *run = cpu->run;
	const struct kvm_sregs *sr = &run->s.regs.sregs;
	atomic_uint *peek = cpu->peek;
	uint64_t cs_mode, diff;
	unsigned int was;
	bool paging, hit;

	/* Stale segments and CRs: the slow path fetches them. */
	if (!(cpu->sync_fresh & KVM_SYNC_X86_SREGS))
		return false;
	cpu->sync_used |= KVM_SYNC_X86_SREGS;	/* as kvmx86_sync_need() */
	was = atomic_exchange(peek, KVMX86_PEEK_ON);
	paging = (m->key.cr0 & KEY_CR0_PG) != 0;
	memcpy(&cs_mode, &sr->cs.dpl, sizeof(cs_mode));
	diff = (run->s.regs.regs.rip ^ m->key.rip) |
	    (sr->cs.base ^ m->key.cs_base) | (cs_mode ^ m->key.cs_mode) |
	    (sr->cr0 ^ m->key.cr0) | was;
	if (io)
		diff |= (insn_key_io(run) ^ m->key.io) & m->io_mask;
	if (paging)
		diff |= (sr->cr3 ^ m->key.cr3) | (sr->cr4 ^ m->key.cr4) |
		    (sr->efer ^ m->key.efer);
	if (diff != 0) {
		atomic_store_explicit(peek, KVMX86_PEEK_IDLE,
		    memory_order_release);
		if (was != KVMX86_PEEK_IDLE)
			insn_memos_forget(cpu);
		return false;
	}
	hit = insn_memo_watch_same(m, paging);
	atomic_store_explicit(peek, KVMX86_PEEK_IDLE, memory_order_release);
	return hit;
}

/*
 * The slow paths (insn.c): fetch again and keep the answer in the exit's
 * record (cpu->exit_io and memo_io.start, cpu->exit_npc), or put there
 * what KVM told us.
 */
void kvmx86_io_exit_slow(struct kvmx86_vcpu *);
void kvmx86_msr_npc_slow(struct kvmx86_vcpu *);

#endif /* NVMM_KVMX86_INSN_H */
