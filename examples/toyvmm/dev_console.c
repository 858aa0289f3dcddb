/*
 * The console: an output-only I/O port. Each vCPU has its own line
 * buffer, so lines from different vCPUs never mix; a complete line is
 * printed as "guest<N>> text".
 */
#include <stdio.h>

#include "toyvmm.h"

#define LINE_MAX	200

struct line {
	char buf[LINE_MAX + 1];
	size_t len;
};

static struct line lines[TOY_MAX_CPUS];

static void
console_flush(unsigned int cpu)
{
	struct line *l = &lines[cpu];

	l->buf[l->len] = '\0';
	printf("guest%u> %s\n", cpu, l->buf);
	l->len = 0;
}

/* Called on the vCPU's own thread: its line needs no lock. */
static bool
console_access(const struct bus_access *acc, void *opaque)
{
	unsigned int cpu = acc->cpu->index;
	struct line *l = &lines[cpu];
	char c = (char)acc->data[0];

	(void)opaque;
	if (!acc->write || acc->size != 1)
		return false;
	if (c == '\n') {
		console_flush(cpu);
		return true;
	}
	if (c == '\r')
		return true;
	l->buf[l->len++] = (c >= 0x20 && c < 0x7F) ? c : '.';
	if (l->len == LINE_MAX)
		console_flush(cpu);	/* an overlong line wraps */
	return true;
}

static void
console_init(struct toy_vm *vm)
{
	bus_register(vm, &(struct bus_region){ BUS_PIO, TOY_PORT_CONSOLE, 1,
	    console_access, NULL, "console" });
}

/* What the guest printed without a final newline. */
static void
console_fini(struct toy_vm *vm)
{
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		if (lines[i].len > 0)
			console_flush(i);
	}
}

const struct toy_device dev_console = {
	.name = "console",
	.init = console_init,
	.fini = console_fini,
};
