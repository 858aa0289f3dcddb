/*
 * Helpers shared by the x86 semantics tests: a 64-bit VM with an IDT
 * whose handlers (tests/guests/x86_idt.S) report deliveries in registers,
 * and small accessors for exits and state.
 */
#ifndef NVMM_TEST_X86_H
#define NVMM_TEST_X86_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "harness.h"

/* Guest-physical layout on top of the harness's (harness.h). */
#define X86_STUBS_BASE	0x20000	/* x86_idt.S handlers */
#define X86_IDT_BASE	0x60000
#define X86_STACK_TOP	0x8000
#define X86_COUNTER	0x62000	/* the qword x86_h_count increments */
#define X86_COUNTER_TSC	0x62008	/* the TSC it saw */

/* What the handlers leave in R12-R15. */
#define X86_NO_ERROR	UINT64_MAX

/* 64-bit VM (vCPU 0), code at T_CODE_BASE, handlers for 2 6 13 14 0x40. */
void x86_vm_create(struct t_vm *, const uint8_t *begin, const uint8_t *end);
/* The same for another vCPU of the machine; vm->vcpu becomes that vCPU. */
void x86_vcpu_add(struct t_vm *, nvmm_cpuid_t, struct nvmm_vcpu *);

/* Point IDT vector vec at a handler label of x86_idt.S (an interrupt gate). */
extern const uint8_t x86_h_count[];
void x86_idt_set(struct t_vm *, unsigned int vec, const uint8_t *handler);
/* The guest-physical address of a handler label of x86_idt.S. */
uint64_t x86_stub_gpa(const uint8_t *handler);
/*
 * Point vector vec at the handler at gpa through a trap gate: unlike an
 * interrupt gate it leaves IF set, so the handler can take interrupts.
 */
void x86_idt_trap(struct t_vm *, unsigned int vec, uint64_t gpa);
/* The guest-physical address of a label of the code at T_CODE_BASE. */
uint64_t x86_code_gpa(const uint8_t *begin, const uint8_t *label);

/* One nvmm_vcpu_run (no looping on NONE); bail out on failure. */
uint64_t x86_run_once(struct t_vm *);
/* The guest's registers after an exit (getstate GPRS). */
uint64_t x86_gpr(struct t_vm *, int gpr);
/* Restart at rip with R12-R15 cleared and the given RFLAGS. */
void x86_restart(struct t_vm *, uint64_t rip, uint64_t rflags);
/* Queue an event for the next run. */
void x86_inject(struct t_vm *, unsigned int type, uint8_t vector,
    uint64_t error);
/* Read-modify-write of the INTR state's window requests. */
void x86_set_windows(struct t_vm *, bool int_window, bool nmi_window);

/* The host CPU is Intel (VMX) rather than AMD (SVM). */
bool x86_host_intel(void);
/*
 * KVM runs guests without hardware intercepts here (the PVM module, as on
 * this project's CI host): privileged instructions reach KVM as #UD.
 */
bool x86_host_pvm(void);
/* A boolean KVM module parameter (/sys/module/kvm/parameters/<name>). */
bool x86_kvm_param(const char *name);

#endif /* NVMM_TEST_X86_H */
