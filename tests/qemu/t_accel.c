/*
 * What QEMU's NVMM accelerator (target/i386/nvmm/nvmm-all.c, QEMU 7.2)
 * relies on, done the way it does it:
 * - CPUID: QEMU never installs its -cpu model; it only sets MCE, MCA and
 *   MTRR in leaf 1. The guest must still see a sane CPU on every vCPU.
 * - Kicks: SIGUSR1 with a handler (no SA_RESTART) that calls
 *   nvmm_vcpu_stop() on the vCPU thread, two vCPU threads, the main thread
 *   changing guest memory meanwhile. Runs never fail; errno survives.
 * - INIT/SIPI in user space: a vCPU created but never run gets QEMU's whole
 *   register set (setstate of every class but INTR), with CS at the SIPI
 *   vector, and starts there.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

T_GUEST(x86_cpuid);
T_GUEST(api_spin64);
T_GUEST(qemu_ap16);

#define BIT(n)		(1u << (n))
#define NCPUS		2
#define SPIN_GPA	T_CODE_BASE
#define CPUID_GPA	(T_CODE_BASE + 0x1000)
#define SIPI_VECTOR	0x9A		/* the AP starts at 0x9A000 */
#define SCRATCH_GPA	0x40000000ULL	/* mapped and unmapped meanwhile */
#define SCRATCH_SIZE	(64u << 10)
#define KICKS		300

/* QEMU's leaf 1 configuration (nvmm_init_vcpu). */
#define CPUID_MCE	BIT(7)
#define CPUID_MTRR	BIT(12)
#define CPUID_MCA	BIT(14)

static struct t_vm vm;		/* vCPU 0 */
static struct t_vm ap;		/* the same machine, vCPU 1 */

static struct t_vm *
cpu(int i)
{
	return i == 0 ? &vm : &ap;
}

/* ---- CPUID -------------------------------------------------------------------- */

struct regs {
	uint32_t eax, ebx, ecx, edx;
};

static struct regs
guest_cpuid(struct t_vm *c, uint32_t leaf)
{
	struct nvmm_x64_state *st = c->vcpu.state;
	struct regs r = { 0, 0, 0, 0 };

	t_vm_long_mode(c, CPUID_GPA, 0x8000);
	T_CHECK(nvmm_vcpu_getstate(&c->mach, &c->vcpu, NVMM_X64_STATE_GPRS));
	st->gprs[NVMM_X64_GPR_RAX] = leaf;
	st->gprs[NVMM_X64_GPR_RCX] = 0;
	T_CHECK(nvmm_vcpu_setstate(&c->mach, &c->vcpu, NVMM_X64_STATE_GPRS));
	if (t_vm_run(c) != NVMM_VCPU_EXIT_HALTED) {
		t_diag("cpuid 0x%x: no HLT after it", leaf);
		return r;
	}
	T_CHECK(nvmm_vcpu_getstate(&c->mach, &c->vcpu, NVMM_X64_STATE_GPRS));
	r.eax = (uint32_t)st->gprs[NVMM_X64_GPR_RAX];
	r.ebx = (uint32_t)st->gprs[NVMM_X64_GPR_RBX];
	r.ecx = (uint32_t)st->gprs[NVMM_X64_GPR_RCX];
	r.edx = (uint32_t)st->gprs[NVMM_X64_GPR_RDX];
	return r;
}

static void
qemu_conf_cpuid(struct t_vm *c)
{
	struct nvmm_vcpu_conf_cpuid conf;

	memset(&conf, 0, sizeof(conf));
	conf.mask = 1;
	conf.leaf = 0x00000001;
	conf.u.mask.set.edx = CPUID_MCE | CPUID_MCA | CPUID_MTRR;
	T_CHECK(nvmm_vcpu_configure(&c->mach, &c->vcpu, NVMM_VCPU_CONF_CPUID,
	    &conf));
}

static void
test_cpuid(int i)
{
	/* FPU TSC MSR PAE CX8 APIC SEP PGE CMOV PAT FXSR SSE SSE2 */
	const uint32_t base = BIT(0) | BIT(4) | BIT(5) | BIT(6) | BIT(8) |
	    BIT(9) | BIT(11) | BIT(13) | BIT(15) | BIT(16) | BIT(24) |
	    BIT(25) | BIT(26);
	struct t_vm *c = cpu(i);
	struct regs r0, r1, hv, x0, x1, x8;
	char sig[13];

	r0 = guest_cpuid(c, 0);
	r1 = guest_cpuid(c, 1);
	hv = guest_cpuid(c, 0x40000000);
	x0 = guest_cpuid(c, 0x80000000);
	x1 = guest_cpuid(c, 0x80000001);
	x8 = guest_cpuid(c, 0x80000008);
	t_diag("cpu%d: 0:%08x 1:%08x,%08x,%08x,%08x 80000001:%08x,%08x "
	    "80000008:%08x", i, r0.eax, r1.eax, r1.ebx, r1.ecx, r1.edx,
	    x1.ecx, x1.edx, x8.eax);

	t_ok(r0.eax >= 1 && r0.eax <= 0x16 && r0.ebx != 0,
	    "cpu%d: leaf 0: max basic 0x%x, a vendor", i, r0.eax);
	t_ok((r1.ebx >> 24) == (uint32_t)i && ((r1.ebx >> 16) & 0xFF) >= NCPUS,
	    "cpu%d: leaf 1: APIC id %u, %u logical CPUs", i, r1.ebx >> 24,
	    (r1.ebx >> 16) & 0xFF);
	t_ok((r1.edx & base) == base,
	    "cpu%d: leaf 1: FPU TSC MSR PAE CX8 APIC SEP PGE CMOV PAT FXSR SSE "
	    "SSE2 (missing 0x%x)", i, base & ~r1.edx);
	t_ok((r1.edx & (CPUID_MCE | CPUID_MCA | CPUID_MTRR)) ==
	    (CPUID_MCE | CPUID_MCA | CPUID_MTRR),
	    "cpu%d: leaf 1: QEMU's MCE MCA MTRR", i);
	/* (What NVMM hides is tests/x86's: some hosts show their own bits.) */
	t_ok(r1.ecx & BIT(31), "cpu%d: leaf 1: HYPERVISOR", i);
	memcpy(sig, &hv.ebx, 4);
	memcpy(sig + 4, &hv.ecx, 4);
	memcpy(sig + 8, &hv.edx, 4);
	sig[12] = '\0';
	t_ok(strcmp(sig, "___ NVMM ___") == 0, "cpu%d: hypervisor leaf \"%s\"",
	    i, sig);
	t_ok(x0.eax >= 0x80000008 && x0.eax <= 0x800000FF,
	    "cpu%d: max extended leaf 0x%x", i, x0.eax);
	/* SYSCALL NX LM */
	t_ok((x1.edx & (BIT(11) | BIT(20) | BIT(29))) == (BIT(11) | BIT(20) |
	    BIT(29)) && !(x1.ecx & BIT(2)),
	    "cpu%d: 80000001: SYSCALL NX LM, no SVM", i);
	t_ok((x8.eax & 0xFF) >= 36 && (x8.eax & 0xFF) <= 52,
	    "cpu%d: 80000008: %u physical address bits", i, x8.eax & 0xFF);
}

/* ---- Kicks --------------------------------------------------------------------- */

static _Thread_local struct t_vm *current_cpu;	/* as QEMU's */
static atomic_int errno_clobbered;
static atomic_bool done;
static atomic_int running;

/* QEMU's nvmm_ipi_signal(): no errno saving of its own. */
static void
ipi_handler(int sig)
{
	int saved = errno;

	(void)sig;
	if (current_cpu != NULL) {
		errno = EDOM;
		if (nvmm_vcpu_stop(&current_cpu->vcpu) != 0 || errno != EDOM)
			atomic_fetch_add(&errno_clobbered, 1);
	}
	errno = saved;
}

struct vcpu_thread {
	pthread_t th;
	int index;
	unsigned int runs, stopped, failed, other;
	uint64_t other_reason;
};

static void *
vcpu_thread_main(void *arg)
{
	struct vcpu_thread *t = arg;
	struct t_vm *c = cpu(t->index);
	sigset_t set;

	/* QEMU: SIG_IPI unblocked on each vCPU thread (nvmm_init_cpu_signals). */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	current_cpu = c;
	atomic_fetch_add(&running, 1);
	while (!atomic_load(&done)) {
		t->runs++;
		if (nvmm_vcpu_run(&c->mach, &c->vcpu) != 0) {
			t->failed++;
			break;
		}
		switch (c->vcpu.exit->reason) {
		case NVMM_VCPU_EXIT_STOPPED:
			t->stopped++;
			break;
		case NVMM_VCPU_EXIT_NONE:
			break;
		default:
			t->other++;
			t->other_reason = c->vcpu.exit->reason;
			break;
		}
	}
	current_cpu = NULL;
	return NULL;
}

static void
test_kicks(void)
{
	struct vcpu_thread t[NCPUS];
	struct sigaction sa;
	sigset_t set;
	void *scratch;
	unsigned int maps = 0;
	int map_errors = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ipi_handler;	/* sa_flags 0, as QEMU's */
	sigaction(SIGUSR1, &sa, NULL);
	/* The main thread keeps SIGUSR1 blocked: only vCPU threads take it. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	scratch = mmap(NULL, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (scratch == MAP_FAILED)
		t_bail("mmap: %s", strerror(errno));
	T_CHECK(nvmm_hva_map(&vm.mach, (uintptr_t)scratch, SCRATCH_SIZE));

	/*
	 * Both vCPUs set up before either runs: they share RAM, and the
	 * builder rewrites its page tables from zero, which a running vCPU
	 * may walk (a fault without an IDT: SHUTDOWN).
	 */
	for (int i = 0; i < NCPUS; i++)
		t_vm_long_mode(cpu(i), SPIN_GPA, 0x8000);
	for (int i = 0; i < NCPUS; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].index = i;
		if (pthread_create(&t[i].th, NULL, vcpu_thread_main, &t[i]))
			t_bail("pthread_create");
	}
	while (atomic_load(&running) < NCPUS)
		usleep(1000);

	for (int k = 0; k < KICKS; k++) {
		for (int i = 0; i < NCPUS; i++)
			pthread_kill(t[i].th, SIGUSR1);
		/* QEMU's memory listener runs on other threads meanwhile. */
		if (nvmm_gpa_map(&vm.mach, (uintptr_t)scratch, SCRATCH_GPA,
		    SCRATCH_SIZE, PROT_READ | PROT_WRITE) != 0 ||
		    nvmm_gpa_unmap(&vm.mach, (uintptr_t)scratch, SCRATCH_GPA,
		    SCRATCH_SIZE) != 0)
			map_errors++;
		maps++;
		usleep(500);
	}
	atomic_store(&done, true);
	for (int i = 0; i < NCPUS; i++) {
		pthread_kill(t[i].th, SIGUSR1);
		if (!t_join_within(t[i].th, 10000000000LL))
			t_bail("vCPU %d was not stopped within 10 s", i);
	}

	for (int i = 0; i < NCPUS; i++) {
		t_ok(t[i].failed == 0,
		    "kicks: cpu%d: %u runs, none failed", i, t[i].runs);
		t_ok(t[i].stopped > 0 && t[i].other == 0,
		    "kicks: cpu%d: %u STOPPED of %u kicks, no other exit "
		    "(last other 0x%llx)", i, t[i].stopped, KICKS + 1,
		    (unsigned long long)t[i].other_reason);
	}
	t_ok(atomic_load(&errno_clobbered) == 0,
	    "kicks: nvmm_vcpu_stop in the handler leaves errno alone");
	t_ok(map_errors == 0, "kicks: %u gpa_map/unmap pairs meanwhile", maps);
}

/* ---- INIT/SIPI ---------------------------------------------------------------- */

static void
qemu_seg(struct nvmm_x64_state_seg *s, uint16_t sel, uint64_t base,
    uint32_t limit, uint8_t type, bool system)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->attrib.type = type;
	s->attrib.s = !system;
	s->attrib.p = 1;
}

/*
 * QEMU's x86_cpu_reset() then do_cpu_sipi(), pushed by nvmm_set_registers()
 * with SEGS|GPRS|CRS|DRS|MSRS|FPU (its values, not ours).
 */
static void
qemu_init_sipi(struct t_vm *c, uint8_t vector)
{
	struct nvmm_x64_state *st = c->vcpu.state;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < NVMM_X64_SEG_GDT; i++)
		qemu_seg(&st->segs[i], 0, 0, 0xFFFF, 0x3, false);
	qemu_seg(&st->segs[NVMM_X64_SEG_CS], (uint16_t)(vector << 8),
	    (uint64_t)vector << 12, 0xFFFF, 0xB, false);
	qemu_seg(&st->segs[NVMM_X64_SEG_LDT], 0, 0, 0xFFFF, 0x2, true);
	qemu_seg(&st->segs[NVMM_X64_SEG_TR], 0, 0, 0xFFFF, 0xB, true);
	st->segs[NVMM_X64_SEG_GDT].limit = 0xFFFF;
	st->segs[NVMM_X64_SEG_IDT].limit = 0xFFFF;
	st->gprs[NVMM_X64_GPR_RDX] = 0x600;	/* family 6 */
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;
	st->gprs[NVMM_X64_GPR_RIP] = 0;
	st->crs[NVMM_X64_CR_CR0] = 0x60000010;
	st->crs[NVMM_X64_CR_XCR0] = 1;
	st->drs[NVMM_X64_DR_DR6] = 0xFFFF0FF0;
	st->drs[NVMM_X64_DR_DR7] = 0x400;
	st->fpu.fx_cw = 0x37F;
	st->fpu.fx_mxcsr = 0x1F80;
	st->fpu.fx_mxcsr_mask = 0x0000FFFF;
	st->msrs[NVMM_X64_MSR_PAT] = 0x0007040600070406ULL;
	st->msrs[NVMM_X64_MSR_TSC] = 0;
	T_CHECK(nvmm_vcpu_setstate(&c->mach, &c->vcpu, NVMM_X64_STATE_SEGS |
	    NVMM_X64_STATE_GPRS | NVMM_X64_STATE_CRS | NVMM_X64_STATE_DRS |
	    NVMM_X64_STATE_MSRS | NVMM_X64_STATE_FPU));
}

static void
test_sipi(void)
{
	const gpaddr_t entry = (gpaddr_t)SIPI_VECTOR << 12;
	uint16_t mark;
	uint64_t reason;

	t_vm_load(&ap, entry, qemu_ap16_begin, qemu_ap16_end);
	memset(ap.ram + entry + 0x100, 0, 2);
	qemu_init_sipi(&ap, SIPI_VECTOR);
	reason = t_vm_run(&ap);
	memcpy(&mark, ap.ram + entry + 0x100, sizeof(mark));
	t_ok(reason == NVMM_VCPU_EXIT_HALTED && mark == 0x5150,
	    "INIT/SIPI by setstate: a never-run vCPU starts at vector 0x%x "
	    "(exit 0x%llx, mark 0x%x)", SIPI_VECTOR,
	    (unsigned long long)reason, mark);
	T_CHECK(nvmm_vcpu_getstate(&ap.mach, &ap.vcpu, NVMM_X64_STATE_SEGS |
	    NVMM_X64_STATE_GPRS));
	t_ok(ap.vcpu.state->segs[NVMM_X64_SEG_CS].selector == SIPI_VECTOR << 8 &&
	    ap.vcpu.state->gprs[NVMM_X64_GPR_RIP] ==
	    (uint64_t)(qemu_ap16_end - qemu_ap16_begin),
	    "INIT/SIPI: CS 0x%x, IP 0x%llx after HLT",
	    ap.vcpu.state->segs[NVMM_X64_SEG_CS].selector,
	    (unsigned long long)ap.vcpu.state->gprs[NVMM_X64_GPR_RIP]);
}

int
main(void)
{
	t_require_nvmm();
	t_plan(2 * 9 + 2 + 2 * NCPUS + 2);

	t_vm_create(&vm, 0);
	ap = vm;
	T_CHECK(nvmm_vcpu_create(&vm.mach, 1, &ap.vcpu));
	t_vm_load(&vm, SPIN_GPA, api_spin64_begin, api_spin64_end);
	t_vm_load(&vm, CPUID_GPA, x86_cpuid_begin, x86_cpuid_end);

	/* The AP first, before anything ran: QEMU's order. */
	qemu_conf_cpuid(&vm);
	qemu_conf_cpuid(&ap);
	test_sipi();
	for (int i = 0; i < NCPUS; i++)
		test_cpuid(i);
	test_kicks();

	t_vm_destroy(&vm);
	return t_done();
}
