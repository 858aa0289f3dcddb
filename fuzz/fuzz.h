/*
 * Shared by the fuzzers: reading the input as a stream of values, the
 * process set-up (a private machine registry, quiet stdout), runs bounded
 * by a timer that stops the vCPU, and the checks every exit must pass.
 *
 * A failed check aborts: libFuzzer reports it as a crash with the input.
 */
#ifndef NVMM_FUZZ_H
#define NVMM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmm.h>

/* ---- The input ---------------------------------------------------------------- */

/* Values are taken from the front; an exhausted input reads as zeros. */
struct fz_input {
	const uint8_t *p;
	size_t n;
};

bool fz_empty(const struct fz_input *);
uint8_t fz_u8(struct fz_input *);
uint16_t fz_u16(struct fz_input *);
uint32_t fz_u32(struct fz_input *);
uint64_t fz_u64(struct fz_input *);
void fz_bytes(struct fz_input *, void *, size_t);
/* A value below n (n > 0). */
unsigned int fz_below(struct fz_input *, unsigned int n);

/* ---- Process ------------------------------------------------------------------- */

/*
 * nvmm_init(), a private registry directory (NVMM_RUNDIR is replaced),
 * stdout to /dev/null (nvmm_vcpu_dump prints), the stop timer. Exits
 * with a message if NVMM is not usable: a fuzzer without KVM finds nothing.
 */
void fz_setup(void);

/* ---- Bounded runs ---------------------------------------------------------------- */

/*
 * One nvmm_vcpu_run(), with nvmm_vcpu_stop() called from a timer signal
 * after usec microseconds if the run is still going (a spinning guest).
 * Returns what the run returned; errno as it left it.
 */
int fz_run(struct nvmm_machine *, struct nvmm_vcpu *, unsigned int usec);

/* ---- Checks ----------------------------------------------------------------------- */

#define FZ_CHECK(cond, ...)						\
	do {								\
		if (!(cond))						\
			fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);	\
	} while (0)

void fz_fail(const char *file, int line, const char *cond, const char *fmt,
    ...) __attribute__((noreturn, format(printf, 4, 5)));
/*
 * The input being run. A failed check saves it to $FUZZ_ARTIFACTS (set by
 * fuzz/run) first: libFuzzer's own crash dump does not always survive the
 * sanitizers' reports of an abort.
 */
void fz_begin(const uint8_t *data, size_t size);

/* An exit record as NVMM defines them: a known reason, sane fields. */
void fz_check_exit(const struct nvmm_vcpu_exit *);
/* A call returned 0, or -1 with one of the errno values listed (0-ended). */
void fz_check_result(const char *what, int r, int err, const int *allowed);

#define FZ_ERRS(...)	((const int []){ __VA_ARGS__, 0 })

#endif /* NVMM_FUZZ_H */
