/*
 * The test harness: TAP output and the VM builder (see harness.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "harness.h"

/* ---- TAP ----------------------------------------------------------------- */

static unsigned int t_planned, t_count, t_failed;

void
t_plan(unsigned int n)
{
	t_planned = n;
	printf("1..%u\n", n);
	fflush(stdout);
}

static void
t_vprint(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stdout);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

void
t_skip_all(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t_vprint("1..0 # SKIP ", fmt, ap);
	va_end(ap);
	exit(0);
}

bool
t_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	t_count++;
	if (!cond)
		t_failed++;
	printf("%sok %u - ", cond ? "" : "not ", t_count);
	va_start(ap, fmt);
	t_vprint("", fmt, ap);
	va_end(ap);
	return cond;
}

void
t_skip(const char *fmt, ...)
{
	va_list ap;

	t_count++;
	printf("ok %u # SKIP ", t_count);
	va_start(ap, fmt);
	t_vprint("", fmt, ap);
	va_end(ap);
}

void
t_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t_vprint("# ", fmt, ap);
	va_end(ap);
}

void
t_bail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t_vprint("Bail out! ", fmt, ap);
	va_end(ap);
	exit(1);
}

int
t_done(void)
{
	if (t_count != t_planned)
		t_diag("planned %u tests, ran %u", t_planned, t_count);
	return (t_failed == 0 && t_count == t_planned) ? 0 : 1;
}

void
t_require_nvmm(void)
{
	if (nvmm_init() == -1) {
		if (errno == ENXIO || errno == EACCES)
			t_skip_all("NVMM not available: %s", strerror(errno));
		t_bail("nvmm_init: %s", strerror(errno));
	}
}

/* ---- Time -------------------------------------------------------------- */

int64_t
t_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* pthread_timedjoin_np() takes a CLOCK_REALTIME deadline. */
bool
t_join_within(pthread_t th, int64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns += ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	return pthread_timedjoin_np(th, NULL, &ts) == 0;
}

/* ---- VM builder -------------------------------------------------------------- */

void *
t_vm_map(struct t_vm *vm, gpaddr_t gpa, size_t size, int prot)
{
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (p == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	T_CHECK(nvmm_hva_map(&vm->mach, (uintptr_t)p, size));
	T_CHECK(nvmm_gpa_map(&vm->mach, (uintptr_t)p, gpa, size, prot));
	return p;
}

void
t_vm_create(struct t_vm *vm, size_t ram_size)
{
	memset(vm, 0, sizeof(*vm));
	T_CHECK(nvmm_machine_create(&vm->mach));
	T_CHECK(nvmm_vcpu_create(&vm->mach, 0, &vm->vcpu));
	vm->ram_size = ram_size ? ram_size : T_RAM_SIZE_DEFAULT;
	vm->ram = t_vm_map(vm, 0, vm->ram_size,
	    PROT_READ | PROT_WRITE | PROT_EXEC);
}

void
t_vm_destroy(struct t_vm *vm)
{
	T_CHECK(nvmm_machine_destroy(&vm->mach));
}

void
t_vm_load(struct t_vm *vm, gpaddr_t gpa, const uint8_t *begin,
    const uint8_t *end)
{
	if (gpa + (size_t)(end - begin) > vm->ram_size)
		t_bail("guest code does not fit at 0x%llx",
		    (unsigned long long)gpa);
	memcpy(vm->ram + gpa, begin, (size_t)(end - begin));
}

static void
t_put64(struct t_vm *vm, gpaddr_t gpa, uint64_t v)
{
	memcpy(vm->ram + gpa, &v, sizeof(v));
}

/* PML4 -> PDPT -> PD with 512 x 2 MiB pages: the first GiB, RWX. */
static void
t_vm_page_tables(struct t_vm *vm)
{
	const uint64_t p_w = 0x3, ps = 0x80;

	if (vm->ram_size < T_GDT_BASE + 0x1000)
		t_bail("RAM too small for the builder's tables");
	memset(vm->ram + T_PT_BASE, 0, 3 * 4096);
	t_put64(vm, T_PT_BASE, (T_PT_BASE + 0x1000) | p_w);
	t_put64(vm, T_PT_BASE + 0x1000, (T_PT_BASE + 0x2000) | p_w);
	for (uint64_t i = 0; i < 512; i++)
		t_put64(vm, T_PT_BASE + 0x2000 + i * 8, (i << 21) | p_w | ps);
}

/* Null, 64-bit code, data, 32-bit code, 64-bit TSS (two slots). */
static void
t_vm_gdt(struct t_vm *vm)
{
	memset(vm->ram + T_GDT_BASE, 0, 0x1000);
	t_put64(vm, T_GDT_BASE + T_SEL_CODE64, 0x00AF9B000000FFFFULL);
	t_put64(vm, T_GDT_BASE + T_SEL_DATA, 0x00CF93000000FFFFULL);
	t_put64(vm, T_GDT_BASE + T_SEL_CODE32, 0x00CF9B000000FFFFULL);
	t_put64(vm, T_GDT_BASE + T_SEL_TSS, 0x00008B0000000067ULL);
}

static void
t_seg(struct nvmm_x64_state_seg *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xFFFFFFFF;
	s->attrib.type = type;
	s->attrib.s = 1;
	s->attrib.p = 1;
	s->attrib.l = code64;
	s->attrib.def = !code64;
	s->attrib.g = 1;
}

void
t_vm_long_mode(struct t_vm *vm, gpaddr_t rip, gpaddr_t rsp)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	t_vm_page_tables(vm);
	t_vm_gdt(vm);
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	t_seg(&st->segs[NVMM_X64_SEG_CS], T_SEL_CODE64, 0xB, true);
	for (int i = 0; i < NVMM_X64_SEG_GDT; i++) {
		if (i != NVMM_X64_SEG_CS)
			t_seg(&st->segs[i], T_SEL_DATA, 0x3, false);
	}
	memset(&st->segs[NVMM_X64_SEG_GDT], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_GDT].base = T_GDT_BASE;
	st->segs[NVMM_X64_SEG_GDT].limit = 0x2F;
	memset(&st->segs[NVMM_X64_SEG_IDT], 0, sizeof(st->segs[0]));
	memset(&st->segs[NVMM_X64_SEG_LDT], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_LDT].attrib.type = 2;	/* p = 0: unusable */
	memset(&st->segs[NVMM_X64_SEG_TR], 0, sizeof(st->segs[0]));
	st->segs[NVMM_X64_SEG_TR].selector = T_SEL_TSS;
	st->segs[NVMM_X64_SEG_TR].limit = 0x67;
	st->segs[NVMM_X64_SEG_TR].attrib.type = 0xB;	/* busy 64-bit TSS */
	st->segs[NVMM_X64_SEG_TR].attrib.p = 1;

	st->crs[NVMM_X64_CR_CR0] = 0x80010031;	/* PG WP NE ET PE */
	st->crs[NVMM_X64_CR_CR3] = T_PT_BASE;
	st->crs[NVMM_X64_CR_CR4] = 0x620;	/* OSXMMEXCPT OSFXSR PAE */
	st->msrs[NVMM_X64_MSR_EFER] = 0xD01;	/* NXE LMA LME SCE */
	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RIP] = rip;
	st->gprs[NVMM_X64_GPR_RSP] = rsp;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
}

void
t_vm_real_mode(struct t_vm *vm, uint16_t sel, uint16_t ip)
{
	struct nvmm_x64_state *st = vm->vcpu.state;

	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
	for (int i = 0; i < NVMM_X64_SEG_GDT; i++) {
		st->segs[i].selector = sel;
		st->segs[i].base = (uint64_t)sel << 4;
		st->segs[i].limit = 0xFFFF;
	}
	st->gprs[NVMM_X64_GPR_RIP] = ip;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_ALL));
}

uint64_t
t_vm_run(struct t_vm *vm)
{
	do {
		T_CHECK(nvmm_vcpu_run(&vm->mach, &vm->vcpu));
	} while (vm->vcpu.exit->reason == NVMM_VCPU_EXIT_NONE);
	return vm->vcpu.exit->reason;
}

uint64_t
t_vm_gpr(struct t_vm *vm, int gpr)
{
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	return vm->vcpu.state->gprs[gpr];
}

void
t_vm_set_gpr(struct t_vm *vm, int gpr, uint64_t value)
{
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	vm->vcpu.state->gprs[gpr] = value;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
}
