/*
 * The shared library exports exactly NVMM's 24 functions and the 4 of the
 * dirty-page tracking extension (NVMM_EXT_DIRTY): the dynamic symbol table
 * of libnvmm.so.0 (nm -D --defined-only, path in argv[1]) holds them and
 * nothing else, and dlsym() finds them but no internal one.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const api[] = {
	"nvmm_assist_io", "nvmm_assist_mem", "nvmm_capability", "nvmm_ctl",
	"nvmm_gpa_map", "nvmm_gpa_to_hva", "nvmm_gpa_unmap", "nvmm_gva_to_gpa",
	"nvmm_hva_map", "nvmm_hva_unmap", "nvmm_init", "nvmm_machine_configure",
	"nvmm_machine_create", "nvmm_machine_destroy", "nvmm_root_init",
	"nvmm_vcpu_configure", "nvmm_vcpu_create", "nvmm_vcpu_destroy",
	"nvmm_vcpu_dump", "nvmm_vcpu_getstate", "nvmm_vcpu_inject",
	"nvmm_vcpu_run", "nvmm_vcpu_setstate", "nvmm_vcpu_stop",
	/* The extension, after NVMM's 24 (see NAPI_NVMM). */
	"nvmm_gpa_dirty_clear", "nvmm_gpa_dirty_fetch", "nvmm_gpa_dirty_start",
	"nvmm_gpa_dirty_stop",
};
#define NAPI		(sizeof(api) / sizeof(api[0]))
#define NAPI_NVMM	24
_Static_assert(NAPI == NAPI_NVMM + 4, "NVMM's 24 and the extension's 4");

/* Internal names of every layer: none may be reachable. */
static const char *const internal[] = {
	"lib_result", "fe_init", "fe_impl", "fe_machine_get", "fe_hva_map",
	"reg_acquire", "reg_lookup", "kvmx86_host", "kvmx86_vcpu_run",
	"kvmx86_reset_state", "nvmm_x86_svm", "nvmm_x86_vmx", "x86_walk",
	"fe_gpa_dirty_fetch", "kvmx86_dirty_fetch",
};

static bool
is_api(const char *name)
{
	for (size_t i = 0; i < NAPI; i++) {
		if (strcmp(name, api[i]) == 0)
			return true;
	}
	return false;
}

/* Parse nm's output; every defined symbol must be an API function. */
static void
check_nm(const char *lib)
{
	char cmd[4096], line[512], name[256], type;
	unsigned int found = 0, found_nvmm = 0, extra = 0;
	FILE *nm;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", lib);
	if ((nm = popen(cmd, "r")) == NULL)
		t_bail("popen: %s", strerror(errno));
	while (fgets(line, sizeof(line), nm) != NULL) {
		if (sscanf(line, "%*s %c %255s", &type, name) != 2)
			continue;
		name[strcspn(name, "@")] = '\0';	/* nvmm_init@@NVMM_0 */
		if (type == 'A')
			continue;	/* the version node, NVMM_0 */
		if (is_api(name) && (type == 'T' || type == 'W')) {
			found++;
			found_nvmm += strncmp(name, "nvmm_gpa_dirty_", 15) != 0;
		} else {
			extra++;
			t_diag("  unexpected export: %c %s", type, name);
		}
	}
	t_ok(pclose(nm) == 0, "nm -D ran");
	t_eq_u64(found_nvmm, NAPI_NVMM, "nm: NVMM's 24 functions are exported");
	t_eq_u64(found, NAPI, "nm: and the 4 of the dirty extension");
	t_eq_u64(extra, 0, "nm: nothing else is exported");
}

static void
check_dlsym(const char *lib)
{
	unsigned int found = 0, leaked = 0;
	void *h;

	if ((h = dlopen(lib, RTLD_NOW | RTLD_LOCAL)) == NULL)
		t_bail("dlopen: %s", dlerror());
	for (size_t i = 0; i < NAPI; i++) {
		if (dlsym(h, api[i]) != NULL)
			found++;
		else
			t_diag("  dlsym %s: not found", api[i]);
	}
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
		if (dlsym(h, internal[i]) != NULL) {
			leaked++;
			t_diag("  dlsym %s: found", internal[i]);
		}
	}
	t_eq_u64(found, NAPI, "dlsym finds the 24 + 4 API functions");
	t_eq_u64(leaked, 0, "dlsym finds no internal symbol");
	t_ok(dlvsym(h, "nvmm_vcpu_run", "NVMM_0") != NULL &&
	    dlvsym(h, "nvmm_gpa_dirty_fetch", "NVMM_0") != NULL,
	    "the API is versioned NVMM_0");
	dlclose(h);
}

int
main(int argc, char **argv)
{
	if (argc != 2)
		t_bail("usage: %s path/to/libnvmm.so.0", argv[0]);
	t_plan(7);
	check_nm(argv[1]);
	check_dlsym(argv[1]);
	return t_done();
}
