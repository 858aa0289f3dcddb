/*
 * Read-only guest memory (spec 2.17, DESIGN 5): a page mapped without
 * PROT_WRITE. Guest reads come from the RAM with no exit; each guest write
 * exits as MEMORY with prot PROT_WRITE and the exact GPA, nvmm_assist_mem()
 * hands the written data to the mem callback, and the RAM stays unchanged.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

#define ROM		0x200000ULL	/* past the builder's RAM, mapped 1:1 */
#define MAX_EXITS	16

T_GUEST(mem_rom);

struct rom_write {
	gpaddr_t gpa;
	size_t size;
	uint64_t data;
};

static struct rom_write cb_log[MAX_EXITS];
static unsigned int ncb;

static void
rom_cb(struct nvmm_mem *mem)
{
	struct rom_write w = { mem->gpa, mem->size, 0 };

	if (!mem->write || mem->size > 8) {
		w.size = 0;	/* a read must not get here */
	} else {
		memcpy(&w.data, mem->data, mem->size);
	}
	if (ncb < MAX_EXITS)
		cb_log[ncb] = w;
	ncb++;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = NULL, .mem = rom_cb };
	struct nvmm_x86_exit_memory ex[MAX_EXITS];
	uint8_t *rom, orig[4096];
	unsigned int nex = 0;
	nvmm_prot_t prot;
	uintptr_t hva;
	struct t_vm vm;
	uint64_t reason;
	bool writes_only = true;

	t_require_nvmm();
	t_plan(10);

	t_vm_create(&vm, 0);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	rom = t_vm_map(&vm, ROM, 4096, PROT_READ | PROT_EXEC);
	for (size_t i = 0; i < sizeof(orig); i++)
		rom[i] = (uint8_t)(i * 3 + 0x11);
	memcpy(orig, rom, sizeof(orig));
	t_ok(nvmm_gpa_to_hva(&vm.mach, ROM + 0x18, &hva, &prot) == 0 &&
	    hva == (uintptr_t)rom + 0x18 && !(prot & NVMM_PROT_WRITE) &&
	    (prot & NVMM_PROT_READ), "gpa_to_hva: the area is read-only");

	t_vm_load(&vm, T_CODE_BASE, mem_rom_begin, mem_rom_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
	while ((reason = t_vm_run(&vm)) == NVMM_VCPU_EXIT_MEMORY &&
	    nex < MAX_EXITS) {
		ex[nex++] = vm.vcpu.exit->u.mem;
		writes_only &= vm.vcpu.exit->u.mem.prot == PROT_WRITE;
		T_CHECK(nvmm_assist_mem(&vm.mach, &vm.vcpu));
	}
	t_eq_u64(reason, NVMM_VCPU_EXIT_RDMSR, "the guest ran to its end");
	t_ok(nex == 3 && writes_only, "three writes exit, no read does "
	    "(%u exits)", nex);
	t_ok(nex == 3 && ex[0].gpa == ROM + 0x18 && ex[1].gpa == ROM + 0x21 &&
	    ex[2].gpa == ROM + 0x22, "the exits carry the exact GPAs");
	t_ok(ncb == 3 && cb_log[0].gpa == ROM + 0x18 && cb_log[0].size == 8 &&
	    cb_log[0].data == 0x1122334455667788ULL,
	    "movq: callback gets 8 bytes 0x1122334455667788");
	t_ok(ncb == 3 && cb_log[1].gpa == ROM + 0x21 && cb_log[1].size == 1 &&
	    cb_log[1].data == 0x5A, "movb: callback gets 1 byte 0x5A");
	t_ok(ncb == 3 && cb_log[2].gpa == ROM + 0x22 && cb_log[2].size == 1 &&
	    cb_log[2].data == (uint8_t)(orig[0x22] | 0x80),
	    "orb: the read came from the RAM, the result goes to the callback");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RAX), get64(orig + 0x10),
	    "a guest read returns the RAM contents");
	t_eq_u64(t_vm_gpr(&vm, NVMM_X64_GPR_RDX), get64(orig + 0x18),
	    "reading back a written address still gives the RAM contents");
	t_ok(memcmp(rom, orig, sizeof(orig)) == 0, "the RAM is unchanged");
	t_vm_destroy(&vm);
	return t_done();
}
