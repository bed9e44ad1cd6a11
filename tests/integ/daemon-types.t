#!/bin/bash
# daemon-types.t - every built-in task type end to end through the real daemon and CLI
# (issue 3, acceptance 2): the documented results, errors naming the bad argument,
# file tasks refused outside io.allowed_paths and through a symlink escaping them.
# Expected numbers are computed independently with python3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 not installed (computes expected results)"

inst=$(tr_instance)
T() { "$TR" -i "$inst" "$@"; }
dir=$TR_TMP/files
mkdir -p "$dir"
write_config "$TR_TMP/d.yaml" "io:" "  allowed_paths: [\"$dir\"]"
start_daemon "$inst" -c "$TR_TMP/d.yaml"
tap_ok $? "taskringd started with io.allowed_paths [$dir]"


py() { python3 -c "$1"; }

tap_is "$(res noop)" "done|" "noop: empty result"
tap_is "$(res echo hello big world)" "done|hello big world" "echo: the words joined by single spaces"
tap_is "$(res echo)" "done|" "echo without words: empty"
tap_is "$(res sqrt-sum 1000000)" \
	"done|$(py 'import math; print("%.6f" % sum(math.sqrt(i) for i in range(1000000)))')" \
	"sqrt-sum 1000000: sum of sqrt(i) printed %.6f"
tap_is "$(res sqrt-sum 0)" "done|0.000000" "sqrt-sum 0"
tap_is "$(res square-sum 1000)" "done|$(py 'print(sum(i * i for i in range(1000)))')" \
	"square-sum 1000: exact"
tap_is "$(res square-sum 1000000000)" "done|$(py 'n = 10**9; print((n - 1) * n * (2 * n - 1) // 6)')" \
	"square-sum 10^9: exact, no overflow"
tap_is "$(res spin 50)" "done|" "spin 50: empty result"
tap_is "$(res fail boom)" "failed|boom" "fail MESSAGE: fails with the message"
tap_is "$(res sleep 100)" "done|" "sleep 100: empty result"

# ---- file tasks --------------------------------------------------------------------
head -c 100000 /dev/urandom >"$dir/in.bin"
want=$(py "import zlib; d = open('$dir/in.bin', 'rb').read(); print('%d %08x' % (len(d), zlib.crc32(d)))")
tap_is "$(res read-file "$dir/in.bin")" "done|$want" "read-file: SIZE CRC32"
tap_is "$(res write-file "$dir/out.txt" hello big world)" "done|16" "write-file: bytes written"
tap_is "$(cat "$dir/out.txt")" "hello big world" "write-file: the words and a newline"
tap_is "$(res copy-file "$dir/in.bin" "$dir/copy.bin")" "done|100000" "copy-file: bytes copied"
cmp -s "$dir/in.bin" "$dir/copy.bin"
tap_ok $? "copy-file: the copy is identical"
outside=$TR_TMP/outside.txt
echo secret >"$outside"
tap_is "$(res read-file "$outside")" "failed|path not allowed: $outside" \
	"read-file outside io.allowed_paths is refused"
ln -s "$TR_TMP" "$dir/escape"
tap_is "$(res read-file "$dir/escape/outside.txt")" "failed|path not allowed: $dir/escape/outside.txt" \
	"read-file through a symlink escaping the allowed directory is refused"
tap_is "$(res write-file "$dir/escape/new.txt" x)" "failed|path not allowed: $dir/escape/new.txt" \
	"write-file through the escaping symlink is refused"
[ -e "$TR_TMP/new.txt" ]
tap_is $? 1 "and wrote nothing outside"
tap_is "$(res copy-file "$outside" "$dir/stolen.txt")" "failed|path not allowed: $outside" \
	"copy-file from outside is refused"

# ---- bad arguments ------------------------------------------------------------------------
tap_is "$(res sqrt-sum abc)" "failed|sqrt-sum: N: not a number: 'abc'" "sqrt-sum abc: names N"
tap_like "$(res square-sum -5)" "^failed\\|square-sum: N: " "square-sum -5: names N"
tap_like "$(res sleep)" "^failed\\|sleep: missing argument MS" "sleep without MS: names MS"
tap_like "$(res spin 1 2)" "^failed\\|spin: unexpected argument '2'" "spin 1 2: names the extra argument"
tap_like "$(res sleep 99999999999999)" "^failed\\|sleep: MS: out of range" "sleep too long: out of range"
tap_like "$(res read-file relative/path)" "^failed\\|path not allowed: relative/path" \
	"read-file of a relative path is refused"
run T submit no-such-type
tap_like "$RUN_STATUS:$RUN_ERR" "^2:.*unknown task type" "an unknown type is refused at submit (exit 2)"

stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "daemon stopped, exit 0"

# With the default (empty) io.allowed_paths every file task is refused.
inst=$(tr_instance)
start_daemon "$inst"
tap_is "$(res read-file "$dir/in.bin")" "failed|path not allowed: $dir/in.bin" \
	"default configuration: file tasks are refused"
stop_daemon "$inst" TERM
done_testing
