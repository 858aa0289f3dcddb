# Helpers for the scripts in contrib/qemu/checks/, sourced by each of them.
# contrib/qemu/check exports what they need:
#   QEMU         the qemu-system-x86_64 that contrib/qemu/build made (absolute)
#   NVMM_BUILD   libnvmm's meson build directory (absolute)
#   NVMMCTL      nvmmctl in NVMM_BUILD
#   CHECK_LOGS   where the check's logs go (a directory of its own)
#   CHECK_QEMU_TIMEOUT  seconds a single QEMU run may take
# A check prints "check-qemu: ok - ..." / "check-qemu: FAIL - ..." lines, and
# "check-qemu: skip - ..." for what this host cannot run (not counted), and
# ends with check_summary ("N passed, N failed"; exit status 1 on failures).
export LC_ALL=C

check_passed=0
check_failed=0
ok() {
	echo "check-qemu: ok - $*"
	check_passed=$((check_passed + 1))
}
not_ok() {
	echo "check-qemu: FAIL - $*"
	check_failed=$((check_failed + 1))
}
skip() {
	echo "check-qemu: skip - $*"
}
check_summary() {
	echo "$check_passed passed, $check_failed failed"
	[ "$check_failed" -eq 0 ]
	exit
}

# check_rundir: a private temporary directory ($rundir, removed at exit) and a
# private libnvmm registry in it, so nvmmctl list shows only this check's VMs.
check_rundir() {
	rundir=$(mktemp -d /tmp/nvmm-check-qemu.XXXXXX) || exit 1
	trap 'rm -rf "$rundir"' EXIT
	export NVMM_RUNDIR="$rundir/run"
}

# qemu_wrapper: $rundir/qemu runs $QEMU, writes its PID to $rundir/qemu.pid
# and appends its stderr (QEMU's error_report lines: "NVMM: ..." on any trouble
# with the accelerator) to $rundir/qemu.stderr.
qemu_wrapper() {
	: >"$rundir/qemu.stderr"
	cat >"$rundir/qemu" <<WRAP
#!/bin/sh
echo \$\$ >"$rundir/qemu.pid"
exec "$QEMU" "\$@" 2>>"$rundir/qemu.stderr"
WRAP
	chmod +x "$rundir/qemu"
}

# no_nvmm_errors NAME FILE: QEMU's stderr in FILE holds no complaint about the
# accelerator.
no_nvmm_errors() {
	local name=$1 file=$2 errs
	errs=$(grep -E 'NVMM|nvmm|guest.panicked|abort' "$file" |
		grep -v -e 'accelerator is operational' -e 'terminating on signal')
	if [ -z "$errs" ]; then
		ok "$name: QEMU reported no NVMM error"
	else
		printf '    %s\n' "$errs" | head -n10
		not_ok "$name: QEMU reported NVMM errors ($file)"
	fi
}

# list_row PID: the row of `nvmmctl list` for the VM that PID owns, if any.
list_row() {
	"$NVMMCTL" list 2>>"$CHECK_LOGS/nvmmctl.log" |
		awk -v pid="$1" 'NR > 2 && $4 == pid'
}

# ratio A B: A/B with two decimals, n/a when either is missing.
ratio() {
	[ -n "${1:-}" ] && [ -n "${2:-}" ] && [ "$2" -gt 0 ] || { echo "n/a"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# need_pkgs PKG...: install the Debian packages a check uses when missing
# (as root, or through sudo); returns 1, naming them, when that fails.
need_pkgs() {
	local missing=() p sudo=
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "check-qemu: installing ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 \
		install -y -qq --no-install-recommends "${missing[@]}" >"$CHECK_LOGS/apt.log" 2>&1 && return 0
	echo "check-qemu: cannot install Debian package(s) ${missing[*]} (log: $CHECK_LOGS/apt.log)"
	return 1
}

# port_free PORT [WAIT_S]: nothing listens on TCP PORT (waits up to WAIT_S
# seconds for another run that holds it to end).
port_free() {
	local i
	for ((i = 0; i <= ${2:-0}; i++)); do
		[ -z "$(ss -Htln "sport = :$1")" ] && return 0
		sleep 1
	done
	return 1
}
