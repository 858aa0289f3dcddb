/*
 * Replays fuzzer inputs without libFuzzer: each file named on the command
 * line, or each file in a directory named there, goes once through the
 * fuzzer's LLVMFuzzerTestOneInput(). Built with any compiler, this runs
 * the seed corpora and the crash reproducers as an ordinary TAP test
 * (a failed check aborts, which fails the test).
 *
 * TAP goes to a copy of stdout: the fuzzers send stdout to /dev/null.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nvmm.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct files {
	char **names;
	size_t n, cap;
};

static void
files_add(struct files *f, const char *name)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		if ((f->names = realloc(f->names, f->cap * sizeof(char *))) ==
		    NULL)
			abort();
	}
	if ((f->names[f->n++] = strdup(name)) == NULL)
		abort();
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or the regular files of a directory (sorted: a stable plan). */
static void
files_collect(struct files *f, const char *path)
{
	char buf[4096];
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if ((dir = opendir(path)) == NULL) {
		files_add(f, path);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		snprintf(buf, sizeof(buf), "%s/%s", path, d->d_name);
		if (d->d_name[0] != '.' && stat(buf, &st) == 0 &&
		    S_ISREG(st.st_mode))
			files_add(f, buf);
	}
	closedir(dir);
}

static uint8_t *
read_file(const char *name, size_t *size)
{
	FILE *fp = fopen(name, "rb");
	uint8_t *data = NULL;
	long len;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 &&
	    (data = malloc((size_t)len + 1)) != NULL &&
	    fread(data, 1, (size_t)len, fp) != (size_t)len) {
		free(data);
		data = NULL;
	}
	if (data != NULL)
		*size = (size_t)len;
	fclose(fp);
	return data;
}

int
main(int argc, char **argv)
{
	struct files f = { NULL, 0, 0 };
	FILE *tap = fdopen(dup(STDOUT_FILENO), "w");
	int failed = 0;

	if (tap == NULL)
		return 1;
	for (int i = 1; i < argc; i++)
		files_collect(&f, argv[i]);
	qsort(f.names, f.n, sizeof(char *), name_cmp);
	if (nvmm_init() == -1) {
		fprintf(tap, "1..0 # SKIP NVMM not available: %s\n",
		    strerror(errno));
		return 0;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	fprintf(tap, "1..%zu\n", f.n);
	fflush(tap);
	for (size_t i = 0; i < f.n; i++) {
		size_t size = 0;
		uint8_t *data = read_file(f.names[i], &size);

		if (data != NULL)
			LLVMFuzzerTestOneInput(data, size);
		else
			failed = 1;
		/* A crash never gets here: the test fails with the process. */
		fprintf(tap, "%sok %zu - %s\n", data ? "" : "not ", i + 1,
		    f.names[i]);
		fflush(tap);
		free(data);
		free(f.names[i]);
	}
	free(f.names);
	return failed;
}
