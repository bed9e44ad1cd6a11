#!/bin/bash
# install.t - `make install` / `make uninstall` into a DESTDIR (TAP).
#
# Installs what `make` built in $TASKRING_BUILD into a fresh staging tree with the
# default PREFIX, checks every file lands where it should, that taskring.pc lets a
# small C program that submits a task compile and link (shared and static) and run
# far enough to attach, that a second install keeps an edited configuration, and
# that `make uninstall` leaves nothing but the configuration. Cleans up after itself.
set -u

root=$PWD
build=${TASKRING_BUILD:-$root/build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskring-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
pfx=/usr/local
n=0
fails=0

ok() { # ok COND-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fails=$((fails + 1))
	fi
}
diag() { sed 's/^/# /' "$@"; }
# make, without what an outer make (check-run) exports into the environment.
tmake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u DESTDIR make -s -C "$root" "$@"; }

echo "1..14"

tmake B="$build" DESTDIR="$dest" install >"$tmp/install.log" 2>&1
r=$?
ok $r "make install DESTDIR=... (B=$build)"
[ $r -eq 0 ] || diag "$tmp/install.log"

missing=""
for f in bin/taskring sbin/taskringd lib/libtaskring.a lib/libtaskring.so lib/libtaskring.so.1 \
	include/taskring.h lib/pkgconfig/taskring.pc lib/systemd/system/taskring.service \
	lib/sysusers.d/taskring.conf lib/tmpfiles.d/taskring.conf share/man/man1/taskring.1 \
	share/man/man3/libtaskring.3 share/man/man5/taskring.yaml.5 share/man/man8/taskringd.8; do
	[ -e "$dest$pfx/$f" ] || missing="$missing $pfx/$f"
done
[ -f "$dest/etc/taskring/taskring.yaml" ] || missing="$missing /etc/taskring/taskring.yaml"
ok "$([ -z "$missing" ]; echo $?)" \
	"every file installed under PREFIX=$pfx and /etc${missing:+ (missing:$missing)}"

mode=$(stat -c %a "$dest$pfx/bin/taskring" "$dest$pfx/sbin/taskringd" 2>/dev/null | tr '\n' ' ')
ok "$([ "$mode" = "755 755 " ]; echo $?)" "binaries are mode 0755 (got '$mode')"

soname=$(readelf -d "$dest$pfx/lib/libtaskring.so" 2>/dev/null |
	sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
real=$(readlink -f "$dest$pfx/lib/libtaskring.so.1")
ok "$([ "$soname" = libtaskring.so.1 ] && [ -f "$real" ] && [ ! -L "$real" ]; echo $?)" \
	"libtaskring.so -> libtaskring.so.1 -> a real file with SONAME libtaskring.so.1 (got '$soname')"

unit=$dest$pfx/lib/systemd/system/taskring.service
grep -q "^ExecStart=$pfx/sbin/taskringd -c /etc/taskring/taskring.yaml\$" "$unit" 2>/dev/null &&
	grep -q "^ExecReload=$pfx/bin/taskring " "$unit" && ! grep -q '@[A-Z]*@' "$unit"
ok $? "unit's Exec paths point into PREFIX, no @VAR@ left"

pc=$dest$pfx/lib/pkgconfig/taskring.pc
grep -q "^prefix=$pfx\$" "$pc" 2>/dev/null && ! grep -q '@[A-Z]*@' "$pc" &&
	grep -Eq '^Version: [0-9]+\.[0-9]+\.[0-9]+$' "$pc"
ok $? "taskring.pc has prefix=$pfx and a version"

pkgc() {
	PKG_CONFIG_PATH="" PKG_CONFIG_LIBDIR="$dest$pfx/lib/pkgconfig" \
		PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config "$@" taskring
}
flags=$(pkgc --cflags --libs 2>"$tmp/pc.err")
r=$?
ok $r "pkg-config --cflags --libs taskring: $flags"
[ $r -eq 0 ] || diag "$tmp/pc.err"

# A library built with sanitizers needs their runtime in the program too.
san=""
if nm "$build/libtaskring.a" 2>/dev/null | grep -q __asan_; then
	san="-fsanitize=address,undefined"
elif nm "$build/libtaskring.a" 2>/dev/null | grep -q __tsan_; then
	san="-fsanitize=thread"
fi
cat >"$tmp/prog.c" <<'EOF'
#include <errno.h>
#include <taskring.h>
int main(void)
{
	const char *words[] = {"hello", "world"};
	taskring_t *h;
	uint64_t id;
	int r = taskring_attach(NULL, &h);
	if (r < 0)
		return r == -ENOENT ? 3 : 1;
	r = taskring_submit(h, "echo", 2, words, NULL, &id);
	taskring_detach(h);
	return r < 0;
}
EOF
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror $san -o "$tmp/prog" "$tmp/prog.c" $flags >"$tmp/cc.log" 2>&1
r=$?
ok $r "a program calling taskring_submit compiles and links with those flags"
[ $r -eq 0 ] || diag "$tmp/cc.log"
readelf -d "$tmp/prog" 2>/dev/null | grep -q 'NEEDED.*\[libtaskring\.so\.1\]'
ok $? "the program needs libtaskring.so.1"

# Run it against the staged library: no such instance -> attach says -ENOENT.
inst="integ-install-$$"
LD_LIBRARY_PATH="$dest$pfx/lib" TASKRING_INSTANCE=$inst "$tmp/prog" >"$tmp/run.log" 2>&1
r=$?
ok "$([ $r -eq 3 ] && [ ! -e "/dev/shm/taskring.$inst" ]; echo $?)" \
	"it loads the staged library and attach reports a missing instance (exit $r, want 3)"
[ $r -eq 3 ] || diag "$tmp/run.log"

# The same flags with -ltaskring forced to the archive.
sflags=$(pkgc --static --cflags --libs 2>>"$tmp/pc.err" |
	sed 's/\(^\| \)-ltaskring\( \|$\)/ -l:libtaskring.a /')
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror $san -o "$tmp/prog-static" "$tmp/prog.c" $sflags \
	>"$tmp/cc.log" 2>&1
r=$?
ok $r "it links statically against libtaskring.a with pkg-config --static"
[ $r -eq 0 ] || diag "$tmp/cc.log"

# A second install keeps a configuration the admin edited.
echo "# edited by install.t" >>"$dest/etc/taskring/taskring.yaml"
tmake B="$build" DESTDIR="$dest" install >"$tmp/install2.log" 2>&1
r=$?
[ $r -eq 0 ] && grep -q 'edited by install.t' "$dest/etc/taskring/taskring.yaml"
ok $? "a second make install keeps the existing configuration"
[ $r -eq 0 ] || diag "$tmp/install2.log"

tmake B="$build" DESTDIR="$dest" uninstall >"$tmp/uninstall.log" 2>&1
r=$?
ok $r "make uninstall DESTDIR=..."
[ $r -eq 0 ] || diag "$tmp/uninstall.log"

left=$(cd "$dest" && find . ! -type d | sort | tr '\n' ' ')
ok "$([ "$left" = "./etc/taskring/taskring.yaml " ] &&
	grep -q 'edited by install.t' "$dest/etc/taskring/taskring.yaml"; echo $?)" \
	"only the configuration is left (left: $left)"

exit $((fails > 0))
