/*
 * <nvmm.h> from C++: included first and alone, its declarations have C
 * linkage (the program links against libnvmm) and its layout checks hold.
 */
#include <nvmm.h>

#include <cstdio>

static unsigned int n, failed;

static void
ok(bool cond, const char *what)
{
	std::printf("%sok %u - %s\n", cond ? "" : "not ", ++n, what);
	failed += !cond;
}

int
main()
{
	struct nvmm_capability cap;
	int (*cap_fn)(struct nvmm_capability *) = nvmm_capability;
	nvmm_vcpu_state state;

	std::printf("1..3\n");
	ok(sizeof(state) == 1008 && sizeof(nvmm_vcpu) == 56, "layouts");
	ok(offsetof(nvmm_comm_page, stop) == 1064, "comm page layout");
	/* Linked through C linkage; before nvmm_init() it says EBADF. */
	ok(cap_fn(&cap) == -1, "nvmm_capability is callable");
	return failed != 0;
}
