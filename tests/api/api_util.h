/*
 * Helpers shared by the API and state tests: a private machine registry
 * (so that counting machines or reading ids is not disturbed by tests
 * running in parallel) and running one call in a child process (so that a
 * crash is reported as a failure instead of ending the test).
 */
#ifndef NVMM_TEST_API_UTIL_H
#define NVMM_TEST_API_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char api_rundir[PATH_MAX];

static inline void
api_rundir_cleanup(void)
{
	char path[PATH_MAX + 300];
	struct dirent *d;
	DIR *dir;

	if (api_rundir[0] == '\0' || (dir = opendir(api_rundir)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", api_rundir, d->d_name);
		(void)unlink(path);
	}
	closedir(dir);
	(void)rmdir(api_rundir);
}

/*
 * A fresh registry directory for this process and its children: call
 * before the first machine is created. Removed at exit.
 */
static inline const char *
api_private_rundir(const char *tag)
{
	snprintf(api_rundir, sizeof(api_rundir), "/tmp/nvmm-test-%s.XXXXXX",
	    tag);
	if (mkdtemp(api_rundir) == NULL)
		t_bail("mkdtemp: %s", strerror(errno));
	if (setenv("NVMM_RUNDIR", api_rundir, 1) == -1)
		t_bail("setenv: %s", strerror(errno));
	atexit(api_rundir_cleanup);
	return api_rundir;
}

/* What a call made in a child returned: its errno, 0, or a crash. */
#define API_CRASHED(sig)	(-1000 - (sig))

/*
 * Run fn(arg) in a child and return its errno (0 on success), or
 * API_CRASHED(signal) when the child died.
 */
static inline int
api_in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) == -1)
		t_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		errno = 0;
		_exit(fn(arg) == 0 ? 0 : (errno & 0x7F) ? errno & 0x7F : 0x7F);
	}
	if (waitpid(pid, &status, 0) == -1)
		t_bail("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		return API_CRASHED(WTERMSIG(status));
	return WEXITSTATUS(status);
}

#endif /* NVMM_TEST_API_UTIL_H */
