#!/bin/bash
# nvmmctl(8), line by line: identify, list, usage, and the messages that
# name cause and fix (no permission, not root, no KVM, version mismatch).
#
#   t_nvmmctl.sh <nvmmctl> <h_owner> <h_mismatch.so> <h_cap.so>
#
# Runs with a private NVMM_RUNDIR, so that list shows only our machines.
set -u
nvmmctl=$1 h_owner=$2 h_mismatch=$3 h_cap=$4
export LC_ALL=C
# A preload in front of an ASan runtime needs this to be accepted.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
check() { if [ "$1" = "$2" ]; then ok "$3"; else nok "$3"; diag "got:  [$1]"; diag "want: [$2]"; fi; }
match() { if [[ $1 =~ $2 ]]; then ok "$3"; else nok "$3"; diag "got: [$1]"; fi; }
diag() { printf '# %s\n' "$@"; }

out=$("$nvmmctl" identify 2>&1); rc=$?
case "$out" in
*"nvmm_init failed"*) echo "1..0 # SKIP NVMM not available: $out"; exit 0 ;;
esac

rundir=$(mktemp -d /tmp/nvmm-t-nvmmctl-XXXXXX)
export NVMM_RUNDIR=$rundir
user=""
cleanup() {
	[ -n "${H_PID:-}" ] && kill -9 "$H_PID" 2>/dev/null
	[ -n "$user" ] && userdel "$user" 2>/dev/null
	rm -rf "$rundir"
}
trap cleanup EXIT

# ---- identify ------------------------------------------------------------
check "$rc" 0 "identify exits 0"
mapfile -t l <<<"$out"
check "${#l[@]}" 9 "identify prints 9 lines"
check "${l[0]}" "nvmm: Kernel API version 3" "Kernel API version"
check "${l[1]}" "nvmm: State size 1008" "State size"
check "${l[2]}" "nvmm: Comm size 4096" "Comm size"
check "${l[3]}" "nvmm: Max machines 128" "Max machines"
check "${l[4]}" "nvmm: Max VCPUs per machine 128" "Max VCPUs per machine"
check "${l[5]}" "nvmm: Max RAM per machine 127T" "Max RAM per machine, humanized"
check "${l[6]}" "nvmm: Arch Mach conf 0" "Arch Mach conf: 0 as NVMM prints it, not 0x0"
check "${l[7]}" "nvmm: Arch VCPU conf 0x1<CPUID>" \
	"Arch VCPU conf with bit names (no TPR on KVM)"
match "${l[8]}" '^nvmm: Guest FPU states 0x[0-9a-f]*3<x87,SSE(,[A-Za-z0-9_]+)*>$' \
	"Guest FPU states with bit names"

# Every line for values this host never offers, through a preloaded
# nvmm_capability() (h_cap.so), against what NVMM's nvmmctl prints for
# them: %u numbers, humanize_number RAM, snprintb masks ("%#jx": 0 is
# "0"; names of named set bits only, no "<>" without one).
identify_as() {
	local cap=$1 want=$2 what=$3 got
	got=$(H_CAP=$cap LD_PRELOAD=$h_cap "$nvmmctl" identify 2>&1)
	mapfile -t g <<<"$got"
	mapfile -t w <<<"$want"
	for i in "${!w[@]}"; do
		check "${g[$i]:-}" "${w[$i]}" "$what: line $((i + 1))"
	done
	check "${#g[@]}" "${#w[@]}" "$what: ${#w[@]} lines"
}
identify_as "2 1008 4096 128 256 0x2000000000 0 3 3" "nvmm: Kernel API version 2
nvmm: State size 1008
nvmm: Comm size 4096
nvmm: Max machines 128
nvmm: Max VCPUs per machine 256
nvmm: Max RAM per machine 128G
nvmm: Arch Mach conf 0
nvmm: Arch VCPU conf 0x3<CPUID,TPR>
nvmm: Guest FPU states 0x3<x87,SSE>" "NetBSD on Intel's values"
identify_as "0 0 0 0 0 4096 0x5 0x4 0" "nvmm: Kernel API version 0
nvmm: State size 0
nvmm: Comm size 0
nvmm: Max machines 0
nvmm: Max VCPUs per machine 0
nvmm: Max RAM per machine 4.0K
nvmm: Arch Mach conf 0x5
nvmm: Arch VCPU conf 0x4
nvmm: Guest FPU states 0" "zeros and unnamed bits"
identify_as "4294967295 1008 4096 128 128 0x1000000 0 1 0x1ffff" "nvmm: Kernel API version 4294967295
nvmm: State size 1008
nvmm: Comm size 4096
nvmm: Max machines 128
nvmm: Max VCPUs per machine 128
nvmm: Max RAM per machine 16M
nvmm: Arch Mach conf 0
nvmm: Arch VCPU conf 0x1<CPUID>
nvmm: Guest FPU states 0x1ffff<x87,SSE,AVX,BNDREGS,BNDCSR,Opmask,ZMM_Hi256,Hi16_ZMM,PT,PKRU,CET_U,CET_S,HDC,LBR,HWP>" \
	"every XCR0 name, bits 10 and 14 unnamed"

# ---- usage -----------------------------------------------------------------
err=$("$nvmmctl" 2>&1 >/dev/null); rc=$?
check "$rc:$err" "1:usage: nvmmctl identify
       nvmmctl list" "no command: usage on stderr, exit 1"
err=$("$nvmmctl" frobnicate 2>&1 >/dev/null); rc=$?
check "$rc:$err" "1:nvmmctl: unknown command \`\`frobnicate''" "unknown command, exit 1"
err=$("$nvmmctl" list extra 2>&1 >/dev/null); rc=$?
check "$rc:${err%%$'\n'*}" "1:usage: nvmmctl identify" "extra argument: usage, exit 1"

# ---- list --------------------------------------------------------------------
header="Machine ID VCPUs RAM  Owner PID Creation Time           
---------- ----- ---- --------- ------------------------"
out=$("$nvmmctl" list); rc=$?
check "$rc:$out" "0:$header" "list with no machine: the header, trailing spaces included"

coproc H { exec "$h_owner" hold 1 2 2048 0; }
read -r -u "${H[0]}" _ id
read -r -u "${H[0]}" _ t0 t1
read -r -u "${H[0]}" _ pid
out=$("$nvmmctl" list)
mapfile -t l <<<"$out"
check "${#l[@]}" 3 "list with one machine: header and one row"
row=${l[2]}
match "$row" '^0          2     2\.0M [0-9]+ +[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$' \
	"row: id, vCPUs, RAM, pid, asctime date"
check "${row:0:31}" "$(printf '%-10s %-5s %-4s %-9s' "$id" 2 2.0M "$pid")" \
	"row columns are %-10zu %-5u %-4s %-9d (machine $id, pid $pid)"
date0=$(date -d "@$t0" '+%a %b %e %H:%M:%S %Y')
date1=$(date -d "@$t1" '+%a %b %e %H:%M:%S %Y')
if [ "${row:32}" = "$date0" ] || [ "${row:32}" = "$date1" ]; then
	ok "creation time is the local asctime of the creation"
else
	nok "creation time is the local asctime of the creation"
	diag "got [${row:32}], want [$date0]"
fi
# A lookup takes up to four descriptors beyond nvmmctl's own (directory,
# slots, a directory stream, the record): short of them, list must fail,
# never show the live machine as gone.
lost=""
for lim in 4 5 6 7 8 9 10 11 12; do
	out=$(ulimit -n "$lim"; "$nvmmctl" list 2>/dev/null); rc=$?
	got=$(sed -n 3p <<<"$out")
	[ "$rc" = 0 ] && [ "${got:0:31}" != "${row:0:31}" ] && lost+=" $lim"
done
check "$lost" "" "list short of descriptors: fails or shows the machine (limits where it was lost:$lost)"
kill -9 "$H_PID"; wait "$H_PID" 2>/dev/null; H_PID=""
out=$("$nvmmctl" list)
check "$out" "$header" "owner killed with SIGKILL: list is clean"

# RAM as humanize_number(3) prints it, at the edges of its rules.
coproc H { exec "$h_owner" hold 6 1 0,4,996,1000,16384,131072 0; }
while read -r -u "${H[0]}" what _ && [ "$what" != ready ]; do :; done
rams=$("$nvmmctl" list | tail -n +3 | cut -c 18-21 | tr '\n' '|')
check "$rams" "0B  |4.0K|996K|1.0M|16M |128M|" \
	"RAM column: 0B, 4.0K, 996K, 1.0M (1000K rounds up), 16M, 128M"
kill -9 "$H_PID"; wait "$H_PID" 2>/dev/null; H_PID=""

# ---- messages naming cause and fix ----------------------------------------------
user=nvmmctl-t$$
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null &&
    useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$user" 2>/dev/null; then
	as_user() { setpriv --reuid="$user" --regid="$user" --init-groups "$@"; }
	err=$(as_user "$nvmmctl" identify 2>&1 >/dev/null); rc=$?
	check "$rc:$err" "1:nvmmctl: nvmm_init failed: Permission denied (cannot open /dev/kvm: add your user to group 'kvm')" \
		"identify without access to /dev/kvm: says to join group 'kvm'"
	err=$(as_user "$nvmmctl" list 2>&1 >/dev/null); rc=$?
	check "$rc:$err" "1:nvmmctl: nvmm_root_init failed: Permission denied (the machines of every process are visible to root only: run 'nvmmctl list' as root)" \
		"list as a non-root user: says to run it as root"
else
	user=""
	skip "needs root and useradd to create a user"
	skip "needs root and useradd to create a user"
fi

err=$(unshare --mount sh -c 'mount -t tmpfs none /dev && exec "$0" identify' "$nvmmctl" 2>&1 >/dev/null); rc=$?
case "$err" in
*"mount"*|*"unshare"*) skip "no mount namespace here: $err" ;;
*) check "$rc:$err" "1:nvmmctl: nvmm_init failed: No such device or address (KVM not available: load kvm_intel/kvm_amd, or enable virtualization)" \
	"no /dev/kvm: says to load the KVM module" ;;
esac

err=$(LD_PRELOAD=$h_mismatch "$nvmmctl" identify 2>&1 >/dev/null); rc=$?
check "$rc:${err%% (*}" "1:nvmmctl: nvmm_init failed: Program version wrong" \
	"EPROGMISMATCH (1075) is printed readably"
match "$err" "\(.*install them from the same build\)$" "and with a fix"

err=$("$nvmmctl" identify 2>&1 >/dev/full); rc=$?
check "$rc" 1 "output that cannot be written is an error"
echo "1..$n"
exit $failed
