#!/bin/bash
# daemon-config.t - broken configuration files (issue 3, acceptance 6): each gives its
# one-line error "FILE:LINE:COLUMN: message" and exit 1, both from `taskringd -t` and
# when starting the daemon (which then creates no segment). The files are the config
# module's tests/configs/bad/*.yaml, whose first line says "# expect: :L:C: message".
# Also: the good examples pass -t, and the checks only the daemon makes (unreadable
# file, unknown group) fail the same way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] || tap_skip_all "taskringd not built in $TASKRING_BUILD"
root=$(cd "$(dirname "$0")/../.." && pwd)
bad=("$root"/tests/configs/bad/*.yaml)
[ -e "${bad[0]}" ] || tap_skip_all "no broken configuration files in tests/configs/bad"

for f in "${bad[@]}"; do
	name=${f#"$root"/}
	want="$f$(head -n 1 "$f" | sed -n 's/^# expect: //p')"
	run "$TRD" -t -c "$f"
	if [ "$RUN_STATUS" = 1 ] && [ "$RUN_ERR" = "$want" ] && [ -z "$RUN_OUT" ]; then
		tap_ok 0 "-t $name: exit 1, one line: ${want#"$f"}"
	else
		tap_ok 1 "-t $name: exit 1 with its one-line error"
		tap_diag "status $RUN_STATUS" "stderr: $RUN_ERR" "want:   $want"
	fi
	inst=$(tr_instance)
	run timeout 30 "$TRD" -i "$inst" -c "$f"
	lines=$(printf '%s\n' "$RUN_ERR" | wc -l)
	if [ "$RUN_STATUS" = 1 ] && [ "$lines" = 1 ] && [[ $RUN_ERR == *"$want" ]] &&
		[ ! -e "/dev/shm/taskring.$inst" ]; then
		tap_ok 0 "start with $name: exit 1, the same one line, no segment"
	else
		tap_ok 1 "start with $name: exit 1, the same one line, no segment"
		tap_diag "status $RUN_STATUS" "stderr: $RUN_ERR" "want:   $want"
	fi
done

for f in "$root"/tests/configs/good/*.yaml; do
	[ -e "$f" ] || continue
	# Valid YAML; may still name CPUs or a group this machine lacks (the daemon's
	# own checks), which must then be the only complaint.
	run "$TRD" -t -c "$f"
	if [ "$RUN_STATUS:$RUN_OUT" = "0:$f: configuration OK" ] ||
		[[ $RUN_STATUS:$RUN_ERR =~ ^1:$f:[0-9]+:[0-9]+:\ (cpus:\ CPU\ [0-9]+\ is\ not\ available|group:\ no\ such\ group) ]]; then
		tap_ok 0 "-t ${f#"$root"/}: OK${RUN_ERR:+ but for this machine: ${RUN_ERR#"$f:"}}"
	else
		tap_ok 1 "-t ${f#"$root"/}: OK"
		tap_diag "status $RUN_STATUS" "stdout: $RUN_OUT" "stderr: $RUN_ERR"
	fi
done

run "$TRD" -t -c "$TR_TMP/missing.yaml"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:$TR_TMP/missing.yaml: .*No such file or directory" \
	"-t on a missing file: exit 1 naming the file and the error"
run "$TRD" -t -c "$TR_TMP"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:$TR_TMP: " "-t on a directory: exit 1"
write_config "$TR_TMP/group.yaml" "workers: 1" "group: tr-no-such-group"
run "$TRD" -t -c "$TR_TMP/group.yaml"
tap_is "$RUN_STATUS:$RUN_ERR" "1:$TR_TMP/group.yaml:2:8: group: no such group 'tr-no-such-group'" \
	"-t with a group that does not exist: exit 1, naming its line and column"
inst=$(tr_instance)
run timeout 30 "$TRD" -i "$inst" -c "$TR_TMP/group.yaml"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*group: no such group 'tr-no-such-group'$" \
	"starting with it: exit 1, the same message"
[ -e "/dev/shm/taskring.$inst" ]
tap_is $? 1 "and no segment"

# Paths that cannot work here keep the file valid (a mount or a program may come
# later), but -t, the start and a reload say which, since their tasks would fail.
mkdir -p "$TR_TMP/dir"
write_config "$TR_TMP/paths.yaml" "workers: 1" "exec:" "  cwd: $TR_TMP/no-cwd" \
	"  allowed: [$TR_TMP/no-prog, $TR_TMP/dir]" "io:" "  allowed_paths: [$TR_TMP/no-dir, $TR_TMP/dir]"
run "$TRD" -t -c "$TR_TMP/paths.yaml"
tap_is "$RUN_STATUS:$RUN_OUT" "0:$TR_TMP/paths.yaml: configuration OK, with 4 warnings" \
	"-t with paths that do not exist: exit 0, 4 warnings"
tap_is "$RUN_ERR" "$TR_TMP/paths.yaml: warning: exec.cwd $TR_TMP/no-cwd: No such file or directory (exec tasks will fail)
$TR_TMP/paths.yaml: warning: exec.allowed $TR_TMP/no-prog: No such file or directory (exec tasks running it will fail)
$TR_TMP/paths.yaml: warning: exec.allowed $TR_TMP/dir: not a regular file (exec tasks running it will fail)
$TR_TMP/paths.yaml: warning: io.allowed_paths $TR_TMP/no-dir: No such file or directory (file tasks under it will fail)" \
	"each named with what is wrong; the existing directory is not"
done_testing
