/*
 * MI frontend: dirty-page tracking, the Linux extension outside NVMM's 24
 * functions (nvmm_gpa_dirty_*).
 *
 * Tracking is a property of a guest area (one nvmm_gpa_map()): it starts and
 * stops on whole areas, and a fetch or a clear may cover any page-aligned
 * run of tracked areas, or part of one. The backend speaks in bitmaps of
 * one area's pages; this file moves bits between those and the caller's
 * bitmap, whose bit 0 is the first page of the range asked for. All of it
 * runs under the machine's maps_lock, which also keeps areas from going
 * while their bits are read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "machine.h"

/* ---- Bits ------------------------------------------------------------------- */

static bool
bit_get(const uint64_t *map, uint64_t n)
{
	return (map[n / 64] >> (n % 64)) & 1;
}

static void
bit_set(uint64_t *map, uint64_t n)
{
	map[n / 64] |= 1ULL << (n % 64);
}

/*
 * OR n bits of src from bit sbit into dst from bit dbit: a word at a time
 * where both are on a word (a fetch of a whole area), else bit by bit but
 * skipping empty source words: most of a guest is clean between fetches.
 */
static void
fe_bits_or(uint64_t *dst, uint64_t dbit, const uint64_t *src, uint64_t sbit,
    uint64_t n)
{
	uint64_t i = 0;

	while (i < n) {
		if ((sbit + i) % 64 == 0 && n - i >= 64) {
			uint64_t w = src[(sbit + i) / 64];

			if ((dbit + i) % 64 == 0)	/* both on a word */
				dst[(dbit + i) / 64] |= w;
			if (w == 0 || (dbit + i) % 64 == 0) {
				i += 64;
				continue;
			}
		}
		if (bit_get(src, sbit + i))
			bit_set(dst, dbit + i);
		i++;
	}
}

static uint64_t *
bits_alloc(uint64_t nbits)
{
	return calloc((nbits + 63) / 64, sizeof(uint64_t));
}

/* ---- Ranges -------------------------------------------------------------------- */

/*
 * The areas that make up [gpa, gpa+size): indices *first .. *last. ENOENT
 * when a page of it is not mapped; with whole, EINVAL when the range
 * begins or ends inside an area.
 */
static int
fe_dirty_areas(const struct fe_machine *m, gpaddr_t gpa, size_t size,
    bool whole, size_t *first, size_t *last)
{
	gpaddr_t at = gpa, end = gpa + size;
	size_t i;

	for (i = 0; i < m->nareas && m->areas[i].gpa + m->areas[i].size <= gpa;
	    i++)
		continue;
	*first = i;
	while (at < end) {
		const struct fe_area *a = i < m->nareas ? &m->areas[i] : NULL;

		if (a == NULL || a->gpa > at)
			return ENOENT;	/* a hole */
		at = a->gpa + a->size;
		i++;
	}
	*last = i - 1;
	if (whole && (m->areas[*first].gpa != gpa || at != end))
		return EINVAL;
	return 0;
}

/* ---- Start and stop ------------------------------------------------------------ */

static int
fe_dirty_log_locked(struct fe_machine *m, gpaddr_t gpa, size_t size, bool on)
{
	size_t first, last, i;
	int error;

	if ((error = fe_dirty_areas(m, gpa, size, true, &first, &last)) != 0)
		return error;
	/* Check all before changing any: a refusal changes nothing. */
	for (i = first; i <= last; i++) {
		if (on && !(m->areas[i].prot & NVMM_PROT_WRITE))
			return EACCES;	/* the guest cannot write it */
		if (m->areas[i].dirty == on)
			return on ? EALREADY : ESRCH;
	}
	for (i = first; i <= last; i++) {
		m->areas[i].dirty = on;
		if ((error = fe_impl->gpa_dirty_log(m, &m->areas[i])) != 0)
			break;
	}
	if (error == 0)
		return 0;
	/* Undo: the areas before the one that failed, and that one. */
	m->areas[i].dirty = !on;
	while (i-- > first) {
		m->areas[i].dirty = !on;
		(void)fe_impl->gpa_dirty_log(m, &m->areas[i]);
	}
	return error;
}

static int
fe_dirty_log(const struct nvmm_machine *mach, gpaddr_t gpa, size_t size,
    bool on)
{
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if (fe_impl->gpa_dirty_log == NULL)
		error = ENOTSUP;
	else
		error = fe_gpa_range_check(gpa, size);
	if (error == 0) {
		fe_mutex_lock(&m->maps_lock);
		error = fe_dirty_log_locked(m, gpa, size, on);
		fe_mutex_unlock(&m->maps_lock);
	}
	fe_machine_put(m);
	return error;
}

int
fe_gpa_dirty_start(const struct nvmm_machine *mach, gpaddr_t gpa,
    size_t size)
{
	return fe_dirty_log(mach, gpa, size, true);
}

int
fe_gpa_dirty_stop(const struct nvmm_machine *mach, gpaddr_t gpa, size_t size)
{
	return fe_dirty_log(mach, gpa, size, false);
}

/* ---- Fetch and clear ----------------------------------------------------------- */

/*
 * One area's share of a fetch or a clear: its pages [lo, lo + n) are the
 * caller's bits [bit, bit + n).
 */
struct fe_dirty_part {
	const struct fe_area *area;
	uint64_t lo, n, bit;
};

/*
 * Fetch: OR the part's dirty pages into the caller's bitmap; with clear,
 * re-arm those pages in the same step. Only the part's pages are cleared:
 * the rest of the area keeps what it logged for a later fetch.
 */
static int
fe_dirty_fetch_part(struct fe_machine *m, const struct fe_dirty_part *p,
    uint64_t *bitmap, bool clear)
{
	uint64_t pages = p->area->size / fe_page_size();
	uint64_t *all, *part;
	int error;

	if ((all = bits_alloc(pages)) == NULL)
		return ENOMEM;
	if ((part = bits_alloc(pages)) == NULL) {
		free(all);
		return ENOMEM;
	}
	error = fe_impl->gpa_dirty_fetch(m, p->area, all);
	if (error == 0) {
		fe_bits_or(part, p->lo, all, p->lo, p->n);
		if (clear)
			error = fe_impl->gpa_dirty_clear(m, p->area, part);
	}
	if (error == 0)
		fe_bits_or(bitmap, p->bit, part, p->lo, p->n);
	free(part);
	free(all);
	return error;
}

/* Clear: re-arm the part's pages whose bits the caller set. */
static int
fe_dirty_clear_part(struct fe_machine *m, const struct fe_dirty_part *p,
    const uint64_t *bitmap)
{
	uint64_t *part;
	int error;

	if ((part = bits_alloc(p->area->size / fe_page_size())) == NULL)
		return ENOMEM;
	fe_bits_or(part, p->lo, bitmap, p->bit, p->n);
	error = fe_impl->gpa_dirty_clear(m, p->area, part);
	free(part);
	return error;
}

/*
 * Fetch into out (with NVMM_DIRTY_CLEAR, clearing as it goes), or clear
 * what in says, over [gpa, gpa + size): every page mapped and tracked, the
 * bitmap large enough, then area by area.
 */
static int
fe_dirty_bits_locked(struct fe_machine *m, gpaddr_t gpa, size_t size,
    uint64_t *out, const uint64_t *in, size_t bitmap_size, int flags)
{
	uint64_t ps = fe_page_size(), npages = size / ps;
	size_t first, last, i;
	int error;

	if ((error = fe_dirty_areas(m, gpa, size, false, &first, &last)) != 0)
		return error;
	for (i = first; i <= last; i++) {
		if (!m->areas[i].dirty)
			return ESRCH;
	}
	if (bitmap_size / sizeof(uint64_t) < (npages + 63) / 64)
		return ENOBUFS;
	if (out != NULL)
		memset(out, 0, (npages + 63) / 64 * sizeof(uint64_t));
	for (i = first; i <= last && error == 0; i++) {
		const struct fe_area *a = &m->areas[i];
		gpaddr_t lo = a->gpa > gpa ? a->gpa : gpa;
		gpaddr_t hi = a->gpa + a->size < gpa + size ?
		    a->gpa + a->size : gpa + size;
		struct fe_dirty_part p = {
			.area = a, .lo = (lo - a->gpa) / ps,
			.n = (hi - lo) / ps, .bit = (lo - gpa) / ps,
		};

		error = out != NULL ? fe_dirty_fetch_part(m, &p, out,
		    (flags & NVMM_DIRTY_CLEAR) != 0) :
		    fe_dirty_clear_part(m, &p, in);
	}
	return error;
}

static int
fe_dirty_bits(const struct nvmm_machine *mach, gpaddr_t gpa, size_t size,
    uint64_t *out, const uint64_t *in, size_t bitmap_size, int flags)
{
	struct fe_machine *m;
	int error;

	if ((error = fe_machine_get(mach, &m)) != 0)
		return error;
	if (fe_impl->gpa_dirty_fetch == NULL)
		error = ENOTSUP;
	else if ((flags & ~NVMM_DIRTY_CLEAR) != 0)
		error = EINVAL;
	else if ((error = fe_gpa_range_check(gpa, size)) == 0 &&
	    out == NULL && in == NULL)
		error = EFAULT;
	if (error == 0) {
		fe_mutex_lock(&m->maps_lock);
		error = fe_dirty_bits_locked(m, gpa, size, out, in,
		    bitmap_size, flags);
		fe_mutex_unlock(&m->maps_lock);
	}
	fe_machine_put(m);
	return error;
}

int
fe_gpa_dirty_fetch(const struct nvmm_machine *mach, gpaddr_t gpa,
    size_t size, uint64_t *bitmap, size_t bitmap_size, int flags)
{
	return fe_dirty_bits(mach, gpa, size, bitmap, NULL, bitmap_size,
	    flags);
}

int
fe_gpa_dirty_clear(const struct nvmm_machine *mach, gpaddr_t gpa,
    size_t size, const uint64_t *bitmap, size_t bitmap_size)
{
	return fe_dirty_bits(mach, gpa, size, NULL, bitmap, bitmap_size, 0);
}
