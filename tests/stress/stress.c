/*
 * Helpers of the stress, crash and scale tests (see stress.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stress.h"

/* ---- Registry -------------------------------------------------------------------- */

static char s_rundir[PATH_MAX];

static void
s_rundir_cleanup(void)
{
	char path[PATH_MAX + 300];
	struct dirent *d;
	DIR *dir;

	/* Records go with their machines; a crash leaves some, and "slots". */
	if ((dir = opendir(s_rundir)) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", s_rundir,
			    d->d_name);
			(void)unlink(path);
		}
		closedir(dir);
	}
	(void)rmdir(s_rundir);
}

const char *
s_private_rundir(const char *tag)
{
	snprintf(s_rundir, sizeof(s_rundir), "/tmp/nvmm-%s.XXXXXX", tag);
	if (mkdtemp(s_rundir) == NULL)
		t_bail("mkdtemp: %s", strerror(errno));
	setenv("NVMM_RUNDIR", s_rundir, 1);
	atexit(s_rundir_cleanup);
	return s_rundir;
}

/*
 * Read the registry as another process does: an id is held while some
 * process holds its byte of the slots file (see registry.h). A process
 * does not see its own POSIX locks, so a child looks.
 */
unsigned int
s_registry_held(const char *rundir)
{
	char path[PATH_MAX + 32];
	int status;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1)
		return NVMM_MAX_MACHINES;
	if (pid == 0) {
		unsigned int held = 0;
		int fd;

		snprintf(path, sizeof(path), "%s/slots", rundir);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			_exit(0);	/* never used: nothing held */
		for (unsigned int i = 0; i < NVMM_MAX_MACHINES; i++) {
			struct flock fl = { .l_type = F_WRLCK,
			    .l_whence = SEEK_SET, .l_start = i, .l_len = 1 };

			if (fcntl(fd, F_GETLK, &fl) == 0 &&
			    fl.l_type != F_UNLCK)
				held++;
		}
		_exit((int)held);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return NVMM_MAX_MACHINES;
	return (unsigned int)WEXITSTATUS(status);
}

/* ---- Time ---------------------------------------------------------------------------- */

double
s_now(void)
{
	return (double)t_now_ns() / 1e9;
}

double
s_seconds(double dflt)
{
	const char *s = getenv("NVMM_STRESS_SECONDS");
	double v = s != NULL ? strtod(s, NULL) : 0;

	return v > 0 ? v : dflt;
}

/* ---- Threads and the watchdog --------------------------------------------------------- */

static struct s_thread s_threads[S_MAX_THREADS];
static atomic_uint s_nthreads;

struct s_thread *
s_thread_register(const char *fmt, ...)
{
	unsigned int i = atomic_fetch_add(&s_nthreads, 1);
	struct s_thread *t;
	va_list ap;

	if (i >= S_MAX_THREADS)
		t_bail("too many threads for the watchdog");
	t = &s_threads[i];
	va_start(ap, fmt);
	vsnprintf(t->name, sizeof(t->name), fmt, ap);
	va_end(ap);
	atomic_store(&t->where, "started");
	return t;
}

static pthread_mutex_t s_wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wd_cond = PTHREAD_COND_INITIALIZER;
static bool s_wd_done;
static pthread_t s_wd_thread;

/* What every thread was last doing, then the failure. */
static void
s_watchdog_fire(double seconds)
{
	unsigned int n = atomic_load(&s_nthreads);

	printf("# watchdog: not done after %.0f s; threads:\n", seconds);
	for (unsigned int i = 0; i < n && i < S_MAX_THREADS; i++)
		printf("#   %-20s %-28s progress %lu\n", s_threads[i].name,
		    atomic_load(&s_threads[i].where),
		    atomic_load(&s_threads[i].progress));
	printf("Bail out! deadlock or livelock (watchdog)\n");
	fflush(stdout);
	_exit(1);
}

static void *
s_watchdog_main(void *arg)
{
	double seconds = *(double *)arg;
	struct timespec ts;
	bool done;

	free(arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)seconds;
	pthread_mutex_lock(&s_wd_lock);
	while (!s_wd_done) {
		if (pthread_cond_timedwait(&s_wd_cond, &s_wd_lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	done = s_wd_done;
	pthread_mutex_unlock(&s_wd_lock);
	if (!done)
		s_watchdog_fire(seconds);
	return NULL;
}

void
s_watchdog_start(double seconds)
{
	double *arg = malloc(sizeof(*arg));

	if (arg == NULL)
		t_bail("malloc");
	*arg = seconds;
	if (pthread_create(&s_wd_thread, NULL, s_watchdog_main, arg) != 0)
		t_bail("pthread_create (watchdog)");
}

void
s_watchdog_stop(void)
{
	pthread_mutex_lock(&s_wd_lock);
	s_wd_done = true;
	pthread_cond_signal(&s_wd_cond);
	pthread_mutex_unlock(&s_wd_lock);
	pthread_join(s_wd_thread, NULL);
}

/* ---- Memory ------------------------------------------------------------------------------ */

/* The value of "key:" in a /proc file, in kB; -1 if absent. */
static long
s_proc_kb(const char *file, const char *key)
{
	char line[256];
	size_t len = strlen(key);
	long v = -1;
	FILE *fp = fopen(file, "r");

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(fp);
	return v;
}

void
s_mem_read(struct s_mem *m)
{
	m->rss = s_proc_kb("/proc/self/smaps_rollup", "Rss");
	m->pss = s_proc_kb("/proc/self/smaps_rollup", "Pss");
	m->avail = s_proc_kb("/proc/meminfo", "MemAvailable");
	m->anon = s_proc_kb("/proc/meminfo", "AnonPages");
	m->kstack = s_proc_kb("/proc/meminfo", "KernelStack");
	m->pagetables = s_proc_kb("/proc/meminfo", "PageTables");
	m->secpagetables = s_proc_kb("/proc/meminfo", "SecPageTables");
	m->slab = s_proc_kb("/proc/meminfo", "Slab");
}

void
s_mem_diag(const char *what, const struct s_mem *a, const struct s_mem *b)
{
	t_diag("%s: process RSS %ld kB, PSS %ld kB; host AnonPages %+ld kB, "
	    "MemAvailable %+ld kB, Slab %+ld kB, KernelStack %+ld kB, "
	    "PageTables %+ld kB, SecPageTables (EPT/NPT) %+ld kB", what,
	    b->rss, b->pss, b->anon - a->anon, b->avail - a->avail,
	    b->slab - a->slab, b->kstack - a->kstack,
	    b->pagetables - a->pagetables, b->secpagetables - a->secpagetables);
}
