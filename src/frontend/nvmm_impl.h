/*
 * The MI frontend's objects and the backend contract (struct nvmm_impl).
 *
 * The frontend owns machines, vCPUs, host and guest mappings, limits and
 * ownership; it validates every id, size and op before calling the backend,
 * which trusts what it is given. A backend fills one struct nvmm_impl at the
 * bottom of its main file.
 */
#ifndef NVMM_IMPL_H
#define NVMM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nvmm.h>

#include "lock.h"
#include "registry.h"

/* ---- Frontend objects ---------------------------------------------------- */

/* A host range registered with nvmm_hva_map(). */
struct fe_hmapping {
	uintptr_t hva;
	size_t size;
};

/*
 * A guest-physical range registered with nvmm_gpa_map(). The backend maps
 * it as nslots slots numbered from slot, each of the backend's slot_size
 * bytes but the last; a backend op on one area goes over all of them.
 */
struct fe_area {
	gpaddr_t gpa;
	uintptr_t hva;
	size_t size;
	nvmm_prot_t prot;
	uint32_t slot;
	uint32_t nslots;
	bool dirty;		/* writes are logged (nvmm_gpa_dirty_start) */
};

/*
 * What struct nvmm_vcpu's stop pointer points at: NVMM's stop word, and the
 * vCPU while it lives. Cells are never freed nor reused, so a stop through
 * a destroyed vCPU's handle is harmless (EINVAL), a stale handle never
 * matches a later vCPU, and the vCPU itself can be freed.
 */
#define FE_CELL_MAGIC	0x6e766d6d73746f70ULL	/* "nvmmstop" */

struct fe_access;
struct fe_vcpu;
struct fe_vslot;

struct fe_stop_cell {
	volatile int stop;			/* first: vcpu->stop */
	uint64_t magic;				/* FE_CELL_MAGIC */
	struct fe_vcpu *_Atomic vcpu;		/* NULL once destroyed */
	atomic_uint stoppers;			/* nvmm_vcpu_stop() under way */
};

/*
 * Events committed by nvmm_vcpu_inject(), from any thread or signal
 * handler: the call copies vcpu->event here. A sequence lock, since a
 * signal handler can take no lock: seq is odd while a copy is written,
 * and moves on with every copy, so the run sees a new one by seq alone.
 */
struct fe_event_box {
	atomic_uint seq;
	_Atomic unsigned int type;
	_Atomic uint8_t vector;
	_Atomic uint64_t error;
};

struct fe_vcpu {
	/*
	 * vcpu->state and vcpu->event point into it; its stop and
	 * event_commit are unused (the stop cell, the event box).
	 */
	struct nvmm_comm_page comm;
	struct fe_stop_cell *cell;	/* the stop word: vcpu->stop */

	struct fe_event_box box;	/* posted by nvmm_vcpu_inject() */
	unsigned int box_taken;		/* box.seq the run last took */
	/* The event the next guest entry injects (the run's, under lock). */
	bool event_commit;
	struct nvmm_vcpu_event event;

	nvmm_cpuid_t cpuid;
	struct fe_machine *mach;
	/* Uses and the lock that serialises run/getstate/assists (lookup.h). */
	struct fe_vslot *slot;
	struct nvmm_vcpu_exit exit;	/* handed out as vcpu->exit */
	struct fe_access *access;	/* the backend's (vcpu_create) */
	void *cpudata;			/* backend */
};

/*
 * Whether an event was posted since the run last took one: one load, at
 * every guest entry (after the vCPU shows as running: see run.c).
 */
static inline bool
fe_event_posted(const struct fe_vcpu *v)
{
	return atomic_load(&v->box.seq) != v->box_taken;
}

struct fe_machine {
	nvmm_machid_t machid;
	uint64_t cookie;		/* this creation, unique (lookup.h) */
	struct fe_mutex maps_lock;	/* hmaps, areas, reg.info */

	struct fe_vcpu *vcpus[NVMM_MAX_VCPUS];	/* fe_lock, or a vCPU use */
	struct nvmm_comm_page *pages[NVMM_MAX_VCPUS];	/* mach->pages */
	atomic_uint nvcpus;		/* the backend reads it unlocked */

	struct fe_hmapping hmaps[NVMM_MAX_HMAPPINGS];
	unsigned int nhmaps;

	struct fe_area *areas;		/* sorted by gpa, no overlap */
	size_t nareas;
	size_t areas_cap;

	struct reg_entry reg;		/* system-wide registry entry */
	void *machdata;			/* backend */
};

/* ---- Pending guest accesses, served by the assists ------------------------- */

/*
 * An I/O exit's elements: count accesses of io.size bytes, back to back
 * from io.data.
 */
struct fe_io_access {
	struct nvmm_io io;
	size_t count;
};

/* struct fe_access's pending: what the assists serve. */
#define FE_ACCESS_NONE	0
#define FE_ACCESS_IO	1	/* an I/O exit: io */
#define FE_ACCESS_MEM	2	/* an MMIO exit: mem */
/* Other values: the backend's own pending operations, not the assists'. */

/*
 * The access behind the last exit, which the assists read in place: the
 * backend fills it at an IO or MEMORY exit as the callback gets it (all
 * but mach and vcpu, libnvmm's) and keeps pending as long as the
 * operation is; an assist calls the callbacks and sets served. Both words
 * are the backend's own record of the operation, which it finishes at the
 * next run: so an assist needs no backend call, unless the emulator holds
 * GPRs (vcpu_access_done). Set up by vcpu_create (fe_vcpu.access).
 */
struct fe_access {
	uint8_t pending;	/* FE_ACCESS_*, or the backend's own */
	bool served;
	union {
		struct fe_io_access io;
		struct nvmm_mem mem;
	};
};

/* ---- The backend contract -------------------------------------------------- */

struct nvmm_impl {
	const char *name;

	/* Whether this backend can run here: 0, or an errno (ENXIO, EACCES). */
	int (*ident)(void);
	/* Fill cap->arch, and cap->ext with the extensions it has. */
	void (*capability)(struct nvmm_capability *);

	/* Configuration ops: count and argument size of each MD op. */
	size_t mach_conf_max;
	const size_t *mach_conf_sizes;
	size_t vcpu_conf_max;
	const size_t *vcpu_conf_sizes;

	int (*machine_create)(struct fe_machine *);
	void (*machine_destroy)(struct fe_machine *);
	int (*machine_configure)(struct fe_machine *, uint64_t, void *);

	/*
	 * Creates the vCPU, installs the RESET state (comm->state, cached)
	 * and points v->access at its record of pending accesses; also for
	 * an id destroyed before, which must then be a new vCPU in every
	 * respect. The frontend calls it for an id only once vcpu_destroy of
	 * its last vCPU returned.
	 */
	int (*vcpu_create)(struct fe_machine *, struct fe_vcpu *);
	/*
	 * Sets v->cpudata to NULL before anything else (a fork meanwhile
	 * skips the vCPU); may keep what the next vcpu_create of the id
	 * takes back, until machine_destroy.
	 */
	void (*vcpu_destroy)(struct fe_machine *, struct fe_vcpu *);
	int (*vcpu_configure)(struct fe_vcpu *, uint64_t, void *);
	/*
	 * A CPUID leaf as the guest will see it (policy and the emulator's
	 * masks applied): EAX, EBX, ECX, EDX. Optional; the page walker
	 * takes the guest's MAXPHYADDR and 1 GiB page support from it.
	 */
	int (*vcpu_cpuid)(struct fe_vcpu *, uint32_t leaf, uint32_t index,
	    uint32_t regs[4]);

	/* Copy the classes in comm->state_wanted into comm->state. */
	int (*vcpu_getstate)(struct fe_vcpu *);
	/*
	 * Install comm->state_commit, inject the vCPU's event if committed
	 * (EINVAL if invalid), run until an exit the emulator must see, fill
	 * *exit. An event posted meanwhile ends the run soon, as NONE.
	 */
	int (*vcpu_run)(struct fe_machine *, struct fe_vcpu *,
	    struct nvmm_vcpu_exit *);
	/*
	 * Force the vCPU out of guest mode soon, if it is there (a stop or
	 * a posted event). Async-signal-safe.
	 */
	void (*vcpu_kick)(struct fe_vcpu *);

	/*
	 * After an assist served the access (v->access->served), when the
	 * emulator holds GPRs (comm.state_cached): update them as the
	 * finished instruction leaves them, as NVMM's assists do.
	 */
	int (*vcpu_access_done)(struct fe_vcpu *);

	/*
	 * Guest-physical mappings. One backend slot maps at most slot_size
	 * bytes (a multiple of the page size): the frontend gives an area
	 * that many consecutive slot numbers, the backend maps the pieces.
	 */
	uint64_t slot_size;
	int (*gpa_map)(struct fe_machine *, const struct fe_area *);
	int (*gpa_unmap)(struct fe_machine *, const struct fe_area *);

	/*
	 * Dirty-page tracking (NULL when the backend has none). Bitmaps
	 * hold one bit per page of the area (bit n: page a->gpa + n pages).
	 * dirty_log turns the log of writes on or off as a->dirty says;
	 * dirty_fetch ORs the pages written since they were last cleared
	 * into bits, leaving them logged; dirty_clear forgets the pages
	 * whose bits are set and logs their next write again.
	 */
	int (*gpa_dirty_log)(struct fe_machine *, const struct fe_area *);
	int (*gpa_dirty_fetch)(struct fe_machine *, const struct fe_area *,
	    uint64_t *bits);
	int (*gpa_dirty_clear)(struct fe_machine *, const struct fe_area *,
	    const uint64_t *bits);
};

/* The backends, probed in this order (NVMM: SVM first, then VMX). */
extern const struct nvmm_impl nvmm_x86_svm;
extern const struct nvmm_impl nvmm_x86_vmx;

#endif /* NVMM_IMPL_H */
