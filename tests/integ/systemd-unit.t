#!/bin/bash
# systemd-unit.t - the installed systemd unit, sysusers and tmpfiles files (TAP).
#
# Stages `make install PREFIX=/usr DESTDIR=tmp` from $TASKRING_BUILD, then checks
# the staged unit: the settings taskring depends on, `systemd-analyze verify` (on a
# copy whose Exec paths point into the staged tree, since verify checks that they
# exist and --root needs a whole systemd tree) with no output at all, and
# `systemd-analyze security --offline=true` at an exposure of 2.5 or lower (printed).
# As root it also applies the staged sysusers and tmpfiles files to the staged tree.
# Skipped only when systemd-analyze is not installed. Cleans up after itself.
set -u

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "1..0 # SKIP systemd-analyze not installed"
	exit 0
fi

root=$PWD
build=${TASKRING_BUILD:-$root/build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskring-unit.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
unit=$dest/usr/lib/systemd/system/taskring.service
n=0
fails=0

ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fails=$((fails + 1))
	fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { sed 's/^/# /' "$@"; }
tmake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u DESTDIR make -s -C "$root" "$@"; }
# The value of the last assignment of KEY in the unit.
val() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
# A systemd time span in seconds: 45, 45s, 1min, 2min 30s.
secs() {
	echo "$1" | awk '{ t = 0; for (i = 1; i <= NF; i++) { v = $i + 0; u = $i; sub(/^[0-9.]+/, "", u);
		t += v * (u == "min" || u == "m" ? 60 : u == "h" ? 3600 : u == "ms" ? 0.001 : 1) }
		print int(t) }'
}

echo "1..11"

tmake B="$build" PREFIX=/usr DESTDIR="$dest" install >"$tmp/install.log" 2>&1
r=$?
ok $r "make install PREFIX=/usr DESTDIR=... (B=$build)"
[ $r -eq 0 ] || diag "$tmp/install.log"

# shellcheck disable=SC2016 # $MAINPID is expanded by systemd, not here
reload='ExecReload=/usr/bin/taskring reload --pid $MAINPID --accepted'
grep -qxF 'ExecStartPre=/usr/sbin/taskringd -t -c /etc/taskring/taskring.yaml' "$unit" 2>/dev/null &&
	grep -qxF 'ExecStart=/usr/sbin/taskringd -c /etc/taskring/taskring.yaml' "$unit" &&
	grep -qxF "$reload" "$unit"
ok $? "ExecStartPre checks the file (-t), ExecStart and ExecReload use the installed binaries"

[ "$(val Type)" = notify ] && [ "$(val KillMode)" = mixed ] && [ "$(val Restart)" = on-failure ] &&
	[ -n "$(val WatchdogSec)" ] && [ -n "$(val StartLimitBurst)" ] &&
	[ -n "$(val StartLimitIntervalSec)" ]
ok $? "Type=notify, KillMode=mixed, Restart=on-failure, WatchdogSec, a start limit"

# The segment must survive the service and stay reachable from outside it.
[ "$(val User)" = taskring ] && [ "$(val Group)" = taskring ] &&
	! grep -Eq '^(DynamicUser|PrivateIPC)=(yes|true|on|1)$' "$unit" &&
	! grep -Eq '^RemoveIPC=(yes|true|on|1)$' "$unit" && grep -qx "CapabilityBoundingSet=" "$unit" &&
	[ "$(val CapabilityBoundingSet)" = "" ]
ok $? "static user and group taskring, no DynamicUser/PrivateIPC/RemoveIPC, no capabilities"

# TimeoutStopSec must exceed the daemon's shutdown_timeout_s (from --print-config).
sto=$("$dest/usr/sbin/taskringd" --print-config 2>/dev/null | sed -n 's/^shutdown_timeout_s: *//p')
tss=$(secs "$(val TimeoutStopSec)")
[ -n "$sto" ] && [ -n "$tss" ] && [ "$tss" -gt "$sto" ]
ok $? "TimeoutStopSec ($tss s) > shutdown_timeout_s ($sto s)"

# systemd-analyze verify checks that Exec paths exist: point them into the tree.
mkdir -p "$tmp/verify"
sed -E "s#^(Exec[A-Za-z]+=[-@:+!]*)/usr/#\\1$dest/usr/#" "$unit" >"$tmp/verify/taskring.service"
grep -q "^ExecStart=$dest/usr/sbin/taskringd " "$tmp/verify/taskring.service"
ok $? "a copy of the unit runs the staged binaries"

systemd-analyze verify --recursive-errors=yes --man=no "$tmp/verify/taskring.service" \
	>"$tmp/verify.log" 2>&1
r=$?
ok "$([ $r -eq 0 ] && [ ! -s "$tmp/verify.log" ]; echo $?)" \
	"systemd-analyze verify passes with no output (exit $r)"
diag "$tmp/verify.log"

systemd-analyze security --offline=true --threshold=25 "$tmp/verify/taskring.service" \
	>"$tmp/security.log" 2>&1
r=$?
score=$(sed -n 's/.*Overall exposure level for taskring\.service: \([0-9.]*\).*/\1/p' \
	"$tmp/security.log")
echo "# systemd-analyze security: exposure ${score:-?} (threshold 2.5)"
ok "$([ $r -eq 0 ] && [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; echo $?)" \
	"systemd-analyze security --offline=true: exposure ${score:-?} <= 2.5 (exit $r)"
if [ $r -ne 0 ] || [ -z "$score" ]; then diag "$tmp/security.log"; fi

# The unit's SystemCallFilter= lines, applied in order as systemd does (the first
# one an allow list; ~ removes; later ones add back), must allow every system call
# taskring makes that the groups leave out: the ones the source calls by number
# (SYS_*, e.g. seccomp for the exec guard) and the libc-wrapped ones named here.
expand() { # expand NAME...: the system calls of groups (@...) and names
	local x
	for x in "$@"; do
		case $x in
		@*) expand $(systemd-analyze syscall-filter --no-pager "$x" 2>/dev/null |
			sed -n 's/^    \([-@a-z0-9_]*\)$/\1/p') ;;
		*) echo "$x" ;;
		esac
	done
}
allowed=""
first=1
while read -r line; do
	case $line in
	"~"*) deny=$(expand ${line#\~} | sort -u)
		allowed=$(comm -23 <(echo "$allowed") <(echo "$deny")) ;;
	*) allowed=$( (echo "$allowed"; expand $line) | sed '/^$/d' | sort -u) ;;
	esac
	first=0
done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
need=$( (grep -rhoE 'SYS_[a-z_0-9]+' "$root/common" "$root/daemon" "$root/worker" "$root/cli" \
	"$root/config" | sed 's/^SYS_//'
	echo io_uring_setup io_uring_enter io_uring_register sched_setaffinity sched_getaffinity \
		futex pidfd_open pidfd_send_signal waitid fchown prctl seccomp memfd_create \
		ftruncate mmap flock fcntl socketpair sendmsg recvmsg | tr ' ' '\n') | sort -u)
missing=$(comm -13 <(echo "$allowed") <(echo "$need") | tr '\n' ' ')
ok "$([ "$first" -eq 0 ] && [ -n "$allowed" ] && [ -z "$missing" ]; echo $?)" \
	"SystemCallFilter= allows every system call taskring makes (missing: ${missing:-none})"

# Apply the staged sysusers/tmpfiles files to the staged tree (chown needs root).
if [ "$(id -u)" -ne 0 ]; then
	skip "applying sysusers.d to the staged tree needs root"
	skip "applying tmpfiles.d to the staged tree needs root"
else
	systemd-sysusers --root="$dest" >"$tmp/sysusers.log" 2>&1
	r=$?
	uid=$(awk -F: '$1 == "taskring" { print $3 }' "$dest/etc/passwd" 2>/dev/null)
	gid=$(awk -F: '$1 == "taskring" { print $3 }' "$dest/etc/group" 2>/dev/null)
	[ $r -eq 0 ] && [ -n "$uid" ] && [ -n "$gid" ] && [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ]
	ok $? "sysusers.d/taskring.conf creates system user and group taskring (uid ${uid:-?})"
	[ $r -eq 0 ] || diag "$tmp/sysusers.log"

	systemd-tmpfiles --root="$dest" --create >"$tmp/tmpfiles.log" 2>&1
	r=$?
	got=$(stat -c '%a %u %g' "$dest/var/lib/taskring" "$dest/var/lib/taskring/files" 2>/dev/null |
		tr '\n' ' ')
	ok "$([ $r -eq 0 ] && [ "$got" = "750 $uid $gid 2770 $uid $gid " ]; echo $?)" \
		"tmpfiles.d/taskring.conf creates /var/lib/taskring 0750 and files/ 2770 (got: $got)"
	[ $r -eq 0 ] || diag "$tmp/tmpfiles.log"
fi

exit $((fails > 0))
