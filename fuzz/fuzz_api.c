/*
 * API fuzzer: a sequence of libnvmm calls decoded from the input, with
 * arbitrary ids, sizes, flags, configuration, state and event contents,
 * and handles that are valid, NULL, stale (destroyed) or corrupted copies.
 * Every call must return 0 or -1 with an errno its contract allows, every
 * run must end with a valid exit, nothing may crash, leak or trip ASan or
 * UBSan, and once every machine is destroyed the registry must be empty.
 *
 * Invalid pointers the API cannot detect, which this fuzzer never passes:
 * - a garbage struct nvmm_machine or struct nvmm_vcpu address (the API
 *   reads the caller's struct; NULL is detected);
 * - a garbage vcpu->stop (nvmm_vcpu_stop may run in a signal handler and
 *   takes it on trust; NULL and a destroyed vCPU's pointer are detected);
 * - garbage callback pointers in vcpu->cbs (NULL is detected);
 * - output or configuration buffers smaller than the call's struct;
 * - hva ranges covering memory the program uses: nvmm_hva_map() gives a
 *   range with holes fresh memory, as NVMM replaces it, so the fuzzer
 *   keeps hva ranges inside its own arena, or wholly outside the user
 *   address space;
 * - host memory registered while not readable (PROT_NONE) or unmapped
 *   behind the library's back: the page walker reads guest tables there.
 * See fuzz/README.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fuzz.h"

#define PAGE		4096UL
#define ARENA_PAGES	256
#define ARENA_SIZE	(ARENA_PAGES * PAGE)
/*
 * Far below where mmap() places things (and in ASan's low application
 * range): the arena gets holes, and the sanitizers' own mappings must not
 * land in them, or the next input's fresh arena would map over those.
 */
#define ARENA_HINT	0x20000000UL
#define NMACH		6	/* machine handle slots */
#define NVCPU		12	/* vCPU handle slots */
#define MAX_OWNED	8	/* machine creations per input */
#define MAX_VCPUS	12	/* vCPU creations per input */
#define MAX_RUNS	24	/* runs per input */
#define RUN_USEC	2000	/* a run longer than this is stopped */

/* ---- Per-input world -------------------------------------------------------- */

static uint8_t *arena;

static struct world {
	struct fz_input in;
	struct nvmm_machine mach[NMACH];	/* slots: any content */
	struct nvmm_vcpu vcpu[NVCPU];
	struct nvmm_machine owned[MAX_OWNED];	/* as created, for cleanup */
	unsigned int nowned, nvcpus, nruns;
	uint8_t cb_data[64];			/* what callbacks return */
	unsigned int cb_pos;
} w;

/* ---- Picking arguments -------------------------------------------------------- */

static struct nvmm_machine *
pick_mach(void)
{
	static struct nvmm_machine corrupt;
	unsigned int i = fz_below(&w.in, NMACH + 2);

	if (i < NMACH)
		return &w.mach[i];
	if (i == NMACH)
		return NULL;
	/* A copy of a handle with one field changed. */
	corrupt = w.mach[fz_below(&w.in, NMACH)];
	switch (fz_below(&w.in, 3)) {
	case 0:
		corrupt.machid = fz_u32(&w.in);
		break;
	case 1:
		corrupt.areas = (void *)(uintptr_t)fz_u64(&w.in);
		break;
	default:
		corrupt.pages = (void *)(uintptr_t)fz_u64(&w.in);
		break;
	}
	return &corrupt;
}

static struct nvmm_vcpu *
pick_vcpu(void)
{
	static struct nvmm_vcpu corrupt;
	unsigned int i = fz_below(&w.in, NVCPU + 2);

	if (i < NVCPU)
		return &w.vcpu[i];
	if (i == NVCPU)
		return NULL;
	/* Changed id or state pointer; stop stays a pointer the API gave. */
	corrupt = w.vcpu[fz_below(&w.in, NVCPU)];
	if (fz_u8(&w.in) & 1)
		corrupt.cpuid = fz_u32(&w.in);
	else
		corrupt.state = (void *)(uintptr_t)fz_u64(&w.in);
	return &corrupt;
}

/* An hva inside the arena, or one no user mapping can have. */
static uintptr_t
pick_hva(void)
{
	uintptr_t base = (uintptr_t)arena;

	switch (fz_below(&w.in, 8)) {
	case 5:
		base += fz_below(&w.in, ARENA_PAGES) * PAGE;
		return base + (fz_u16(&w.in) & (PAGE - 1));
	case 6:
		return fz_u16(&w.in) & (PAGE - 1);	/* 0 or unaligned */
	case 7:
		return 0xFFFF800000000000ULL + fz_u16(&w.in) * PAGE;
	default:
		return base + fz_below(&w.in, ARENA_PAGES) * PAGE;
	}
}

/* A size that keeps an arena hva inside the arena. */
static size_t
pick_size(uintptr_t hva)
{
	uintptr_t base = (uintptr_t)arena;
	size_t room = (hva >= base && hva < base + ARENA_SIZE) ?
	    base + ARENA_SIZE - hva : 16 * PAGE;

	switch (fz_below(&w.in, 8)) {
	case 5:
		return 0;
	case 6:
		return (fz_u16(&w.in) | 1) % room;	/* unaligned */
	case 7:
		return (size_t)0 - (hva & ~(PAGE - 1));	/* wraps */
	default:
		room /= PAGE;
		return room == 0 ? PAGE : (1 + fz_below(&w.in, 255) % room) *
		    PAGE;
	}
}

static gpaddr_t
pick_gpa(void)
{
	switch (fz_below(&w.in, 8)) {
	case 4:
		return 0xFFFF0000ULL + fz_below(&w.in, 16) * PAGE;
	case 5:
		return NVMM_MAX_RAM - (1 + fz_below(&w.in, 4)) * PAGE;
	case 6:
		return fz_u64(&w.in);
	case 7:
		return fz_u32(&w.in);
	default:
		return fz_below(&w.in, 255) * PAGE;
	}
}

/* ---- Callbacks ---------------------------------------------------------------------- */

static uint8_t
cb_byte(void)
{
	return w.cb_data[w.cb_pos++ % sizeof(w.cb_data)];
}

static void
cb_io(struct nvmm_io *io)
{
	FZ_CHECK(io->size == 1 || io->size == 2 || io->size == 4,
	    "io callback size %zu", io->size);
	if (io->in) {
		for (size_t i = 0; i < io->size; i++)
			io->data[i] = cb_byte();
	}
	/* Callbacks may look at the state, as emulators do. */
	if (cb_byte() & 1)
		FZ_CHECK(nvmm_vcpu_getstate(io->mach, io->vcpu,
		    NVMM_X64_STATE_GPRS) == 0, "getstate in io callback");
}

static void
cb_mem(struct nvmm_mem *mem)
{
	FZ_CHECK(mem->size >= 1 && mem->size <= 8, "mem callback size %zu",
	    mem->size);
	if (!mem->write) {
		for (size_t i = 0; i < mem->size; i++)
			mem->data[i] = cb_byte();
	}
	if (cb_byte() & 1) {
		gpaddr_t gpa;
		nvmm_prot_t prot;

		(void)nvmm_gva_to_gpa(mem->mach, mem->vcpu, mem->gpa, &gpa,
		    &prot);
	}
}

/* ---- Operations: machines --------------------------------------------------------- */

#define CHECK_CALL(name, call, ...)					\
	do {								\
		int r_ = (call);					\
		fz_check_result(name, r_, errno, FZ_ERRS(__VA_ARGS__));	\
	} while (0)

static void
op_mach_create(void)
{
	struct nvmm_machine *slot = &w.mach[fz_below(&w.in, NMACH)];
	int r;

	if (w.nowned == MAX_OWNED)
		return;
	if (fz_u8(&w.in) == 0xFF) {
		CHECK_CALL("machine_create(NULL)", nvmm_machine_create(NULL),
		    EINVAL);
		return;
	}
	r = nvmm_machine_create(slot);
	fz_check_result("machine_create", r, errno,
	    FZ_ERRS(ENOBUFS, ENOMEM, EMFILE));
	if (r == 0)
		w.owned[w.nowned++] = *slot;
}

static void
op_mach_destroy(void)
{
	CHECK_CALL("machine_destroy", nvmm_machine_destroy(pick_mach()),
	    EINVAL, ENOENT, EPERM);
}

static void
op_mach_configure(void)
{
	uint8_t conf[64];
	struct nvmm_machine *mach = pick_mach();
	uint64_t op = fz_u8(&w.in) & 1 ? 200 + fz_below(&w.in, 4) :
	    fz_u64(&w.in);

	fz_bytes(&w.in, conf, sizeof(conf));
	CHECK_CALL("machine_configure", nvmm_machine_configure(mach, op,
	    fz_u8(&w.in) & 1 ? NULL : conf), EINVAL, ENOENT, EPERM, EFAULT);
}

static void
op_ctl(void)
{
	struct nvmm_ctl_mach_info info;
	int op = fz_u8(&w.in) & 1 ? NVMM_CTL_MACH_INFO : (int)fz_u32(&w.in);
	size_t size = fz_u8(&w.in) & 1 ? sizeof(info) : fz_below(&w.in, 40);

	void *data = &info;

	memset(&info, 0, sizeof(info));
	info.machid = fz_u8(&w.in) & 1 ? fz_below(&w.in, 8) : fz_u32(&w.in);
	if (fz_u8(&w.in) == 0xFF)
		data = NULL;
	/* A size above the struct's would let the call write past it. */
	if (size > sizeof(info))
		size = sizeof(info);
	CHECK_CALL("ctl", nvmm_ctl(op, data, size), EINVAL, EFAULT, ENOENT,
	    EPERM);
}

static void
op_capability(void)
{
	struct nvmm_capability cap;

	if (fz_u8(&w.in) & 1) {
		CHECK_CALL("capability(NULL)", nvmm_capability(NULL), EFAULT);
		return;
	}
	FZ_CHECK(nvmm_capability(&cap) == 0, "capability");
	FZ_CHECK(cap.version == NVMM_KERN_VERSION &&
	    cap.max_machines == NVMM_MAX_MACHINES &&
	    cap.max_vcpus == NVMM_MAX_VCPUS && cap.max_ram == NVMM_MAX_RAM,
	    "capability values");
}

static void
op_init(void)
{
	/* Already initialised: both are no-ops that succeed. */
	FZ_CHECK((fz_u8(&w.in) & 1 ? nvmm_init() : nvmm_root_init()) == 0 ||
	    errno == EACCES, "init again");
}

/* ---- Operations: vCPUs ---------------------------------------------------------------- */

static void
op_vcpu_create(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *slot = &w.vcpu[fz_below(&w.in, NVCPU)];
	nvmm_cpuid_t cpuid = fz_u8(&w.in) & 1 ? fz_below(&w.in, 8) :
	    fz_u32(&w.in) % 512;

	if (w.nvcpus == MAX_VCPUS)
		return;
	w.nvcpus++;
	CHECK_CALL("vcpu_create", nvmm_vcpu_create(mach, cpuid,
	    fz_u8(&w.in) == 0xFF ? NULL : slot), EINVAL, ENOENT, EPERM, EBUSY,
	    ENOMEM, EEXIST, EMFILE);
}

static void
op_vcpu_destroy(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();

	CHECK_CALL("vcpu_destroy", nvmm_vcpu_destroy(mach, vcpu), EINVAL,
	    ENOENT, EPERM);
}

static void
op_vcpu_configure(void)
{
	struct nvmm_assist_callbacks cbs;
	uint8_t conf[64] __attribute__((aligned(8)));
	bool io = fz_u8(&w.in) & 1, mem = fz_u8(&w.in) & 1;
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();
	uint64_t op;
	void *arg = conf;

	cbs.io = io ? cb_io : NULL;
	cbs.mem = mem ? cb_mem : NULL;
	switch (fz_below(&w.in, 4)) {
	case 0:
		op = NVMM_VCPU_CONF_CALLBACKS;
		arg = &cbs;
		break;
	case 1:
		op = NVMM_VCPU_CONF_CPUID;
		break;
	case 2:
		op = NVMM_VCPU_CONF_TPR;
		break;
	default:
		op = fz_u64(&w.in);
		break;
	}
	fz_bytes(&w.in, conf, sizeof(conf));
	if (fz_u8(&w.in) == 0xFF)
		arg = NULL;
	/* ENOTSUP: a CPUID exit KVM cannot take; EBUSY: after the first run. */
	CHECK_CALL("vcpu_configure", nvmm_vcpu_configure(mach, vcpu, op, arg),
	    EINVAL, ENOENT, EPERM, EFAULT, ENOBUFS, ENOTSUP, EBUSY);
}

/* Some bytes of the comm page's state, then setstate with any flags. */
static void
op_setstate(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();
	uint64_t flags = fz_u8(&w.in) & 1 ? fz_u8(&w.in) & NVMM_X64_STATE_ALL :
	    fz_u64(&w.in);
	unsigned int edits = fz_below(&w.in, 8);

	/* Only the owner writes the state, and only through a live handle. */
	if (nvmm_vcpu_getstate(mach, vcpu, 0) == 0 && vcpu->state != NULL) {
		for (unsigned int i = 0; i < edits; i++) {
			size_t off = fz_u16(&w.in) % sizeof(*vcpu->state);

			((uint8_t *)vcpu->state)[off] = fz_u8(&w.in);
		}
	}
	CHECK_CALL("setstate", nvmm_vcpu_setstate(mach, vcpu, flags), EINVAL,
	    ENOENT, EPERM);
}

static void
op_getstate(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();
	uint64_t flags = fz_u8(&w.in) & 1 ? fz_u8(&w.in) & NVMM_X64_STATE_ALL :
	    fz_u64(&w.in);

	CHECK_CALL("getstate", nvmm_vcpu_getstate(mach, vcpu, flags), EINVAL,
	    ENOENT, EPERM);
}

static void
op_inject(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();

	if (nvmm_vcpu_getstate(mach, vcpu, 0) == 0) {
		vcpu->event->type = fz_u8(&w.in) & 1 ? fz_below(&w.in, 2) :
		    fz_u32(&w.in);
		vcpu->event->vector = fz_u8(&w.in);
		vcpu->event->u.excp.error = fz_u64(&w.in);
	}
	CHECK_CALL("inject", nvmm_vcpu_inject(mach, vcpu), EINVAL, ENOENT,
	    EPERM);
}

static void
op_run(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();
	int r;

	if (w.nruns++ == MAX_RUNS)
		return;
	r = fz_run(mach, vcpu, RUN_USEC);
	fz_check_result("run", r, errno, FZ_ERRS(EINVAL, ENOENT, EPERM));
	if (r == 0)
		fz_check_exit(vcpu->exit);
}

static void
op_stop(void)
{
	CHECK_CALL("stop", nvmm_vcpu_stop(pick_vcpu()), EINVAL);
}

static void
op_assist(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();

	fz_bytes(&w.in, w.cb_data, 8);
	if (fz_u8(&w.in) & 1)
		CHECK_CALL("assist_io", nvmm_assist_io(mach, vcpu), EINVAL,
		    ENOENT, EPERM);
	else
		CHECK_CALL("assist_mem", nvmm_assist_mem(mach, vcpu), EINVAL,
		    ENOENT, EPERM);
}

static void
op_dump(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = pick_vcpu();

	CHECK_CALL("vcpu_dump", nvmm_vcpu_dump(mach, vcpu), EINVAL, ENOENT,
	    EPERM);
}

/* ---- Operations: memory ------------------------------------------------------------- */

static void
op_hva_map(void)
{
	struct nvmm_machine *mach = pick_mach();
	uintptr_t hva = pick_hva();
	size_t size = pick_size(hva);

	CHECK_CALL("hva_map", nvmm_hva_map(mach, hva, size), EINVAL, EEXIST,
	    ENOBUFS, ENOMEM, ENOENT, EPERM);
}

static void
op_hva_unmap(void)
{
	struct nvmm_machine *mach = pick_mach();
	uintptr_t hva = pick_hva();
	size_t size = pick_size(hva);

	CHECK_CALL("hva_unmap", nvmm_hva_unmap(mach, hva, size), EINVAL,
	    ENOENT, EBUSY, EPERM);
}

static void
op_gpa_map(void)
{
	struct nvmm_machine *mach = pick_mach();
	uintptr_t hva = pick_hva();
	size_t size = pick_size(hva);
	gpaddr_t gpa = pick_gpa();
	int prot = fz_u8(&w.in) & 1 ? (int)fz_below(&w.in, 8) :
	    (int)fz_u32(&w.in);
	uintptr_t got;
	nvmm_prot_t gprot;
	int r;

	r = nvmm_gpa_map(mach, hva, gpa, size, prot);
	fz_check_result("gpa_map", r, errno, FZ_ERRS(EINVAL, ENOMEM, ENOENT,
	    EPERM, ENOBUFS));
	if (r != 0)
		return;
	/* What was mapped is found again. */
	FZ_CHECK(nvmm_gpa_to_hva(mach, gpa + size - 1, &got, &gprot) == 0 &&
	    got == hva + size - 1, "gpa_to_hva after gpa_map");
}

static void
op_gpa_unmap(void)
{
	struct nvmm_machine *mach = pick_mach();
	uintptr_t hva = pick_hva();
	size_t size = pick_size(hva);

	CHECK_CALL("gpa_unmap", nvmm_gpa_unmap(mach, hva, pick_gpa(), size),
	    ESRCH, EINVAL, ENOENT, EPERM);
}

static void
op_translate(void)
{
	struct nvmm_machine *mach = pick_mach();
	struct nvmm_vcpu *vcpu = fz_u8(&w.in) & 1 ? pick_vcpu() : NULL;
	gpaddr_t gpa;
	uintptr_t hva;
	nvmm_prot_t prot;
	bool nulls = fz_u8(&w.in) == 0xFF;

	if (vcpu != NULL) {
		CHECK_CALL("gva_to_gpa", nvmm_gva_to_gpa(mach, vcpu,
		    fz_u64(&w.in), nulls ? NULL : &gpa, &prot), EFAULT, EINVAL,
		    ENOENT, EPERM);
	} else {
		CHECK_CALL("gpa_to_hva", nvmm_gpa_to_hva(mach, pick_gpa(),
		    nulls ? NULL : &hva, &prot), EFAULT, EINVAL, ENOENT, EPERM);
	}
}

/* A size for the dirty calls: mostly a few pages, at times 0, unaligned, huge. */
static size_t
pick_dirty_size(void)
{
	switch (fz_below(&w.in, 8)) {
	case 5:
		return 0;
	case 6:
		return fz_u16(&w.in) | 1;
	case 7:
		return (size_t)fz_u64(&w.in) & ~(PAGE - 1);
	default:
		return (1 + fz_below(&w.in, 300)) * PAGE;
	}
}

/*
 * The dirty-page tracking extension: start, stop, fetch (with or without
 * clearing, bitmaps of any size up to the buffer, NULL) and clear. A
 * fetch sets no bit past the range's pages.
 */
static void
op_dirty(void)
{
	struct nvmm_machine *mach = pick_mach();
	gpaddr_t gpa = pick_gpa();
	size_t size = pick_dirty_size();
	uint64_t bits[5];
	size_t bsize = fz_below(&w.in, sizeof(bits) + 1);
	uint64_t *map = fz_u8(&w.in) == 0xFF ? NULL : bits;
	int flags = fz_u8(&w.in) & 0x80 ? (int)fz_u32(&w.in) :
	    (int)fz_below(&w.in, 2);
	uint64_t npages = size / PAGE;
	int r;

	fz_bytes(&w.in, (uint8_t *)bits, sizeof(bits));
	switch (fz_below(&w.in, 4)) {
	case 0:
		CHECK_CALL("gpa_dirty_start", nvmm_gpa_dirty_start(mach, gpa,
		    size), EINVAL, ENOENT, EACCES, EALREADY, ENOTSUP, EPERM);
		break;
	case 1:
		CHECK_CALL("gpa_dirty_stop", nvmm_gpa_dirty_stop(mach, gpa,
		    size), EINVAL, ENOENT, ESRCH, ENOTSUP, EPERM);
		break;
	case 2:
		r = nvmm_gpa_dirty_fetch(mach, gpa, size, map, bsize, flags);
		fz_check_result("gpa_dirty_fetch", r, errno, FZ_ERRS(EINVAL,
		    ENOENT, ESRCH, ENOBUFS, EFAULT, ENOMEM, ENOTSUP, EPERM));
		if (r == 0 && npages % 64 != 0)
			FZ_CHECK((bits[npages / 64] >> (npages % 64)) == 0,
			    "gpa_dirty_fetch: a bit past the range");
		break;
	default:
		CHECK_CALL("gpa_dirty_clear", nvmm_gpa_dirty_clear(mach, gpa,
		    size, map, bsize), EINVAL, ENOENT, ESRCH, ENOBUFS, EFAULT,
		    ENOMEM, ENOTSUP, EPERM);
		break;
	}
}

/* Guest code and data: bytes into the arena (pages not yet replaced). */
static void
op_poke(void)
{
	size_t page = fz_below(&w.in, ARENA_PAGES);
	size_t off = page * PAGE + fz_u16(&w.in) % PAGE;
	size_t len = fz_below(&w.in, 32);

	if (off + len > ARENA_SIZE)
		len = ARENA_SIZE - off;
	/* Only where the arena is mapped (holes, unmapped ranges), all of it. */
	if (len > 0 && msync(arena + page * PAGE, (off + len + PAGE - 1) /
	    PAGE * PAGE - page * PAGE, MS_ASYNC) == 0)
		fz_bytes(&w.in, arena + off, len);
}

/* ---- The sequence --------------------------------------------------------------------- */

typedef void (*op_fn)(void);

static const op_fn ops[] = {
	op_mach_create, op_mach_destroy, op_mach_configure, op_ctl,
	op_capability, op_init, op_vcpu_create, op_vcpu_destroy,
	op_vcpu_configure, op_setstate, op_getstate, op_inject, op_run,
	op_stop, op_assist, op_dump, op_hva_map, op_hva_unmap, op_gpa_map,
	op_gpa_unmap, op_translate, op_poke, op_dirty,
};

/* Fresh arena memory, with holes where the input wants them. */
static void
arena_reset(void)
{
	unsigned int holes;

	if (mmap(arena, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED |
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		abort();
	holes = fz_below(&w.in, 4);
	for (unsigned int i = 0; i < holes; i++) {
		size_t page = fz_below(&w.in, ARENA_PAGES);

		munmap(arena + page * PAGE, (1 + fz_below(&w.in, 4)) * PAGE);
	}
}

/* Destroy what the input created; the registry must then be empty. */
static void
world_cleanup(void)
{
	struct nvmm_ctl_mach_info info;

	for (unsigned int i = 0; i < w.nowned; i++)
		(void)nvmm_machine_destroy(&w.owned[i]);
	for (nvmm_machid_t id = 0; id < 2 * MAX_OWNED; id++) {
		memset(&info, 0, sizeof(info));
		info.machid = id;
		FZ_CHECK(nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) ==
		    -1 && errno == ENOENT, "machine %u still registered", id);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_setup();
	arena = mmap((void *)ARENA_HINT, ARENA_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (arena == MAP_FAILED)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_begin(data, size);
	memset(&w, 0, sizeof(w));
	w.in = (struct fz_input){ data, size };
	arena_reset();
	while (!fz_empty(&w.in))
		ops[fz_below(&w.in, sizeof(ops) / sizeof(ops[0]))]();
	world_cleanup();
	return 0;
}
