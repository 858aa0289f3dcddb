/*
 * How the running kernel finishes a port I/O instruction that user space
 * already finished itself. After an IN/OUT exit, KVM completes the
 * instruction inside the next KVM_RUN (an IN loads RAX, RIP moves past
 * it), but KVM's fast PIO path completes it only while RIP is where the
 * exit left it. So an emulator that sets RIP = npc (and, for IN, RAX)
 * through the sync area has finished it on its own, and KVM adds
 * nothing: a getstate after the assist needs no extra KVM_RUN to show
 * the finished instruction, and a setstate of those GPRs needs none to
 * keep them. Other paths (KVM's emulator, as on PVM hosts; older
 * kernels) may not behave so, and this is not a documented interface:
 * it is probed once per process, on a throwaway VM, the way the backend
 * itself would rely on it. Where the probe fails, the backend lets KVM
 * finish first (one more KVM_RUN), as before.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmx86.h"

#define PROBE_OUT	0x100	/* out %al, $0x80; hlt ... */
#define PROBE_IN	0x110	/* in $0x80, %al; hlt ... */
#define PROBE_PORT	0x80

struct probe {
	int vm, vcpu;
	struct kvm_run *run;
	uint8_t *ram;
};

/* Real mode at 0, code at both addresses, HLTs after each. */
static int
probe_setup(struct probe *p)
{
	struct kvm_userspace_memory_region slot = {
		.memory_size = 4096,
	};
	struct kvm_sregs sr;

	p->ram = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->ram == MAP_FAILED)
		return -1;
	memset(p->ram, 0xF4, 4096);			/* HLT everywhere */
	memcpy(p->ram + PROBE_OUT, "\xE6\x80", 2);	/* out %al, $0x80 */
	memcpy(p->ram + PROBE_IN, "\xE4\x80", 2);	/* in $0x80, %al */
	slot.userspace_addr = (uintptr_t)p->ram;
	if ((p->vm = ioctl(kvmx86_host.kvm_fd, KVM_CREATE_VM, 0)) == -1 ||
	    ioctl(p->vm, KVM_SET_USER_MEMORY_REGION, &slot) == -1 ||
	    (kvmx86_host.intel &&
	    ioctl(p->vm, KVM_SET_TSS_ADDR, 0xFFFBD000UL) == -1) ||
	    (p->vcpu = ioctl(p->vm, KVM_CREATE_VCPU, 0)) == -1)
		return -1;
	p->run = mmap(NULL, kvmx86_host.run_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, p->vcpu, 0);
	if (p->run == MAP_FAILED ||
	    ioctl(p->vcpu, KVM_SET_CPUID2, kvmx86_host.supported) == -1 ||
	    ioctl(p->vcpu, KVM_GET_SREGS, &sr) == -1)
		return -1;
	sr.cs.selector = 0;
	sr.cs.base = 0;
	if (ioctl(p->vcpu, KVM_SET_SREGS, &sr) == -1)
		return -1;
	p->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	return 0;
}

static bool
probe_run(struct probe *p, uint32_t reason)
{
	return ioctl(p->vcpu, KVM_RUN, 0) == 0 && p->run->exit_reason == reason;
}

/*
 * Enter at 'at', take the I/O exit, finish the instruction in the sync
 * area as the backend would (RIP = npc; an IN's AL from us, not from the
 * data KVM holds), run: KVM must stop at the HLT after it, RAX ours.
 */
static bool
probe_pio(struct probe *p, uint64_t at, bool in)
{
	struct kvm_regs *regs = &p->run->s.regs.regs;

	regs->rip = at;
	regs->rax = 0x5A;
	regs->rflags = 0x2;
	p->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	if (!probe_run(p, KVM_EXIT_IO) || p->run->io.port != PROBE_PORT ||
	    (p->run->io.direction == KVM_EXIT_IO_IN) != in)
		return false;
	((uint8_t *)p->run + p->run->io.data_offset)[0] = 0xA5;
	regs->rip = at + 2;
	regs->rax = 0x77;
	p->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	return probe_run(p, KVM_EXIT_HLT) && regs->rip == at + 3 &&
	    regs->rax == 0x77;
}

static void
probe_teardown(struct probe *p)
{
	if (p->run != NULL && p->run != MAP_FAILED)
		munmap(p->run, kvmx86_host.run_size);
	if (p->vcpu >= 0)
		close(p->vcpu);
	if (p->vm >= 0)
		close(p->vm);
	if (p->ram != NULL && p->ram != MAP_FAILED)
		munmap(p->ram, 4096);
}

static bool pio_ends[2];	/* [in]: RIP = npc finishes it */

static void
pio_probe(void)
{
	struct probe p = { .vm = -1, .vcpu = -1 };

	if (probe_setup(&p) == 0) {
		pio_ends[false] = probe_pio(&p, PROBE_OUT, false);
		pio_ends[true] = probe_pio(&p, PROBE_IN, true);
	}
	probe_teardown(&p);
}

bool
kvmx86_pio_rip_ends(bool in)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, pio_probe);
	return pio_ends[in];
}
