/*
 * nvmm_gva_to_gpa() in every paging mode, from a table of cases: each case
 * plants page tables in guest RAM from the host, sets CR0/CR3/CR4/EFER
 * with setstate (no run: the walker works on the state alone) and checks
 * the gpa and the NVMM_PROT bits, or EFAULT.
 */
#include <errno.h>
#include <string.h>

#include "walk_util.h"

#define G32		0x00403ABCULL		/* PDE 1, PTE 3 */
#define GPAE		0xC0403ABCULL		/* PDPTE 3, PDE 2, PTE 3 */
#define G64		0x0000123456789ABCULL
#define G57		0x00ABCDEF12345ABCULL
#define FRAME		0x345000ULL
#define WANT		0x345ABCULL

static const struct wt_case cases[] = {
	/* ---- No paging: identity, every right. */
	{ "real mode", M_NOPG, 0x12345, .gpa = 0x12345, .prot = ALL_ },
	{ "PG clear wins over PAE/LME", M_NOPG_PAE, 0xFFFFF123,
	    .gpa = 0xFFFFF123, .prot = ALL_ },
	{ "LMA without PAE", M_LMA_NOPAE, G64, .err = EFAULT },

	/* ---- 32-bit paging. */
	{ "4K page", M_32, G32, 1, FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "read-only supervisor PTE", M_32, G32, 1, FRAME | P,
	    .gpa = WANT, .prot = R_ | X_ },
	{ "supervisor PDE", M_32, G32, 1, FRAME | PWU, .flags[2] = P | W,
	    .gpa = WANT, .prot = R_ | W_ | X_ },
	{ "read-only PDE", M_32, G32, 1, FRAME | PWU, .flags[2] = P | U,
	    .gpa = WANT, .prot = R_ | X_ | U_ },
	{ "PAT bit in a PTE", M_32, G32, 1, FRAME | PWU | PAT4K,
	    .gpa = WANT, .prot = ALL_ },
	{ "PDE PS ignored without CR4.PSE", M_32, G32, 1, FRAME | PWU,
	    .flags[2] = PWU | PS, .gpa = WANT, .prot = ALL_ },
	{ "PTE not present", M_32, G32, 1, FRAME | NP, .err = EFAULT },
	{ "PDE not present", M_32, G32, 1, FRAME | PWU, .flags[2] = NP,
	    .err = EFAULT },
	{ "linear addresses wrap at 4 GiB", M_32, 0x100000000ULL | G32, 1,
	    FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "frame up to 4 GiB", M_32, G32, 1, 0xFFFFF000 | PWU,
	    .gpa = 0xFFFFFABC, .prot = ALL_ },
	{ "PT in the last page of an area", M_32, 0x007FFABC, 1, FRAME | PWU,
	    .table[1] = WT_END_AREA + 0x1000, .gpa = WANT, .prot = ALL_ },
	{ "PT just past an area", M_32, 0x007FFABC, 1, FRAME | PWU,
	    .table[1] = WT_END_AREA + 0x2000, .err = EFAULT },
	{ "PT in unmapped memory", M_32, G32, 1, FRAME | PWU,
	    .table[1] = WT_UNMAPPED, .err = EFAULT },
	{ "PD in unmapped memory", M_32, G32, 1, FRAME | PWU,
	    .table[2] = WT_UNMAPPED, .err = EFAULT },
	{ "4M page", M_32PSE, 0x00523456, 2, 0x01C00000 | PWU | PS,
	    .gpa = 0x01D23456, .prot = ALL_ },
	{ "4M page, PSE-36 bits 34:32", M_32PSE, 0x00523456, 2,
	    0x01C00000 | P | W | PS | 0x05ULL << 13,
	    .gpa = 0x501D23456ULL, .prot = R_ | W_ | X_ },
	{ "4M page, PSE-36 bit 39", M_32PSE, 0x00523456, 2,
	    0x01C00000 | PWU | PS | 0x80ULL << 13,
	    .gpa = 0x8001D23456ULL, .prot = ALL_ },
	{ "4M page, bit 21 reserved", M_32PSE, 0x00523456, 2,
	    0x01C00000 | PWU | PS | 1ULL << 21, .err = EFAULT },
	{ "4M page, PAT bit", M_32PSE, 0x00523456, 2,
	    0x01C00000 | PWU | PS | PATL, .gpa = 0x01D23456, .prot = ALL_ },
	{ "4M page, read-only user", M_32PSE, 0x00523456, 2,
	    0x01C00000 | P | U | PS, .gpa = 0x01D23456,
	    .prot = R_ | X_ | U_ },
	{ "4M page, not present", M_32PSE, 0x00523456, 2, 0x01C00000 | PS,
	    .err = EFAULT },
	{ "PSE: PDE without PS points to a PT", M_32PSE, G32, 1, FRAME | PWU,
	    .gpa = WANT, .prot = ALL_ },

	/* ---- PAE paging. */
	{ "4K page", M_PAE, GPAE, 1, FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "4K page, NX", M_PAE, GPAE, 1, FRAME | PWU | NX, .gpa = WANT,
	    .prot = R_ | W_ | U_ },
	{ "4K page above 4 GiB", M_PAE, GPAE, 1, 0x1234567000ULL | PWU,
	    .gpa = 0x1234567ABCULL, .prot = ALL_ },
	{ "PAT bit in a PTE", M_PAE, GPAE, 1, FRAME | PWU | PAT4K,
	    .gpa = WANT, .prot = ALL_ },
	{ "2M page", M_PAE, 0x40312345, 2, 0x1E00000 | PWU | PS,
	    .gpa = 0x1F12345, .prot = ALL_ },
	{ "2M page, PAT bit", M_PAE, 0x40312345, 2,
	    0x1E00000 | PWU | PS | PATL, .gpa = 0x1F12345, .prot = ALL_ },
	{ "2M page, bit 13 reserved", M_PAE, 0x40312345, 2,
	    0x1E00000 | PWU | PS | 1ULL << 13, .err = EFAULT },
	{ "read-only PDE", M_PAE, GPAE, 1, FRAME | PWU, .flags[2] = P | U,
	    .gpa = WANT, .prot = R_ | X_ | U_ },
	{ "NX in the PDE", M_PAE, GPAE, 1, FRAME | PWU,
	    .flags[2] = PWU | NX, .gpa = WANT, .prot = R_ | W_ | U_ },
	{ "PDPTE R/W and U/S are reserved", M_PAE, GPAE, 1, FRAME | PWU,
	    .flags[3] = P | W, .err = EFAULT },
	{ "PDPTE PS reserved", M_PAE, GPAE, 1, FRAME | PWU,
	    .flags[3] = P | PS, .err = EFAULT },
	{ "PDPTE NX reserved", M_PAE, GPAE, 1, FRAME | PWU,
	    .flags[3] = P | NX, .err = EFAULT },
	{ "PDPTE bit 52 reserved", M_PAE, GPAE, 1, FRAME | PWU,
	    .flags[3] = P | 1ULL << 52, .err = EFAULT },
	{ "PDPTE not present", M_PAE, GPAE, 1, FRAME | PWU, .flags[3] = NP,
	    .err = EFAULT },
	{ "PDPT 32-byte aligned in CR3", M_PAE, GPAE, 1, FRAME | PWU,
	    .table[3] = WT_FIXED + 0x20, .gpa = WANT, .prot = ALL_ },
	{ "PTE bit 52 reserved", M_PAE, GPAE, 1, FRAME | PWU | 1ULL << 52,
	    .err = EFAULT },
	{ "PTE bit MAXPHYADDR reserved", M_PAE, GPAE, 1, FRAME | PWU,
	    .hi = HI_RSVD, .hi_level = 1, .err = EFAULT },
	{ "PTE bit MAXPHYADDR-1 is an address bit", M_PAE, GPAE, 1,
	    FRAME | PWU, .hi = HI_ADDR, .hi_level = 1, .gpa = WANT,
	    .prot = ALL_ },
	{ "PDE bit MAXPHYADDR reserved", M_PAE, GPAE, 1, FRAME | PWU,
	    .hi = HI_RSVD, .hi_level = 2, .err = EFAULT },
	{ "PTE not present", M_PAE, GPAE, 1, FRAME | NP, .err = EFAULT },
	{ "PT in unmapped memory", M_PAE, GPAE, 1, FRAME | PWU,
	    .table[1] = WT_UNMAPPED, .err = EFAULT },
	{ "NX reserved without NXE", M_PAE_NOX, GPAE, 1, FRAME | PWU | NX,
	    .err = EFAULT },
	{ "executable without NXE", M_PAE_NOX, GPAE, 1, FRAME | PWU,
	    .gpa = WANT, .prot = ALL_ },
	{ "LA57 ignored outside long mode", M_PAE_LA57, GPAE, 1, FRAME | PWU,
	    .gpa = WANT, .prot = ALL_ },

	/* ---- 4-level paging. */
	{ "4K page", M_L4, G64, 1, FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "4K page, NX", M_L4, G64, 1, FRAME | PWU | NX, .gpa = WANT,
	    .prot = R_ | W_ | U_ },
	{ "PAT bit in a PTE", M_L4, G64, 1, FRAME | PWU | PAT4K,
	    .gpa = WANT, .prot = ALL_ },
	{ "2M page", M_L4, 0x0000123440123456ULL, 2, 0x1E00000 | PWU | PS,
	    .gpa = 0x1F23456, .prot = ALL_ },
	{ "2M page, bit 20 reserved", M_L4, 0x0000123440123456ULL, 2,
	    0x1E00000 | PWU | PS | 1ULL << 20, .err = EFAULT },
	{ "1G page", M_L4, 0x0000123452345678ULL, 3,
	    0x1240000000ULL | PWU | PS, .gpa = 0x1252345678ULL, .prot = ALL_ },
	{ "1G page, PAT bit", M_L4, 0x0000123452345678ULL, 3,
	    0x1240000000ULL | PWU | PS | PATL, .gpa = 0x1252345678ULL,
	    .prot = ALL_ },
	{ "1G page, bit 29 reserved", M_L4, 0x0000123452345678ULL, 3,
	    0x1240000000ULL | PWU | PS | 1ULL << 29, .err = EFAULT },
	{ "PML4E PS reserved", M_L4, G64, 1, FRAME | PWU,
	    .flags[4] = PWU | PS, .err = EFAULT },
	{ "NX in the PML4E", M_L4, G64, 1, FRAME | PWU,
	    .flags[4] = PWU | NX, .gpa = WANT, .prot = R_ | W_ | U_ },
	{ "rights accumulate over levels", M_L4, G64, 1, FRAME | PWU,
	    .flags[4] = P | W, .flags[3] = P | U, .gpa = WANT,
	    .prot = R_ | X_ },
	{ "read-only user PDE", M_L4, G64, 1, FRAME | PWU, .flags[2] = P | U,
	    .gpa = WANT, .prot = R_ | X_ | U_ },
	{ "PTE bits 62:52 ignored", M_L4, G64, 1,
	    FRAME | PWU | 0x7FF0000000000000ULL, .gpa = WANT, .prot = ALL_ },
	{ "PTE bit MAXPHYADDR reserved", M_L4, G64, 1, FRAME | PWU,
	    .hi = HI_RSVD, .hi_level = 1, .err = EFAULT },
	{ "PTE bit MAXPHYADDR-1 is an address bit", M_L4, G64, 1,
	    FRAME | PWU, .hi = HI_ADDR, .hi_level = 1, .gpa = WANT,
	    .prot = ALL_ },
	{ "PDPTE bit MAXPHYADDR reserved", M_L4, G64, 1, FRAME | PWU,
	    .hi = HI_RSVD, .hi_level = 3, .err = EFAULT },
	{ "PML4E bit MAXPHYADDR reserved", M_L4, G64, 1, FRAME | PWU,
	    .hi = HI_RSVD, .hi_level = 4, .err = EFAULT },
	{ "PTE not present", M_L4, G64, 1, FRAME | NP, .err = EFAULT },
	{ "PML4E not present", M_L4, G64, 1, FRAME | PWU, .flags[4] = NP,
	    .err = EFAULT },
	{ "non-canonical (bit 47 alone)", M_L4, 0x0000800000000ABCULL, 1,
	    FRAME | PWU, .err = EFAULT },
	{ "non-canonical (bits 63:48 alone)", M_L4, 0xFFFF000000000ABCULL,
	    1, FRAME | PWU, .err = EFAULT },
	{ "canonical high half", M_L4, 0xFFFF800000403ABCULL, 1,
	    FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "page outside RAM still translates", M_L4, G64, 1,
	    0x30000000 | PWU, .gpa = 0x30000ABC, .prot = ALL_ },
	{ "PT in the last page of an area", M_L4, 0x00001234567FFABCULL, 1,
	    FRAME | PWU, .table[1] = WT_END_AREA + 0x1000, .gpa = WANT,
	    .prot = ALL_ },
	{ "PT just past an area", M_L4, 0x00001234567FFABCULL, 1,
	    FRAME | PWU, .table[1] = WT_END_AREA + 0x2000, .err = EFAULT },
	{ "PT in unmapped memory", M_L4, G64, 1, FRAME | PWU,
	    .table[1] = WT_UNMAPPED, .err = EFAULT },
	{ "PML4 in unmapped memory", M_L4, G64, 1, FRAME | PWU,
	    .table[4] = WT_UNMAPPED, .err = EFAULT },
	{ "PML4 beyond MAXPHYADDR in CR3", M_L4, G64, 1, FRAME | PWU,
	    .table[4] = 1ULL << 51, .err = EFAULT },
	{ "NX reserved without NXE", M_L4_NOX, G64, 1, FRAME | PWU | NX,
	    .err = EFAULT },
	{ "PML4E NX reserved without NXE", M_L4_NOX, G64, 1, FRAME | PWU,
	    .flags[4] = PWU | NX, .err = EFAULT },
	{ "executable without NXE", M_L4_NOX, G64, 1, FRAME | PWU,
	    .gpa = WANT, .prot = ALL_ },

	/* ---- 5-level paging. */
	{ "4K page", M_L5, G57, 1, FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "bit 47 alone is canonical", M_L5, 0x0000800000403ABCULL, 1,
	    FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "canonical high half", M_L5, 0xFF00000000403ABCULL, 1,
	    FRAME | PWU, .gpa = WANT, .prot = ALL_ },
	{ "non-canonical (bit 56 alone)", M_L5, 0x0100000000000ABCULL, 1,
	    FRAME | PWU, .err = EFAULT },
	{ "non-canonical (bits 63:57 alone)", M_L5, 0xFE00000000000ABCULL,
	    1, FRAME | PWU, .err = EFAULT },
	{ "2M page", M_L5, 0x00ABCDEF40123456ULL, 2, 0x1E00000 | PWU | PS,
	    .gpa = 0x1F23456, .prot = ALL_ },
	{ "1G page", M_L5, 0x00ABCDEF52345678ULL, 3,
	    0x40000000 | PWU | PS, .gpa = 0x52345678, .prot = ALL_ },
	{ "PML5E PS reserved", M_L5, G57, 1, FRAME | PWU,
	    .flags[5] = PWU | PS, .err = EFAULT },
	{ "PML4E PS reserved", M_L5, G57, 1, FRAME | PWU,
	    .flags[4] = PWU | PS, .err = EFAULT },
	{ "supervisor PML5E", M_L5, G57, 1, FRAME | PWU, .flags[5] = P | W,
	    .gpa = WANT, .prot = R_ | W_ | X_ },
	{ "NX in the PML5E", M_L5, G57, 1, FRAME | PWU,
	    .flags[5] = PWU | NX, .gpa = WANT, .prot = R_ | W_ | U_ },
	{ "PML5E not present", M_L5, G57, 1, FRAME | PWU, .flags[5] = NP,
	    .err = EFAULT },
	{ "PML5E bit MAXPHYADDR reserved", M_L5, G57, 1, FRAME | PWU,
	    .hi = HI_RSVD, .hi_level = 5, .err = EFAULT },
	{ "PML5 in unmapped memory", M_L5, G57, 1, FRAME | PWU,
	    .table[5] = WT_UNMAPPED, .err = EFAULT },
};

#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/*
 * The same walks once the emulator has narrowed the guest's CPUID to 40
 * address bits and no 1 GiB pages: the walker follows what the guest is
 * told, as the guest's own walks do.
 */
static const struct wt_case narrowed[] = {
	{ "bit 40 reserved at MAXPHYADDR 40", M_L4, G64, 1,
	    FRAME | PWU | 1ULL << 40, .err = EFAULT },
	{ "bit 39 is an address bit", M_L4, G64, 1, FRAME | PWU | 1ULL << 39,
	    .gpa = WANT | 1ULL << 39, .prot = ALL_ },
	{ "PML4 above MAXPHYADDR 40", M_L4, G64, 1, FRAME | PWU,
	    .table[4] = 1ULL << 40, .err = EFAULT },
	{ "1G page without Page1GB", M_L4, 0x0000123452345678ULL, 3,
	    0x40000000 | PWU | PS, .err = EFAULT },
	{ "1G page without Page1GB", M_L5, 0x00ABCDEF52345678ULL, 3,
	    0x40000000 | PWU | PS, .err = EFAULT },
	{ "2M page", M_L4, 0x0000123440123456ULL, 2, 0x1E00000 | PWU | PS,
	    .gpa = 0x1F23456, .prot = ALL_ },
	{ "2M page", M_PAE, 0x40312345, 2, 0x1E00000 | PWU | PS,
	    .gpa = 0x1F12345, .prot = ALL_ },
};

#define NNARROWED	(sizeof(narrowed) / sizeof(narrowed[0]))

/* 1 GiB pages once the emulator has set Page1GB, whatever the host has. */
static const struct wt_case page1gb[] = {
	{ "1G page with Page1GB", M_L4, 0x0000123452345678ULL, 3,
	    0x1240000000ULL | PWU | PS, .gpa = 0x1252345678ULL, .prot = ALL_ },
	{ "1G page, PAT bit", M_L4, 0x0000123452345678ULL, 3,
	    0x1240000000ULL | PWU | PS | PATL, .gpa = 0x1252345678ULL,
	    .prot = ALL_ },
	{ "1G page, read-only supervisor", M_L4, 0x0000123452345678ULL, 3,
	    0x1240000000ULL | P | PS | NX, .gpa = 0x1252345678ULL,
	    .prot = R_ },
	{ "1G page, bit 29 reserved", M_L4, 0x0000123452345678ULL, 3,
	    0x1240000000ULL | PWU | PS | 1ULL << 29, .err = EFAULT },
	{ "1G page with Page1GB", M_L5, 0x00ABCDEF52345678ULL, 3,
	    0x40000000 | PWU | PS, .gpa = 0x52345678, .prot = ALL_ },
	{ "PDPTE PS still reserved", M_PAE, GPAE, 1, FRAME | PWU,
	    .flags[3] = P | PS, .err = EFAULT },
};

#define NPAGE1GB	(sizeof(page1gb) / sizeof(page1gb[0]))

/* Argument checks of the entry point itself. */
static void
check_args(struct wt_vm *w)
{
	struct nvmm_vcpu bad = w->vm.vcpu;
	nvmm_prot_t prot;
	gpaddr_t gpa;

	t_errno(nvmm_gva_to_gpa(&w->vm.mach, &w->vm.vcpu, 0, NULL, &prot),
	    EFAULT, "NULL gpa: EFAULT");
	t_errno(nvmm_gva_to_gpa(&w->vm.mach, &w->vm.vcpu, 0, &gpa, NULL),
	    EFAULT, "NULL prot: EFAULT");
	bad.cpuid = 5;
	t_ok(nvmm_gva_to_gpa(&w->vm.mach, &bad, 0, &gpa, &prot) == -1,
	    "unknown vCPU: -1");
}

static void
run_cases(struct wt_vm *w, const struct wt_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		gpaddr_t root = wt_build(w, &c[i]);

		wt_set_paging(w, &c[i], root);
		wt_check_walk(w, &c[i]);
	}
}

/* Before the vCPU's first run: KVM takes CPUID only then. */
static void
force_page1gb(struct wt_vm *w)
{
	struct nvmm_vcpu_conf_cpuid gb = {
		.mask = 1, .leaf = 0x80000001,
		.u.mask = { .set = { .edx = 1u << 26 } },
	};

	T_CHECK(nvmm_vcpu_configure(&w->vm.mach, &w->vm.vcpu,
	    NVMM_VCPU_CONF_CPUID, &gb));
	w->page1gb = true;
}

static void
narrow_cpuid(struct wt_vm *w)
{
	struct nvmm_vcpu_conf_cpuid phys = {
		.mask = 1, .leaf = 0x80000008,
		/* NVMM wants set and del apart: del the other bits. */
		.u.mask = { .set = { .eax = 40 },
		    .del = { .eax = 0xFF & ~40 } },
	};
	struct nvmm_vcpu_conf_cpuid gb = {
		.mask = 1, .leaf = 0x80000001,
		.u.mask = { .del = { .edx = 1u << 26 } },
	};

	T_CHECK(nvmm_vcpu_configure(&w->vm.mach, &w->vm.vcpu,
	    NVMM_VCPU_CONF_CPUID, &phys));
	T_CHECK(nvmm_vcpu_configure(&w->vm.mach, &w->vm.vcpu,
	    NVMM_VCPU_CONF_CPUID, &gb));
	w->maxphy = 40;
	w->page1gb = false;
}

int
main(void)
{
	struct wt_vm w;

	t_require_nvmm();
	t_plan(NCASES + 3 + NNARROWED + 1 + NPAGE1GB);
	wt_vm_create(&w);
	wt_probe_cpuid(&w);
	t_diag("guest MAXPHYADDR %u, 1 GiB pages %s", w.maxphy,
	    w.page1gb ? "yes" : "no");
	run_cases(&w, cases, NCASES);
	check_args(&w);
	t_vm_destroy(&w.vm);

	wt_vm_create(&w);
	narrow_cpuid(&w);
	run_cases(&w, narrowed, NNARROWED);
	wt_probe_cpuid(&w);
	t_ok(w.maxphy == 40 && !w.page1gb,
	    "the guest itself sees MAXPHYADDR 40 and no Page1GB");
	t_vm_destroy(&w.vm);

	wt_vm_create(&w);
	force_page1gb(&w);
	run_cases(&w, page1gb, NPAGE1GB);
	t_vm_destroy(&w.vm);
	return t_done();
}
