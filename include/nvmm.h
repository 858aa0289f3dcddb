/*
 * NVMM for Linux: the public API of libnvmm(3).
 *
 * Source compatible with NetBSD's and DragonFly BSD's <nvmm.h>: same names,
 * constants and structure layouts. Self-contained: it needs no Linux KVM
 * header and no BSD-only macro from its users.
 */
#ifndef NVMM_H
#define NVMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>	/* PROT_* for nvmm_gpa_map() */
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Versions. The kernel API version is DragonFly's 3 (capability with
 * comm_size); the user version is 2 or more so that programs enable
 * nvmm_vcpu_stop() and NVMM_VCPU_EXIT_STOPPED (QEMU tests >= 2).
 */
#define NVMM_KERN_VERSION	3
#define NVMM_USER_VERSION	3

/*
 * Kernel/library mismatch. Linux has no such errno: use a value no libc errno
 * takes. strerror() prints "Unknown error 1075" for it; our tools name it.
 */
#ifndef EPROGMISMATCH
#define EPROGMISMATCH		1075
#endif

/*
 * NetBSD's <nvmm.h> brings <sys/cdefs.h> bit-field helpers along, and
 * emulators written for it (QEMU) use them: extract or insert the field
 * selected by mask m.
 */
#ifndef __LOWEST_SET_BIT
#define __LOWEST_SET_BIT(m)	((((m) - 1) & (m)) ^ (m))
#endif
#ifndef __SHIFTOUT
#define __SHIFTOUT(x, m)	(((x) & (m)) / __LOWEST_SET_BIT(m))
#endif
#ifndef __SHIFTIN
#define __SHIFTIN(x, m)		((x) * __LOWEST_SET_BIT(m))
#endif

/* ---- Scalar types and limits ---------------------------------------------- */

typedef uint64_t gpaddr_t;
typedef uint64_t gvaddr_t;
typedef uint32_t nvmm_machid_t;
typedef uint32_t nvmm_cpuid_t;
typedef uint64_t nvmm_prot_t;

#define NVMM_MAX_MACHINES	128
#define NVMM_MAX_VCPUS		128
#define NVMM_MAX_HMAPPINGS	32
#define NVMM_MAX_RAM		(127ULL * 1024 * (1ULL << 30))

/* ---- Configuration op numbering -------------------------------------------- */

#define NVMM_MACH_CONF_LIBNVMM_BEGIN	0
#define NVMM_MACH_CONF_MI_BEGIN		100
#define NVMM_MACH_CONF_MD_BEGIN		200
#define NVMM_MACH_CONF_MD(op)		((op) - NVMM_MACH_CONF_MD_BEGIN)

#define NVMM_VCPU_CONF_LIBNVMM_BEGIN	0
#define NVMM_VCPU_CONF_MI_BEGIN		100
#define NVMM_VCPU_CONF_MD_BEGIN		200
#define NVMM_VCPU_CONF_MD(op)		((op) - NVMM_VCPU_CONF_MD_BEGIN)

#define NVMM_VCPU_CONF_CALLBACKS	NVMM_VCPU_CONF_LIBNVMM_BEGIN

#include <nvmm_x86.h>

/* ---- Capability ------------------------------------------------------------- */

struct nvmm_capability {
	uint32_t version;
	uint32_t state_size;
	uint32_t comm_size;
	uint32_t max_machines;
	uint32_t max_vcpus;
	uint32_t ext;		/* Linux only: NVMM_CAP_EXT_*, was padding */
	uint64_t max_ram;
	struct nvmm_cap_md arch;
};

/* ---- The per-vCPU communication page ------------------------------------- */

/*
 * Shared between libnvmm and the layer that runs the vCPU: the state cache
 * (state_cached/state_commit/state_wanted) and the pending event. Programs
 * reach it only through struct nvmm_vcpu's pointers. On Linux the stop word
 * lives apart, where vcpu->stop points, so that it outlives the vCPU; this
 * one is kept for the layout and is not used.
 */
struct nvmm_comm_page {
	uint64_t state_wanted;
	uint64_t state_cached;
	uint64_t state_commit;
	struct nvmm_vcpu_state state;

	bool event_commit;
	struct nvmm_vcpu_event event;

	volatile int stop;
};

/* ---- Control ---------------------------------------------------------------- */

#define NVMM_CTL_MACH_INFO	0

struct nvmm_ctl_mach_info {
	nvmm_machid_t machid;
	uint32_t nvcpus;
	uint64_t nram;
	pid_t pid;
	time_t time;
};

/* ---- libnvmm objects --------------------------------------------------------- */

struct nvmm_io;
struct nvmm_mem;

struct nvmm_assist_callbacks {
	void (*io)(struct nvmm_io *);
	void (*mem)(struct nvmm_mem *);
};

struct nvmm_machine {
	nvmm_machid_t machid;
	struct nvmm_comm_page **pages;
	void *areas;	/* opaque */
};

struct nvmm_vcpu {
	nvmm_cpuid_t cpuid;
	struct nvmm_assist_callbacks cbs;
	struct nvmm_vcpu_state *state;
	struct nvmm_vcpu_event *event;
	struct nvmm_vcpu_exit *exit;
	volatile int *stop;
};

struct nvmm_io {
	struct nvmm_machine *mach;
	struct nvmm_vcpu *vcpu;
	uint16_t port;
	bool in;
	size_t size;
	uint8_t *data;
};

struct nvmm_mem {
	struct nvmm_machine *mach;
	struct nvmm_vcpu *vcpu;
	gpaddr_t gpa;
	bool write;
	size_t size;
	uint8_t *data;
};

#define NVMM_PROT_READ		0x01
#define NVMM_PROT_WRITE		0x02
#define NVMM_PROT_EXEC		0x04
#define NVMM_PROT_USER		0x08
#define NVMM_PROT_ALL		0x0F

/* ---- Functions ---------------------------------------------------------------- */

int nvmm_init(void);
int nvmm_root_init(void);

int nvmm_capability(struct nvmm_capability *);

int nvmm_machine_create(struct nvmm_machine *);
int nvmm_machine_destroy(struct nvmm_machine *);
int nvmm_machine_configure(struct nvmm_machine *, uint64_t, void *);

int nvmm_vcpu_create(struct nvmm_machine *, nvmm_cpuid_t, struct nvmm_vcpu *);
int nvmm_vcpu_destroy(struct nvmm_machine *, struct nvmm_vcpu *);
int nvmm_vcpu_configure(struct nvmm_machine *, struct nvmm_vcpu *, uint64_t,
    void *);
int nvmm_vcpu_setstate(struct nvmm_machine *, struct nvmm_vcpu *, uint64_t);
int nvmm_vcpu_getstate(struct nvmm_machine *, struct nvmm_vcpu *, uint64_t);
int nvmm_vcpu_inject(struct nvmm_machine *, struct nvmm_vcpu *);
int nvmm_vcpu_run(struct nvmm_machine *, struct nvmm_vcpu *);
int nvmm_vcpu_stop(struct nvmm_vcpu *);

int nvmm_gva_to_gpa(struct nvmm_machine *, struct nvmm_vcpu *, gvaddr_t,
    gpaddr_t *, nvmm_prot_t *);
int nvmm_gpa_to_hva(struct nvmm_machine *, gpaddr_t, uintptr_t *,
    nvmm_prot_t *);

int nvmm_assist_io(struct nvmm_machine *, struct nvmm_vcpu *);
int nvmm_assist_mem(struct nvmm_machine *, struct nvmm_vcpu *);

int nvmm_hva_map(struct nvmm_machine *, uintptr_t, size_t);
int nvmm_hva_unmap(struct nvmm_machine *, uintptr_t, size_t);

int nvmm_gpa_map(struct nvmm_machine *, uintptr_t, gpaddr_t, size_t, int);
int nvmm_gpa_unmap(struct nvmm_machine *, uintptr_t, gpaddr_t, size_t);

int nvmm_ctl(int, void *, size_t);

int nvmm_vcpu_dump(struct nvmm_machine *, struct nvmm_vcpu *);

/* ---- Linux extensions (not in NVMM) ------------------------------------------ */

/*
 * Outside NVMM's 24 functions: the pages of a guest-physical range the guest
 * wrote since they were last cleared, one bit per page (bit n of word n/64:
 * page gpa + n * page size). NVMM_EXT_DIRTY says at build time that the
 * functions exist; NVMM_CAP_EXT_DIRTY in nvmm_capability()'s ext says at run
 * time that this host can track (else they fail with ENOTSUP).
 */
#define NVMM_EXT_DIRTY		1
#define NVMM_CAP_EXT_DIRTY	0x01

/*
 * The events in flight and NMI blocking in NVMM_X64_STATE_INTR's reserved
 * bits (struct nvmm_x64_state_intr); NVMM_CAP_EXT_EVENTS says they are
 * read and installed.
 */
#define NVMM_EXT_EVENTS		1
#define NVMM_CAP_EXT_EVENTS	0x02

/* nvmm_gpa_dirty_fetch(): clear the pages reported, as one step. */
#define NVMM_DIRTY_CLEAR	0x01

int nvmm_gpa_dirty_start(struct nvmm_machine *, gpaddr_t, size_t);
int nvmm_gpa_dirty_stop(struct nvmm_machine *, gpaddr_t, size_t);
int nvmm_gpa_dirty_fetch(struct nvmm_machine *, gpaddr_t, size_t, uint64_t *,
    size_t, int);
int nvmm_gpa_dirty_clear(struct nvmm_machine *, gpaddr_t, size_t,
    const uint64_t *, size_t);

/* ---- Layout checks (the NetBSD/DragonFly v3 layouts) ------------------------ */

#ifdef __cplusplus
#define NVMM_ASSERT(e, m)	static_assert(e, m)
#else
#define NVMM_ASSERT(e, m)	_Static_assert(e, m)
#endif
NVMM_ASSERT(sizeof(struct nvmm_capability) == 112, "capability layout");
NVMM_ASSERT(offsetof(struct nvmm_capability, max_ram) == 24,
    "capability layout");
NVMM_ASSERT(offsetof(struct nvmm_comm_page, state) == 32, "comm layout");
NVMM_ASSERT(offsetof(struct nvmm_comm_page, event) == 1048, "comm layout");
NVMM_ASSERT(offsetof(struct nvmm_comm_page, stop) == 1064, "comm layout");
NVMM_ASSERT(sizeof(struct nvmm_comm_page) <= 4096, "comm page size");
NVMM_ASSERT(sizeof(struct nvmm_ctl_mach_info) == 32, "mach_info layout");
NVMM_ASSERT(sizeof(struct nvmm_vcpu) == 56, "vcpu layout");
NVMM_ASSERT(sizeof(struct nvmm_io) == 40, "io layout");
NVMM_ASSERT(sizeof(struct nvmm_mem) == 48, "mem layout");
#undef NVMM_ASSERT

#ifdef __cplusplus
}
#endif

#endif /* NVMM_H */
