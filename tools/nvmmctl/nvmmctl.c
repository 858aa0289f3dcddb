/*
 * nvmmctl(8): show what this NVMM implementation offers (identify) and the
 * virtual machines of every process on the host (list).
 *
 * The output is NVMM's own (nvmm-api.md section 5, DragonFly's v3 layout
 * with its Comm size line), so that scripts written for NetBSD or DragonFly
 * read it unchanged. Errors are err(3)-style and say how to fix the cause.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nvmm.h>

#include "rundir.h"

#define KVM_DEVICE	"/dev/kvm"

/* ---- Errors ---------------------------------------------------------------- */

/* strerror(), plus the errno Linux lacks (libc says "Unknown error 1075"). */
static const char *
error_text(int error)
{
	if (error == EPROGMISMATCH)
		return "Program version wrong";
	return strerror(error);
}

/* Why NVMM is not usable, and what to do about it. */
static const char *
init_hint(int error)
{
	struct stat st;

	switch (error) {
	case ENXIO:
		if (stat(KVM_DEVICE, &st) == -1)
			return "KVM not available: load kvm_intel/kvm_amd, "
			    "or enable virtualization";
		return KVM_DEVICE " lacks what NVMM needs, such as user-space "
		    "MSR exits and MSR filters: use Linux 5.10 or later";
	case EACCES:
	case EPERM:
		return "cannot open " KVM_DEVICE ": add your user to group "
		    "'kvm'";
	case EPROGMISMATCH:
		return "libnvmm and nvmmctl were built for different NVMM API "
		    "versions: install them from the same build";
	default:
		return NULL;
	}
}

/* "nvmmctl: <what> failed: <error> (<hint>)", exit 1. */
static void __attribute__((noreturn))
fail(const char *what, int error, const char *hint)
{
	if (hint != NULL)
		errx(EXIT_FAILURE, "%s failed: %s (%s)", what, error_text(error),
		    hint);
	errx(EXIT_FAILURE, "%s failed: %s", what, error_text(error));
}

/* ---- The machine registry -------------------------------------------------- */

/* Whether this user may create path's missing last component. */
static bool
can_make(const char *path)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (geteuid() == 0)
		return true;
	if (slash == NULL)
		return access(".", W_OK | X_OK) == 0;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	return access(parent[0] != '\0' ? parent : "/", W_OK | X_OK) == 0;
}

/*
 * What keeps this user's machines out of the registry, with its fix
 * (rundir.h), or NULL. A missing directory or slots file matters only to
 * those who may not make it; libnvmm makes it for the others.
 */
static const char *
registry_problem(char *buf, size_t len)
{
	enum rundir_problem problem;
	struct stat st;
	int dfd, sfd;

	if (rundir_open(false, &dfd, &st, &problem) == 0) {
		if (rundir_slots_open(dfd, &st, false, &sfd, &problem) == 0)
			close(sfd);
		else if (problem == RUNDIR_SLOTS_MISSING &&
		    st.st_uid == geteuid())
			problem = RUNDIR_OK;
		close(dfd);
	} else if (problem == RUNDIR_MISSING && can_make(rundir_path())) {
		problem = RUNDIR_OK;
	}
	if (problem == RUNDIR_OK)
		return NULL;
	rundir_explain(problem, rundir_path(), buf, len);
	return buf;
}

/* ---- Formatting as NetBSD's humanize_number(3) and snprintb(3) ------------- */

/*
 * A byte count in at most four characters, as NVMM prints it (humanize_
 * number with a 5-byte buffer, HN_AUTOSCALE, HN_DECIMAL | HN_B |
 * HN_NOSPACE): scale by 1024 while the value, kept in hundredths, would
 * need more than three digits; one decimal when the scaled value is below
 * 10. 4096 -> "4.0K", 16 MiB -> "16M", 127 TiB -> "127T".
 */
static void
format_size(char *buf, size_t len, uint64_t bytes)
{
	static const char units[] = "BKMGTPE";
	unsigned int unit = 0;
	uint64_t v = bytes;

	/* Hundredths must fit in 64 bits: scale the largest values first. */
	while (v > UINT64_MAX / 100) {
		v /= 1024;
		unit++;
	}
	v *= 100;
	while (v >= 100000 - 50 && unit < sizeof(units) - 2) {
		v /= 1024;
		unit++;
	}
	if (unit > 0 && v < 995) {
		uint64_t tenths = (v + 5) / 10;

		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "%c", tenths / 10,
		    tenths % 10, units[unit]);
	} else {
		snprintf(buf, len, "%" PRIu64 "%c", (v + 50) / 100, units[unit]);
	}
}

/*
 * A bit mask as NVMM prints it (snprintb with an old-style hexadecimal
 * format, whose number is "%#jx"): the value, followed by the names of its
 * named set bits in ascending order. "%#x" gives 0 no prefix:
 * 3 -> "0x3<CPUID,TPR>", 4 -> "0x4" (no named bit), 0 -> "0".
 */
static void
format_bits(char *buf, size_t len, uint64_t value, const char *const *names,
    size_t nnames)
{
	size_t used;
	bool first = true;

	used = (size_t)snprintf(buf, len, "%#" PRIx64, value);
	for (size_t bit = 0; bit < nnames && used < len; bit++) {
		if (names[bit] == NULL || !(value & (1ULL << bit)))
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%c%s",
		    first ? '<' : ',', names[bit]);
		first = false;
	}
	if (!first && used < len)
		snprintf(buf + used, len - used, ">");
}

#define NNAMES(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const vcpu_conf_names[] = {
	[0] = "CPUID",
	[1] = "TPR",
};

/* XCR0 state components (Intel SDM vol. 1, 13.1), named as NVMM names them. */
static const char *const xcr0_names[] = {
	[0] = "x87", [1] = "SSE", [2] = "AVX", [3] = "BNDREGS",
	[4] = "BNDCSR", [5] = "Opmask", [6] = "ZMM_Hi256", [7] = "Hi16_ZMM",
	[8] = "PT", [9] = "PKRU", [11] = "CET_U", [12] = "CET_S",
	[13] = "HDC", [15] = "LBR", [16] = "HWP",
};

/* ---- Commands ------------------------------------------------------------------ */

static void
get_capability(struct nvmm_capability *cap)
{
	if (nvmm_capability(cap) == -1)
		fail("nvmm_capability", errno, NULL);
}

static void
cmd_identify(void)
{
	struct nvmm_capability cap;
	char ram[32], bits[256], why[512];

	if (nvmm_init() == -1) {
		int error = errno;	/* init_hint() may change errno */

		fail("nvmm_init", error, init_hint(error));
	}
	get_capability(&cap);

	printf("nvmm: Kernel API version %u\n", cap.version);
	printf("nvmm: State size %u\n", cap.state_size);
	printf("nvmm: Comm size %u\n", cap.comm_size);
	printf("nvmm: Max machines %u\n", cap.max_machines);
	printf("nvmm: Max VCPUs per machine %u\n", cap.max_vcpus);
	format_size(ram, sizeof(ram), cap.max_ram);
	printf("nvmm: Max RAM per machine %s\n", ram);
	format_bits(bits, sizeof(bits), cap.arch.mach_conf_support, NULL, 0);
	printf("nvmm: Arch Mach conf %s\n", bits);
	format_bits(bits, sizeof(bits), cap.arch.vcpu_conf_support,
	    vcpu_conf_names, NNAMES(vcpu_conf_names));
	printf("nvmm: Arch VCPU conf %s\n", bits);
	format_bits(bits, sizeof(bits), cap.arch.xcr0_mask, xcr0_names,
	    NNAMES(xcr0_names));
	printf("nvmm: Guest FPU states %s\n", bits);

	/* NVMM's nine lines stay as they are: the rest goes to stderr. */
	if (registry_problem(why, sizeof(why)) != NULL)
		warnx("warning: no machine can be created: %s", why);
}

/* asctime() of the local time, without its newline. */
static const char *
format_time(time_t t, char *buf, size_t len)
{
	struct tm *tm = localtime(&t);
	const char *s = tm != NULL ? asctime(tm) : NULL;

	snprintf(buf, len, "%.24s", s != NULL ? s : "?");
	return buf;
}

static void
list_row(size_t machid, const struct nvmm_ctl_mach_info *info)
{
	char ram[32], when[32];

	format_size(ram, sizeof(ram), info->nram);
	printf("%-10zu %-5u %-4s %-9d %s\n", machid, info->nvcpus, ram,
	    (int)info->pid, format_time(info->time, when, sizeof(when)));
}

static void
cmd_list(void)
{
	struct nvmm_capability cap;
	struct nvmm_ctl_mach_info info;
	char why[512];

	if (nvmm_root_init() == -1) {
		int error = errno;

		fail("nvmm_root_init", error, (error == EACCES &&
		    geteuid() != 0) ? "the machines of every process are "
		    "visible to root only: run 'nvmmctl list' as root" :
		    init_hint(error));
	}
	get_capability(&cap);

	/* The last column is padded to the width of an asctime() date. */
	printf("Machine ID VCPUs RAM  Owner PID Creation Time           \n"
	    "---------- ----- ---- --------- ------------------------\n");
	for (size_t machid = 0; machid < cap.max_machines; machid++) {
		memset(&info, 0, sizeof(info));
		info.machid = (nvmm_machid_t)machid;
		if (nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) == -1) {
			int error = errno;

			if (error == ENOENT)
				continue;	/* a free id */
			fail("nvmm_ctl", error, error == EACCES ?
			    registry_problem(why, sizeof(why)) : NULL);
		}
		list_row(machid, &info);
	}
}

/* ---- Command table ---------------------------------------------------------------- */

struct command {
	const char *name;
	void (*run)(void);
};

static const struct command commands[] = {
	{ "identify", cmd_identify },
	{ "list", cmd_list },
};

static void __attribute__((noreturn))
usage(void)
{
	const char *prog = program_invocation_short_name;

	fprintf(stderr, "usage: %s identify\n", prog);
	fprintf(stderr, "       %s list\n", prog);
	exit(EXIT_FAILURE);
}

int
main(int argc, char *argv[])
{
	const struct command *cmd = NULL;

	if (argc < 2)
		usage();
	for (size_t i = 0; i < NNAMES(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			cmd = &commands[i];
	}
	if (cmd == NULL)
		errx(EXIT_FAILURE, "unknown command ``%s''", argv[1]);
	/* No command takes arguments. */
	if (argc > 2)
		usage();
	cmd->run();
	/* Output that did not reach its destination is a failure. */
	if (fflush(stdout) == EOF || ferror(stdout))
		err(EXIT_FAILURE, "stdout");
	return EXIT_SUCCESS;
}
