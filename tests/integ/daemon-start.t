#!/bin/bash
# daemon-start.t - taskringd's command line, start-up and stop (issue 3, acceptance 1):
# READY=1 on a fake notify socket once every worker is ready, one worker per usable
# CPU pinned to it (also under taskset -c 0, and wrapping around with more workers
# than CPUs), a second daemon on the same instance refused, a segment of another
# geometry refused, no CPU used while idle, STOPPING=1 and exit 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

[ -x "$TRD" ] && [ -x "$TR" ] || tap_skip_all "taskringd or taskring not built in $TASKRING_BUILD"
command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 not installed (fake notify socket)"

# ---- command line -------------------------------------------------------------
run "$TRD" -V
tap_like "$RUN_STATUS:$RUN_OUT" '^0:taskringd [0-9]+\.[0-9]+\.[0-9]+$' "-V prints the version"
run "$TRD" -h
tap_like "$RUN_STATUS:$RUN_OUT" '^0:usage: taskringd ' "-h prints the usage, exit 0"
run "$TRD" --frobnicate
tap_like "$RUN_STATUS:$RUN_ERR" '^2:taskringd: unknown option --frobnicate' "unknown option: exit 2"
run "$TRD" -c
tap_like "$RUN_STATUS:$RUN_ERR" '^2:taskringd: option -c needs an argument' "missing argument: exit 2"
run "$TRD" extra
tap_like "$RUN_STATUS:$RUN_ERR" "^2:taskringd: unexpected argument 'extra'" "stray argument: exit 2"
run "$TRD" -t
tap_is "$RUN_STATUS:$RUN_OUT" "0:built-in defaults: configuration OK" "-t on the built-in defaults"
run "$TRD" -i 'bad name!' -t
tap_like "$RUN_STATUS:$RUN_ERR" "^1:-i: invalid instance name 'bad name!'" "-t with a bad -i: exit 1"

inst=$(tr_instance)
run "$TRD" -i "$inst" --print-config
printf '%s\n' "$RUN_OUT" >"$TR_TMP/printed.yaml"
tap_like "$RUN_STATUS:$RUN_OUT" "^0:.*instance: \"$inst\"" "--print-config shows the -i instance"
run "$TRD" -t -c "$TR_TMP/printed.yaml"
tap_is "$RUN_STATUS" 0 "the printed configuration checks OK with -t"
run "$TRD" -c "$TR_TMP/printed.yaml" --print-config
tap_is "$(grep -v '^#' <<<"$RUN_OUT")" "$(grep -v '^#' "$TR_TMP/printed.yaml")" \
	"and prints back the same settings"
[ -e "/dev/shm/taskring.$inst" ]
tap_is $? 1 "-t and --print-config create no segment"

# ---- start with a fake notify socket ------------------------------------------
sock="@tr-notify-$inst"
nout=$TR_TMP/notify.out
notify_listen "$sock" "$nout"
tap_ok $? "fake notify socket listening"
cpus=($(usable_cpus))
ncpu=${#cpus[@]}
NOTIFY_SOCKET=$sock WATCHDOG_USEC=1000000 start_daemon "$inst"
tap_ok $? "taskringd started on the built-in defaults (instance $inst)"
wait_until 30 'notify_seen "$nout" READY=1'
tap_ok $? "READY=1 arrived on the notify socket"
# READY=1 promises that every worker is ready: nothing may be starting now.
tap_is "$(status_json "$inst" | jq -r '[.workers[].state] | join(" ")')" \
	"$(printf 'ready %.0s' $(seq $ncpu) | sed 's/ $//')" \
	"at READY=1 all $ncpu workers (one per usable CPU) are ready"
tap_ok "$(notify_seen "$nout" "STATUS=$ncpu of $ncpu workers ready, 0 queued, 0 running"; echo $?)" \
	"STATUS= line names the ready workers"
wait_until 10 'notify_seen "$nout" WATCHDOG=1'
tap_ok $? "WATCHDOG=1 sent (WATCHDOG_USEC set)"
# The pace: about every WATCHDOG_USEC/2 (0.5 s), and never as late as 1 s.
sleep 3
pace=$(awk -F'\t' '$2 == "WATCHDOG=1" { if (n++) { d = $1 - last; if (d > max) max = d; sum += d } last = $1 }
	END { if (n > 1) printf "%d %.3f %.3f", n, sum / (n - 1), max; else print "0 0 0" }' "$nout")
read -r npings mean maxgap <<<"$pace"
tap_ok "$(awk -v n="$npings" -v m="$mean" -v x="$maxgap" \
	'BEGIN { exit !(n >= 4 && m >= 0.3 && m <= 0.7 && x < 1.0) }'; echo $?)" \
	"WATCHDOG=1 at half of WATCHDOG_USEC: $npings pings, mean gap $mean s, longest $maxgap s"

pinned=0 titles=0 envclean=0 seen_cpus=""
for ((i = 0; i < ncpu; i++)); do
	pid=$(worker_pid "$inst" $i)
	cpu=$(worker_cpu "$inst" $i)
	seen_cpus="$seen_cpus $cpu"
	[ "$(allowed_cpus "$pid")" = "$cpu" ] && pinned=$((pinned + 1))
	[ "$(ps -o args= -p "$pid")" = "taskring: worker $i cpu $cpu" ] && titles=$((titles + 1))
	tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^NOTIFY_SOCKET=\|^WATCHDOG_' || envclean=$((envclean + 1))
done
# Every line names the instance (several daemons may share one log file).
dlog=$(daemon_log "$inst")
tap_is "$(grep -cv "^[0-9T:.+-]* taskringd/$inst\[[0-9]*\]: [a-z]*: " "$dlog")" 0 \
	"every log line starts 'TIME taskringd/$inst[PID]: LEVEL: '" || tap_diag_file "$dlog"
tap_is "$pinned" "$ncpu" "each worker's Cpus_allowed_list is its own CPU"
tap_is "$(echo $seen_cpus)" "${cpus[*]}" "worker i runs on the i-th usable CPU"
tap_is "$titles" "$ncpu" "ps shows 'taskring: worker I cpu C'"
tap_is "$envclean" "$ncpu" "workers inherit no NOTIFY_SOCKET or WATCHDOG_*"

# A second supervisor for the same instance refuses to start.
run timeout 30 "$TRD" -i "$inst"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*instance $inst is already served by pid $(daemon_pid "$inst")" \
	"a second taskringd on the instance exits 1 naming the first one's pid"

# Idle: no polling. CPU ticks of the supervisor and workers over 3 s.
ticks() {
	local p t=0
	for p in "$@"; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo $t
}
pids="$(daemon_pid "$inst") $(status_json "$inst" | jq -r '.workers[].pid' | tr '\n' ' ')"
before=$(ticks $pids)
sleep 3
used=$(($(ticks $pids) - before))
[ "$used" -le 10 ]
tap_ok $? "an idle daemon with $ncpu workers used $used clock ticks in 3 s (at most 10)"

stop_daemon "$inst" TERM
tap_is "$TR_DAEMON_STATUS" 0 "SIGTERM: exit status 0"
tap_ok "$(notify_seen "$nout" STOPPING=1; echo $?)" "STOPPING=1 sent"
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
tap_is "$left" 0 "no worker left running"
[ -e "/dev/shm/taskring.$inst" ]
tap_ok $? "the segment outlives the daemon (tasks survive restarts)"

# Another geometry on the existing segment is refused, saying how to proceed.
write_config "$TR_TMP/small.yaml" "queue:" "  capacity: 64"
run timeout 30 "$TRD" -i "$inst" -c "$TR_TMP/small.yaml"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*queue.capacity 4096.*configuration asks for 64.*rm /dev/shm/taskring.$inst" \
	"a segment of another capacity is refused with exit 1 and how to remove it"
run "$TRD" -t -i "$inst" -c "$TR_TMP/small.yaml"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*small.yaml: .*queue.capacity 4096.*configuration asks for 64" \
	"taskringd -t says so too, instead of 'configuration OK'"
# A segment of another layout version (an older taskring's) is refused by the
# start; -t says so too.
instv=$(tr_instance)
python3 -c 'import struct,sys
b = bytearray(open(sys.argv[1], "rb").read())
b[8:12] = struct.pack("<I", struct.unpack("<I", b[8:12])[0] - 1)
f = open(sys.argv[2], "xb"); f.write(b); f.close()' "/dev/shm/taskring.$inst" "/dev/shm/taskring.$instv"
chmod 600 "/dev/shm/taskring.$instv"
run "$TRD" -t -i "$instv"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:built-in defaults: /dev/shm/taskring.$instv: incompatible segment.*would refuse to start.*remove it" \
	"taskringd -t reports a segment of another layout version instead of 'configuration OK'"
run timeout 30 "$TRD" -i "$instv"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*incompatible segment" "as the start does"
rm -f "/dev/shm/taskring.$instv"

# ---- taskset: the affinity mask decides the CPUs --------------------------------
all_cpus=$(allowed_cpus $$)
taskset -pc "${cpus[0]}" $$ >/dev/null
inst2=$(tr_instance)
start_daemon "$inst2"
tap_ok $? "taskringd started under taskset -c ${cpus[0]}"
wait_until 30 'test "$(nready "$inst2")" = 1'
tap_ok $? "one worker ready"
tap_is "$(status_json "$inst2" | jq '.workers | length')" 1 "exactly one worker"
tap_is "$(allowed_cpus "$(worker_pid "$inst2" 0)")" "${cpus[0]}" "pinned to CPU ${cpus[0]}"
stop_daemon "$inst2" TERM
# More workers than CPUs wrap around; a CPU outside the mask is refused.
write_config "$TR_TMP/three.yaml" "workers: 3"
inst3=$(tr_instance)
start_daemon "$inst3" -c "$TR_TMP/three.yaml"
wait_until 30 'test "$(nready "$inst3")" = 3'
tap_ok $? "3 workers ready on 1 CPU"
tap_is "$(for i in 0 1 2; do allowed_cpus "$(worker_pid "$inst3" $i)"; done | sort -u | tr '\n' ' ')" \
	"${cpus[0]} " "all three pinned to CPU ${cpus[0]}"
stop_daemon "$inst3" QUIT
tap_is "$TR_DAEMON_STATUS" 0 "SIGQUIT: exit 0"
other=$((${cpus[0]} + 1))
write_config "$TR_TMP/other.yaml" "cpus: \"$other\""
run "$TRD" -t -c "$TR_TMP/other.yaml"
tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*other.yaml:1:7: cpus: CPU $other is not available to this process \\(allowed: ${cpus[0]}\\)" \
	"-t: a CPU outside the affinity mask is refused, naming its line and column"
taskset -pc "$all_cpus" $$ >/dev/null

if [ "$ncpu" -ge 2 ]; then
	inst4=$(tr_instance)
	start_daemon "$inst4" -c "$TR_TMP/three.yaml"
	wait_until 30 'test "$(nready "$inst4")" = 3'
	tap_is "$(for i in 0 1 2; do worker_cpu "$inst4" $i; done | tr '\n' ' ')" \
		"${cpus[0]} ${cpus[1]} ${cpus[$((2 % ncpu))]} " "3 workers on $ncpu CPUs wrap around"
	stop_daemon "$inst4" TERM
fi

# A segment left half made by a creator that died (empty, or no magic yet) is
# removed and made again, not waited on for ever.
for size in 0 65536; do
	inst5=$(tr_instance)
	truncate -s "$size" "/dev/shm/taskring.$inst5"
	chmod 600 "/dev/shm/taskring.$inst5"
	start_daemon "$inst5"
	tap_ok $? "a half-made segment of $size bytes with no creator: the daemon starts"
	tap_like "$(cat "$(daemon_log "$inst5")")" "removed /dev/shm/taskring.$inst5: half made by a process that died" \
		"and says it removed it"
	run "$TR" -i "$inst5" submit --wait echo made
	tap_is "$RUN_STATUS:$RUN_OUT" "0:made" "and serves"
	stop_daemon "$inst5" TERM
done

# Started with stdin, stdout and stderr closed, the daemon must not let the
# segment take one of those numbers: its log lines would be written into it.
inst6=$(tr_instance)
setsid "$TRD" -i "$inst6" <&- >&- 2>&- &
_TR_DAEMON[$inst6]=$!
wait_until 30 'test "$(nready "$inst6")" = 2'
tap_ok $? "taskringd started with fds 0-2 closed: 2 workers ready"
tap_is "$(readlink "/proc/${_TR_DAEMON[$inst6]}/fd/2")" /dev/null "its stderr is /dev/null"
run "$TR" -i "$inst6" submit --wait echo served
tap_is "$RUN_STATUS:$RUN_OUT" "0:served" "and its segment serves clients"
stop_daemon "$inst6" TERM
tap_is "$TR_DAEMON_STATUS" 0 "and stops cleanly"
# Only stderr closed: the segment would get fd 2, and every log line would
# overwrite its header.
setsid "$TRD" -i "$inst6" </dev/null >/dev/null 2>&- &
_TR_DAEMON[$inst6]=$!
wait_until 30 'test "$(nready "$inst6")" = 2'
tap_ok $? "taskringd started with stderr closed: 2 workers ready"
tap_is "$(head -c 8 "/dev/shm/taskring.$inst6")" TKRINGQ1 "no log line landed in the segment"
run "$TR" -i "$inst6" submit --wait echo served
tap_is "$RUN_STATUS:$RUN_OUT" "0:served" "and it serves clients"
stop_daemon "$inst6" TERM

# Ownership: a segment another user made (planted while no daemon ran) is
# never adopted, or the daemon would run that user's tasks with its rights.
if [ "$(id -u)" = 0 ] && getent group nogroup >/dev/null; then
	inst7=$(tr_instance)
	seg7=/dev/shm/taskring.$inst7
	start_daemon "$inst7"
	stop_daemon "$inst7" TERM
	tap_ok "$([ -e "$seg7" ]; echo $?)" "a stopped daemon leaves its segment"
	chown 65534 "$seg7"
	run timeout 30 "$TRD" -i "$inst7"
	tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*$seg7 belongs to uid 65534, not to this daemon's user \\(uid 0\\): not adopted" \
		"a segment of uid 65534 (nobody) is not adopted by root's daemon"
	run "$TR" -i "$inst7" status
	tap_like "$RUN_STATUS:$RUN_ERR" "^3:.*no permission.*must belong to root or to the service's user" \
		"nor used by root's client"
	chown 0 "$seg7"
	# The group and mode follow the configuration at each start.
	write_config "$TR_TMP/group7.yaml" "group: nogroup"
	start_daemon "$inst7" -c "$TR_TMP/group7.yaml"
	tap_is "$(stat -c %a:%G "$seg7")" 660:nogroup "adopted with 'group: nogroup' added: mode 0660, group nogroup"
	tap_like "$(cat "$(daemon_log "$inst7")")" "mode 0660, group nogroup now, as configured \\(was 0600\\)" \
		"and the log says so"
	stop_daemon "$inst7" TERM
	start_daemon "$inst7"
	tap_is "$(stat -c %a "$seg7")" 600 "with the group taken out again: mode 0600"
	run "$TR" -i "$inst7" reload
	tap_like "$RUN_STATUS:$RUN_ERR" "^1:.*started without -c: there is no file to reload" \
		"reload of a daemon started without -c: refused, saying there is no file"
	stop_daemon "$inst7" TERM
	rm -f "$seg7"
else
	tap_ok 0 "# SKIP ownership checks need root and the group nogroup"
fi

done_testing
