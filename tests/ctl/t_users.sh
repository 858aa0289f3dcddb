#!/bin/bash
# The machine registry between users (libnvmm(3) FILES, docs/design.md "The
# system-wide registry"): a user without /dev/kvm can do nothing to it; a
# user of the kvm group cannot change, hide, block or forge another user's
# entry, nor read it; ids left by dead owners block no one; nvmmctl list
# shows what the owners registered; unsafe directories are refused with
# their fix; root's fix-ups (make install, the package's postinst) never
# follow a name a member planted.
#
#   t_users.sh <h_owner> <h_attack> <nvmmctl> <source root> <static h_owner>
#
# As root: creates a group and three users (one outside the group), and in
# a private mount namespace gives /dev/kvm to that group (a copy of the
# device node bound over it), so that the host's /dev/kvm and /run/nvmm
# are left as they are. The registry is a private NVMM_RUNDIR.
set -u
h_owner=$1 h_attack=$2 nvmmctl=$3 src=$4 h_owner_static=$5
export LC_ALL=C
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

skip_all() { echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root to create users and groups"
for c in useradd groupadd userdel groupdel setpriv unshare mknod mkfifo; do
	command -v "$c" >/dev/null || skip_all "needs $c"
done
[ -c /dev/kvm ] || skip_all "no /dev/kvm"

if [ -z "${T_USERS_NS:-}" ]; then
	T_USERS_NS=1 exec unshare --mount --propagation private "$0" "$@"
	skip_all "no mount namespace here"
fi

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
diag() { printf '# %s\n' "$@"; }
check() { if [ "$1" = "$2" ]; then ok "$3"; else nok "$3"; diag "got:  [$1]" "want: [$2]"; fi; }
match() { if [[ $1 =~ $2 ]]; then ok "$3"; else nok "$3"; diag "got: [$1]"; fi; }

tmp=$(mktemp -d /tmp/nvmm-t-users.XXXXXX)
chmod 755 "$tmp"
g=nvmmt$$ in1=nvmmt$$a in2=nvmmt$$b out=nvmmt$$c
pids=() fds=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	umount /dev/kvm "$tmp/dev" "$tmp/ro" 2>/dev/null
	for u in "$in1" "$in2" "$out"; do userdel "$u" 2>/dev/null; done
	groupdel "$g" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

groupadd -r "$g" || skip_all "groupadd failed"
for u in "$in1" "$in2" "$out"; do
	useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$u" || skip_all "useradd failed"
done
usermod -a -G "$g" "$in1" && usermod -a -G "$g" "$in2" || skip_all "usermod failed"

# /dev/kvm of group $g, mode 0660, here only.
read -r maj min < <(stat -c '%t %T' /dev/kvm)
mkdir "$tmp/dev" && mount -t tmpfs -o mode=755 none "$tmp/dev" &&
    mknod -m 0660 "$tmp/dev/kvm" c $((0x$maj)) $((0x$min)) &&
    chgrp "$g" "$tmp/dev/kvm" && mount --bind "$tmp/dev/kvm" /dev/kvm ||
    skip_all "cannot bind a device node over /dev/kvm here"

export NVMM_RUNDIR=$tmp/run
run=$NVMM_RUNDIR

as() {
	local u=$1
	shift
	if [ "$u" = root ]; then "$@"; else setpriv --reuid="$u" --regid="$u" --init-groups "$@"; fi
}

exec_as() {
	local u=$1
	shift
	if [ "$u" = root ]; then exec "$@"; else exec setpriv --reuid="$u" --regid="$u" --init-groups "$@"; fi
}

# start <name> <user> <command...>: a helper that lives until stop <name>.
start() {
	local name=$1 user=$2 fd
	shift 2
	mkfifo "$tmp/$name.in"
	# Without the other helpers' stdin: each must see its own EOF. exec:
	# $! is then the helper itself, which killed() kills.
	(for f in "${fds[@]}"; do exec {f}>&-; done
	 exec_as "$user" "$@") <"$tmp/$name.in" >"$tmp/$name.out" 2>&1 &
	pids+=($!)
	eval "${name}_pid=$!"
	exec {fd}>"$tmp/$name.in"
	eval "${name}_fd=$fd"
	fds+=("$fd")
}
# The first line of name's output matching the pattern, within 5 s.
expect() {
	local i
	for i in $(seq 100); do
		if grep -Eq "$2" "$tmp/$1.out"; then grep -E "$2" "$tmp/$1.out" | head -n 1; return; fi
		sleep 0.05
	done
	echo "(none: $(tr '\n' '|' <"$tmp/$1.out"))"
}
stop() {
	local fd pid
	eval "fd=\$${1}_fd pid=\$${1}_pid"
	exec {fd}>&-
	wait "$pid" 2>/dev/null
	rm -f "$tmp/$1.in"
}
killed() {
	local fd pid
	eval "fd=\$${1}_fd pid=\$${1}_pid"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	exec {fd}>&-
	rm -f "$tmp/$1.in"
}
rows() { "$nvmmctl" list | tail -n +3 | awk '{ print $1, $2, $3, $4 }' | tr '\n' '|'; }

# ---- Made by root ---------------------------------------------------------------
start r root "$h_owner" hold 1 0 0 0
check "$(expect r '^machine')" "machine 0" "root's first machine makes the registry"
check "$(stat -c '%a %U %G' "$run")" "1770 root $g" \
	"registry directory: root, group of /dev/kvm, 1770 (sticky)"
check "$(stat -c '%a %U %G' "$run/slots")" "660 root $g" "slots file: root, group of /dev/kvm, 0660"
killed r	# its record stays behind, root's

# ---- A user who may not use /dev/kvm -------------------------------------------------
check "$(as "$out" "$h_owner" hold 1 0 0 0 </dev/null | head -n 1)" "initerr 13" \
	"user outside the group: nvmm_init fails with EACCES"
check "$(as "$out" "$h_attack" reach)" "reached 0" \
	"user outside the group: cannot list, read or create in the registry"
start o "$out" "$h_attack" lock
check "$(expect o '^locked')" "locked 0 0" "user outside the group: cannot lock a slot or an entry"
stop o

# ---- Two users of the group ------------------------------------------------------
start a "$in1" "$h_owner" hold 1 2 1024 0
check "$(expect a '^machine')" "machine 0" "a group member takes id 0: root's dead entry does not block it"
apid=$(expect a '^ready' | cut -d' ' -f2)
rec=$(find "$run" -name 'machine.000.*' -user "$in1")
check "$(stat -c '%a %U' "$rec" 2>&1)" "600 $in1" "its record is its own, mode 0600"
check "$(as "$in2" "$h_attack" peek)" "peeked 0" \
	"another member cannot read its record, nor root's dead one"
check "$(as "$in2" "$h_owner" info 0 user </dev/null)" "err 1" \
	"another member's nvmm_ctl(MACH_INFO) of it: EPERM"

check "$(as "$in2" "$h_attack" tamper)" "tampered 0" \
	"another member cannot write, truncate, chmod, replace or remove any entry, nor slots"
start l "$in2" "$h_attack" lock
check "$(expect l '^locked' | cut -d' ' -f2)" "127" \
	"another member locks the 127 free slots, never the one in use"
check "$(rows)" "0 2 1.0M $apid|" "meanwhile nvmmctl list shows the owner's machine only, as registered"
stop l
# Where fs.protected_hardlinks is 0, any member may give a record a second
# name; root plays that member here.
ln "$rec" "$run/machine.000.hardlink"
check "$(rows)" "0 2 1.0M $apid|" "a second name for its record (a hard link) hides nothing"
rm -f "$run/machine.000.hardlink"
start f "$in2" "$h_attack" forge 0 99
check "$(expect f '^forged')" "forged 0" "another member plants a locked record claiming id 0"
check "$(rows)" "0 2 1.0M $apid|" "nvmmctl list ignores it: the id's holder did not write it"
match "$(as root "$h_owner" info 0 root </dev/null)" "^ok 2 1048576 $apid [0-9]+$" \
	"nvmm_ctl(MACH_INFO) as root: the owner's facts and pid"
stop f

start b "$in2" "$h_owner" hold 1 1 0 0
check "$(expect b '^machine')" "machine 1" "the second member's machine takes id 1"
bpid=$(expect b '^ready' | cut -d' ' -f2)
check "$(rows)" "0 2 1.0M $apid|1 1 0B $bpid|" "nvmmctl list: both machines, each with its owner's pid"

killed a
start c "$in2" "$h_owner" hold 1 3 0 0
check "$(expect c '^machine')" "machine 0" \
	"owner killed: its id is free at once for another user, its stale record notwithstanding"
cpid=$(expect c '^ready' | cut -d' ' -f2)
check "$(rows)" "0 3 0B $cpid|1 1 0B $bpid|" "nvmmctl list: the new owner of id 0, nothing stale"
stop b
stop c
check "$(rows)" "" "owners gone: nvmmctl list is empty"

# ---- Unsafe directories are refused, with the fix -------------------------------------
refused() {	# refused <what> <message pattern> [member]
	local what=$1 pat=$2 who=${3:-$in1} err rc
	check "$(as root "$h_owner" hold 1 0 0 0 </dev/null | head -n 1)" "error 13" \
		"$what: root's machine creation fails (EACCES)"
	check "$(as "$who" "$h_owner" hold 1 0 0 0 </dev/null | head -n 1)" "error 13" \
		"$what: a member's too"
	err=$("$nvmmctl" list 2>&1 >/dev/null); rc=$?
	match "$rc:$err" "^1:nvmmctl: nvmm_ctl failed: Permission denied \(.*$pat" \
		"$what: nvmmctl list fails and says how to fix it"
	err=$(as "$who" "$nvmmctl" identify 2>&1 >/dev/null)
	match "$err" "^nvmmctl: warning: no machine can be created: .*$pat" \
		"$what: nvmmctl identify warns, with the fix"
}
chmod 1777 "$run"
refused "world-writable directory" "writable by every user.*chmod 1770 $run"
chmod 0770 "$run"
refused "group-writable directory without the sticky bit" "sticky bit.*chmod 1770 $run"
chmod 1770 "$run"
chown "$in1" "$run"
refused "directory of another user" "owned by another user.*chown root:$g $run" "$in2"
chown root "$run"
chmod 0666 "$run/slots"
refused "world-writable slots file" "$run/slots: .*rm $run/slots"
chmod 0660 "$run/slots"
mv "$run/slots" "$run/slots.root"
as "$in1" touch "$run/slots"
refused "slots file of another user" "$run/slots: "
rm -f "$run/slots"
as "$in1" "$h_owner" hold 1 0 0 0 </dev/null >"$tmp/m.out"
check "$(head -n 1 "$tmp/m.out")" "error 13" "missing slots file: a member may not make it (EACCES)"
check "$(as "$in1" "$nvmmctl" identify 2>&1 >/dev/null)" \
	"nvmmctl: warning: no machine can be created: $run/slots: missing (as root: 'systemd-tmpfiles --create nvmm.conf', or create one machine as root)" \
	"missing slots file: identify says to run systemd-tmpfiles"
mv "$run/slots.root" "$run/slots"
check "$(as "$in1" "$h_owner" hold 1 0 0 0 </dev/null | head -n 1)" "machine 0" "repaired: a member creates machines again"
check "$(as "$in1" "$nvmmctl" identify 2>&1 >/dev/null)" "" "repaired: identify warns of nothing"

# ---- A read-only registry -------------------------------------------------------------
ro=$tmp/ro
mkdir "$ro" && mount -t tmpfs -o mode=0755 none "$ro" && mkdir -m 1770 "$ro/run" &&
	chgrp "$g" "$ro/run" && install -m 0660 -g "$g" /dev/null "$ro/run/slots" &&
	mount -o remount,ro "$ro"
check "$(as "$in1" env NVMM_RUNDIR="$ro/run" "$h_owner" hold 1 0 0 0 </dev/null | head -n 1)" \
	"error 30" "read-only registry: a member's machine creation fails (EROFS)"
check "$(as "$in1" env NVMM_RUNDIR="$ro/run" "$nvmmctl" identify 2>&1 >/dev/null)" \
	"nvmmctl: warning: no machine can be created: $ro/run: on a read-only file system (remount it read-write)" \
	"read-only registry: identify says so, not to join a group the user is in"

# ---- Root's fix-ups in a directory members may write ---------------------------------
# make install (install-rundir) and the package's postinst without systemd-
# tmpfiles set up slots where members can put anything at a free name: root
# must never open, chown or chmod through a name a member controls.
secret=$tmp/secret
printf 'root only\n' >"$secret" && chmod 0600 "$secret"
old=$tmp/old
mkdir -m 1777 "$old"	# as an earlier version made it
start s "$in1" env NVMM_RUNDIR="$old" "$h_attack" swap slots "$secret"
expect s '^swapping' >/dev/null
for i in $(seq 20); do
	rm -f "$old/slots"	# as after "rm slots", the fix nvmmctl gives
	sleep 0.02
	NVMM_RUNDIR=$old DESTDIR= "$src/tools/nvmmctl/install-rundir" >/dev/null 2>&1
done
stop s
check "$(stat -c '%a %U %G' "$secret")" "600 root root" \
	"make install, a member swapping a symlink in at slots: root's file stays root's"
check "$(stat -c '%a %U %G %F' "$old" "$old/slots" | tr '\n' '|')" \
	"1770 root $g directory|660 root $g regular empty file|" \
	"make install: the registry ends up root's all the same"
# Where fs.protected_hardlinks is 0, a member may give a file of root's the
# free name slots; root plays that member here.
rm -f "$old/slots"
ln "$secret" "$old/slots"
NVMM_RUNDIR=$old DESTDIR= "$src/tools/nvmmctl/install-rundir" >/dev/null 2>&1
check "$(stat -c '%a %U %G' "$secret")|$(stat -c '%h %a %U %G' "$old/slots")" \
	"600 root root|1 660 root $g" \
	"make install, a file of root's hard-linked in at slots: left as it is, slots made anew"

# The live slots file is the group's to read and write, so a member may
# give it a second name even where fs.protected_hardlinks is 1. make
# install must then leave it in place: a new slots file beside the one
# live owners lock would let the next machine take an id already held.
start k "$in1" "$h_owner" hold 1 0 0 0
kid=$(expect k '^machine' | cut -d' ' -f2)
as "$in2" ln "$run/slots" "$run/slots.again"
NVMM_RUNDIR=$run DESTDIR= "$src/tools/nvmmctl/install-rundir" >/dev/null 2>&1
line=$(as "$in2" "$h_owner" hold 1 0 0 0 </dev/null | grep -m 1 '^machine')
check "$([ "$line" != "machine $kid" ] && echo distinct || echo "$line twice")" "distinct" \
	"make install, a member's second name for the live slots file: no id taken twice"
check "$(stat -c '%h %a %U %G' "$run/slots")" "2 660 root $g" \
	"make install: the live slots file kept, root's, 0660"
stop k
rm -f "$run/slots.again"

droot=$tmp/droot
mkdir -p -m 0755 "$droot/usr/lib/tmpfiles.d" "$droot/run" "$tmp/bin"
sed "s/ kvm / $g /" "$src/tools/nvmmctl/nvmm-tmpfiles.conf" \
	>"$droot/usr/lib/tmpfiles.d/nvmm.conf"
mkdir -m 1770 "$droot/run/nvmm" && chgrp "$g" "$droot/run/nvmm"
as "$in1" ln -s "$tmp/planted" "$droot/run/nvmm/slots"
# No systemd-tmpfiles: the postinst makes the entry's files itself.
for c in getent groupadd mkdir chown chmod mktemp mv rm dirname; do
	ln -s "$(command -v "$c")" "$tmp/bin/$c"
done
DPKG_ROOT=$droot PATH=$tmp/bin /bin/sh "$src/debian/nvmm-utils.postinst" configure >/dev/null 2>&1
check "$(stat -c '%a %U %G' "$tmp/planted" 2>&1 | sed 's/^stat: .*/none/')" "none" \
	"postinst, a member's dangling symlink at slots: root makes no file where it points"
check "$(stat -c '%a %U %G %F' "$droot/run/nvmm/slots" 2>&1)" "660 root $g regular empty file" \
	"postinst: slots is root's all the same"

# ---- Set-id programs ---------------------------------------------------------------
# A program made set-group-id kvm (so that users outside the group may run
# VMs with it) must not let them point it at a registry of their own: their
# machines would be missing from nvmmctl list. $tmp/sg is a static h_owner:
# a set-id program finds no library through its build's $ORIGIN rpath.
install -m 2755 -g "$g" "$h_owner_static" "$tmp/sg"
mkdir -m 0700 "$tmp/own" && chown "$out" "$tmp/own"
line=$(as "$out" env NVMM_RUNDIR="$tmp/own" "$tmp/sg" hold 1 0 0 0 </dev/null | head -n 1)
check "$line|$(ls -A "$tmp/own" | tr '\n' ' ')" "error 13|" \
	"a set-group-id kvm program ignores NVMM_RUNDIR: machine creation fails, no registry of the user's"

echo "1..$n"
exit $failed
