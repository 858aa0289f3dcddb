/*
 * The test harness: TAP output, asserting helpers over libnvmm, and a small
 * VM builder (RAM at guest-physical 0, real or 64-bit mode). In the style of
 * the KVM selftests: t_*() helpers assert and bail out on failure; tests
 * that check error paths call the API directly.
 */
#ifndef NVMM_TEST_HARNESS_H
#define NVMM_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmm.h>

/* ---- TAP ----------------------------------------------------------------- */

void t_plan(unsigned int n);
/* No usable NVMM here: "1..0 # SKIP", exit 0 (a skip, never a pass). */
void t_skip_all(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
bool t_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_bail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Exit status for main(): 0 when every planned test passed. */
int t_done(void);

#define t_eq_u64(got, want, ...)					\
	t_ok((uint64_t)(got) == (uint64_t)(want), __VA_ARGS__) ||	\
	    (t_diag("  got 0x%llx, want 0x%llx",			\
	    (unsigned long long)(got), (unsigned long long)(want)), 0)

/* -1 with errno e, as the API promises for errors. */
#define t_errno(call, e, ...)						\
	do {								\
		errno = 0;						\
		int t_r_ = (call);					\
		int t_e_ = errno;					\
		if (!t_ok(t_r_ == -1 && t_e_ == (e), __VA_ARGS__))	\
			t_diag("  returned %d, errno %d (%s), want -1 %s", \
			    t_r_, t_e_, strerror(t_e_), #e);		\
	} while (0)

/* Call an API function; bail out if it fails. */
#define T_CHECK(call)							\
	do {								\
		if ((call) == -1)					\
			t_bail("%s:%d: %s: %s", __FILE__, __LINE__,	\
			    #call, strerror(errno));			\
	} while (0)

/* nvmm_init(), or skip the whole test when KVM is not usable here. */
void t_require_nvmm(void);

/* ---- Time -------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds: for intervals and deadlines. */
int64_t t_now_ns(void);
/* pthread_join() that gives up after ns: whether the thread was joined. */
bool t_join_within(pthread_t th, int64_t ns);

/* ---- Guests: code between <name>_begin and <name>_end (tests/guests) ---- */

#define T_GUEST(name)							\
	extern const uint8_t name##_begin[], name##_end[]

/* ---- VM builder -------------------------------------------------------------- */

/* Layout of the builder's guest RAM (guest-physical = offset in ram). */
#define T_RAM_SIZE_DEFAULT	(2u << 20)
#define T_PT_BASE		0x70000	/* PML4, PDPT, PD: identity 1 GiB */
#define T_GDT_BASE		0x74000
#define T_CODE_BASE		0x10000	/* where tests usually load code */
#define T_MMIO_BASE		0x10000000ULL	/* unbacked: MMIO exits */

#define T_SEL_CODE64		0x08
#define T_SEL_DATA		0x10
#define T_SEL_CODE32		0x18
#define T_SEL_TSS		0x20

struct t_vm {
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	uint8_t *ram;		/* host view of guest RAM at gpa 0 */
	size_t ram_size;
};

/* Machine, vCPU 0 and ram_size bytes of RWX RAM at gpa 0. */
void t_vm_create(struct t_vm *, size_t ram_size);
void t_vm_destroy(struct t_vm *);
/* One more RAM area: hva_map + gpa_map; returns the host pointer. */
void *t_vm_map(struct t_vm *, gpaddr_t gpa, size_t size, int prot);
/* Copy guest code or data into RAM. */
void t_vm_load(struct t_vm *, gpaddr_t gpa, const uint8_t *begin,
    const uint8_t *end);

/* 64-bit mode, identity-mapped first GiB (2 MiB pages), GDT, RIP = rip. */
void t_vm_long_mode(struct t_vm *, gpaddr_t rip, gpaddr_t rsp);
/* 16-bit real mode with all segments at sel, RIP = ip. */
void t_vm_real_mode(struct t_vm *, uint16_t sel, uint16_t ip);

/* Run until an exit other than NONE; returns the exit reason. */
uint64_t t_vm_run(struct t_vm *);
uint64_t t_vm_gpr(struct t_vm *, int gpr);
void t_vm_set_gpr(struct t_vm *, int gpr, uint64_t value);

#endif /* NVMM_TEST_HARNESS_H */
