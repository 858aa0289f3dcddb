/*
 * The process's ioctl(2) calls counted by a tracer (runcount.h): a child
 * of the process ptraces it and counts at each system call's entry, in
 * a page shared with it. Counting at the kernel's door, not by
 * interposing ioctl(), sees KVM_RUN however libnvmm makes it; the
 * tracer's own work is in another process, so none of it is counted
 * as the process's instructions (nvmm-bench still counts in a child
 * apart from callgrind's, as the stops cost time).
 */
#include <dirent.h>
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runcount.h"

static uint64_t *counts;	/* by RUNCOUNT_*, MAP_SHARED with the tracer */
static pid_t tracer;		/* 0: not counting */
static pid_t traced;		/* this process, not a fork child of it */

/* ---- The tracer (the child) ----------------------------------------------------- */

/* A system call's entry: an ioctl is counted, and KVM_RUN apart. */
static void
tracer_count(pid_t tid)
{
	struct __ptrace_syscall_info info;

	if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_ENTRY || info.entry.nr != SYS_ioctl)
		return;
	__atomic_fetch_add(&counts[RUNCOUNT_IOCTLS], 1, __ATOMIC_RELAXED);
	/* The kernel takes the request as an unsigned int. */
	if ((unsigned int)info.entry.args[1] == KVM_RUN)
		__atomic_fetch_add(&counts[RUNCOUNT_KVM_RUN], 1,
		    __ATOMIC_RELAXED);
}

/*
 * Each stop of each thread: count a system call's entry, then let the
 * thread go on to its next system call. The count is in the shared page
 * before the thread runs again, so the process reads it exact. Signals
 * are delivered as they came, a group-stop stays stopped (LISTEN). Ends
 * when no thread is left, or by SIGKILL (runcount_stop).
 */
static void __attribute__((noreturn))
tracer_loop(void)
{
	for (;;) {
		int status, sig, pass = 0;
		pid_t tid = waitpid(-1, &status, __WALL);

		if (tid == -1) {
			if (errno == EINTR)
				continue;
			_exit(0);	/* ECHILD: every thread is gone */
		}
		if (!WIFSTOPPED(status))
			continue;	/* a thread ended */
		sig = WSTOPSIG(status);
		if (sig == (SIGTRAP | 0x80)) {
			tracer_count(tid);
		} else if (status >> 16 == PTRACE_EVENT_STOP) {
			/* The attach, a new thread (SIGTRAP), or a group-stop. */
			if (sig != SIGTRAP) {
				(void)ptrace(PTRACE_LISTEN, tid, 0, 0);
				continue;
			}
		} else if (status >> 16 == 0) {
			pass = sig;	/* a signal for the thread */
		}
		(void)ptrace(PTRACE_SYSCALL, tid, 0, pass);
	}
}

/*
 * Attach once the process allowed it (go), say how it went (ack): the
 * process's one thread, and with TRACECLONE each thread it creates.
 */
static void __attribute__((noreturn))
tracer_main(pid_t pid, int go, int ack)
{
	int error = 0;
	char c;

	if (read(go, &c, 1) != 1)
		_exit(1);
	if (ptrace(PTRACE_SEIZE, pid, 0,
	    PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE) == -1 ||
	    ptrace(PTRACE_INTERRUPT, pid, 0, 0) == -1)
		error = errno;
	if (write(ack, &error, sizeof(error)) != sizeof(error) || error != 0)
		_exit(1);
	close(ack);
	tracer_loop();
}

/* ---- The process ---------------------------------------------------------------- */

/* Threads of this process: an attach sees only the calling one. */
static int
threads(void)
{
	struct dirent *e;
	int n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/task")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int
runcount_start(char *why, size_t len)
{
	static bool registered;
	int go[2], ack[2], error = EIO;

	if (tracer > 0)
		return 0;
	if (threads() != 1) {
		snprintf(why, len, "runcount_start: the process has threads");
		return -1;
	}
	if (counts == NULL && (counts = mmap(NULL, RUNCOUNT_N *
	    sizeof(*counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0)) == MAP_FAILED) {
		counts = NULL;
		snprintf(why, len, "mmap: %s", strerror(errno));
		return -1;
	}
	traced = getpid();
	if (pipe(go) == -1 || pipe(ack) == -1 || (tracer = fork()) == -1) {
		snprintf(why, len, "fork: %s", strerror(errno));
		tracer = 0;
		return -1;
	}
	if (tracer == 0) {
		close(go[1]);
		close(ack[0]);
		tracer_main(traced, go[0], ack[1]);
	}
	close(go[0]);
	close(ack[1]);
	/* Yama's ptrace_scope 1 lets only an ancestor trace, or one named. */
	(void)prctl(PR_SET_PTRACER, tracer, 0, 0, 0);
	if (write(go[1], "", 1) != 1 ||
	    read(ack[0], &error, sizeof(error)) != sizeof(error))
		error = EIO;
	close(go[1]);
	close(ack[0]);
	if (error != 0) {
		waitpid(tracer, NULL, 0);
		tracer = 0;
		snprintf(why, len, "ptrace: %s (the system call count needs "
		    "to trace its own process)", strerror(error));
		return -1;
	}
	if (!registered)
		registered = atexit(runcount_stop) == 0;
	return 0;
}

uint64_t
runcount(int which)
{
	return counts == NULL ? 0 :
	    __atomic_load_n(&counts[which], __ATOMIC_RELAXED);
}

/*
 * A tracer that ends detaches from every thread (and restarts them): the
 * kernel has done so once waitpid() reaped it.
 */
void
runcount_stop(void)
{
	if (tracer <= 0 || getpid() != traced)
		return;
	kill(tracer, SIGKILL);
	waitpid(tracer, NULL, 0);
	tracer = 0;
}
