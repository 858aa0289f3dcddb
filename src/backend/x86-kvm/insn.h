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

static inline uint64_t
insn_maps_gen(const struct kvmx86_vcpu *cpu)
{
	const struct kvmx86_machine *mach = cpu->mach->machdata;

	return mach->maps_gen;
}

/*
 * A cached answer records the guest memory it was derived from as the
 * aligned host words that hold it, each as it was when the answer was
 * made (the bytes the answer used, the others as read beside them): a
 * check re-reads each word and compares it whole, one XOR per word. A
 * change to a byte beside the ones used is only a miss. An aligned word
 * never crosses a page, and guest areas are whole pages, so a check reads
 * nothing unmapped while the maps lock keeps the areas in place.
 */
static inline bool
insn_watch_same(const struct kvmx86_watch *w, unsigned int n)
{
	uint64_t diff = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t now;

		memcpy(&now, w[i].word, sizeof(now));
		diff |= now ^ w[i].val;
	}
	return diff == 0;
}

/*
 * All a fetch reads of the exit besides guest memory, as words. The IO
 * word packs KVM's access (direction, size, port) and whether DX holds
 * the port (bit 32): a DX form matches only then.
 */
#define KEY_IO_DX	(1ULL << 32)

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

static inline void
insn_key(const struct kvm_run *run, bool io, struct kvmx86_insn_key *k)
{
	const struct kvm_sregs *sr = &run->s.regs.sregs;

	k->rip = run->s.regs.regs.rip;
	k->cs_base = sr->cs.base;
	memcpy(&k->cs_mode, &sr->cs.dpl, sizeof(k->cs_mode));
	k->cr0 = sr->cr0;
	k->cr3 = sr->cr3;
	k->cr4 = sr->cr4;
	k->efer = sr->efer;
	k->io = 0;
	if (io)
		k->io = run->io.direction | (uint64_t)run->io.size << 8 |
		    (uint64_t)run->io.port << 16 |
		    ((uint16_t)run->s.regs.regs.rdx == run->io.port ?
		    KEY_IO_DX : 0);
}

/* The bits in which two keys differ (IO exits: the IO word too). */
static inline uint64_t
insn_key_diff(const struct kvmx86_insn_key *a, const struct kvmx86_insn_key *b,
    bool io)
{
	return (a->rip ^ b->rip) | (a->cs_base ^ b->cs_base) |
	    (a->cs_mode ^ b->cs_mode) | (a->cr0 ^ b->cr0) |
	    (a->cr3 ^ b->cr3) | (a->cr4 ^ b->cr4) | (a->efer ^ b->efer) |
	    (io ? a->io ^ b->io : 0);
}

/* The key, the slots, then the watched words, as when the memo was kept. */
static inline bool
insn_memo_hit(const struct kvmx86_vcpu *cpu, const struct kvmx86_insn_memo *m,
    bool io)
{
	struct kvmx86_insn_key k;

	insn_key(cpu->run, io, &k);
	/* Words are watched only while their slots are (gen). */
	return (insn_key_diff(&m->key, &k, io) |
	    (m->gen ^ (insn_maps_gen(cpu) + 1))) == 0 &&
	    insn_watch_same(m->watch, m->n);
}

/*
 * Whether the memo of this kind of exit holds: the fast path of every IO
 * and MSR exit. It calls nothing while the lock is free (the maps lock
 * keeps the watched words mapped while they are read; the answer is the
 * vCPU's own) and is inlined in each caller, so the key stays in
 * registers and an MSR exit reads no IO word. A miss goes on in a slow
 * path of its own (kvmx86_io_exit_slow(), kvmx86_msr_npc_slow()).
 */
static inline __attribute__((always_inline)) bool
insn_memo_holds(struct kvmx86_vcpu *cpu, const struct kvmx86_insn_memo *m,
    bool io)
{
	struct fe_mutex *maps = &cpu->mach->maps_lock;
	bool hit;

	if (kvmx86_sync_need(cpu, KVM_SYNC_X86_SREGS) != 0)
		return false;
	fe_mutex_lock(maps);
	hit = insn_memo_hit(cpu, m, io);
	fe_mutex_unlock(maps);
	return hit;
}

/* The slow paths (insn.c): fetch again, or say what KVM told us. */
void kvmx86_io_exit_slow(struct kvmx86_vcpu *, struct nvmm_x86_exit_io *,
    uint64_t *start);
uint64_t kvmx86_msr_npc_slow(struct kvmx86_vcpu *);

/* An IO exit's record, and the RIP of its instruction (at or before KVM's). */
static inline void
kvmx86_io_exit(struct kvmx86_vcpu *cpu, struct nvmm_x86_exit_io *io,
    uint64_t *start)
{
	const struct kvmx86_insn_memo *m = &cpu->memo_io;

	if (!insn_memo_holds(cpu, m, true)) {
		kvmx86_io_exit_slow(cpu, io, start);
		return;
	}
	*io = m->io;
	*start = m->start;
}

/* RIP after the RDMSR/WRMSR of an MSR exit, prefixes included. */
static inline uint64_t
kvmx86_msr_npc(struct kvmx86_vcpu *cpu)
{
	if (!insn_memo_holds(cpu, &cpu->memo_insn, false))
		return kvmx86_msr_npc_slow(cpu);
	return cpu->memo_insn.npc;
}

#endif /* NVMM_KVMX86_INSN_H */
