/*
 * nvmm_gpa_to_hva(): the area holding a guest-physical address, its host
 * address at the right offset and its protection; ENOENT anywhere else.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define RAM_SIZE	0x100000u
#define RO_GPA		0x100000ULL	/* right after RAM: 2 pages, R */
#define RW_GPA		0x200000ULL	/* 1 page, R|W */
#define RX_GPA		0x300000ULL	/* 1 page, R|X */
#define RWX		(NVMM_PROT_READ | NVMM_PROT_WRITE | NVMM_PROT_EXEC)

static void
check(struct t_vm *vm, gpaddr_t gpa, uintptr_t want_hva, nvmm_prot_t want,
    const char *what)
{
	uintptr_t hva = 0;
	nvmm_prot_t prot = 0;
	int r = nvmm_gpa_to_hva(&vm->mach, gpa, &hva, &prot);

	if (!t_ok(r == 0 && hva == want_hva && prot == want,
	    "gpa 0x%llx: %s", (unsigned long long)gpa, what))
		t_diag("  returned %d (%s), hva %p prot 0x%llx, want %p 0x%llx",
		    r, r ? strerror(errno) : "", (void *)hva,
		    (unsigned long long)prot, (void *)want_hva,
		    (unsigned long long)want);
}

static void
check_enoent(struct t_vm *vm, gpaddr_t gpa, const char *what)
{
	uintptr_t hva;
	nvmm_prot_t prot;

	t_errno(nvmm_gpa_to_hva(&vm->mach, gpa, &hva, &prot), ENOENT,
	    "gpa 0x%llx: %s: ENOENT", (unsigned long long)gpa, what);
}

int
main(void)
{
	uintptr_t ram, ro, rw, rx, hva;
	nvmm_prot_t prot;
	struct t_vm vm;

	t_require_nvmm();
	t_plan(20);
	t_vm_create(&vm, RAM_SIZE);
	ram = (uintptr_t)vm.ram;
	ro = (uintptr_t)t_vm_map(&vm, RO_GPA, 0x2000, PROT_READ);
	rw = (uintptr_t)t_vm_map(&vm, RW_GPA, 0x1000, PROT_READ | PROT_WRITE);
	rx = (uintptr_t)t_vm_map(&vm, RX_GPA, 0x1000, PROT_READ | PROT_EXEC);

	check(&vm, 0, ram, RWX, "start of RAM, RWX");
	check(&vm, 0x1234, ram + 0x1234, RWX, "unaligned: same offset");
	check(&vm, RAM_SIZE - 1, ram + RAM_SIZE - 1, RWX,
	    "last byte of RAM");
	check(&vm, RO_GPA, ro, NVMM_PROT_READ, "adjacent area, read-only");
	check(&vm, RO_GPA + 0x1ABC, ro + 0x1ABC, NVMM_PROT_READ,
	    "second page of an area");
	check(&vm, RW_GPA + 0xFFF, rw + 0xFFF, NVMM_PROT_READ | NVMM_PROT_WRITE,
	    "read-write area");
	check(&vm, RX_GPA + 8, rx + 8, NVMM_PROT_READ | NVMM_PROT_EXEC,
	    "read-exec area");
	check_enoent(&vm, RO_GPA + 0x2000, "just past an area");
	check_enoent(&vm, RW_GPA - 1, "just before an area");
	check_enoent(&vm, RW_GPA + 0x1000, "gap between areas");
	check_enoent(&vm, NVMM_MAX_RAM, "NVMM_MAX_RAM");
	check_enoent(&vm, 1ULL << 63, "bit 63");
	check_enoent(&vm, ~0ULL, "all ones");

	/* The host address is the caller's own mapping: writes show. */
	T_CHECK(nvmm_gpa_to_hva(&vm.mach, 0x4321, &hva, &prot));
	*(volatile uint8_t *)hva = 0x5A;
	t_ok(vm.ram[0x4321] == 0x5A, "hva is the RAM seen by the host");

	t_errno(nvmm_gpa_to_hva(&vm.mach, 0, NULL, &prot), EFAULT,
	    "NULL hva: EFAULT");
	t_errno(nvmm_gpa_to_hva(&vm.mach, 0, &hva, NULL), EFAULT,
	    "NULL prot: EFAULT");

	/* Unmapped areas are gone; the others stay. */
	T_CHECK(nvmm_gpa_unmap(&vm.mach, rw, RW_GPA, 0x1000));
	check_enoent(&vm, RW_GPA, "after gpa_unmap");
	check(&vm, RX_GPA, rx, NVMM_PROT_READ | NVMM_PROT_EXEC,
	    "other area after an unmap");
	T_CHECK(nvmm_gpa_map(&vm.mach, rw, RW_GPA + 0x10000, 0x1000,
	    PROT_READ | PROT_WRITE));
	check(&vm, RW_GPA + 0x10010, rw + 0x10,
	    NVMM_PROT_READ | NVMM_PROT_WRITE, "host range mapped elsewhere");
	check_enoent(&vm, RW_GPA, "old place stays unmapped");

	t_vm_destroy(&vm);
	return t_done();
}
