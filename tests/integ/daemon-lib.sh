# daemon-lib.sh - helpers for the daemon's integration tests (daemon-*.t).
# Source after lib.sh:   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/daemon-lib.sh"
#
#   wait_until SECS 'CODE'        evaluates CODE (quote it: it is re-evaluated each time)
#                                 every 0.05 s until it succeeds (0) or SECS pass (1)
#   status_json INST              `taskring status --json` of INST (empty on failure)
#   nready INST                   number of workers in state ready or busy
#   worker_pid INST I / worker_cpu INST I   pid / cpu of worker I from status
#   task_json INST ID FIELD       one field of `taskring show --json ID` (jq -r)
#   allowed_cpus PID              Cpus_allowed_list of a process
#   usable_cpus                   this shell's CPU list, expanded: "0 1 ..."
#   notify_listen NAME OUT        starts notify-listen.py on NAME writing OUT; waits until bound
#   notify_seen OUT MSG           true when OUT holds the line MSG
#   daemon_log INST               the log file start_daemon writes for INST
#   write_config FILE LINES...    writes a YAML file from its arguments, one per line
#   res TYPE ARGS...              submits through the caller's T, waits up to 60 s, prints
#                                 "STATE|RESULT-or-ERROR" (or "submit failed: ...")

command -v jq >/dev/null 2>&1 || tap_skip_all "jq not installed"

wait_until() {
	local secs=$1 deadline
	shift
	deadline=$((SECONDS + secs))
	while :; do
		eval "$*" && return 0
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
}

status_json() {
	"$TR" -i "$1" status --json 2>/dev/null
}

nready() {
	status_json "$1" | jq '[.workers[] | select(.state == "ready" or .state == "busy")] | length'
}

worker_pid() {
	status_json "$1" | jq -r ".workers[$2].pid"
}

worker_cpu() {
	status_json "$1" | jq -r ".workers[$2].cpu"
}

task_json() {
	"$TR" -i "$1" show --json "$2" 2>/dev/null | jq -r ".$3"
}

allowed_cpus() {
	sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null
}

# Expands a CPU list like "0-2,5" into "0 1 2 5".
expand_cpus() {
	local part out=""
	for part in ${1//,/ }; do
		if [[ $part == *-* ]]; then
			out="$out $(seq -s ' ' "${part%-*}" "${part#*-}")"
		else
			out="$out $part"
		fi
	done
	echo $out
}

usable_cpus() {
	expand_cpus "$(allowed_cpus $BASHPID)"
}

notify_listen() {
	local out=$2
	command -v python3 >/dev/null 2>&1 || return 1
	tr_bg python3 "$(dirname "${BASH_SOURCE[0]}")/notify-listen.py" "$1" "$out"
	wait_until 10 'grep -qs listening "$out"'
}

notify_seen() {
	cut -f2- "$1" 2>/dev/null | grep -qx -- "$2"
}

daemon_log() {
	echo "$TR_TMP/daemon-$1.log"
}

write_config() {
	local f=$1
	shift
	printf '%s\n' "$@" >"$f"
}

res() {
	local id
	id=$(T submit "$@" 2>&1) || {
		echo "submit failed: $id"
		return
	}
	T wait --timeout 60 "$id" >/dev/null 2>&1
	T show --json "$id" | jq -r '.state + "|" + (.result // .error // "")'
}
