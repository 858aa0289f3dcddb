/*
 * NVMM's semantics around the assists, which KVM reaches differently (see
 * the top of src/backend/x86-kvm/run.c): KVM finishes an I/O or MMIO
 * instruction inside the next KVM_RUN, NVMM inside the assist.
 *  (a) getstate right after an exit, before the assist: RIP on the
 *      instruction, registers untouched;
 *  (b) after the assist, before the next run: the instruction's effects
 *      (RAX of an IN, the loaded register, RIP = npc / next instruction),
 *      whether or not GPRs were fetched before the assist;
 *  (c) running again without the assist re-executes the instruction: the
 *      same exit at the same RIP, with no side effect;
 *  plus a REP INSB the emulator does itself, without the assist (KVM's
 *  buffer must not land over its bytes), a read-modify-write, whose write
 *  KVM reports as a second exit,
 *  destroys from a callback (EBUSY: the assist still uses the vCPU), and
 *  callbacks that write over the struct they are given (each still gets
 *  the access as KVM reported it).
 * Not NVMM's: KVM reports an MMIO write after retiring its instruction, so
 * (a) and (c) are checked on MMIO reads only.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"

#define PORT	123
#define DATA	0x1000

T_GUEST(io_sem);
T_GUEST(mem_sem);
extern const uint8_t io_sem_in1[], io_sem_in2[], io_sem_out[], io_sem_ins[],
    io_sem_done[];
extern const uint8_t mem_sem_load[], mem_sem_store[], mem_sem_or[],
    mem_sem_done[];

/* Guest address of a label in the guest loaded at T_CODE_BASE. */
#define AT(guest, label)	(T_CODE_BASE + (uint64_t)((label) - guest##_begin))

static uint8_t buf[4096];
static size_t buf_off;
static unsigned int calls;

static void
io_cb(struct nvmm_io *io)
{
	if (io->port == PORT && buf_off + io->size <= sizeof(buf)) {
		if (io->in)
			memcpy(io->data, buf + buf_off, io->size);
		else
			memcpy(buf + buf_off, io->data, io->size);
		buf_off += io->size;
	}
	calls++;
}

static struct nvmm_mem last_mem;
static uint64_t last_data;

static void
mem_cb(struct nvmm_mem *mem)
{
	if (mem->gpa >= T_MMIO_BASE && mem->size <= 8 &&
	    mem->gpa + mem->size <= T_MMIO_BASE + sizeof(buf)) {
		if (mem->write)
			memcpy(buf + (mem->gpa - T_MMIO_BASE), mem->data,
			    mem->size);
		else
			memcpy(mem->data, buf + (mem->gpa - T_MMIO_BASE),
			    mem->size);
	}
	last_mem = *mem;
	last_data = 0;
	memcpy(&last_data, mem->data, mem->size <= 8 ? mem->size : 8);
	calls++;
}

static struct nvmm_x64_state *
gprs(struct t_vm *vm)
{
	T_CHECK(nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
	return vm->vcpu.state;
}

#define RIP(vm)		(gprs(vm)->gprs[NVMM_X64_GPR_RIP])
#define GPR(vm, r)	(gprs(vm)->gprs[NVMM_X64_GPR_##r])

static bool
io_exit_at(struct t_vm *vm, uint64_t rip)
{
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;

	return t_vm_run(vm) == NVMM_VCPU_EXIT_IO && exit->u.io.port == PORT &&
	    RIP(vm) == rip;
}

static void
assist_io(struct t_vm *vm)
{
	T_CHECK(nvmm_assist_io(&vm->mach, &vm->vcpu));
}

/* ---- I/O ---------------------------------------------------------------------- */

/* inb %dx, %al with RAX = 0x1111...: (a), (c), then (b) with GPRs cached. */
static void
sem_in_cached(struct t_vm *vm)
{
	uint64_t in1 = AT(io_sem, io_sem_in1);

	t_ok(io_exit_at(vm, in1) && vm->vcpu.exit->u.io.npc == in1 + 1,
	    "IN: (a) RIP is on the instruction at the exit, npc after it");
	t_eq_u64(GPR(vm, RAX), 0x1111111111111111ULL,
	    "IN: (a) RAX untouched before the assist");
	calls = 0;
	t_ok(io_exit_at(vm, in1) && calls == 0,
	    "IN: (c) run without the assist: the same exit at the same RIP");
	t_eq_u64(GPR(vm, RAX), 0x1111111111111111ULL,
	    "IN: (c) RAX still untouched");
	assist_io(vm);
	t_ok(calls == 1, "IN: the assist calls the callback once");
	t_ok(GPR(vm, RAX) == 0x11111111111111A5ULL && RIP(vm) == in1 + 1,
	    "IN: (b) after the assist RAX has the byte and RIP = npc "
	    "(GPRs fetched before)");
}

/* The second IN: the assist comes before any getstate. */
static void
sem_in_uncached(struct t_vm *vm)
{
	uint64_t in2 = AT(io_sem, io_sem_in2);

	t_ok(t_vm_run(vm) == NVMM_VCPU_EXIT_IO &&
	    vm->vcpu.exit->u.io.npc == in2 + 1, "IN #2: exit");
	assist_io(vm);
	t_ok(GPR(vm, RAX) == 0x111111111111115AULL && RIP(vm) == in2 + 1,
	    "IN #2: (b) RAX and RIP = npc (GPRs not fetched before)");
	t_eq_u64(GPR(vm, RBX), 0x11111111111111A5ULL,
	    "the guest went on with the first IN's value");
	/* The emulator's own RAX after the finished IN is what runs on. */
	vm->vcpu.state->gprs[NVMM_X64_GPR_RAX] = 0x222222222222225AULL;
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
}

/* outb %al, %dx: KVM may report it with RIP already past it. */
static void
sem_out(struct t_vm *vm)
{
	uint64_t out = AT(io_sem, io_sem_out);

	calls = 0;
	t_ok(io_exit_at(vm, out) && vm->vcpu.exit->u.io.npc == out + 1,
	    "OUT: (a) RIP is on the instruction at the exit, npc after it");
	t_ok(io_exit_at(vm, out) && calls == 0,
	    "OUT: (c) run without the assist: the same exit at the same RIP");
	t_eq_u64(GPR(vm, RSI), 0x222222222222225AULL,
	    "IN #2 then setstate(GPRS): the guest ran on with the set RAX");
	assist_io(vm);
	t_ok(calls == 1 && buf_off == 3 && buf[2] == 0x5A && RIP(vm) == out + 1,
	    "OUT: one callback with AL, then RIP = npc");
	/* Written back unchanged (QEMU's order): the OUT is not done twice. */
	T_CHECK(nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS));
}

/* rep insb, 3 bytes in one exit. */
static void
sem_ins(struct t_vm *vm, const uint8_t *data)
{
	uint64_t ins = AT(io_sem, io_sem_ins);

	t_ok(io_exit_at(vm, ins) && GPR(vm, RCX) == 3 && GPR(vm, RDI) == DATA,
	    "REP INSB: (a) RIP on the instruction, RCX and RDI untouched");
	calls = 0;
	t_ok(io_exit_at(vm, ins) && GPR(vm, RCX) == 3 &&
	    GPR(vm, RDI) == DATA && calls == 0,
	    "REP INSB: (c) run without the assist: the same exit, same RCX, RDI");
	t_ok(memcmp(data, "ABC", 3) == 0,
	    "REP INSB: (c) the skipped assist wrote no guest memory");
	assist_io(vm);
	t_ok(calls == 3 && GPR(vm, RCX) == 0 && GPR(vm, RDI) == DATA + 3 &&
	    RIP(vm) == AT(io_sem, io_sem_done),
	    "REP INSB: (b) after the assist RCX = 0, RDI += 3, RIP = npc");
	t_ok(memcmp(data, "xyz", 3) == 0,
	    "REP INSB: (b) guest memory has the bytes before the next run");
}

static void
sem_io(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb, .mem = mem_cb };
	struct t_vm vm;

	t_vm_create(&vm, 0);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_vm_load(&vm, T_CODE_BASE, io_sem_begin, io_sem_end);
	memcpy(vm.ram + DATA, "ABC", 3);	/* INS lands here */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "\xA5\x5A?xyz", 6);	/* IN, IN, (OUT lands at 2), INS */
	buf_off = 0;
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);

	sem_in_cached(&vm);
	sem_in_uncached(&vm);
	sem_out(&vm);
	sem_ins(&vm, vm.ram + DATA);
	t_ok(t_vm_run(&vm) == NVMM_VCPU_EXIT_RDMSR && GPR(&vm, R8) == 0,
	    "the guest ran to its end");
	t_vm_destroy(&vm);
}

/*
 * An emulator that does the REP INSB itself, without the assist: it
 * writes the guest's bytes and sets RCX, RDI and RIP = npc. On NVMM the
 * instruction is then done and nothing else writes guest memory; KVM,
 * finishing the access it still holds, must not store its own buffer
 * over the emulator's bytes.
 */
static void
sem_ins_by_emulator(void)
{
	uint64_t ins = AT(io_sem, io_sem_ins);
	struct nvmm_x64_state *st;
	struct t_vm vm;
	bool exited, ran;

	t_vm_create(&vm, 0);
	t_vm_load(&vm, T_CODE_BASE, io_sem_begin, io_sem_end);
	memcpy(vm.ram + DATA, "ABC", 3);
	t_vm_long_mode(&vm, ins, 0x8000);
	st = gprs(&vm);
	st->gprs[NVMM_X64_GPR_RCX] = 3;
	st->gprs[NVMM_X64_GPR_RDI] = DATA;
	st->gprs[NVMM_X64_GPR_RDX] = PORT;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	exited = io_exit_at(&vm, ins);
	memcpy(vm.ram + DATA, "pqr", 3);
	st = gprs(&vm);
	st->gprs[NVMM_X64_GPR_RCX] = 0;
	st->gprs[NVMM_X64_GPR_RDI] = DATA + 3;
	st->gprs[NVMM_X64_GPR_RIP] = vm.vcpu.exit->u.io.npc;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	ran = exited && t_vm_run(&vm) == NVMM_VCPU_EXIT_RDMSR &&
	    GPR(&vm, R8) == 0;
	t_ok(ran && memcmp(vm.ram + DATA, "pqr", 3) == 0,
	    "REP INSB done by the emulator (bytes, RCX, RDI, RIP = npc): the "
	    "guest memory keeps its bytes (%02x %02x %02x)", vm.ram[DATA],
	    vm.ram[DATA + 1], vm.ram[DATA + 2]);
	t_vm_destroy(&vm);
}

/*
 * A REP INSB longer than KVM's buffer (KVM exits once per batch of at
 * most 1 KiB within a page): (c) run without the assist, it runs again
 * with no side effect, and done by the emulator itself, the guest goes
 * on at npc, with no other exit and its bytes in memory.
 */
#define BIG	3000

static void
sem_ins_big(void)
{
	uint64_t ins = AT(io_sem, io_sem_ins);
	struct nvmm_x64_state *st;
	uint8_t old[BIG], mine[BIG];
	struct t_vm vm;
	bool exited, again, ran;

	for (size_t i = 0; i < BIG; i++) {
		old[i] = (uint8_t)(i * 7 + 1);
		mine[i] = (uint8_t)(i * 13 + 5);
	}
	t_vm_create(&vm, 0);
	t_vm_load(&vm, T_CODE_BASE, io_sem_begin, io_sem_end);
	memcpy(vm.ram + DATA, old, BIG);
	t_vm_long_mode(&vm, ins, 0x8000);
	st = gprs(&vm);
	st->gprs[NVMM_X64_GPR_RCX] = BIG;
	st->gprs[NVMM_X64_GPR_RDI] = DATA;
	st->gprs[NVMM_X64_GPR_RDX] = PORT;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	exited = io_exit_at(&vm, ins);
	again = io_exit_at(&vm, ins) && GPR(&vm, RCX) == BIG &&
	    GPR(&vm, RDI) == DATA;
	t_ok(exited && again && memcmp(vm.ram + DATA, old, BIG) == 0,
	    "REP INSB of %d bytes: (c) run without the assist, the same exit, "
	    "RCX, RDI, and no guest memory written", BIG);

	memcpy(vm.ram + DATA, mine, BIG);
	st = gprs(&vm);
	st->gprs[NVMM_X64_GPR_RCX] = 0;
	st->gprs[NVMM_X64_GPR_RDI] = DATA + BIG;
	st->gprs[NVMM_X64_GPR_RIP] = vm.vcpu.exit->u.io.npc;
	T_CHECK(nvmm_vcpu_setstate(&vm.mach, &vm.vcpu, NVMM_X64_STATE_GPRS));
	ran = t_vm_run(&vm) == NVMM_VCPU_EXIT_RDMSR && GPR(&vm, R8) == 0;
	t_ok(ran && memcmp(vm.ram + DATA, mine, BIG) == 0,
	    "REP INSB of %d bytes done by the emulator: no other exit, the "
	    "guest goes on at npc with the emulator's bytes", BIG);
	t_vm_destroy(&vm);
}

/* ---- Destroys from a callback ---------------------------------------------------- */

static struct t_vm *cb_vm;
static int cb_vcpu_err, cb_mach_err;

static void
io_destroy_cb(struct nvmm_io *io)
{
	(void)io;
	cb_vcpu_err = nvmm_vcpu_destroy(&cb_vm->mach, &cb_vm->vcpu) == -1 ?
	    errno : 0;
	cb_mach_err = nvmm_machine_destroy(&cb_vm->mach) == -1 ? errno : 0;
}

/*
 * A VM stopped at io_sem's first IN, with cb as its I/O callback: whether
 * the exit came and nvmm_assist_io() served it.
 */
static bool
sem_assist_first_in(struct t_vm *vm, void (*cb)(struct nvmm_io *))
{
	struct nvmm_assist_callbacks cbs = { .io = cb };

	t_vm_create(vm, 0);
	T_CHECK(nvmm_vcpu_configure(&vm->mach, &vm->vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_vm_load(vm, T_CODE_BASE, io_sem_begin, io_sem_end);
	t_vm_long_mode(vm, T_CODE_BASE, 0x8000);
	return io_exit_at(vm, AT(io_sem, io_sem_in1)) &&
	    nvmm_assist_io(&vm->mach, &vm->vcpu) == 0;
}

/*
 * The assist holds a use of its vCPU across the callbacks: a destroy
 * from one would wait for itself. It fails, and the vCPU stays usable.
 */
static void
sem_destroy_in_callback(void)
{
	struct t_vm vm;
	bool served;

	cb_vm = &vm;
	cb_vcpu_err = cb_mach_err = -1;
	served = sem_assist_first_in(&vm, io_destroy_cb);
	t_ok(served && cb_vcpu_err == EBUSY && cb_mach_err == EBUSY,
	    "vCPU and machine destroy from the assist's callback: EBUSY "
	    "(got %d, %d)", cb_vcpu_err, cb_mach_err);
	t_ok(RIP(&vm) == AT(io_sem, io_sem_in1) + 1,
	    "the vCPU lives on: RIP past the IN after the assist");
	t_vm_destroy(&vm);
}

/* ---- State from a callback ------------------------------------------------------- */

static int cb_get_err;
static uint64_t cb_rip;

static void
io_getstate_cb(struct nvmm_io *io)
{
	/* As QEMU's cpu_synchronize_state() from a device: a fetch. */
	cb_get_err = nvmm_vcpu_getstate(io->mach, io->vcpu,
	    NVMM_X64_STATE_ALL) == -1 ? errno : 0;
	cb_rip = io->vcpu->state->gprs[NVMM_X64_GPR_RIP];
	if (cb_get_err == 0 &&
	    nvmm_vcpu_setstate(io->mach, io->vcpu, NVMM_X64_STATE_SEGS) == -1)
		cb_get_err = errno;
}

/*
 * The assist holds the vCPU's lock across the callbacks; one that fetches
 * state (QEMU's devices do) borrows it, and the assist still completes.
 */
static void
sem_state_in_callback(void)
{
	struct t_vm vm;
	bool served;

	cb_get_err = -1;
	served = sem_assist_first_in(&vm, io_getstate_cb);
	t_ok(served && cb_get_err == 0,
	    "getstate (a fetch) and setstate from the assist's callback: 0 "
	    "(got %d)", cb_get_err);
	t_ok(cb_rip == AT(io_sem, io_sem_in1),
	    "the callback sees RIP on the IN");
	t_ok(RIP(&vm) == AT(io_sem, io_sem_in1) + 1,
	    "the assist completes: RIP past the IN after it");
	t_vm_destroy(&vm);
}

/* ---- A callback that writes over its struct ------------------------------------- */

static bool edit_in;		/* the exit's direction */
static uint8_t *edit_prev;	/* the last element's buffer, NULL: none yet */
static unsigned int edit_calls, edit_bad;

/*
 * Serves the access as given, then writes over the struct: NVMM hands
 * each callback a struct of its own, so the next one, the next element
 * of a string access included, must still see the access KVM reported,
 * each element's buffer after the last.
 */
static void
io_edit_cb(struct nvmm_io *io)
{
	if (io->port != PORT || io->size != 1 || io->in != edit_in ||
	    (edit_prev != NULL && io->data != edit_prev + 1))
		edit_bad++;
	else if (io->in)
		io->data[0] = (uint8_t)('a' + edit_calls);
	edit_prev = io->data;
	edit_calls++;
	io->port = PORT + 1;
	io->size = 200;
	io->in = !io->in;
	io->data = NULL;
}

static void
sem_edit_in_callback(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_edit_cb };
	struct t_vm vm;
	unsigned int exits = 0;

	t_vm_create(&vm, 0);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_vm_load(&vm, T_CODE_BASE, io_sem_begin, io_sem_end);
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);
	edit_calls = edit_bad = 0;
	while (exits++ < 8 && t_vm_run(&vm) == NVMM_VCPU_EXIT_IO) {
		edit_in = vm.vcpu.exit->u.io.in;
		edit_prev = NULL;
		assist_io(&vm);
	}
	/* IN, IN, OUT, then REP INSB of three elements. */
	t_ok(edit_calls == 6 && edit_bad == 0,
	    "callbacks that write over their struct: each next one gets "
	    "KVM's access (%u calls, %u wrong)", edit_calls, edit_bad);
	t_ok(vm.vcpu.exit->reason == NVMM_VCPU_EXIT_RDMSR &&
	    memcmp(vm.ram + DATA, "def", 3) == 0,
	    "REP INSB: each element where KVM put it");
	t_vm_destroy(&vm);
}

/* ---- MMIO --------------------------------------------------------------------- */

/* A MEMORY exit of this kind and GPA, with RIP on the instruction. */
static bool
mem_exit(struct t_vm *vm, int prot, uint64_t off, uint64_t rip)
{
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;

	return t_vm_run(vm) == NVMM_VCPU_EXIT_MEMORY &&
	    exit->u.mem.prot == prot && exit->u.mem.gpa == T_MMIO_BASE + off &&
	    RIP(vm) == rip;
}

static void
assist_mem(struct t_vm *vm)
{
	T_CHECK(nvmm_assist_mem(&vm->mach, &vm->vcpu));
}

/* movq (%rbp), %rbx: (a), (c), then (b) with GPRs cached. */
static void
sem_load(struct t_vm *vm)
{
	uint64_t load = AT(mem_sem, mem_sem_load);

	t_ok(mem_exit(vm, PROT_READ, 0, load) &&
	    GPR(vm, RBX) == 0x2222222222222222ULL,
	    "MMIO load: (a) RIP on the instruction, RBX untouched");
	calls = 0;
	t_ok(mem_exit(vm, PROT_READ, 0, load) && calls == 0 &&
	    GPR(vm, RBX) == 0x2222222222222222ULL,
	    "MMIO load: (c) run without the assist: the same exit again");
	assist_mem(vm);
	t_ok(calls == 1 && GPR(vm, RBX) == 0x0123456789ABCDEFULL &&
	    RIP(vm) == AT(mem_sem, mem_sem_store),
	    "MMIO load: (b) after the assist RBX is loaded, RIP is past it");
}

/* movq $0x33, 8(%rbp): the assist before any getstate. */
static void
sem_store(struct t_vm *vm)
{
	calls = 0;
	t_ok(t_vm_run(vm) == NVMM_VCPU_EXIT_MEMORY &&
	    vm->vcpu.exit->u.mem.prot == PROT_WRITE &&
	    vm->vcpu.exit->u.mem.gpa == T_MMIO_BASE + 8,
	    "MMIO store: a write exit at the exact GPA");
	assist_mem(vm);
	t_ok(calls == 1 && last_mem.write && last_mem.size == 8 &&
	    last_data == 0x33 && RIP(vm) == AT(mem_sem, mem_sem_or),
	    "MMIO store: the callback gets the value, RIP is past it");
}

/* orb $1, 16(%rbp): a read exit, then a write exit, one instruction. */
static void
sem_rmw(struct t_vm *vm)
{
	uint64_t or = AT(mem_sem, mem_sem_or);

	t_ok(mem_exit(vm, PROT_READ, 16, or),
	    "MMIO OR: first a read exit on the instruction");
	calls = 0;
	assist_mem(vm);
	t_ok(calls == 1 && !last_mem.write && last_mem.size == 1,
	    "MMIO OR: the read is served");
	/*
	 * KVM retires an instruction before it reports its MMIO write (RIP
	 * is past it here), where NVMM would still show it on the OR.
	 */
	t_ok(t_vm_run(vm) == NVMM_VCPU_EXIT_MEMORY &&
	    vm->vcpu.exit->u.mem.prot == PROT_WRITE &&
	    vm->vcpu.exit->u.mem.gpa == T_MMIO_BASE + 16,
	    "MMIO OR: then a write exit at the same GPA");
	assist_mem(vm);
	t_ok(calls == 2 && last_mem.write && last_data == 0x41 &&
	    RIP(vm) == AT(mem_sem, mem_sem_done),
	    "MMIO OR: the write gets 0x40 | 1, RIP is past it");
}

static void
sem_mmio(void)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb, .mem = mem_cb };
	uint64_t v = 0x0123456789ABCDEFULL;
	struct t_vm vm;

	t_vm_create(&vm, 0);
	T_CHECK(nvmm_vcpu_configure(&vm.mach, &vm.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	t_vm_load(&vm, T_CODE_BASE, mem_sem_begin, mem_sem_end);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &v, sizeof(v));
	buf[16] = 0x40;
	t_vm_long_mode(&vm, T_CODE_BASE, 0x8000);

	sem_load(&vm);
	sem_store(&vm);
	sem_rmw(&vm);
	t_eq_u64(t_vm_run(&vm), NVMM_VCPU_EXIT_RDMSR, "the guest ran to its end");
	t_vm_destroy(&vm);
}

int
main(void)
{
	t_require_nvmm();
	t_plan(18 + 10 + 3 + 3 + 2 + 1 + 2);
	sem_io();
	sem_ins_by_emulator();
	sem_ins_big();
	sem_mmio();
	sem_destroy_in_callback();
	sem_state_in_callback();
	sem_edit_in_callback();
	return t_done();
}
