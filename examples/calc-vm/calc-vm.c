/*
 * calc-vm: the classic first NVMM program. A real-mode guest, started from
 * the RESET state, adds two numbers and halts; the host reads the result.
 *
 *	calc-vm 3 5	->	Result: 8
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <nvmm.h>

#define PAGE_SIZE	4096
/* The RESET state runs at CS.base 0xFFFF0000 + IP; we put IP at 0. */
#define CODE_GPA	0xFFFF0000

/* add %ax,%bx ; hlt  (16-bit code) */
static const uint8_t guest_code[] = { 0x01, 0xC3, 0xF4 };

int
main(int argc, char *argv[])
{
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	uintptr_t hva;
	int a, b;

	if (argc != 3) {
		fprintf(stderr, "usage: calc-vm <int#1> <int#2>\n");
		return EXIT_FAILURE;
	}
	a = atoi(argv[1]);
	b = atoi(argv[2]);

	if (nvmm_init() == -1)
		err(errno, "nvmm_init");
	printf("[+] Initialized NVMM\n");
	if (nvmm_machine_create(&mach) == -1)
		err(errno, "nvmm_machine_create");
	printf("[+] Created machine\n");
	if (nvmm_vcpu_create(&mach, 0, &vcpu) == -1)
		err(errno, "nvmm_vcpu_create");
	printf("[+] Created VCPU\n");

	hva = (uintptr_t)mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if ((void *)hva == MAP_FAILED)
		err(errno, "mmap");
	if (nvmm_hva_map(&mach, hva, PAGE_SIZE) == -1)
		err(errno, "nvmm_hva_map");
	printf("[+] Mapped HVA\n");
	if (nvmm_gpa_map(&mach, hva, CODE_GPA, PAGE_SIZE,
	    PROT_READ | PROT_EXEC) == -1)
		err(errno, "nvmm_gpa_map");
	printf("[+] Mapped GPA\n");
	memcpy((void *)hva, guest_code, sizeof(guest_code));

	if (nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_GPRS) == -1)
		err(errno, "nvmm_vcpu_getstate");
	printf("[+] Got VCPU states\n");
	vcpu.state->gprs[NVMM_X64_GPR_RIP] = 0;
	vcpu.state->gprs[NVMM_X64_GPR_RAX] = (uint64_t)a;
	vcpu.state->gprs[NVMM_X64_GPR_RBX] = (uint64_t)b;
	if (nvmm_vcpu_setstate(&mach, &vcpu, NVMM_X64_STATE_GPRS) == -1)
		err(errno, "nvmm_vcpu_setstate");
	printf("[+] Set VCPU states\n");

	for (;;) {
		printf("[+] Running VCPU\n");
		if (nvmm_vcpu_run(&mach, &vcpu) == -1)
			err(errno, "nvmm_vcpu_run");
		printf("[+] VCPU exited\n");

		switch (vcpu.exit->reason) {
		case NVMM_VCPU_EXIT_NONE:
			continue;
		case NVMM_VCPU_EXIT_HALTED:
			if (nvmm_vcpu_getstate(&mach, &vcpu,
			    NVMM_X64_STATE_GPRS) == -1)
				err(errno, "nvmm_vcpu_getstate");
			printf("Result: %d\n",
			    (int)vcpu.state->gprs[NVMM_X64_GPR_RBX]);
			return EXIT_SUCCESS;
		default:
			printf("unknown exit reason: 0x%lx\n",
			    (unsigned long)vcpu.exit->reason);
			return EXIT_FAILURE;
		}
	}
}
