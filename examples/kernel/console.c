/*
 * Console output and the check helpers. A line is formatted into a buffer
 * and written with one REP OUTSB, so printing costs one exit per line and
 * a line never mixes with a trap handler's output.
 */
#include "kernel.h"

#define LINE_MAX	160

struct buf {
	char *p;
	size_t len, cap;
};

static void
put(struct buf *b, char c)
{
	if (b->len + 1 < b->cap)
		b->p[b->len++] = c;
}

static void
put_str(struct buf *b, const char *s)
{
	while (*s != '\0')
		put(b, *s++);
}

static void
put_num(struct buf *b, uint64_t v, unsigned int base)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0);
	while (n > 0)
		put(b, tmp[--n]);
}

/* The subset we use: %s %c %d %u %x, with an optional l or ll. */
static void
vformat(struct buf *b, const char *fmt, va_list ap)
{
	for (; *fmt != '\0'; fmt++) {
		int longs = 0;

		if (*fmt != '%') {
			put(b, *fmt);
			continue;
		}
		while (*++fmt == 'l')
			longs++;
		switch (*fmt) {
		case 's':
			put_str(b, va_arg(ap, const char *));
			break;
		case 'c':
			put(b, (char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);

			if (v < 0) {
				put(b, '-');
				v = -v;
			}
			put_num(b, (uint64_t)v, 10);
			break;
		}
		case 'u':
		case 'x':
			put_num(b, longs ? va_arg(ap, uint64_t) :
			    va_arg(ap, unsigned int), *fmt == 'u' ? 10 : 16);
			break;
		case '%':
			put(b, '%');
			break;
		default:
			put(b, '?');
			break;
		}
	}
}

static void
vprint_line(const char *prefix, const char *fmt, va_list ap,
    const char *suffix)
{
	char line[LINE_MAX];
	struct buf b = { line, 0, sizeof(line) };

	put_str(&b, prefix);
	vformat(&b, fmt, ap);
	put_str(&b, suffix);
	put(&b, '\n');
	outsb(TOY_PORT_CONSOLE, line, b.len);
}

/* Print one line; fmt carries no newline. */
void
kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_line("", fmt, ap, "");
	va_end(ap);
}

void
check(bool ok, const char *fmt, ...)
{
	struct percpu *c = this_cpu();
	va_list ap;

	c->checks++;
	if (!ok)
		c->failed++;
	va_start(ap, fmt);
	vprint_line(ok ? "ok: " : "FAIL: ", fmt, ap, "");
	va_end(ap);
}

/* check() that shows both values when they differ. */
void
check_eq(uint64_t got, uint64_t want, const char *fmt, ...)
{
	struct percpu *c = this_cpu();
	char detail[64];
	struct buf b = { detail, 0, sizeof(detail) };
	va_list ap;

	c->checks++;
	if (got != want) {
		c->failed++;
		put_str(&b, ": got 0x");
		put_num(&b, got, 16);
		put_str(&b, ", want 0x");
		put_num(&b, want, 16);
	}
	detail[b.len] = '\0';
	va_start(ap, fmt);
	vprint_line(got == want ? "ok: " : "FAIL: ", fmt, ap, detail);
	va_end(ap);
}
