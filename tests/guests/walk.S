/*
 * Walker guests (tests/walk): one access through a mapping the test
 * planted, and a #PF handler that reports what the CPU decided. The access
 * routines reload CR3 first, as each case rewrites the tables. And CPUID,
 * to learn the guest's MAXPHYADDR and 1 GiB page support from the guest.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64
/* CPUID leaf EAX, subleaf ECX. */
GUEST_BEGIN(walk_cpuid64)
	cpuid
	hlt
GUEST_END(walk_cpuid64)

/* Write EAX at (RDI), read it back into EBX. */
GUEST_BEGIN(walk_write64)
	mov	%cr3, %rsi
	mov	%rsi, %cr3
	mov	%eax, (%rdi)
	mov	(%rdi), %ebx
	hlt
GUEST_END(walk_write64)

/* Execute at RDI (the test plants a HLT there). */
GUEST_BEGIN(walk_exec64)
	mov	%cr3, %rsi
	mov	%rsi, %cr3
	jmp	*%rdi
GUEST_END(walk_exec64)

/* #PF: faulting address to RDX, error code to RCX. */
GUEST_BEGIN(walk_pf64)
	mov	%cr2, %rdx
	pop	%rcx
	hlt
GUEST_END(walk_pf64)

	.code32
GUEST_BEGIN(walk_write32)
	mov	%cr3, %esi
	mov	%esi, %cr3
	mov	%eax, (%edi)
	mov	(%edi), %ebx
	hlt
GUEST_END(walk_write32)

GUEST_BEGIN(walk_exec32)
	mov	%cr3, %esi
	mov	%esi, %cr3
	jmp	*%edi
GUEST_END(walk_exec32)

GUEST_BEGIN(walk_pf32)
	mov	%cr2, %edx
	pop	%ecx
	hlt
GUEST_END(walk_pf32)

	.section .note.GNU-stack, "", @progbits
