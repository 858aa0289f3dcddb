/* Line formatting (%s %c %u %x, zero-pad width) and the say()/fail() reporters. */
#include <stdarg.h>

#include "boot.h"

#define LINE_MAX	128
#ifndef PREFIX
#define PREFIX		"nvmm-boot: "	/* the flash firmware passes its own */
#endif

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, char c)
{
	if (b->len < b->cap)
		b->p[b->len++] = c;
}

static void put_str(struct buf *b, const char *s)
{
	while (*s)
		put(b, *s++);
}

static void put_num(struct buf *b, uint32_t v, unsigned base, unsigned width)
{
	char digits[12];
	unsigned n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (; width > n; width--)
		put(b, '0');
	while (n)
		put(b, digits[--n]);
}

/* Just what the image prints: no signs, no left alignment, no long types. */
static void format(struct buf *b, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		unsigned width = 0;

		if (*fmt != '%') {
			put(b, *fmt);
			continue;
		}
		while (fmt[1] >= '0' && fmt[1] <= '9')
			width = width * 10 + (unsigned)(*++fmt - '0');
		if (!*++fmt)
			return;		/* a lone '%' ends the format */
		switch (*fmt) {
		case 's':
			put_str(b, va_arg(ap, const char *));
			break;
		case 'c':
			put(b, (char)va_arg(ap, int));
			break;
		case 'u':
			put_num(b, va_arg(ap, unsigned), 10, width);
			break;
		case 'x':
			put_num(b, va_arg(ap, unsigned), 16, width);
			break;
		case '%':
			put(b, '%');
			break;
		default:
			put(b, '?');	/* unsupported conversion: visible, not fatal */
			break;
		}
	}
}

/* One write per line and device, so lines from the two CPUs never interleave. */
static void emit(const char *tag, const char *fmt, va_list ap)
{
	char line[LINE_MAX];
	struct buf b = { line, 0, sizeof(line) - 1 };

	put_str(&b, PREFIX);
	put_str(&b, tag);
	format(&b, fmt, ap);
	put(&b, '\n');
	if (line[b.len - 1] != '\n')
		line[b.len++] = '\n';	/* truncated: still end the line */
	serial_write(line, b.len);
	vga_write(line, b.len);
}

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("FAIL ", fmt, ap);
	va_end(ap);
	power_off(false);
}
