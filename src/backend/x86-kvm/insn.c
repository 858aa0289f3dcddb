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
 *
 * A driver loop exits at the same RIP again and again, so each kind of
 * fetch keeps its last answer with all it depended on (see "Memos"; the
 * hit test is insn.h's, inline in the exits).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "../../frontend/frontend.h"
#include "../../lib/x86_walk.h"
#include "insn.h"

#define INSN_MAX	15
#define PAGE_OFS	4095ULL
#define EFER_LMA	(1ULL << 10)

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "a watched word holds its bytes in address order from bit 0");

/* The prefixes and opcode of the instruction behind an exit. */
struct insn_head {
	uint8_t len;		/* legacy and REX prefixes */
	uint8_t opcode;		/* first opcode byte after prefixes */
	int8_t seg;		/* segment override, -1 if none */
	bool rep;
	bool opsize;		/* 0x66 */
	uint8_t address_size;
};

/* ---- Watched words of guest memory -------------------------------------------- */

/*
 * Watch the bytes b[0..n), read at host address hva, in a list of at
 * most max words; false when it is full. A byte joins the last word when
 * it lies in it.
 */
static bool
insn_watch_add(struct kvmx86_watch *w, unsigned int *nw, unsigned int max,
    const uint8_t *hva, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uintptr_t at = (uintptr_t)(hva + i);
		const void *word = (const void *)(at & ~(uintptr_t)7);
		unsigned int shift = (unsigned int)(at & 7) * 8;
		uint64_t *val;

		if (*nw == 0 || w[*nw - 1].word != word) {
			if (*nw == max)
				return false;
			w[*nw].word = word;
			memcpy(&w[*nw].val, word, sizeof(w[*nw].val));
			(*nw)++;
		}
		val = &w[*nw - 1].val;
		*val = (*val & ~(0xFFULL << shift)) | (uint64_t)b[i] << shift;
	}
	return true;
}

static inline uint64_t
insn_maps_gen(const struct kvmx86_vcpu *cpu)
{
	const struct kvmx86_machine *mach = cpu->mach->machdata;

	return mach->maps_gen;
}

/* Whether each watched word still holds its value, one XOR per word. */
static bool
insn_watch_same(const struct kvmx86_watch *w, unsigned int n)
{
	uint64_t diff = 0;

	for (unsigned int i = 0; i < n; i++)
		diff |= insn_watch_diff(&w[i]);
	return diff == 0;
}

/* ---- Code pages, and a cache of their translation --------------------------- */

/*
 * Exits in a loop fetch from the same code page again and again, and a
 * walk per fetch costs as much as the rest of an exit's work in user
 * space. So the last two pages' translations are kept with the table
 * entries each walk read on its way: a hit reads those entries again
 * and compares, so that a guest that rewrote its tables misses exactly
 * where a new walk would go elsewhere. A slot change (maps_gen) retires
 * the host addresses.
 */
static int
insn_read_entry(void *ctx, gpaddr_t gpa, size_t size, uint64_t *entry)
{
	struct kvmx86_vcpu *cpu = ctx;
	struct kvmx86_code_page *c = &cpu->code[cpu->code_next];
	const struct fe_area *a = fe_area_find(cpu->mach, gpa);
	const uint8_t *hva;

	if (a == NULL || gpa + size > a->gpa + a->size)
		return EFAULT;
	hva = (const uint8_t *)(a->hva + (gpa - a->gpa));
	*entry = 0;
	memcpy(entry, hva, size);
	if (!insn_watch_add(c->entry, &c->n, KVMX86_CODE_PATH_MAX, hva,
	    (const uint8_t *)entry, size))
		c->full = true;
	return 0;
}

/* Whether a walk of page under pg would still end where c's did. */
static inline bool
insn_page_valid(const struct kvmx86_vcpu *cpu,
    const struct kvmx86_code_page *c, const struct x86_paging *pg,
    uint64_t page)
{
	return c->valid && c->page == page && c->gen == insn_maps_gen(cpu) &&
	    memcmp(&c->pg, pg, sizeof(*pg)) == 0 &&
	    insn_watch_same(c->entry, c->n);
}

/* The translation of a guest-linear page, or NULL. */
static const struct kvmx86_code_page *
insn_page(struct kvmx86_vcpu *cpu, const struct x86_paging *pg, uint64_t page)
{
	struct kvmx86_code_page *c;
	const struct fe_area *a;
	nvmm_prot_t prot;
	gpaddr_t gpa;

	for (unsigned int i = 0; i < 2; i++) {
		if (insn_page_valid(cpu, &cpu->code[i], pg, page)) {
			cpu->code_next = !i;
			return &cpu->code[i];
		}
	}
	c = &cpu->code[cpu->code_next];
	c->valid = false;
	c->n = 0;
	c->full = false;
	if (x86_walk(pg, page, insn_read_entry, cpu, &gpa, &prot) != 0 ||
	    (a = fe_area_find(cpu->mach, gpa)) == NULL)
		return NULL;
	/* Areas are page-aligned: the whole page is there. */
	c->hva = a->hva + (gpa - a->gpa);
	c->page = page;
	c->gen = insn_maps_gen(cpu);
	memcpy(&c->pg, pg, sizeof(*pg));
	c->valid = !c->full;	/* else usable now, but not kept */
	cpu->code_next = !cpu->code_next;
	return c;
}

/* Copy up to len bytes of guest-linear memory; returns how many. */
static size_t
insn_copy(struct kvmx86_vcpu *cpu, const struct x86_paging *pg, uint64_t lin,
    uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t at = lin + done;
		size_t chunk = 4096 - (at & PAGE_OFS);
		const struct kvmx86_code_page *c = insn_page(cpu, pg,
		    at & ~PAGE_OFS);

		if (c == NULL)
			break;
		if (chunk > len - done)
			chunk = len - done;
		memcpy(buf + done, (const uint8_t *)c->hva + (at & PAGE_OFS),
		    chunk);
		done += chunk;
	}
	return done;
}

/* ---- Prefixes --------------------------------------------------------------------- */

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

/* Reads b[] up to the first byte that is no prefix, and no further. */
static void
insn_scan(const uint8_t *b, size_t n, bool long64, bool def32,
    struct insn_head *insn)
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

/* The bytes insn_scan() takes for prefixes. */
static bool
insn_is_prefix(uint8_t b, bool long64)
{
	return insn_segment(b) >= 0 || b == 0x66 || b == 0x67 || b == 0xF0 ||
	    b == 0xF2 || b == 0xF3 || (long64 && (b & 0xF0) == 0x40);
}

/* Where the run of prefix bytes that ends before b[q] starts. */
static size_t
insn_prefix_run(const uint8_t *b, size_t q, bool long64)
{
	while (q > 0 && insn_is_prefix(b[q - 1], long64))
		q--;
	return q;
}

/* ---- The exit, and the bytes a fetch examined ----------------------------------- */

/* The exit as a fetch sees it: a function of the key alone. */
struct insn_exit {
	struct x86_paging pg;
	uint64_t rip;
	uint64_t lin;		/* CS:RIP */
	bool long64;
	bool def32;
	/* IO exits: the access KVM reports. */
	bool in;
	uint8_t size;
	uint16_t port;
	bool dx_port;
};

static void
insn_mode(const struct kvmx86_insn_key *k, struct insn_exit *x)
{
	memset(x, 0, sizeof(*x));	/* x->pg is compared bytewise */
	x->pg.cr0 = k->cr0;
	x->pg.cr3 = k->cr3;
	x->pg.cr4 = k->cr4;
	x->pg.efer = k->efer;
	x->rip = k->rip;
	/* With paging off k holds no EFER: LMA is clear then anyway. */
	x->long64 = (k->efer & EFER_LMA) && (k->cs_mode & KEY_CS_L);
	x->def32 = (k->cs_mode & KEY_CS_DB) != 0;
	x->lin = x->long64 ? k->rip : (k->cs_base + k->rip) & 0xFFFFFFFFULL;
	x->in = (uint8_t)k->io == KVM_EXIT_IO_IN;
	x->size = (uint8_t)(k->io >> 8);
	x->port = (uint16_t)(k->io >> 16);
	x->dx_port = (uint16_t)(k->io >> 32) == x->port;
}

/*
 * Guest-linear bytes around CS:RIP, b[INSN_MAX + i] at lin + i, and the
 * part b[lo..hi) a fetch examined; whether it asked if DX holds the port
 * (an IO fetch that did hangs on DX, else not). A result that also hung
 * on where readable memory ended is not exact: its bytes alone do not
 * decide it.
 */
struct insn_window {
	uint8_t b[2 * INSN_MAX];
	size_t lo, hi;
	bool dx;
	bool exact;
};

static void
insn_window_init(struct insn_window *w)
{
	w->lo = w->hi = INSN_MAX;
	w->dx = false;
	w->exact = true;
}

/* The fetch examined b[lo..hi) too. */
static void
insn_window_use(struct insn_window *w, size_t lo, size_t hi)
{
	if (lo < w->lo)
		w->lo = lo;
	if (hi > w->hi)
		w->hi = hi;
}

/* ---- Memos: the last fetch at an exit ------------------------------------------- */

/*
 * A fetch's answer is a function of its key, of the walk that translates
 * the code page and of the code bytes it examined. A memo keeps all
 * three with the answer: a hit needs the same key, the same slots, each
 * table entry of the walk and each code byte unchanged, and so answers
 * what a new fetch would, exactly. A guest that rewrote its code or its
 * tables misses. Answers that hung on unreadable memory are not kept.
 *
 * The hit is the path of every IO and MSR exit of a driver loop, so it
 * is the key's words XORed into one test (only those the fetch read:
 * with paging off no paging register, DX only where a DX form was
 * looked at) with the peek word that says whether a slot went away,
 * then the watched words (long mode: the walk's table entries and a
 * code word or two; real mode: the code words alone), inline in exit.c
 * (insn.h). Nothing else is read: the miss below (the slow path) is
 * where pages are walked and bytes decoded.
 */

/* Watch c's table entries in m too, each word once (two walks share most). */
static bool
insn_memo_watch_walk(struct kvmx86_insn_memo *m,
    const struct kvmx86_code_page *c)
{
	for (unsigned int i = 0; i < c->n; i++) {
		unsigned int j = 0;

		while (j < m->n && (m->watch[j].word != c->entry[i].word ||
		    m->watch[j].val != c->entry[i].val))
			j++;
		if (j < m->n)
			continue;	/* the same word, as both walks read it */
		if (m->n == KVMX86_MEMO_WATCH)
			return false;
		m->watch[m->n++] = c->entry[i];
	}
	return true;
}

/*
 * Lay m's watched words out as insn.h reads them: the first two, with
 * paging three more, without a loop, then the rest from the fifth on.
 * Places a memo has no word for watch themselves: each holds its own
 * address.
 */
static bool
insn_memo_watch_layout(struct kvmx86_insn_memo *m, bool paging)
{
	unsigned int fixed = INSN_WATCH_FIXED(paging);
	unsigned int more = m->n > fixed ? m->n - fixed : 0;
	unsigned int from = INSN_WATCH_FIXED(true);

	if (from + more > KVMX86_MEMO_WATCH)
		return false;
	memmove(&m->watch[from], &m->watch[fixed], more * sizeof(m->watch[0]));
	for (unsigned int i = m->n - more; i < from; i++) {
		m->watch[i].val = 0;
		m->watch[i].word = &m->watch[i].val;
	}
	m->n = from + more;
	return true;
}

/*
 * Keep the window's bytes and the key for the answer already in the
 * exit's record. The bytes may lie in two pages (an OUT at the start of
 * a page, found ending at RIP, is read with the bytes before it): both
 * walks are watched then.
 */
static void
insn_memo_keep(struct kvmx86_vcpu *cpu, struct kvmx86_insn_memo *m,
    const struct kvmx86_insn_key *k, const struct insn_exit *x,
    const struct insn_window *w)
{
	uint64_t at = x->lin - INSN_MAX + w->lo, end = at + (w->hi - w->lo);
	const struct kvmx86_code_page *c;

	_Static_assert(KVMX86_MEMO_WATCH >= INSN_WATCH_FIXED(true),
	    "insn.h reads five words");
	m->key.cr0 = INSN_MEMO_EMPTY;
	m->n = 0;
	if (!w->exact || at == end)
		return;
	for (uint64_t pos = at; pos < end;) {
		uint64_t next = (pos & ~PAGE_OFS) + 4096;
		size_t chunk = (size_t)((next < end ? next : end) - pos);

		/* The bytes were read through this walk, still the current one. */
		if ((c = insn_page(cpu, &x->pg, pos & ~PAGE_OFS)) == NULL ||
		    !c->valid || !insn_memo_watch_walk(m, c))
			return;
		if (!insn_watch_add(m->watch, &m->n, KVMX86_MEMO_WATCH,
		    (const uint8_t *)c->hva + (pos & PAGE_OFS),
		    w->b + w->lo + (pos - at), chunk))
			return;
		pos += chunk;
	}
	if (!insn_memo_watch_layout(m, (k->cr0 & KEY_CR0_PG) != 0))
		return;
	m->io_mask = KEY_IO_ACCESS | (w->dx ? KEY_IO_DX : 0);
	m->key = *k;
}

/* ---- The instruction at RIP ---------------------------------------------------- */

size_t
kvmx86_read_linear(struct kvmx86_vcpu *cpu, uint64_t lin, void *buf,
    size_t len)
{
	struct kvmx86_insn_key k;
	struct insn_exit x;
	size_t n;

	insn_key(cpu->run, false, &k);
	insn_mode(&k, &x);
	fe_mutex_lock(&cpu->mach->maps_lock);
	n = insn_copy(cpu, &x.pg, lin, buf, len);
	fe_mutex_unlock(&cpu->mach->maps_lock);
	return n;
}

static int
insn_fetch(struct kvmx86_vcpu *cpu, const struct insn_exit *x,
    struct insn_window *w, struct insn_head *insn)
{
	size_t n;

	n = insn_copy(cpu, &x->pg, x->lin, w->b + INSN_MAX, INSN_MAX);
	insn_scan(w->b + INSN_MAX, n, x->long64, x->def32, insn);
	if (insn->len >= n)
		return EFAULT;	/* no opcode within what we could read */
	insn_window_use(w, INSN_MAX, INSN_MAX + insn->len + 1u);
	return 0;
}

/* ---- The I/O instruction behind an IO exit ---------------------------------------- */

/*
 * Whether b[0..n) starts with an IN/OUT/INS/OUTS doing the access KVM
 * reports (direction, size, port); *len is then its length. Either way
 * it reads no further than b[insn->len + 1], the byte after the opcode.
 */
static bool
insn_io_matches(const struct insn_exit *x, struct insn_window *win,
    const uint8_t *b, size_t n, struct insn_head *insn, size_t *len)
{
	bool def16 = !x->long64 && !x->def32;
	unsigned int size;
	uint8_t op;

	insn_scan(b, n, x->long64, x->def32, insn);
	if (insn->len >= n)
		return false;
	op = insn->opcode;
	if ((op & 0xF4) != 0xE4 && (op & 0xFC) != 0x6C)
		return false;	/* not E4-E7, EC-EF, 6C-6F */
	size = !(op & 1) ? 1 : insn->opsize == def16 ? 4 : 2;
	if (((op & 0x02) == 0) != x->in || size != x->size)
		return false;
	if ((op & 0xFC) == 0xE4) {	/* imm8 port */
		*len = insn->len + 2u;
		return *len <= n && b[insn->len + 1] == x->port;
	}
	*len = insn->len + 1u;
	win->dx = true;
	return x->dx_port;
}

/*
 * The longest I/O instruction in b[0..w) with its opcode at b[q] and its
 * end at b[w], or 0: only starts within the prefixes before q can decode
 * so. REP INS/OUTS do not count: KVM keeps RIP on them until done.
 */
static size_t
insn_io_ending(const struct insn_exit *x, struct insn_window *win,
    const uint8_t *b, size_t w, size_t q, struct insn_head *insn)
{
	size_t len;

	for (size_t s = insn_prefix_run(b, q, x->long64); s <= q; s++) {
		if (insn_io_matches(x, win, b + s, w - s, insn, &len) &&
		    len == w - s &&
		    !((insn->opcode & 0xFC) == 0x6C && insn->rep))
			return len;
	}
	return 0;
}

/*
 * What insn_io_behind() examined of the w bytes b[] before RIP: back
 * from each candidate opcode over prefixes to the first other byte, the
 * imm8 candidate's walk reaching furthest. A walk that met the start of
 * b[] instead hung on how many bytes there were.
 */
static void
insn_io_behind_used(struct insn_window *win, const uint8_t *b, size_t w,
    bool long64)
{
	size_t s = w >= 2 ? insn_prefix_run(b, w - 2, long64) : 0;

	if (s == 0)
		win->exact = false;
	else
		insn_window_use(win, INSN_MAX - w + s - 1, INSN_MAX);
}

/*
 * The OUT that ends at RIP: the longest run of prefixes that still
 * decodes to the reported access, with the opcode last (DX forms) or
 * before the port byte (imm8 forms). Two candidates, not fifteen: this
 * runs at every OUT exit on hosts whose KVM steps over OUT before exiting.
 */
static int
insn_io_behind(struct kvmx86_vcpu *cpu, const struct insn_exit *x,
    struct insn_window *win, struct insn_head *insn, uint64_t *start,
    size_t *len)
{
	uint64_t end = x->lin;
	size_t w = x->rip < INSN_MAX ? (size_t)x->rip : INSN_MAX;
	uint8_t *bytes = win->b + INSN_MAX - w;
	struct insn_head imm;
	size_t l_dx, l_imm;

	/* The bytes before RIP, or those in its page if the one before is out. */
	if (w > 0 && insn_copy(cpu, &x->pg, end - w, bytes, w) != w) {
		if (((end - 1) & PAGE_OFS) + 1 < w)
			w = ((end - 1) & PAGE_OFS) + 1;
		bytes = win->b + INSN_MAX - w;
		if (insn_copy(cpu, &x->pg, end - w, bytes, w) != w)
			return EFAULT;
	}
	l_dx = w >= 1 ? insn_io_ending(x, win, bytes, w, w - 1, insn) : 0;
	l_imm = w >= 2 ? insn_io_ending(x, win, bytes, w, w - 2, &imm) : 0;
	if (l_imm > l_dx) {
		*insn = imm;
		l_dx = l_imm;
	}
	if (l_dx == 0)
		return EFAULT;
	insn_io_behind_used(win, bytes, w, x->long64);
	*len = l_dx;
	*start = x->rip - l_dx;
	return 0;
}

/* The I/O instruction at RIP, else (OUT) the one ending there. */
static int
insn_io_fetch(struct kvmx86_vcpu *cpu, const struct insn_exit *x,
    struct insn_window *w, struct insn_head *insn, uint64_t *start,
    size_t *len)
{
	uint8_t *at = w->b + INSN_MAX;
	size_t n;

	n = insn_copy(cpu, &x->pg, x->lin, at, INSN_MAX);
	if (insn_io_matches(x, w, at, n, insn, len)) {
		insn_window_use(w, INSN_MAX, INSN_MAX + *len);
		*start = x->rip;
		return 0;
	}
	if (x->in)
		return EFAULT;	/* only OUT is ever stepped over */
	/* No match at RIP: an answer behind it holds while these bytes do. */
	if (insn->len + 2u <= n)
		insn_window_use(w, INSN_MAX, INSN_MAX + insn->len + 2u);
	else
		w->exact = false;
	return insn_io_behind(cpu, x, w, insn, start, len);
}

/* ---- Fetches through the memos ----------------------------------------------------- */

/* The record NVMM gives for the I/O instruction found. */
static void
insn_io_record(const struct insn_exit *x, const struct insn_head *insn,
    uint64_t start, size_t len, struct nvmm_x86_exit_io *io)
{
	memset(io, 0, sizeof(*io));	/* copied whole at each hit */
	io->in = x->in;
	io->port = x->port;
	io->operand_size = x->size;
	io->str = (insn->opcode & 0xFC) == 0x6C;	/* INS, OUTS */
	io->rep = io->str && insn->rep;
	io->address_size = insn->address_size;
	/* As NVMM: INS writes through ES, OUTS reads DS or override. */
	io->seg = !io->str ? -1 : io->in ? NVMM_X64_SEG_ES :
	    insn->seg >= 0 ? insn->seg : NVMM_X64_SEG_DS;
	io->npc = start + len;
}

/*
 * The memo missed: fetch, put the answer in the exit's record (the memo's
 * answer from now on) and keep what it depended on for next time.
 */
static int
insn_fetch_miss(struct kvmx86_vcpu *cpu, struct kvmx86_insn_memo *m, bool io)
{
	struct kvmx86_insn_key k;
	struct insn_window w;
	struct insn_exit x;
	struct insn_head insn;
	uint64_t start;
	size_t len = 0;
	int error;

	insn_key(cpu->run, io, &k);
	insn_mode(&k, &x);
	insn_window_init(&w);
	start = x.rip;
	error = io ? insn_io_fetch(cpu, &x, &w, &insn, &start, &len) :
	    insn_fetch(cpu, &x, &w, &insn);
	if (error != 0)
		return error;
	m->start = start;
	if (io) {
		insn_io_record(&x, &insn, start, len, &cpu->exit_io);
	} else {
		/* RDMSR/WRMSR are 0F 32 / 0F 30 after their prefixes. */
		cpu->exit_npc = start + (insn.opcode == 0x0F ? insn.len + 2u :
		    2u);
	}
	insn_memo_keep(cpu, m, &k, &x, &w);
	return 0;
}

/* Fetch again through memo m; an error: the code is not in guest RAM. */
static int
insn_memo_refetch(struct kvmx86_vcpu *cpu, struct kvmx86_insn_memo *m, bool io)
{
	int error;

	m->key.cr0 = INSN_MEMO_EMPTY;	/* the exit's record changes */
	if ((error = kvmx86_sync_need(cpu, KVM_SYNC_X86_SREGS)) != 0)
		return error;
	fe_mutex_lock(&cpu->mach->maps_lock);
	error = insn_fetch_miss(cpu, m, io);
	fe_mutex_unlock(&cpu->mach->maps_lock);
	return error;
}

void
kvmx86_io_exit_slow(struct kvmx86_vcpu *cpu)
{
	const struct kvm_run *run = cpu->run;
	struct nvmm_x86_exit_io *io = &cpu->exit_io;

	if (insn_memo_refetch(cpu, &cpu->memo_io, true) == 0)
		return;
	/* The code is not in guest RAM: say what KVM told us. */
	memset(io, 0, sizeof(*io));
	io->in = (run->io.direction == KVM_EXIT_IO_IN);
	io->port = run->io.port;
	io->operand_size = run->io.size;
	io->str = io->rep = (run->io.count > 1);
	io->seg = -1;
	io->address_size = 0;
	io->npc = cpu->memo_io.start = run->s.regs.regs.rip;
}

void
kvmx86_msr_npc_slow(struct kvmx86_vcpu *cpu)
{
	if (insn_memo_refetch(cpu, &cpu->memo_insn, false) != 0)
		cpu->exit_npc = cpu->run->s.regs.regs.rip + 2;
}
