/*
 * <nvmm.h> is self-contained: included first and alone, it compiles as
 * strict C11 and as gnu11 (this file is built both ways, see meson.build),
 * with every type, constant and alias a program uses.
 */
#ifdef NVMM_TEST_STRICT
#undef _GNU_SOURCE	/* the project defines it; a strict program does not */
#endif
#include <nvmm.h>

#include <stdio.h>

static unsigned int n;
static unsigned int failed;

static void
ok(int cond, const char *what)
{
	printf("%sok %u - %s\n", cond ? "" : "not ", ++n, what);
	failed += !cond;
}

int
main(void)
{
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	struct nvmm_vcpu_state state;	/* the generic aliases */
	struct nvmm_vcpu_exit exit;
	struct nvmm_vcpu_event event;
	struct nvmm_capability cap;
	struct nvmm_io io;
	struct nvmm_mem mem;
	struct nvmm_vcpu_conf_cpuid cpuid;
	struct nvmm_ctl_mach_info info;
	int (*run)(struct nvmm_machine *, struct nvmm_vcpu *) = nvmm_vcpu_run;

	(void)mach; (void)vcpu; (void)exit; (void)event; (void)cap; (void)io;
	(void)mem; (void)cpuid; (void)info;
	printf("1..6\n");
	ok(sizeof(state) == 1008, "sizeof(struct nvmm_vcpu_state)");
	ok(offsetof(struct nvmm_x64_state, fpu) == 496, "fpu offset");
	ok(NVMM_VCPU_EXIT_STOPPED == 0xFFFFFFFFFFFFFFFEULL &&
	    NVMM_USER_VERSION >= 2, "stop support is visible");
	ok(NVMM_X64_STATE_ALL == 0x7F && NVMM_VCPU_CONF_CPUID == 200,
	    "constants");
	ok(PROT_READ == 1 && PROT_WRITE == 2 && PROT_EXEC == 4,
	    "PROT_* for nvmm_gpa_map");
	ok(run != NULL && EPROGMISMATCH != 0, "functions and EPROGMISMATCH");
	return failed != 0;
}
