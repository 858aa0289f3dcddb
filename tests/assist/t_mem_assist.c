/*
 * Memory assist (spec 6.2): 64-bit tests 1-16 and 16-bit tests 1-6. The
 * guests' memory operands hit an unbacked page (MMIO); every MEMORY exit
 * is served by nvmm_assist_mem() through a callback backed by a 4 KiB
 * buffer. Checked per test: the value the guest leaves in MMIO, that each
 * exit gets exactly one callback with the exit's own GPA and direction,
 * the exact sequence of accesses (KVM reports a read-modify-write as a
 * read exit then a write exit, MOVS as a read then a write), and a
 * register the instructions set.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"

#define MMIO16		0x1000	/* 16-bit tests: MMIO page */
#define CODE16		0x2000	/* 16-bit tests: code page (RAM) */
#define MAX_EXITS	64

T_GUEST(mem64_mov); T_GUEST(mem64_or); T_GUEST(mem64_and);
T_GUEST(mem64_xor); T_GUEST(mem64_addrsize); T_GUEST(mem64_moffs);
T_GUEST(mem64_stos); T_GUEST(mem64_lods); T_GUEST(mem64_movs);
T_GUEST(mem64_movzxb); T_GUEST(mem64_movzxw); T_GUEST(mem64_cmp);
T_GUEST(mem64_sub); T_GUEST(mem64_test); T_GUEST(mem64_xchg);
T_GUEST(mem64_xchg_a32);
T_GUEST(mem16_mov_single); T_GUEST(mem16_mov_dual);
T_GUEST(mem16_mov_dual_disp); T_GUEST(mem16_mixed); T_GUEST(mem16_disp16);
T_GUEST(mem16_xchg);
extern const uint64_t mem_assist_mmio;	/* the guests' MMIO address */

/* ---- The device: a 4 KiB buffer at mmio_base, and a log of accesses ------ */

struct mem_access {
	uint16_t off;
	bool write;
	uint8_t size;
};

static uint8_t mmiobuf[4096];
static gpaddr_t mmio_base;
static struct mem_access acc_log[MAX_EXITS];
static unsigned int nacc, acc_bad;

static void
mem_cb(struct nvmm_mem *mem)
{
	if (mem->gpa < mmio_base || mem->size == 0 || mem->size > 8 ||
	    mem->gpa + mem->size > mmio_base + sizeof(mmiobuf)) {
		acc_bad++;
		return;
	}
	if (mem->write)
		memcpy(mmiobuf + (mem->gpa - mmio_base), mem->data, mem->size);
	else
		memcpy(mem->data, mmiobuf + (mem->gpa - mmio_base), mem->size);
	if (nacc < MAX_EXITS)
		acc_log[nacc] = (struct mem_access){
			(uint16_t)(mem->gpa - mmio_base), mem->write,
			(uint8_t)mem->size };
	nacc++;
}

/* ---- Running -------------------------------------------------------------------- */

/*
 * Run to the final RDMSR, serving MEMORY exits. *consistent: every exit
 * got one callback, at the exit's GPA, in the exit's direction.
 */
static bool
mem_run(struct t_vm *vm, bool *consistent)
{
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;

	*consistent = true;
	for (unsigned int n = 0; n < MAX_EXITS; n++) {
		uint64_t reason = t_vm_run(vm);
		unsigned int before = nacc;
		struct nvmm_x86_exit_memory m;

		if (reason == NVMM_VCPU_EXIT_RDMSR)
			return true;
		if (reason != NVMM_VCPU_EXIT_MEMORY) {
			t_diag("unexpected exit 0x%llx at RIP 0x%llx",
			    (unsigned long long)reason, (unsigned long long)
			    t_vm_gpr(vm, NVMM_X64_GPR_RIP));
			return false;
		}
		m = exit->u.mem;
		if (nvmm_assist_mem(&vm->mach, &vm->vcpu) == -1) {
			t_diag("nvmm_assist_mem: %s", strerror(errno));
			return false;
		}
		if (nacc != before + 1 || before >= MAX_EXITS ||
		    m.gpa != mmio_base + acc_log[before].off ||
		    (m.prot != PROT_READ && m.prot != PROT_WRITE) ||
		    acc_log[before].write != (m.prot == PROT_WRITE)) {
			t_diag("exit %u: prot %d gpa 0x%llx, %u callbacks", n,
			    m.prot, (unsigned long long)m.gpa, nacc - before);
			*consistent = false;
		}
	}
	t_diag("no end after %u exits", MAX_EXITS);
	return false;
}

/* ---- The cases -------------------------------------------------------------------- */

struct mem_case {
	const char *name;
	const uint8_t *begin, *end;
	uint16_t off;		/* result: 8 bytes at mmiobuf + off */
	uint64_t want;
	int reg;		/* a GPR to check afterwards, or -1 */
	uint64_t reg_want;
	const struct mem_access *seq;
	size_t nseq;
};

#define R(o, s)		{ o, false, s }
#define W(o, s)		{ o, true, s }
#define SEQ(...)	(const struct mem_access[]){ __VA_ARGS__ },	\
	sizeof((const struct mem_access[]){ __VA_ARGS__ }) /		\
	sizeof(struct mem_access)
#define CASE(n, g, off, want, reg, rw, ...)				\
	{ n, g##_begin, g##_end, off, want, reg, rw, SEQ(__VA_ARGS__) }
#define M64		0x10000000ULL	/* == mem_assist_mmio, checked */

static const struct mem_case cases64[] = {
	CASE("64bit test1 - MOV", mem64_mov, 0, 0x3004,
	    NVMM_X64_GPR_RBX, 0x2000,
	    W(0, 8), W(8, 8), R(0, 8), R(8, 8), W(0, 8), W(0, 1)),
	CASE("64bit test2 - OR", mem64_or, 0, 0x16FF, -1, 0,
	    W(0, 8), R(0, 1), W(0, 1), R(0, 2), W(0, 2), R(0, 8), W(0, 8)),
	CASE("64bit test3 - AND", mem64_and, 0, 0x1FC0, -1, 0,
	    W(0, 8), R(0, 8), W(0, 8), R(0, 1), W(0, 1)),
	CASE("64bit test4 - XOR", mem64_xor, 0, 0x10CF, -1, 0,
	    W(0, 8), R(0, 8), W(0, 8), R(0, 2), W(0, 2)),
	CASE("64bit test5 - Address Sizes", mem64_addrsize, 0, 0x1F00, -1, 0,
	    W(0, 8), W(0, 1)),
	CASE("64bit test6 - DMO", mem64_moffs, 0, 0xFFAB,
	    NVMM_X64_GPR_RAX, 0xFFAB,
	    W(0, 8), R(0, 1), W(0, 1), R(0, 8)),
	CASE("64bit test7 - STOS", mem64_stos, 0, 0x123456,
	    NVMM_X64_GPR_RDI, M64 + 2,
	    W(2, 1), W(0, 2)),
	CASE("64bit test8 - LODS", mem64_lods, 0, 0x12345678,
	    NVMM_X64_GPR_RSI, M64 + 12,
	    W(8, 4), R(8, 2), W(0, 2), R(10, 1), W(2, 1), R(11, 1), W(3, 1)),
	CASE("64bit test9 - MOVS", mem64_movs, 0, 0x12345678,
	    NVMM_X64_GPR_RDI, M64 + 4,
	    W(8, 2), W(12, 2), R(8, 1), W(0, 1), R(9, 1), W(1, 1),
	    R(12, 2), W(2, 2)),
	CASE("64bit test10 - MOVZXB", mem64_movzxb, 0, 0x78, -1, 0,
	    W(0, 4), R(0, 1), W(0, 8)),
	CASE("64bit test11 - MOVZXW", mem64_movzxw, 0, 0x5678, -1, 0,
	    W(0, 4), R(0, 2), W(0, 8)),
	CASE("64bit test12 - CMP", mem64_cmp, 0, 1, -1, 0,
	    W(0, 4), R(0, 1), R(0, 1), R(0, 2), R(0, 2), R(0, 4), R(0, 8),
	    W(0, 8)),
	CASE("64bit test13 - SUB", mem64_sub, 0, 0x0000000F0000A0FFULL, -1, 0,
	    W(0, 8), R(0, 1), W(0, 1), R(0, 2), W(0, 2), R(0, 8), W(0, 8)),
	CASE("64bit test14 - TEST", mem64_test, 0, 1, -1, 0,
	    W(0, 4), R(0, 1), R(0, 2), R(0, 4), W(0, 8)),
	CASE("64bit test15 - XCHG", mem64_xchg, 0, 0x123456,
	    NVMM_X64_GPR_RBX, 0,
	    R(0, 8), W(0, 8), R(0, 2), W(0, 2), R(0, 1), W(0, 1)),
	CASE("64bit test16 - XCHG", mem64_xchg_a32, 0, 0x123456,
	    NVMM_X64_GPR_RSI, 0x123456,
	    W(0, 8), R(0, 8), W(0, 8), R(0, 8), W(0, 8)),
};

static const struct mem_case cases16[] = {
	CASE("16bit test1 - MOV single", mem16_mov_single, 0xF1, 0x23, -1, 0,
	    W(0xF1, 1)),
	CASE("16bit test2 - MOV dual", mem16_mov_dual, 0xF3, 0x123, -1, 0,
	    W(0xF3, 2)),
	CASE("16bit test3 - MOV dual+disp", mem16_mov_dual_disp, 0xF1, 0x678,
	    -1, 0, W(0xF1, 2)),
	CASE("16bit test4 - Mixed", mem16_mixed, 0xF6, 0x1011, -1, 0,
	    W(0xF6, 2), R(0xF6, 4), W(0xF6, 4), R(0xF6, 2), W(0xF6, 2),
	    R(0xF6, 4), W(0xF6, 4)),
	CASE("16bit test5 - disp16-only", mem16_disp16, 0x234, 0x12, -1, 0,
	    W(0x234, 1)),
	CASE("16bit test6 - XCHG", mem16_xchg, 0x234, 0x1234,
	    NVMM_X64_GPR_RBX, 0,
	    R(0x234, 2), W(0x234, 2), R(0x234, 1), W(0x234, 1)),
};

#define NCASES64	(sizeof(cases64) / sizeof(cases64[0]))
#define NCASES16	(sizeof(cases16) / sizeof(cases16[0]))

static bool
mem_seq_matches(const struct mem_case *c)
{
	if (nacc != c->nseq)
		return false;
	for (size_t i = 0; i < c->nseq; i++) {
		if (acc_log[i].off != c->seq[i].off ||
		    acc_log[i].write != c->seq[i].write ||
		    acc_log[i].size != c->seq[i].size)
			return false;
	}
	return true;
}

static void
mem_seq_diag(void)
{
	for (unsigned int i = 0; i < nacc && i < MAX_EXITS; i++)
		t_diag("  access %u: %c 0x%x size %u", i,
		    acc_log[i].write ? 'W' : 'R', acc_log[i].off,
		    acc_log[i].size);
}

/* The guest is loaded and its state set; run it and check everything. */
static void
mem_case_check(struct t_vm *vm, const struct mem_case *c)
{
	bool ran, consistent;
	uint64_t got;

	ran = mem_run(vm, &consistent);
	memcpy(&got, mmiobuf + c->off, sizeof(got));
	if (!t_ok(ran && got == c->want && acc_bad == 0, "%s: result", c->name))
		t_diag("  wanted 0x%llx, got 0x%llx (%u out of the page)",
		    (unsigned long long)c->want, (unsigned long long)got,
		    acc_bad);
	t_ok(ran && consistent,
	    "%s: one callback per exit, at the exit's GPA and direction",
	    c->name);
	if (!t_ok(ran && mem_seq_matches(c), "%s: %zu accesses in order",
	    c->name, c->nseq))
		mem_seq_diag();
	if (c->reg >= 0)
		t_eq_u64(t_vm_gpr(vm, c->reg), c->reg_want, "%s: register %d",
		    c->name, c->reg);
}

static void
mem_reset(void)
{
	memset(mmiobuf, 0, sizeof(mmiobuf));
	nacc = acc_bad = 0;
}

static void
mem_tests64(const struct nvmm_assist_callbacks *cbs)
{
	struct t_vm vm;

	t_vm_create(&vm, 0);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, (void *)cbs));
	mmio_base = T_MMIO_BASE;
	for (size_t i = 0; i < NCASES64; i++) {
		mem_reset();
		t_vm_load(&vm, T_CODE_BASE, cases64[i].begin, cases64[i].end);
		t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
		mem_case_check(&vm, &cases64[i]);
	}
	t_vm_destroy(&vm);
}

/*
 * The 16-bit machine: RAM only at CODE16, MMIO below it; each test starts
 * from the RESET state with CS based at 0.
 */
static void
mem_tests16(const struct nvmm_assist_callbacks *cbs)
{
	struct nvmm_x64_state reset;
	struct t_vm vm;
	uint8_t *code;

	memset(&vm, 0, sizeof(vm));
	T_CHECK(nvmm_machine_create(&vm.mach));
	T_CHECK(nvmm_vcpu_create(&vm.mach, 0, &vm.vcpu));
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, (void *)cbs));
	code = t_vm_map(&vm, CODE16, 0x1000, PROT_READ | PROT_EXEC);
	T_CHECK(nvmm_vcpu_getstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_ALL));
	reset = *vm.vcpu.state;
	reset.segs[NVMM_X64_SEG_CS].selector = 0;
	reset.segs[NVMM_X64_SEG_CS].base = 0;
	reset.segs[NVMM_X64_SEG_CS].limit = 0x2FFF;
	reset.gprs[NVMM_X64_GPR_RIP] = CODE16;
	mmio_base = MMIO16;
	for (size_t i = 0; i < NCASES16; i++) {
		const struct mem_case *c = &cases16[i];

		mem_reset();
		memset(code, 0xF4, 0x1000);
		memcpy(code, c->begin, (size_t)(c->end - c->begin));
		*vm.vcpu.state = reset;
		T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu,
		    NVMM_X64_STATE_ALL));
		mem_case_check(&vm, c);
	}
	t_vm_destroy(&vm);
}

static unsigned int
mem_planned(const struct mem_case *cases, size_t n)
{
	unsigned int planned = 0;

	for (size_t i = 0; i < n; i++)
		planned += 3 + (cases[i].reg >= 0);
	return planned;
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = NULL, .mem = mem_cb };

	t_require_nvmm();
	if (mem_assist_mmio != T_MMIO_BASE || M64 != T_MMIO_BASE)
		t_bail("guests use MMIO 0x%llx, harness 0x%llx",
		    (unsigned long long)mem_assist_mmio, T_MMIO_BASE);
	t_plan(mem_planned(cases64, NCASES64) + mem_planned(cases16, NCASES16));
	mem_tests64(&cbs);
	mem_tests16(&cbs);
	return t_done();
}
