/*
 * The bytes of the instruction behind an exit, and its legacy prefixes.
 *
 * KVM reports I/O and MSR exits without the instruction length or the
 * string/REP/segment facts NVMM's exit record carries (io.str, io.rep,
 * io.seg, io.address_size, npc). They are read here from guest memory at
 * CS:RIP through the page walker. This is a prefix scan, not a decoder:
 * KVM itself emulates the instruction.
 */
#include <errno.h>
#include <string.h>

#include "../../frontend/frontend.h"
#include "../../lib/x86_walk.h"
#include "kvmx86.h"

#define INSN_MAX	15
#define EFER_LMA	(1ULL << 10)

static int
insn_read_entry(void *ctx, gpaddr_t gpa, size_t size, uint64_t *entry)
{
	const struct fe_area *a = fe_area_find(ctx, gpa);

	if (a == NULL || gpa + size > a->gpa + a->size)
		return EFAULT;
	*entry = 0;
	memcpy(entry, (const void *)(a->hva + (gpa - a->gpa)), size);
	return 0;
}

/* Copy up to len bytes of guest-linear memory; returns how many. */
static size_t
insn_copy(struct fe_machine *m, const struct x86_paging *pg, uint64_t lin,
    uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		const struct fe_area *a;
		size_t chunk = 4096 - ((lin + done) & 4095);
		nvmm_prot_t prot;
		gpaddr_t gpa;

		if (x86_walk(pg, lin + done, insn_read_entry, m, &gpa,
		    &prot) != 0 || (a = fe_area_find(m, gpa)) == NULL)
			break;
		if (chunk > len - done)
			chunk = len - done;
		if (chunk > a->gpa + a->size - gpa)
			chunk = a->gpa + a->size - gpa;
		memcpy(buf + done, (const void *)(a->hva + (gpa - a->gpa)),
		    chunk);
		done += chunk;
	}
	return done;
}

/* Legacy segment-override prefixes, by NVMM segment index. */
static int
insn_segment(uint8_t b)
{
	switch (b) {
	case 0x26: return NVMM_X64_SEG_ES;
	case 0x2E: return NVMM_X64_SEG_CS;
	case 0x36: return NVMM_X64_SEG_SS;
	case 0x3E: return NVMM_X64_SEG_DS;
	case 0x64: return NVMM_X64_SEG_FS;
	case 0x65: return NVMM_X64_SEG_GS;
	default: return -1;
	}
}

static void
insn_scan(const uint8_t *b, size_t n, bool long64, bool def32,
    struct kvmx86_insn *insn)
{
	bool addr_override = false;
	size_t i;

	insn->seg = -1;
	insn->rep = false;
	for (i = 0; i < n; i++) {
		int seg = insn_segment(b[i]);

		if (seg >= 0)
			insn->seg = (int8_t)seg;
		else if (b[i] == 0x67)
			addr_override = true;
		else if (b[i] == 0xF2 || b[i] == 0xF3)
			insn->rep = true;
		else if (b[i] != 0x66 && b[i] != 0xF0 &&
		    !(long64 && (b[i] & 0xF0) == 0x40))
			break;
	}
	insn->len = (uint8_t)i;		/* prefixes; callers add the rest */
	insn->opcode = i < n ? b[i] : 0;
	if (long64)
		insn->address_size = addr_override ? 4 : 8;
	else if (def32)
		insn->address_size = addr_override ? 2 : 4;
	else
		insn->address_size = addr_override ? 4 : 2;
}

int
kvmx86_fetch_insn(struct kvmx86_vcpu *cpu, struct kvmx86_insn *insn)
{
	const struct kvm_sregs *sr = &cpu->run->s.regs.sregs;
	uint64_t rip = cpu->run->s.regs.regs.rip;
	bool long64 = (sr->efer & EFER_LMA) && sr->cs.l;
	struct x86_paging pg = {
		.cr0 = sr->cr0, .cr3 = sr->cr3, .cr4 = sr->cr4, .efer = sr->efer,
	};
	uint8_t bytes[INSN_MAX];
	uint64_t lin;
	size_t n;

	lin = long64 ? rip : (sr->cs.base + rip) & 0xFFFFFFFFULL;
	pthread_mutex_lock(&cpu->mach->maps_lock);
	n = insn_copy(cpu->mach, &pg, lin, bytes, sizeof(bytes));
	pthread_mutex_unlock(&cpu->mach->maps_lock);
	if (n == 0)
		return EFAULT;
	insn_scan(bytes, n, long64, sr->cs.db, insn);
	if (insn->len >= n)
		return EFAULT;	/* no opcode within what we could read */
	return 0;
}
