/*
 * Guests of the QEMU tests: a second CPU's real-mode entry point, started
 * the way QEMU's user-space APIC starts it (CS = vector << 8, IP = 0).
 */
#include "guest.h"

	.section .rodata.guest, "a"
	.code16

/* Leaves its mark 0x100 bytes into its page, then halts. */
GUEST_BEGIN(qemu_ap16)
	movw	$0x5150, %ax
	movw	%ax, %cs:0x100
	hlt
GUEST_END(qemu_ap16)

	.section .note.GNU-stack, "", @progbits
