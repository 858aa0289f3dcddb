/*
 * libnvmm: the entry points of the dirty-page tracking extension (Linux
 * only, outside NVMM's 24 functions; see DIRTY-PAGE TRACKING in libnvmm(3)).
 */
#include <nvmm.h>

#include "../frontend/frontend.h"
#include "lib.h"

NVMM_EXPORT int
nvmm_gpa_dirty_start(struct nvmm_machine *mach, gpaddr_t gpa, size_t size)
{
	return lib_result(fe_gpa_dirty_start(mach, gpa, size));
}

NVMM_EXPORT int
nvmm_gpa_dirty_stop(struct nvmm_machine *mach, gpaddr_t gpa, size_t size)
{
	return lib_result(fe_gpa_dirty_stop(mach, gpa, size));
}

NVMM_EXPORT int
nvmm_gpa_dirty_fetch(struct nvmm_machine *mach, gpaddr_t gpa, size_t size,
    uint64_t *bitmap, size_t bitmap_size, int flags)
{
	return lib_result(fe_gpa_dirty_fetch(mach, gpa, size, bitmap,
	    bitmap_size, flags));
}

NVMM_EXPORT int
nvmm_gpa_dirty_clear(struct nvmm_machine *mach, gpaddr_t gpa, size_t size,
    const uint64_t *bitmap, size_t bitmap_size)
{
	return lib_result(fe_gpa_dirty_clear(mach, gpa, size, bitmap,
	    bitmap_size));
}
