#!/bin/bash
# man.t - the manual pages in man/ (TAP).
#
# Each page must exist and pass `mandoc -Tlint -W warning` and `groff -mandoc -ww -z`
# with no output, and `man -l` must render it with nothing on stderr (each check
# with whichever of these tools is installed; skipped with the reason only when none
# is). The pages must also stay complete: libtaskring(3) names every function of
# include/taskring.h, and taskring.yaml(5) documents every key that
# `taskringd --print-config` prints (so the daemon from $TASKRING_BUILD is needed).
set -u

root=$PWD
build=${TASKRING_BUILD:-$root/build}
pages="man/taskring.1 man/libtaskring.3 man/taskring-plugin.3 man/taskring.yaml.5 man/taskringd.8"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskring-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
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
diag() { sed 's/^/# /' "$@"; }
has() { command -v "$1" >/dev/null 2>&1; }

tools=""
has mandoc && tools="$tools mandoc"
has groff && tools="$tools groff"
has man && tools="$tools man"
manwarn=""
man --help 2>&1 | grep -q -- --warnings && manwarn=--warnings=w
if [ -z "$tools" ]; then
	echo "1..0 # SKIP neither mandoc, groff nor man is installed"
	exit 0
fi
ntools=$(echo "$tools" | wc -w)
npages=$(echo "$pages" | wc -w)
echo "1..$((npages + npages * ntools + 5))"

for p in $pages; do
	[ -s "$p" ] && head -n 20 "$p" | grep -q '^\.Dd ' && head -n 20 "$p" | grep -q '^\.Dt '
	ok $? "$p exists and is an mdoc page"
done

for p in $pages; do
	for t in $tools; do
		case $t in
		mandoc) mandoc -Tlint -W warning "$p" >"$tmp/out" 2>&1 ;;
		groff) groff -mandoc -ww -z "$p" >"$tmp/out" 2>&1 ;;
		man)
			# man-db runs groff with -ww for --warnings=w; other man programs just format.
			MANWIDTH=80 man $manwarn -l "$p" >"$tmp/page" 2>"$tmp/out" ||
				echo "man exited $?" >>"$tmp/out"
			[ -s "$tmp/page" ] || echo "man rendered nothing" >>"$tmp/out"
			;;
		esac
		r=$?
		ok "$([ $r -eq 0 ] && [ ! -s "$tmp/out" ]; echo $?)" "$t: $p without warnings"
		diag "$tmp/out"
	done
done

# libtaskring(3) names every function of the public header.
missing=""
fns=$(sed -n 's/^[a-z].*[ *]\(taskring_[a-z_0-9]*\)(.*/\1/p' include/taskring.h | sort -u)
nfn=0
for f in $fns; do
	nfn=$((nfn + 1))
	grep -Eq "^\.(Fn|Fo) $f( |\$)" man/libtaskring.3 || missing="$missing $f"
done
ok "$([ "$nfn" -gt 10 ] && [ -z "$missing" ]; echo $?)" \
	"libtaskring.3 documents all $nfn functions of taskring.h${missing:+ (missing:$missing)}"

# taskring.yaml(5) documents every key the daemon prints.
if "$build/taskringd" --print-config >"$tmp/config.yaml" 2>"$tmp/config.err"; then
	# Leaf keys as dotted paths (mappings nest by two spaces; "- " lines are list items).
	keys=$(awk '
		/^[ ]*#/ || /^[ ]*-/ || !/:/ { next }
		{ match($0, /^ */); d = RLENGTH / 2; k = substr($0, RLENGTH + 1); sub(/:.*/, "", k)
		  path[d] = k; p = k; for (i = d - 1; i >= 0; i--) p = path[i] "." p
		  print p }' "$tmp/config.yaml" | sort -u)
	missing=""
	nkeys=0
	for k in $keys; do
		# A key with keys under it is a section, not a setting.
		echo "$keys" | grep -q "^$k\." && continue
		nkeys=$((nkeys + 1))
		grep -q "^\.It Cm $k " man/taskring.yaml.5 || missing="$missing $k"
	done
	ok "$([ "$nkeys" -gt 10 ] && [ -z "$missing" ]; echo $?)" \
		"taskring.yaml.5 documents all $nkeys keys of --print-config${missing:+ (missing:$missing)}"
else
	ok 1 "taskringd --print-config runs ($build/taskringd)"
	diag "$tmp/config.err"
fi

# taskring(1) and taskringd(8) name every long option the programs' --help prints.
missing=""
nopts=0
for c in submit wait map show list cancel status kill-worker reload stress; do
	for o in $("$build/taskring" "$c" --help 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		nopts=$((nopts + 1))
		grep -q -- "Fl -${o#--}\b" man/taskring.1 || missing="$missing $c:$o"
	done
done
ok "$([ "$nopts" -gt 20 ] && [ -z "$missing" ]; echo $?)" \
	"taskring.1 names all $nopts long options of the commands' --help${missing:+ (missing:$missing)}"
missing=""
nopts=0
for o in $("$build/taskringd" --help 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	nopts=$((nopts + 1))
	grep -q -- "Fl -${o#--}\b" man/taskringd.8 || missing="$missing $o"
done
ok "$([ "$nopts" -gt 3 ] && [ -z "$missing" ]; echo $?)" \
	"taskringd.8 names all $nopts long options of taskringd --help${missing:+ (missing:$missing)}"

# Every --help fits a terminal of 80 columns.
# shellcheck disable=SC2086 # an empty $c is the tool's own --help
wide=$( (for c in "" submit wait map show list cancel status kill-worker reload stress; do
	"$build/taskring" $c --help 2>&1 | awk -v c="${c:-taskring}" 'length > 80 { print c ": " $0 }'
done
"$build/taskringd" --help 2>&1 | awk 'length > 80 { print "taskringd: " $0 }') | head -n 3)
ok "$([ -z "$wide" ]; echo $?)" "every --help line fits 80 columns${wide:+ (not: $wide)}"

exit $((fails > 0))
