#!/bin/bash
# `meson install` into a DESTDIR: library (soname libnvmm.so.0), headers,
# nvmm.pc, nvmmctl, manual pages, the registry's tmpfiles.d entry; then an
# outside program (calc-vm) built only from what was installed, through
# pkg-config, and run. The registry gets the same owner, group and mode
# from libnvmm, from the tmpfiles.d entry and from a live make install.
#
#   t_install.sh <meson> <build dir> <source dir>
set -u
meson=$1 build=$2 src=$3
export LC_ALL=C

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
t() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; return 1; fi; }
diag() { printf '# %s\n' "$@"; }

tmp=$(mktemp -d /tmp/nvmm-t-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

# Not --no-rebuild: `meson test` builds only what tests use, and an
# install needs every installed target (the real nvmmctl among them).
runbefore=$(stat -c '%a %U %G %Y' /run/nvmm 2>&1)
if "$meson" install -C "$build" --destdir "$dest" --quiet \
    >"$tmp/install.log" 2>&1; then
	ok "meson install --destdir"
else
	tail -n 20 "$tmp/install.log" | sed 's/^/# /'
	echo "Bail out! meson install failed"
	exit 1
fi

# Where the build's prefix put things, found rather than assumed.
find1() { find "$dest" -name "$1" -print -quit; }
lib=$(find1 libnvmm.so.0)
pc=$(find1 nvmm.pc)
hdr=$(find1 nvmm.h)
ctl=$(find1 nvmmctl)
libdir=${lib%/*}

t "libnvmm.so.0 installed" test -n "$lib"
t "its soname is libnvmm.so.0" \
	grep -q 'SONAME.*\[libnvmm\.so\.0\]' <(readelf -d "$lib" 2>/dev/null)
t "libnvmm.so links to it, for -lnvmm" \
	test "$(readlink -f "$libdir/libnvmm.so")" = "$(readlink -f "$lib")"
t "libnvmm.a installed" test -f "$libdir/libnvmm.a"
t "nvmm.h and nvmm_x86.h installed side by side" \
	test -n "$hdr" -a -f "${hdr%/*}/nvmm_x86.h"
t "nvmmctl installed in sbin" test -n "$ctl" -a "${ctl%/*/*}/sbin" = "${ctl%/*}"
t "manual pages libnvmm.3 and nvmmctl.8 installed" \
	test -n "$(find1 'libnvmm.3*')" -a -n "$(find1 'nvmmctl.8*')"
conf=$(find1 nvmm.conf)
t "tmpfiles.d entry for /run/nvmm installed" test -n "$conf"
t "an install into a DESTDIR leaves the live /run/nvmm alone" \
	test "$(stat -c '%a %U %G %Y' /run/nvmm 2>&1)" = "$runbefore"
if command -v groff >/dev/null; then
	warn=$(groff -mandoc -Tutf8 -ww -z "$(find1 'libnvmm.3*')" \
		"$(find1 'nvmmctl.8*')" 2>&1)
	t "manual pages format without warnings" test -z "$warn"
	[ -n "$warn" ] && diag "$warn"
else
	skip "no groff to check the manual pages"
fi

# pkg-config against the DESTDIR: the sysroot is prepended to -I and -L.
export PKG_CONFIG_PATH=${pc%/*} PKG_CONFIG_LIBDIR=${pc%/*}
export PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
flags=$(pkg-config --cflags --libs nvmm); rc=$?
diag "pkg-config --cflags --libs nvmm: $flags"
t "pkg-config finds nvmm in the DESTDIR" test "$rc" = 0 -a -n "$flags"
# A sanitizer build installs a sanitized library: its users need the
# runtime first in line, which only the compiler flag gives them.
san=""
if readelf -d "$lib" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
	san="-fsanitize=address,undefined"
	diag "sanitized library: building calc-vm with $san"
	# calc-vm leaves its machine to process exit, as NVMM allows.
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi
# shellcheck disable=SC2086
if cc -Wall -Wextra $san -o "$tmp/calc-vm" "$src/examples/calc-vm/calc-vm.c" \
    $flags 2>"$tmp/cc.log"; then
	ok "calc-vm compiles and links with those flags only"
else
	nok "calc-vm compiles and links with those flags only"
	sed 's/^/# /' "$tmp/cc.log"
fi
# shellcheck disable=SC2086
dep=$(cc -M "$src/examples/calc-vm/calc-vm.c" $(pkg-config --cflags nvmm) \
	2>/dev/null | tr ' \\' '\n\n' | grep '/nvmm\.h$')
t "and nvmm.h came from the DESTDIR ($dep)" test "$dep" = "$hdr"

export LD_LIBRARY_PATH=$libdir
resolved=$(ldd "$tmp/calc-vm" 2>/dev/null | awk '/libnvmm/ { print $3 }')
t "calc-vm loads the installed libnvmm.so.0" \
	test "$(readlink -f "$resolved")" = "$(readlink -f "$lib")"
out=$("$tmp/calc-vm" 3 5 2>&1); rc=$?
if [ "$rc" = 6 ]; then
	skip "NVMM not available here (ENXIO)"
	skip "NVMM not available here (ENXIO)"
else
	t "calc-vm 3 5 prints Result: 8" test "${out##*$'\n'}" = "Result: 8" ||
		diag "$out"
	out=$("$ctl" identify 2>&1)
	t "installed nvmmctl identify runs" test "${out%%$'\n'*}" = "nvmm: Kernel API version 3"
fi

# ---- The registry: libnvmm, tmpfiles.d and make install agree ---------------------
regstat() { stat -c '%a %U %G' "$1" "$1/slots" 2>&1 | tr '\n' '|'; }
if [ "$(id -u)" != 0 ]; then
	skip "registry permissions: needs root"
	skip "registry permissions: needs root"
	skip "registry permissions: needs root"
	skip "registry permissions: needs root"
else
	kvmgroup=$(stat -c %G /dev/kvm)
	want="1770 root $kvmgroup|660 root $kvmgroup|"
	if [ "$rc" = 6 ]; then
		skip "NVMM not available here (ENXIO)"
	else
		NVMM_RUNDIR=$tmp/lib "$tmp/calc-vm" 3 5 >/dev/null 2>&1
		t "libnvmm as root makes the registry root:$kvmgroup 1770, slots 0660" \
			test "$(regstat "$tmp/lib")" = "$want" || diag "$(regstat "$tmp/lib")"
	fi
	# The entry names group kvm; here it is the group of /dev/kvm.
	sed "s#/run/nvmm#$tmp/tf#; s/ kvm / $kvmgroup /" "$conf" >"$tmp/nvmm.conf"
	if command -v systemd-tmpfiles >/dev/null; then
		systemd-tmpfiles --create "$tmp/nvmm.conf" >/dev/null 2>&1
		t "systemd-tmpfiles makes the same of the installed entry" \
			test "$(regstat "$tmp/tf")" = "$want" || diag "$(regstat "$tmp/tf")"
	else
		skip "no systemd-tmpfiles"
	fi
	mkdir -m 1777 "$tmp/live" && install -m 0666 /dev/null "$tmp/live/slots"
	NVMM_RUNDIR=$tmp/live DESTDIR= "$src/tools/nvmmctl/install-rundir" >/dev/null
	t "make install on the live system corrects a world-writable registry" \
		test "$(regstat "$tmp/live")" = "$want" || diag "$(regstat "$tmp/live")"
	NVMM_RUNDIR=$tmp/none DESTDIR=$tmp/dest "$src/tools/nvmmctl/install-rundir"
	t "and does nothing into a DESTDIR" test ! -e "$tmp/none"
fi
echo "1..$n"
exit $failed
