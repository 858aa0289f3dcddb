/*
 * Dirty-page tracking over KVM's dirty log (the Linux extension).
 *
 * KVM logs the writes to a memory slot that has KVM_MEM_LOG_DIRTY_PAGES.
 * The VM runs in KVM's manual-protect mode (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2):
 * KVM_GET_DIRTY_LOG then only reads the log, and KVM_CLEAR_DIRTY_LOG forgets
 * the pages it is given and write-protects them again, so a fetch without a
 * clear loses nothing and a clear can leave pages the caller has not seen.
 * An area is one or more slots (kvmx86_area_slot()); each slot's bitmap is
 * a run of whole words of the area's.
 */
#include <errno.h>
#include <sys/ioctl.h>

#include "kvmx86.h"

/* Whether this KVM can: read once, at host_probe(). */
void
kvmx86_dirty_probe(void)
{
	int r = ioctl(kvmx86_host.kvm_fd, KVM_CHECK_EXTENSION,
	    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

	kvmx86_host.dirty = r > 0 && (r & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
}

/*
 * Manual protect for the new VM. Without INITIALLY_SET, turning the log on
 * write-protects the slot and starts with no page dirty.
 */
int
kvmx86_dirty_vm_setup(int vm_fd)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE },
	};

	if (!kvmx86_host.dirty)
		return 0;
	return ioctl(vm_fd, KVM_ENABLE_CAP, &cap) == 0 ? 0 : errno;
}

/* An area's slots again, their flags following a->dirty. */
int
kvmx86_dirty_log(struct fe_machine *m, const struct fe_area *a)
{
	struct kvmx86_machine *mach = m->machdata;

	if (!kvmx86_host.dirty)
		return ENOTSUP;	/* cap->ext says so too */
	/* On failure the frontend sets the old flag on all of them again. */
	for (uint32_t i = 0; i < a->nslots; i++) {
		struct kvm_userspace_memory_region r = kvmx86_area_slot(a, i);

		if (ioctl(mach->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) != 0)
			return errno;
	}
	return 0;
}

/* Slot i's part of an area bitmap: slots are whole 64-page groups. */
static uint64_t *
slot_bits(const uint64_t *bits, uint32_t i)
{
	return (uint64_t *)(uintptr_t)(bits +
	    (uint64_t)i * (KVMX86_SLOT_SIZE / 4096 / 64));
}

int
kvmx86_dirty_fetch(struct fe_machine *m, const struct fe_area *a,
    uint64_t *bits)
{
	struct kvmx86_machine *mach = m->machdata;

	for (uint32_t i = 0; i < a->nslots; i++) {
		struct kvm_dirty_log log = {
			.slot = a->slot + i, .dirty_bitmap = slot_bits(bits, i),
		};

		if (ioctl(mach->vm_fd, KVM_GET_DIRTY_LOG, &log) != 0)
			return errno;
	}
	return 0;
}

int
kvmx86_dirty_clear(struct fe_machine *m, const struct fe_area *a,
    const uint64_t *bits)
{
	struct kvmx86_machine *mach = m->machdata;

	for (uint32_t i = 0; i < a->nslots; i++) {
		struct kvm_userspace_memory_region r = kvmx86_area_slot(a, i);
		struct kvm_clear_dirty_log log = {
			.slot = r.slot,
			.first_page = 0,
			.num_pages = (uint32_t)(r.memory_size / 4096),
			.dirty_bitmap = slot_bits(bits, i),	/* only read */
		};

		if (ioctl(mach->vm_fd, KVM_CLEAR_DIRTY_LOG, &log) != 0)
			return errno;
	}
	return 0;
}
