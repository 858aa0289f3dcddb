/*
 * Host memory per machine and per vCPU: RSS and PSS of a fresh child
 * process (/proc/self/smaps_rollup) before and after creating N of them,
 * divided by N. Only user-space memory shows there; KVM's own (VMCB or
 * VMCS, page tables) is kernel memory and the same on both sides.
 */
#include <errno.h>
#include <stddef.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MEM_N		64
#define MEM_REPS	3

struct mem_use {
	double rss, pss;	/* bytes */
};

/* Per machine and per vCPU. */
struct mem_cost {
	struct mem_use mach, vcpu;
};

static struct mem_cost results[2][MEM_REPS];	/* [raw, lib][rep] */
static unsigned int nreps;

static struct mem_use
mem_now(void)
{
	struct mem_use u = { 0, 0 };
	char line[256];
	unsigned long kb;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (f == NULL)
		die("/proc/self/smaps_rollup: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Rss: %lu kB", &kb) == 1)
			u.rss = kb * 1024.0;
		else if (sscanf(line, "Pss: %lu kB", &kb) == 1)
			u.pss = kb * 1024.0;
	}
	fclose(f);
	return u;
}

static struct mem_use
mem_per(struct mem_use before, struct mem_use after)
{
	return (struct mem_use){ (after.rss - before.rss) / MEM_N,
	    (after.pss - before.pss) / MEM_N };
}

/* ---- What each side creates ---------------------------------------------------- */

static struct mem_cost
raw_cost(void)
{
	static struct raw_vm vms[MEM_N];
	struct raw_vm one;
	struct mem_cost c;
	struct mem_use u;

	check(raw_create_bare(&one, false), "KVM_CREATE_VM");	/* warm */
	(void)mem_now();
	u = mem_now();
	for (int i = 0; i < MEM_N; i++)
		check(raw_create_bare(&vms[i], false), "KVM_CREATE_VM");
	c.mach = mem_per(u, mem_now());
	u = mem_now();
	for (int i = 0; i < MEM_N; i++) {
		int fd = ioctl(one.vm_fd, KVM_CREATE_VCPU, i);
		struct kvm_run *run;

		check(fd, "KVM_CREATE_VCPU");
		run = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
		if (run == MAP_FAILED)
			die("mmap kvm_run: %s", strerror(errno));
		run->immediate_exit = 0;	/* as a VMM's first run does */
	}
	c.vcpu = mem_per(u, mem_now());
	return c;
}

static struct mem_cost
nv_cost(void)
{
	static struct nvmm_machine machs[MEM_N];
	static struct nvmm_vcpu vcpus[MEM_N];
	struct nvmm_machine one;
	struct mem_cost c;
	struct mem_use u;

	check(nvmm_machine_create(&one), "nvmm_machine_create");	/* warm */
	check(nvmm_vcpu_create(&one, 0, &vcpus[0]), "nvmm_vcpu_create");
	(void)mem_now();
	u = mem_now();
	for (int i = 0; i < MEM_N; i++)
		check(nvmm_machine_create(&machs[i]), "nvmm_machine_create");
	c.mach = mem_per(u, mem_now());
	u = mem_now();
	for (int i = 1; i <= MEM_N; i++)
		check(nvmm_vcpu_create(&one, (nvmm_cpuid_t)i, &vcpus[i - 1]),
		    "nvmm_vcpu_create");
	c.vcpu = mem_per(u, mem_now());
	return c;
}

/* ---- Children ---------------------------------------------------------------------- */

static struct mem_cost
mem_child(bool lib)
{
	struct mem_cost c;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) == -1 || (pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		c = lib ? nv_cost() : raw_cost();
		_exit(write(fds[1], &c, sizeof(c)) == (ssize_t)sizeof(c) ? 0 : 1);
	}
	close(fds[1]);
	if (read(fds[0], &c, sizeof(c)) != (ssize_t)sizeof(c))
		die("memory child failed");
	close(fds[0]);
	waitpid(pid, &status, 0);
	return c;
}

void
bench_memory_measure(void)
{
	nreps = bench_reps_scale > 1 ? 1 : MEM_REPS;
	for (unsigned int i = 0; i < nreps; i++) {
		results[i & 1][i] = mem_child(i & 1);
		results[!(i & 1)][i] = mem_child(!(i & 1));
	}
}

static void
mem_row(const char *name, size_t field_offset)
{
	double raw[MEM_REPS], lib[MEM_REPS];
	struct result r = { 0 };

	for (unsigned int i = 0; i < nreps; i++) {
		memcpy(&raw[i], (const char *)&results[0][i] + field_offset,
		    sizeof(double));
		memcpy(&lib[i], (const char *)&results[1][i] + field_offset,
		    sizeof(double));
	}
	r.raw = median(raw, nreps);
	r.lib = median(lib, nreps);
	table_row(name, "KiB", 1024, &r, -1);
}

void
bench_memory(void)
{
	table_section("host memory (user space, " "64 machines / 64 vCPUs)");
	mem_row("RSS per machine", offsetof(struct mem_cost, mach.rss));
	mem_row("PSS per machine", offsetof(struct mem_cost, mach.pss));
	mem_row("RSS per vCPU", offsetof(struct mem_cost, vcpu.rss));
	mem_row("PSS per vCPU", offsetof(struct mem_cost, vcpu.pss));
}
