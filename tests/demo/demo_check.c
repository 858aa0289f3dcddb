/*
 * demo_check: run a demo program and check its output line by line
 * against an expected-output file, in TAP.
 *
 *	demo_check expected-file exit-status program [args...]
 *
 * The expected file holds one line per expected output line:
 *	= text		exactly this line
 *	~ regex		a line matching this POSIX ERE (anchored at both ends)
 *	=+ / ~+		one or more such lines in a row
 *	# ...		a comment; blank lines are ignored
 *
 * Output from several vCPUs interleaves, so lines are compared per stream:
 * "guest<N>> ..." lines form stream guest<N>, all others the main stream.
 * Within a stream the order is exact; each expected line is one TAP test,
 * plus one per stream for unexpected extra lines, one for lines in no
 * expected stream and one for the exit status. Standard error is merged
 * into the output, so error messages count as unexpected lines.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MAX_LINES	4096
#define MAX_STREAMS	16
#define STREAM_LEN	32

struct want {
	char stream[STREAM_LEN];
	const char *text;	/* after the marker */
	bool regex, repeat;
	regex_t re;
};

struct lines {
	char *line[MAX_LINES];
	size_t n;
};

/* ---- Streams ------------------------------------------------------------------ */

/* "guest<digits>> " starts a guest stream; everything else is "main". */
static void
stream_of(const char *line, char out[STREAM_LEN])
{
	size_t n = strlen("guest");

	if (strncmp(line, "guest", n) == 0) {
		while (line[n] >= '0' && line[n] <= '9')
			n++;
		if (n > strlen("guest") && line[n] == '>' && n < STREAM_LEN - 1) {
			memcpy(out, line, n);
			out[n] = '\0';
			return;
		}
	}
	strcpy(out, "main");
}

static bool
line_in_stream(const char *line, const char *stream)
{
	char s[STREAM_LEN];

	stream_of(line, s);
	return strcmp(s, stream) == 0;
}

/* ---- Expected file ------------------------------------------------------------ */

static bool
parse_want(char *line, struct want *w)
{
	char *p = line;

	memset(w, 0, sizeof(*w));
	if (*p != '=' && *p != '~')
		return false;
	w->regex = (*p++ == '~');
	if (*p == '+') {
		w->repeat = true;
		p++;
	}
	if (*p != ' ')
		return false;
	w->text = p + 1;
	stream_of(w->text, w->stream);
	return true;
}

static void
compile_want(struct want *w)
{
	char *anchored;
	int error;

	if (!w->regex)
		return;
	if (asprintf(&anchored, "^(%s)$", w->text) == -1)
		t_bail("out of memory");
	if ((error = regcomp(&w->re, anchored, REG_EXTENDED | REG_NOSUB))) {
		char msg[128];

		regerror(error, &w->re, msg, sizeof(msg));
		t_bail("bad regex '%s': %s", w->text, msg);
	}
	free(anchored);
}

static size_t
read_wants(const char *path, struct want *wants, size_t max)
{
	FILE *f = fopen(path, "r");
	char buf[1024];
	size_t n = 0;

	if (f == NULL)
		t_bail("%s: %s", path, strerror(errno));
	while (fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		if (buf[0] == '\0' || buf[0] == '#')
			continue;
		if (n == max || !parse_want(strdup(buf), &wants[n]))
			t_bail("%s: bad line '%s'", path, buf);
		compile_want(&wants[n++]);
	}
	fclose(f);
	return n;
}

/* ---- Running the program -------------------------------------------------------- */

static void
read_lines(FILE *f, struct lines *out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, f)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (out->n == MAX_LINES)
			t_bail("more than %d output lines", MAX_LINES);
		out->line[out->n++] = strdup(line);
	}
	free(line);
}

/* Run argv with stdout and stderr into one pipe; returns the wait status. */
static int
run(char **argv, struct lines *out)
{
	int fds[2], status;
	pid_t pid;
	FILE *f;

	if (pipe(fds) == -1 || (pid = fork()) == -1)
		t_bail("pipe/fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		fprintf(stderr, "demo_check: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	if ((f = fdopen(fds[0], "r")) == NULL)
		t_bail("fdopen: %s", strerror(errno));
	read_lines(f, out);
	fclose(f);
	if (waitpid(pid, &status, 0) == -1)
		t_bail("waitpid: %s", strerror(errno));
	return status;
}

/* ---- Matching ---------------------------------------------------------------------- */

static bool
matches(const struct want *w, const char *line)
{
	if (w->regex)
		return regexec(&w->re, line, 0, NULL, 0) == 0;
	return strcmp(w->text, line) == 0;
}

/* The next line of the stream at or after *pos; NULL at the end. */
static const char *
next_in_stream(const struct lines *out, const char *stream, size_t *pos)
{
	for (; *pos < out->n; (*pos)++) {
		if (line_in_stream(out->line[*pos], stream))
			return out->line[*pos];
	}
	return NULL;
}

/*
 * One expected line: it must match the stream's next line. If it does
 * not, look further down the stream so that one stray line does not fail
 * everything after it; if it is nowhere, take the line as a changed one.
 */
static void
check_want(const struct want *w, const struct lines *out, size_t *pos)
{
	size_t p = *pos;
	const char *line = next_in_stream(out, w->stream, &p);

	if (line != NULL && matches(w, line)) {
		t_ok(true, "%s", w->text);
		for (*pos = p + 1; w->repeat; *pos = p + 1) {
			p = *pos;
			line = next_in_stream(out, w->stream, &p);
			if (line == NULL || !matches(w, line))
				break;
		}
		return;
	}
	t_ok(false, "%s", w->text);
	t_diag("  got: %s", line ? line : "(end of output)");
	if (line == NULL)
		return;
	for (size_t q = p; (line = next_in_stream(out, w->stream, &q)); q++) {
		if (matches(w, line)) {
			t_diag("  found later, at output line %zu", q + 1);
			*pos = q + 1;
			return;
		}
	}
	*pos = p + 1;	/* a changed line: compare the next ones */
}

static void
check_rest(const struct lines *out, const char *stream, size_t pos)
{
	const char *line = next_in_stream(out, stream, &pos);

	if (!t_ok(line == NULL, "%s: no unexpected lines", stream))
		t_diag("  unexpected: %s", line);
}

/* ---- main -------------------------------------------------------------------------- */

static size_t
list_streams(const struct want *wants, size_t n, char streams[][STREAM_LEN])
{
	size_t ns = 0, i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < ns && strcmp(streams[j], wants[i].stream); j++)
			;
		if (j == ns) {
			if (ns == MAX_STREAMS)
				t_bail("too many streams");
			strcpy(streams[ns++], wants[i].stream);
		}
	}
	return ns;
}

static void
check_no_other_stream(const struct lines *out, char streams[][STREAM_LEN],
    size_t ns)
{
	for (size_t i = 0; i < out->n; i++) {
		char s[STREAM_LEN];
		size_t j;

		stream_of(out->line[i], s);
		for (j = 0; j < ns && strcmp(streams[j], s); j++)
			;
		if (j == ns) {
			t_ok(false, "output only in expected streams");
			t_diag("  unexpected: %s", out->line[i]);
			return;
		}
	}
	t_ok(true, "output only in expected streams");
}

int
main(int argc, char *argv[])
{
	static struct want wants[512];
	static struct lines out;
	char streams[MAX_STREAMS][STREAM_LEN];
	size_t nw, ns;
	int status, want_status;

	if (argc < 4) {
		fprintf(stderr, "usage: demo_check expected status program "
		    "[args...]\n");
		return 2;
	}
	want_status = atoi(argv[2]);
	t_require_nvmm();
	nw = read_wants(argv[1], wants, sizeof(wants) / sizeof(wants[0]));
	ns = list_streams(wants, nw, streams);
	t_plan((unsigned int)(nw + ns + 2));

	status = run(&argv[3], &out);
	t_ok(WIFEXITED(status) && WEXITSTATUS(status) == want_status,
	    "%s exits with status %d", argv[3], want_status) ||
	    (t_diag("  wait status 0x%x", status), 0);
	for (size_t s = 0; s < ns; s++) {
		size_t pos = 0;

		for (size_t i = 0; i < nw; i++) {
			if (strcmp(wants[i].stream, streams[s]) == 0)
				check_want(&wants[i], &out, &pos);
		}
		check_rest(&out, streams[s], pos);
	}
	check_no_other_stream(&out, streams, ns);
	return t_done();
}
