/*
 * MI frontend: host mappings (nvmm_hva_map) and guest-physical areas
 * (nvmm_gpa_map), their validation, and gpa -> hva lookups.
 *
 * Areas are kept sorted by guest address and never overlap; each takes a
 * run of consecutive backend slot numbers (one unless it is larger than
 * fe_impl->slot_size). All of it is guarded by the machine's maps_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "frontend.h"
#include "machine.h"

uint64_t
fe_page_size(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

static bool
fe_page_aligned(uint64_t v)
{
	return (v & (fe_page_size() - 1)) == 0;
}

int
fe_gpa_range_check(gpaddr_t gpa, size_t size)
{
	if (size == 0 || !fe_page_aligned(gpa) || !fe_page_aligned(size))
		return EINVAL;
	if (gpa >= NVMM_MAX_RAM || size > NVMM_MAX_RAM - gpa)
		return EINVAL;
	return 0;
}

/* ---- Host mappings ---------------------------------------------------------- */

static int
fe_hva_check(uintptr_t hva, size_t size)
{
	if (hva == 0 || size == 0 || !fe_page_aligned(hva) ||
	    !fe_page_aligned(size) || hva + size < hva)
		return EINVAL;
	return 0;
}

/* The host mapping holding all of [hva, hva+size), or NULL. */
static const struct fe_hmapping *
fe_hmapping_find(const struct fe_machine *m, uintptr_t hva, size_t size)
{
	for (unsigned int i = 0; i < m->nhmaps; i++) {
		const struct fe_hmapping *h = &m->hmaps[i];

		if (hva >= h->hva && hva + size <= h->hva + h->size)
			return h;
	}
	return NULL;
}

static bool
fe_hmapping_overlaps(const struct fe_machine *m, uintptr_t hva, size_t size)
{
	for (unsigned int i = 0; i < m->nhmaps; i++) {
		const struct fe_hmapping *h = &m->hmaps[i];

		if (hva < h->hva + h->size && h->hva < hva + size)
			return true;
	}
	return false;
}

/* Publish the host-mapped size in the registry (best effort). */
static void
fe_reg_ram(struct fe_machine *m, int64_t delta)
{
	m->reg.info.nram += (uint64_t)delta;
	(void)reg_update(&m->reg);
}

/*
 * NVMM replaces the range with fresh zeroed memory. Memory the process has
 * already mapped there is kept instead: KVM reaches guest memory through our
 * page tables, and an emulator's RAM may be file- or memfd-backed (QEMU's
 * memory backends). Only a range with holes gets NVMM's fresh memory.
 */
static int
fe_hva_back(uintptr_t hva, size_t size)
{
	void *p;

	if (msync((void *)hva, size, MS_ASYNC) == 0)
		return 0;	/* fully mapped: use it as it is */
	p = mmap((void *)hva, size, PROT_READ | PROT_WRITE,
	    MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? errno : 0;
}

int
fe_hva_map(const struct nvmm_machine *mach, uintptr_t hva, size_t size)
{
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if ((error = fe_hva_check(hva, size)) != 0)
		goto out;
	fe_mutex_lock(&m->maps_lock);
	/* As NVMM: a range inside an existing one is fine, a straddle is not. */
	if (fe_hmapping_overlaps(m, hva, size) &&
	    fe_hmapping_find(m, hva, size) == NULL)
		error = EEXIST;
	else if (m->nhmaps == NVMM_MAX_HMAPPINGS)
		error = ENOBUFS;
	else
		error = fe_hva_back(hva, size);
	if (error == 0) {
		m->hmaps[m->nhmaps++] = (struct fe_hmapping){ hva, size };
		fe_reg_ram(m, (int64_t)size);
	}
	fe_mutex_unlock(&m->maps_lock);
out:
	fe_machine_put(m);
	return error;
}

/* Whether a guest area still draws on [hva, hva+size). */
static bool
fe_hva_in_use(const struct fe_machine *m, uintptr_t hva, size_t size)
{
	for (size_t i = 0; i < m->nareas; i++) {
		const struct fe_area *a = &m->areas[i];

		if (a->hva < hva + size && hva < a->hva + a->size)
			return true;
	}
	return false;
}

/*
 * Unmap the parts of [hva, hva+size) that no other host mapping of the
 * machine covers. A range may lie inside another one (NVMM accepts it),
 * and guest memory is read through the one that stays (page walks,
 * instruction bytes): unmapping it all would leave that one dangling.
 */
static void
fe_hva_release(const struct fe_machine *m, unsigned int skip, uintptr_t hva,
    size_t size)
{
	uintptr_t lo = hva, end = hva + size;

	while (lo < end) {
		uintptr_t next = end;
		bool covered = false;

		for (unsigned int i = 0; i < m->nhmaps && !covered; i++) {
			const struct fe_hmapping *h = &m->hmaps[i];

			if (i == skip)
				continue;
			if (h->hva <= lo && lo < h->hva + h->size) {
				covered = true;
				next = h->hva + h->size < end ?
				    h->hva + h->size : end;
			} else if (h->hva > lo && h->hva < next) {
				next = h->hva;
			}
		}
		if (!covered)
			munmap((void *)lo, next - lo);
		lo = next;
	}
}

int
fe_hva_unmap(const struct nvmm_machine *mach, uintptr_t hva, size_t size)
{
	struct fe_machine *m;
	unsigned int i;
	int error = ENOENT;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	error = ENOENT;
	fe_mutex_lock(&m->maps_lock);
	for (i = 0; i < m->nhmaps; i++) {
		if (m->hmaps[i].hva == hva && m->hmaps[i].size == size)
			break;
	}
	if (i < m->nhmaps) {
		/*
		 * KVM maps guest memory through our address space, so the
		 * range cannot leave it while the guest still uses it.
		 */
		if (fe_hva_in_use(m, hva, size)) {
			error = EBUSY;
		} else {
			fe_hva_release(m, i, hva, size);
			m->hmaps[i] = m->hmaps[--m->nhmaps];
			fe_reg_ram(m, -(int64_t)size);
			error = 0;
		}
	}
	fe_mutex_unlock(&m->maps_lock);
	fe_machine_put(m);
	return error;
}

/* ---- Guest areas ---------------------------------------------------------------- */

/* Index of the first area ending after gpa. */
static size_t
fe_area_index(const struct fe_machine *m, gpaddr_t gpa)
{
	size_t lo = 0, hi = m->nareas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->areas[mid].gpa + m->areas[mid].size <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct fe_area *
fe_area_find(const struct fe_machine *m, gpaddr_t gpa)
{
	size_t i = fe_area_index(m, gpa);

	if (i < m->nareas && m->areas[i].gpa <= gpa)
		return &m->areas[i];
	return NULL;
}

static int
fe_gpa_check(uintptr_t hva, gpaddr_t gpa, size_t size)
{
	if (hva == 0 || !fe_page_aligned(hva))
		return EINVAL;
	return fe_gpa_range_check(gpa, size);
}

/* Whether an area uses a slot number in [slot, slot+n). */
static bool
fe_slots_used(const struct fe_machine *m, uint64_t slot, uint64_t n)
{
	for (size_t i = 0; i < m->nareas; i++) {
		const struct fe_area *a = &m->areas[i];

		if (a->slot < slot + n && slot < (uint64_t)a->slot + a->nslots)
			return true;
	}
	return false;
}

/*
 * The lowest run of n slot numbers no area uses: it starts at 0 or right
 * after an area's run. Past UINT32_MAX, the backend refuses the numbers.
 */
static uint64_t
fe_free_slots(const struct fe_machine *m, uint32_t n)
{
	uint64_t best = UINT64_MAX;

	if (!fe_slots_used(m, 0, n))
		return 0;
	for (size_t i = 0; i < m->nareas; i++) {
		uint64_t at = (uint64_t)m->areas[i].slot + m->areas[i].nslots;

		if (at < best && !fe_slots_used(m, at, n))
			best = at;
	}
	return best;
}

static int
fe_area_insert(struct fe_machine *m, size_t at, const struct fe_area *a)
{
	if (m->nareas == m->areas_cap) {
		size_t cap = m->areas_cap ? m->areas_cap * 2 : 16;
		struct fe_area *n = realloc(m->areas, cap * sizeof(*n));

		if (n == NULL)
			return ENOMEM;
		m->areas = n;
		m->areas_cap = cap;
	}
	memmove(&m->areas[at + 1], &m->areas[at],
	    (m->nareas - at) * sizeof(*a));
	m->areas[at] = *a;
	m->nareas++;
	return 0;
}

static int
fe_gpa_map_locked(struct fe_machine *m, uintptr_t hva, gpaddr_t gpa,
    size_t size, int prot)
{
	uint32_t nslots = (uint32_t)((size - 1) / fe_impl->slot_size + 1);
	uint64_t slot;
	struct fe_area a;
	size_t at;
	int error;

	if (fe_hmapping_find(m, hva, size) == NULL)
		return EINVAL;
	at = fe_area_index(m, gpa);
	if (at < m->nareas && m->areas[at].gpa < gpa + size)
		return EINVAL;	/* overlaps a mapped area */
	if ((slot = fe_free_slots(m, nslots)) > (uint64_t)UINT32_MAX - nslots)
		return ENOBUFS;
	a = (struct fe_area){
		.gpa = gpa, .hva = hva, .size = size,
		.slot = (uint32_t)slot, .nslots = nslots,
		.prot = ((prot & PROT_READ) ? NVMM_PROT_READ : 0) |
		    ((prot & PROT_WRITE) ? NVMM_PROT_WRITE : 0) |
		    ((prot & PROT_EXEC) ? NVMM_PROT_EXEC : 0),
	};
	if ((error = fe_area_insert(m, at, &a)) != 0)
		return error;
	if ((error = fe_impl->gpa_map(m, &a)) != 0) {
		memmove(&m->areas[at], &m->areas[at + 1],
		    (--m->nareas - at) * sizeof(a));
	}
	return error;
}

int
fe_gpa_map(const struct nvmm_machine *mach, uintptr_t hva, gpaddr_t gpa,
    size_t size, int prot)
{
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0)
		error = EINVAL;
	else
		error = fe_gpa_check(hva, gpa, size);
	if (error == 0) {
		fe_mutex_lock(&m->maps_lock);
		error = fe_gpa_map_locked(m, hva, gpa, size, prot);
		fe_mutex_unlock(&m->maps_lock);
	}
	fe_machine_put(m);
	return error;
}

int
fe_gpa_unmap(const struct nvmm_machine *mach, uintptr_t hva, gpaddr_t gpa,
    size_t size)
{
	struct fe_machine *m;
	size_t at;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	fe_mutex_lock(&m->maps_lock);
	at = fe_area_index(m, gpa);
	/* As NetBSD's libnvmm: only a whole recorded area, else ESRCH. */
	if (at >= m->nareas || m->areas[at].gpa != gpa ||
	    m->areas[at].hva != hva || m->areas[at].size != size) {
		error = ESRCH;
	} else if ((error = fe_impl->gpa_unmap(m, &m->areas[at])) == 0) {
		memmove(&m->areas[at], &m->areas[at + 1],
		    (--m->nareas - at) * sizeof(m->areas[0]));
	}
	fe_mutex_unlock(&m->maps_lock);
	fe_machine_put(m);
	return error;
}

int
fe_gpa_to_hva(const struct nvmm_machine *mach, gpaddr_t gpa, uintptr_t *hva,
    nvmm_prot_t *prot)
{
	const struct fe_area *a;
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	fe_mutex_lock(&m->maps_lock);
	if ((a = fe_area_find(m, gpa)) == NULL) {
		error = ENOENT;
	} else {
		*hva = a->hva + (gpa - a->gpa);
		*prot = a->prot;
	}
	fe_mutex_unlock(&m->maps_lock);
	fe_machine_put(m);
	return error;
}
