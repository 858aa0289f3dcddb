/*
 * The bytes of the instruction behind an exit, and its legacy prefixes.
 *
 * KVM reports I/O and MSR exits without the instruction length or the
 * string/REP/segment facts NVMM's exit record carries (io.str, io.rep,
 * io.seg, io.address_size, npc). They are read here from guest memory at
 * CS:RIP through the page walker. This is a prefix scan, not a decoder:
 * KVM itself emulates the instruction.
 *
 * An OUT exit may come with RIP already past the instruction: KVM's
 * emulator finishes a non-REP OUTS before exiting, and some hosts do the
 * same for plain OUT. The I/O instruction is then found ending at RIP.
 */
#include <errno.h>
#include <string.h>

#include "../../frontend/frontend.h"
#include "../../lib/x86_walk.h"
#include "kvmx86.h"

#define INSN_MAX	15
#define EFER_LMA	(1ULL << 10)

/* ---- Code pages, and a cache of their translation --------------------------- */

/*
 * Exits in a loop fetch from the same code page again and again, and a
 * walk per fetch costs as much as the rest of an exit's work in user
 * space. So the last two pages' translations are kept with the table
 * entries each walk read on its way: a hit reads those entries again
 * through their host addresses and compares, so that a guest that
 * rewrote its tables misses exactly where a new walk would go elsewhere.
 * A slot change (maps_gen) retires the host addresses.
 */
static int
insn_read_entry(void *ctx, gpaddr_t gpa, size_t size, uint64_t *entry)
{
	struct kvmx86_vcpu *cpu = ctx;
	struct kvmx86_code_page *c = &cpu->code[cpu->code_next];
	const struct fe_area *a = fe_area_find(cpu->mach, gpa);
	const void *hva;

	if (a == NULL || gpa + size > a->gpa + a->size)
		return EFAULT;
	hva = (const void *)(a->hva + (gpa - a->gpa));
	*entry = 0;
	memcpy(entry, hva, size);
	if (c->n < KVMX86_CODE_PATH_MAX) {
		c->entry_hva[c->n] = hva;
		c->entry_val[c->n] = *entry;
		c->entry_size[c->n] = (uint8_t)size;
	}
	c->n++;
	return 0;
}

static uint64_t
insn_maps_gen(const struct kvmx86_vcpu *cpu)
{
	const struct kvmx86_machine *mach = cpu->mach->machdata;

	return mach->maps_gen;
}

static bool
insn_cache_hit(const struct kvmx86_vcpu *cpu, const struct kvmx86_code_page *c,
    const struct x86_paging *pg, uint64_t page)
{
	if (!c->valid || c->page != page || c->gen != insn_maps_gen(cpu) ||
	    memcmp(&c->pg, pg, sizeof(*pg)) != 0)
		return false;
	for (unsigned int i = 0; i < c->n; i++) {
		uint64_t now = 0;

		memcpy(&now, c->entry_hva[i], c->entry_size[i]);
		if (now != c->entry_val[i])
			return false;
	}
	return true;
}

/* The host address of a guest-linear page, or NULL. */
static const uint8_t *
insn_page(struct kvmx86_vcpu *cpu, const struct x86_paging *pg, uint64_t page)
{
	struct kvmx86_code_page *c;
	const struct fe_area *a;
	nvmm_prot_t prot;
	gpaddr_t gpa;

	for (unsigned int i = 0; i < 2; i++) {
		if (insn_cache_hit(cpu, &cpu->code[i], pg, page)) {
			cpu->code_next = !i;
			return (const uint8_t *)cpu->code[i].hva;
		}
	}
	c = &cpu->code[cpu->code_next];
	c->valid = false;
	c->n = 0;
	if (x86_walk(pg, page, insn_read_entry, cpu, &gpa, &prot) != 0 ||
	    (a = fe_area_find(cpu->mach, gpa)) == NULL)
		return NULL;
	/* Areas are page-aligned: the whole page is there. */
	c->hva = a->hva + (gpa - a->gpa);
	c->page = page;
	c->gen = insn_maps_gen(cpu);
	memcpy(&c->pg, pg, sizeof(*pg));
	c->valid = (c->n <= KVMX86_CODE_PATH_MAX);
	cpu->code_next = !cpu->code_next;
	return (const uint8_t *)c->hva;
}

/* Copy up to len bytes of guest-linear memory; returns how many. */
static size_t
insn_copy(struct kvmx86_vcpu *cpu, const struct x86_paging *pg, uint64_t lin,
    uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t at = lin + done;
		size_t chunk = 4096 - (at & 4095);
		const uint8_t *page = insn_page(cpu, pg, at & ~4095ULL);

		if (page == NULL)
			break;
		if (chunk > len - done)
			chunk = len - done;
		memcpy(buf + done, page + (at & 4095), chunk);
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
	insn->opsize = false;
	for (i = 0; i < n; i++) {
		int seg = insn_segment(b[i]);

		if (seg >= 0)
			insn->seg = (int8_t)seg;
		else if (b[i] == 0x67)
			addr_override = true;
		else if (b[i] == 0x66)
			insn->opsize = true;
		else if (b[i] == 0xF2 || b[i] == 0xF3)
			insn->rep = true;
		else if (b[i] != 0xF0 &&
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

/* Paging and code-segment facts of the current exit. */
static void
insn_mode(const struct kvmx86_vcpu *cpu, struct x86_paging *pg, bool *long64,
    bool *def32)
{
	const struct kvm_sregs *sr = &cpu->run->s.regs.sregs;

	memset(pg, 0, sizeof(*pg));
	pg->cr0 = sr->cr0;
	pg->cr3 = sr->cr3;
	pg->cr4 = sr->cr4;
	pg->efer = sr->efer;
	*long64 = (sr->efer & EFER_LMA) && sr->cs.l;
	*def32 = sr->cs.db;
}

static uint64_t
insn_linear(const struct kvmx86_vcpu *cpu, uint64_t rip, bool long64)
{
	return long64 ? rip :
	    (cpu->run->s.regs.sregs.cs.base + rip) & 0xFFFFFFFFULL;
}

static size_t
insn_copy_locked(struct kvmx86_vcpu *cpu, const struct x86_paging *pg,
    uint64_t lin, uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&cpu->mach->maps_lock);
	n = insn_copy(cpu, pg, lin, buf, len);
	pthread_mutex_unlock(&cpu->mach->maps_lock);
	return n;
}

size_t
kvmx86_read_linear(struct kvmx86_vcpu *cpu, uint64_t lin, void *buf,
    size_t len)
{
	struct x86_paging pg;
	bool long64, def32;

	insn_mode(cpu, &pg, &long64, &def32);
	return insn_copy_locked(cpu, &pg, lin, buf, len);
}

int
kvmx86_fetch_insn(struct kvmx86_vcpu *cpu, struct kvmx86_insn *insn)
{
	struct x86_paging pg;
	uint8_t bytes[INSN_MAX];
	bool long64, def32;
	size_t n;

	insn_mode(cpu, &pg, &long64, &def32);
	n = insn_copy_locked(cpu, &pg,
	    insn_linear(cpu, cpu->run->s.regs.regs.rip, long64), bytes,
	    sizeof(bytes));
	if (n == 0)
		return EFAULT;
	insn_scan(bytes, n, long64, def32, insn);
	if (insn->len >= n)
		return EFAULT;	/* no opcode within what we could read */
	return 0;
}

/* ---- The I/O instruction behind an IO exit ---------------------------------------- */

/*
 * Whether b[0..n) starts with an IN/OUT/INS/OUTS doing the access KVM
 * reports (direction, size, port); *len is then its length.
 */
static bool
insn_io_matches(const struct kvmx86_vcpu *cpu, const uint8_t *b, size_t n,
    bool long64, bool def32, struct kvmx86_insn *insn, size_t *len)
{
	const struct kvm_run *run = cpu->run;
	bool def16 = !long64 && !def32;
	unsigned int size;
	uint8_t op;

	insn_scan(b, n, long64, def32, insn);
	if (insn->len >= n)
		return false;
	op = insn->opcode;
	if ((op & 0xF4) != 0xE4 && (op & 0xFC) != 0x6C)
		return false;	/* not E4-E7, EC-EF, 6C-6F */
	size = !(op & 1) ? 1 : insn->opsize == def16 ? 4 : 2;
	if (((op & 0x02) == 0) != (run->io.direction == KVM_EXIT_IO_IN) ||
	    size != run->io.size)
		return false;
	if ((op & 0xFC) == 0xE4) {	/* imm8 port */
		*len = insn->len + 2u;
		return *len <= n && b[insn->len + 1] == run->io.port;
	}
	*len = insn->len + 1u;
	return (run->s.regs.regs.rdx & 0xFFFF) == run->io.port;
}

/* The bytes insn_scan() takes for prefixes. */
static bool
insn_is_prefix(uint8_t b, bool long64)
{
	return insn_segment(b) >= 0 || b == 0x66 || b == 0x67 || b == 0xF0 ||
	    b == 0xF2 || b == 0xF3 || (long64 && (b & 0xF0) == 0x40);
}

/*
 * The longest I/O instruction in b[0..w) with its opcode at b[q] and its
 * end at b[w], or 0: only starts within the prefixes before q can decode
 * so. REP INS/OUTS do not count: KVM keeps RIP on them until done.
 */
static size_t
insn_io_ending(const struct kvmx86_vcpu *cpu, const uint8_t *b, size_t w,
    size_t q, bool long64, bool def32, struct kvmx86_insn *insn)
{
	size_t s = q, len;

	while (s > 0 && insn_is_prefix(b[s - 1], long64))
		s--;
	for (; s <= q; s++) {
		if (insn_io_matches(cpu, b + s, w - s, long64, def32, insn,
		    &len) && len == w - s &&
		    !((insn->opcode & 0xFC) == 0x6C && insn->rep))
			return len;
	}
	return 0;
}

/*
 * The OUT that ends at RIP: the longest run of prefixes that still
 * decodes to the reported access, with the opcode last (DX forms) or
 * before the port byte (imm8 forms). Two candidates, not fifteen: this
 * runs at every OUT exit on hosts whose KVM steps over OUT before exiting.
 */
static int
insn_io_behind(struct kvmx86_vcpu *cpu, const struct x86_paging *pg,
    bool long64, bool def32, struct kvmx86_insn *insn, uint64_t *start,
    size_t *len)
{
	uint64_t rip = cpu->run->s.regs.regs.rip;
	uint64_t end = insn_linear(cpu, rip, long64);
	uint8_t bytes[INSN_MAX];
	size_t w = rip < INSN_MAX ? (size_t)rip : INSN_MAX;
	struct kvmx86_insn imm;
	size_t l_dx, l_imm;

	/* The bytes before RIP, or those in its page if the one before is out. */
	if (w > 0 && insn_copy_locked(cpu, pg, end - w, bytes, w) != w) {
		w = ((end - 1) & 4095) + 1 < w ? ((end - 1) & 4095) + 1 : w;
		if (insn_copy_locked(cpu, pg, end - w, bytes, w) != w)
			return EFAULT;
	}
	l_dx = w >= 1 ? insn_io_ending(cpu, bytes, w, w - 1, long64, def32,
	    insn) : 0;
	l_imm = w >= 2 ? insn_io_ending(cpu, bytes, w, w - 2, long64, def32,
	    &imm) : 0;
	if (l_imm > l_dx) {
		*insn = imm;
		l_dx = l_imm;
	}
	if (l_dx == 0)
		return EFAULT;
	*len = l_dx;
	*start = rip - l_dx;
	return 0;
}

int
kvmx86_fetch_io_insn(struct kvmx86_vcpu *cpu, struct kvmx86_insn *insn,
    uint64_t *start, size_t *len)
{
	uint64_t rip = cpu->run->s.regs.regs.rip;
	struct x86_paging pg;
	uint8_t bytes[INSN_MAX];
	bool long64, def32;
	size_t n;

	insn_mode(cpu, &pg, &long64, &def32);
	n = insn_copy_locked(cpu, &pg, insn_linear(cpu, rip, long64), bytes,
	    sizeof(bytes));
	if (insn_io_matches(cpu, bytes, n, long64, def32, insn, len)) {
		*start = rip;
		return 0;
	}
	if (cpu->run->io.direction != KVM_EXIT_IO_OUT)
		return EFAULT;
	return insn_io_behind(cpu, &pg, long64, def32, insn, start, len);
}
