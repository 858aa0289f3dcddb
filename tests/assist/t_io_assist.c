/*
 * I/O assist (spec 6.1): a 64-bit guest does IN/OUT with imm8 and DX
 * ports, sizes 1/2/4, and INS/OUTS with REP; nvmm_assist_io() serves every
 * IO exit through a callback that checks the port and copies to or from a
 * buffer. Also: DF = 1, segment overrides, 0x67, batches larger than one
 * KVM exit, and the exit record fields of every instruction form (64-bit
 * and real mode) against the assembler's own instruction boundaries.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define PORT		123
#define PORT_7E		0x7E
#define DATA		0x1000
#define BIG		0x20000
#define BIG_IN		5000	/* > 1 KiB: several KVM exits */
#define BIG_OUT		300
#define MAX_EXITS	20000

T_GUEST(io_inb); T_GUEST(io_inw); T_GUEST(io_inl);
T_GUEST(io_insb); T_GUEST(io_insw); T_GUEST(io_insl);
T_GUEST(io_outb); T_GUEST(io_outw); T_GUEST(io_outl);
T_GUEST(io_outsb); T_GUEST(io_outsw); T_GUEST(io_outsl);
T_GUEST(io_outsb_std); T_GUEST(io_insb_std);
T_GUEST(io_outsb_fs); T_GUEST(io_outsb_a32);
T_GUEST(io_insb_big); T_GUEST(io_outsb_big);
T_GUEST(io_forms64); T_GUEST(io_forms16);
/* (start, end) offsets of each I/O instruction in the forms guests. */
extern const uint64_t io_forms64_table[], io_forms64_table_end[];
extern const uint64_t io_forms16_table[], io_forms16_table_end[];

/* ---- The device: port 123 and a buffer with a running offset ---------------- */

static uint8_t iobuf[8192];
static size_t iobuf_off;
static unsigned int io_calls, io_bad;

static void
io_cb(struct nvmm_io *io)
{
	if (io->port == PORT_7E && !io->in) {
		io_calls++;	/* the forms test's quirk port: data ignored */
		return;
	}
	if (io->port != PORT || io->size == 0 || io->size > 4 ||
	    iobuf_off + io->size > sizeof(iobuf)) {
		io_bad++;
		return;
	}
	if (io->in)
		memcpy(io->data, iobuf + iobuf_off, io->size);
	else
		memcpy(iobuf + iobuf_off, io->data, io->size);
	iobuf_off += io->size;
	io_calls++;
}

/* ---- Running: every IO exit is recorded, then assisted ------------------------ */

struct io_seen {
	struct nvmm_x86_exit_io io;
	uint64_t rip;		/* at the exit, before the assist */
	unsigned int calls;	/* callbacks during its assist */
};

static struct io_seen seen[32];
static unsigned int nseen;

static void
io_reset(void)
{
	memset(iobuf, 0, sizeof(iobuf));
	iobuf_off = 0;
	io_calls = io_bad = 0;
	nseen = 0;
}

/* Run to the final RDMSR; false (with a diagnostic) on anything else. */
static bool
io_run(struct t_vm *vm)
{
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;

	for (unsigned int n = 0; n < MAX_EXITS; n++) {
		uint64_t reason = t_vm_run(vm);
		struct io_seen s;

		if (reason == NVMM_VCPU_EXIT_RDMSR)
			return true;
		if (reason != NVMM_VCPU_EXIT_IO) {
			t_diag("unexpected exit 0x%llx at RIP 0x%llx",
			    (unsigned long long)reason, (unsigned long long)
			    t_vm_gpr(vm, NVMM_X64_GPR_RIP));
			return false;
		}
		s.io = exit->u.io;
		s.rip = t_vm_gpr(vm, NVMM_X64_GPR_RIP);
		s.calls = io_calls;
		if (nvmm_assist_io(&vm->mach, &vm->vcpu) == -1) {
			t_diag("nvmm_assist_io: %s", strerror(errno));
			return false;
		}
		s.calls = io_calls - s.calls;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen] = s;
		nseen++;
	}
	t_diag("no end after %u exits", MAX_EXITS);
	return false;
}

static void
io_start(struct t_vm *vm, const uint8_t *begin, const uint8_t *end)
{
	io_reset();
	memset(vm->ram + DATA, 0, 0x1000);
	t_vm_load(vm, T_CODE_BASE, begin, end);
	t_vm_long_mode(vm, T_CODE_BASE, 0x8000);
}

static void
io_set_seg_base(struct t_vm *vm, int seg, uint64_t base)
{
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_SEGS));
	vm->vcpu.state->segs[seg].base = base;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_SEGS));
}

/* ---- The data cases ------------------------------------------------------------- */

struct io_case {
	const char *name;
	const uint8_t *begin, *end;
	bool in;
	size_t size;
	const char *src;	/* iobuf for IN, guest DATA for OUT */
	const char *want;	/* guest DATA for IN, iobuf for OUT */
	int fs_base;		/* FS.base = DATA */
	int reg;		/* a GPR to check afterwards, or -1 */
	uint32_t reg_want;	/* its low 32 bits */
};

#define CASE(n, g, in, sz, s, w, reg, rw)				\
	{ n, g##_begin, g##_end, in, sz, s, w, 0, reg, rw }

static const struct io_case io_cases[] = {
	CASE("test1 - INB", io_inb, true, 1, "12", "12", -1, 0),
	CASE("test2 - INW", io_inw, true, 2, "1234", "1234", -1, 0),
	CASE("test3 - INL", io_inl, true, 4, "12345678", "12345678", -1, 0),
	CASE("test4 - INSB+REP", io_insb, true, 1, "12345", "12345",
	    NVMM_X64_GPR_RDI, DATA + 5),
	CASE("test5 - INSW+REP", io_insw, true, 2,
	    "Comment est votre blanquette", "Comment est votre blanquette",
	    NVMM_X64_GPR_RDI, DATA + 28),
	CASE("test6 - INSL+REP", io_insl, true, 4,
	    "123456789abcdefghijklmnopqrs", "123456789abcdefghijklmnopqrs",
	    NVMM_X64_GPR_RDI, DATA + 28),
	CASE("test7 - OUTB", io_outb, false, 1, "12", "12", -1, 0),
	CASE("test8 - OUTW", io_outw, false, 2, "1234", "1234", -1, 0),
	CASE("test9 - OUTL", io_outl, false, 4, "12345678", "12345678", -1, 0),
	CASE("test10 - OUTSB+REP", io_outsb, false, 1, "12345", "12345",
	    NVMM_X64_GPR_RSI, DATA + 5),
	CASE("test11 - OUTSW+REP", io_outsw, false, 2, "Ah, Herr Bramard",
	    "Ah, Herr Bramard", NVMM_X64_GPR_RSI, DATA + 16),
	CASE("test12 - OUTSL+REP", io_outsl, false, 4,
	    "123456789abcdefghijklmnopqrs", "123456789abcdefghijklmnopqrs",
	    NVMM_X64_GPR_RSI, DATA + 28),
	CASE("OUTSB+REP, DF=1", io_outsb_std, false, 1, "12345", "54321",
	    NVMM_X64_GPR_RSI, DATA - 1),
	CASE("INSB+REP, DF=1", io_insb_std, true, 1, "12345", "54321",
	    NVMM_X64_GPR_RDI, DATA - 1),
	{ "OUTSB+REP, FS override", io_outsb_fs_begin, io_outsb_fs_end,
	    false, 1, "abcde", "abcde", 1, NVMM_X64_GPR_RSI, 5 },
	CASE("OUTSB+REP, 0x67 (ESI, ECX)", io_outsb_a32, false, 1, "vwxyz",
	    "vwxyz", NVMM_X64_GPR_RSI, DATA + 5),
};

static void
io_case_run(struct t_vm *vm, const struct io_case *c)
{
	size_t len = strlen(c->want);
	const uint8_t *got;
	bool ran;

	io_start(vm, c->begin, c->end);
	if (c->in)
		memcpy(iobuf, c->src, strlen(c->src));
	else
		memcpy(vm->ram + DATA, c->src, strlen(c->src));
	if (c->fs_base)
		io_set_seg_base(vm, NVMM_X64_SEG_FS, DATA);
	ran = io_run(vm);
	got = c->in ? vm->ram + DATA : iobuf;
	if (!t_ok(ran && memcmp(got, c->want, len) == 0 &&
	    (c->in ? got[len] == 0 : iobuf_off == len),
	    "%s: data", c->name))
		t_diag("  wanted '%s', got '%.*s'", c->want, (int)len + 1,
		    (const char *)got);
	t_ok(io_calls == len / c->size && io_bad == 0,
	    "%s: %zu callbacks of %zu bytes (got %u, %u bad)", c->name,
	    len / c->size, c->size, io_calls, io_bad);
	if (c->reg >= 0)
		t_eq_u64((uint32_t)t_vm_gpr(vm, c->reg), c->reg_want,
		    "%s: final register %d", c->name, c->reg);
}

static unsigned int
io_cases_planned(void)
{
	unsigned int n = 0;

	for (size_t i = 0; i < sizeof(io_cases) / sizeof(io_cases[0]); i++)
		n += 2 + (io_cases[i].reg >= 0);
	return n;
}

/* ---- Larger than one KVM batch ---------------------------------------------------- */

static void
io_big_in(struct t_vm *vm)
{
	io_start(vm, io_insb_big_begin, io_insb_big_end);
	for (size_t i = 0; i < BIG_IN; i++)
		iobuf[i] = (uint8_t)(i * 7 + 3);
	memset(vm->ram + BIG, 0, BIG_IN + 1);
	t_ok(io_run(vm) && memcmp(vm->ram + BIG, iobuf, BIG_IN) == 0 &&
	    vm->ram[BIG + BIG_IN] == 0, "REP INSB of %d bytes: data", BIG_IN);
	t_ok(io_calls == BIG_IN && io_bad == 0,
	    "REP INSB of %d bytes: one callback per byte (%u)", BIG_IN,
	    io_calls);
	t_ok(nseen > 1, "REP INSB of %d bytes: several IO exits (%u)", BIG_IN,
	    nseen);
	t_ok(t_vm_gpr(vm, NVMM_X64_GPR_R8) == 0 &&
	    t_vm_gpr(vm, NVMM_X64_GPR_RDI) == BIG + BIG_IN,
	    "REP INSB of %d bytes: RCX = 0, RDI advanced", BIG_IN);
}

static void
io_big_out(struct t_vm *vm)
{
	io_start(vm, io_outsb_big_begin, io_outsb_big_end);
	for (size_t i = 0; i < BIG_OUT; i++)
		vm->ram[BIG + i] = (uint8_t)(i * 13 + 1);
	t_ok(io_run(vm) && memcmp(vm->ram + BIG, iobuf, BIG_OUT) == 0 &&
	    io_calls == BIG_OUT && io_bad == 0,
	    "REP OUTSB of %d bytes: data, one callback per byte", BIG_OUT);
	t_ok(t_vm_gpr(vm, NVMM_X64_GPR_R8) == 0 &&
	    t_vm_gpr(vm, NVMM_X64_GPR_RSI) == BIG + BIG_OUT,
	    "REP OUTSB of %d bytes: RCX = 0, RSI advanced", BIG_OUT);
}

/* ---- Exit record fields ------------------------------------------------------------- */

struct io_form {
	const char *text;
	bool in;
	uint8_t size;
	bool str, rep;
	int8_t seg;		/* string forms only */
	uint8_t asz;		/* string forms only */
	uint16_t port;
};

static const struct io_form io_forms64[] = {
	{ "inb $123, %al", true, 1, false, false, 0, 0, PORT },
	{ "inw %dx, %ax", true, 2, false, false, 0, 0, PORT },
	{ "inl $123, %eax", true, 4, false, false, 0, 0, PORT },
	{ "outb %al, %dx", false, 1, false, false, 0, 0, PORT },
	{ "outw %ax, $123", false, 2, false, false, 0, 0, PORT },
	{ "rex.W outl %eax, %dx", false, 4, false, false, 0, 0, PORT },
	{ "rep insb", true, 1, true, true, NVMM_X64_SEG_ES, 8, PORT },
	{ "rep insw", true, 2, true, true, NVMM_X64_SEG_ES, 8, PORT },
	{ "insl", true, 4, true, false, NVMM_X64_SEG_ES, 8, PORT },
	{ "rep outsb", false, 1, true, true, NVMM_X64_SEG_DS, 8, PORT },
	{ "rep outsb %fs:(%rsi)", false, 1, true, true, NVMM_X64_SEG_FS, 8, PORT },
	{ "addr32 rep outsb", false, 1, true, true, NVMM_X64_SEG_DS, 4, PORT },
	{ "rep outsw %es:(%rsi)", false, 2, true, true, NVMM_X64_SEG_ES, 8, PORT },
	{ "outsl", false, 4, true, false, NVMM_X64_SEG_DS, 8, PORT },
	{ "rep outsb %gs:(%esi)", false, 1, true, true, NVMM_X64_SEG_GS, 4, PORT },
	{ "ds rep outsb", false, 1, true, true, NVMM_X64_SEG_DS, 8, PORT },
	{ "outb %al, $0x7E", false, 1, false, false, 0, 0, PORT_7E },
	{ "outw %ax, %dx (0x7E)", false, 2, false, false, 0, 0, PORT_7E },
};

static const struct io_form io_forms16[] = {
	{ "inb $123, %al", true, 1, false, false, 0, 0, PORT },
	{ "inl %dx, %eax", true, 4, false, false, 0, 0, PORT },
	{ "rep insb", true, 1, true, true, NVMM_X64_SEG_ES, 2, PORT },
	{ "addr32 rep insw", true, 2, true, true, NVMM_X64_SEG_ES, 4, PORT },
	{ "rep outsb %ss:(%si)", false, 1, true, true, NVMM_X64_SEG_SS, 2, PORT },
	{ "outsw", false, 2, true, false, NVMM_X64_SEG_DS, 2, PORT },
	{ "rep outsl", false, 4, true, true, NVMM_X64_SEG_DS, 2, PORT },
};

#define NFORMS64	(sizeof(io_forms64) / sizeof(io_forms64[0]))
#define NFORMS16	(sizeof(io_forms16) / sizeof(io_forms16[0]))

/* One form against what was seen; rip_base = RIP of the guest's start. */
static void
io_form_check(const char *mode, const struct io_form *f, const uint64_t *ofs,
    const struct io_seen *s, uint64_t rip_base)
{
	const struct nvmm_x86_exit_io *io = &s->io;
	bool ok;

	ok = io->port == f->port && io->in == f->in &&
	    io->operand_size == f->size && io->str == f->str &&
	    io->rep == f->rep && s->rip == rip_base + ofs[0] &&
	    io->npc == rip_base + ofs[1] && s->calls == 1;
	if (f->str)
		ok = ok && io->seg == f->seg && io->address_size == f->asz;
	if (!t_ok(ok, "%s %s: exit record", mode, f->text))
		t_diag("  port %u in %d size %u str %d rep %d seg %d asz %u "
		    "rip +0x%llx npc +0x%llx calls %u; want in %d size %u "
		    "str %d rep %d seg %d asz %u rip +0x%llx npc +0x%llx",
		    io->port, io->in, io->operand_size, io->str, io->rep,
		    io->seg, io->address_size,
		    (unsigned long long)(s->rip - rip_base),
		    (unsigned long long)(io->npc - rip_base), s->calls, f->in,
		    f->size, f->str, f->rep, f->seg, f->asz,
		    (unsigned long long)ofs[0], (unsigned long long)ofs[1]);
}

static void
io_forms_check(const char *mode, const struct io_form *forms, size_t n,
    const uint64_t *table, const uint64_t *table_end, uint64_t rip_base,
    bool ran)
{
	if (!t_ok(ran && nseen == n && (size_t)(table_end - table) == 2 * n,
	    "%s: one IO exit per form (%u of %zu)", mode, nseen, n))
		return;
	for (size_t i = 0; i < n; i++)
		io_form_check(mode, &forms[i], &table[2 * i], &seen[i],
		    rip_base);
}

static void
io_forms(struct t_vm *vm, const struct nvmm_assist_callbacks *cbs)
{
	struct t_vm vm16;
	bool ran;

	io_start(vm, io_forms64_begin, io_forms64_end);
	ran = io_run(vm);
	io_forms_check("64-bit", io_forms64, NFORMS64, io_forms64_table,
	    io_forms64_table_end, T_CODE_BASE, ran);

	/* A fresh vCPU in real mode, segments at T_CODE_BASE: DATA follows. */
	io_reset();
	t_vm_create(&vm16, 0);
	T_CHECK(nvmm_vcpu_configure(&vm16.mach, &vm16.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, (void *)cbs));
	t_vm_load(&vm16, T_CODE_BASE, io_forms16_begin, io_forms16_end);
	t_vm_real_mode(&vm16, T_CODE_BASE >> 4, 0);
	ran = io_run(&vm16);
	io_forms_check("16-bit", io_forms16, NFORMS16, io_forms16_table,
	    io_forms16_table_end, 0, ran);
	t_vm_destroy(&vm16);
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb, .mem = NULL };
	struct t_vm vm;

	t_require_nvmm();
	t_plan(io_cases_planned() + 6 + 2 + NFORMS64 + NFORMS16);

	t_vm_create(&vm, 0);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	for (size_t i = 0; i < sizeof(io_cases) / sizeof(io_cases[0]); i++)
		io_case_run(&vm, &io_cases[i]);
	io_big_in(&vm);
	io_big_out(&vm);
	io_forms(&vm, &cbs);
	t_vm_destroy(&vm);
	return t_done();
}
