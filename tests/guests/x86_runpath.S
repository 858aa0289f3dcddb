/*
 * The run path under stops and events from another thread (t_runpath):
 * an OUT of a counter in a loop, each access one the emulator serves,
 * and an interrupt handler (behind a trap gate) that counts in memory and
 * leaves every register alone, so the OUTs count on across deliveries.
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code64
GUEST_BEGIN(x86_runpath)
1:	inc	%ebx
	mov	%ebx, %eax
	out	%eax, $0x77
	jmp	1b

	.globl x86_runpath_handler
x86_runpath_handler:
	lock incq 0x62000
	iretq
GUEST_END(x86_runpath)

	.section .note.GNU-stack, "", @progbits
