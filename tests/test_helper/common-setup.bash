# Shared by every suite: load it with `load test_helper/common-setup` and call `common_setup`
# from setup(). It clears the environment oys reads, points all state at the test's own
# temporary directory, puts the fresh build first on PATH, and gives helpers to start
# background servers that teardown stops (by PID, never by name).

bats_require_minimum_version 1.5.0

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
export ROOT
WORKERD=$ROOT/deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd
ANVIL=$ROOT/deps/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
CAST=$ROOT/deps/node_modules/@foundry-rs/cast-linux-amd64/bin/cast
FIXTURES=$ROOT/tests/fixtures
EXAMPLES=$ROOT/share/examples

common_setup() {
	# Nothing from the caller's environment leaks into a test.
	local v
	for v in $(compgen -e); do
		case $v in OYS_TEST_BIN | OYS_TEST_UNIT) ;; OYS_* | TCP* | SOCAT_* | PROTO) unset "$v" ;; esac
	done
	export PATH="${OYS_TEST_BIN:-$ROOT/bin}:$PATH"
	export OYS_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
	export OYS_STORE=$BATS_TEST_TMPDIR/store
	export OYS_WORKERD=$WORKERD
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
	: >"$T/.bg-pids"
}

# Stops what the test started in the background (process groups, TERM then KILL).
common_teardown() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/.bg-pids" ] || return 0
	while read -r pid; do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	done <"$BATS_TEST_TMPDIR/.bg-pids"
	for _ in $(seq 1 50); do
		local alive=0
		while read -r pid; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done <"$BATS_TEST_TMPDIR/.bg-pids"
		[ $alive = 0 ] && break
		sleep 0.1
	done
	while read -r pid; do
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	done <"$BATS_TEST_TMPDIR/.bg-pids"
	: >"$BATS_TEST_TMPDIR/.bg-pids"
	return 0
}

# start_bg LOGFILE CMD...: runs CMD in its own process group, output to LOGFILE; sets BG_PID.
start_bg() {
	local log=$1
	shift
	setsid "$@" >"$log" 2>&1 </dev/null &
	BG_PID=$!
	echo "$BG_PID" >>"$BATS_TEST_TMPDIR/.bg-pids"
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT (bounded).
wait_port() {
	local port=$1 tries=$((${2:-10} * 20))
	while [ "$tries" -gt 0 ]; do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.05
		tries=$((tries - 1))
	done
	echo "nothing listens on 127.0.0.1:$port" >&2
	return 1
}

# wait_for SECONDS CMD...: until CMD succeeds (bounded).
wait_for() {
	local tries=$(($1 * 20))
	shift
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		tries=$((tries - 1))
	done
	return 1
}

# count_is N PATTERN FILE: FILE has N lines matching PATTERN (grep -e). For a log written after
# an answer: `wait_for 10 count_is N PATTERN FILE`.
count_is() {
	[ "$(grep -c -e "$2" "$3" 2>/dev/null)" = "$1" ]
}

# gone PID: the process has exited (a zombie nobody reaped yet counts as exited). A process
# dies a little after whatever it answered or let go of: wait for it, `wait_for 5 gone PID`.
gone() {
	! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# serve_workerd CONFIG: starts workerd on CONFIG in the background and waits for $PORT.
serve_workerd() {
	start_bg "$T/workerd.log" "$WORKERD" serve "$1"
	WORKERD_PID=$BG_PID
	wait_port "$PORT" 10
}

# Processes (other than this shell's pipeline) whose command line mentions this test's
# directory, and the workerd processes oys started for it (their command line names
# /proc/self/cwd/config.capnp; they work in a request directory under this test's directory):
# after a request, there must be none.
stray_processes() {
	local p
	ps -eo pid=,args= | grep -F "$BATS_TEST_TMPDIR" | grep -v -e ' grep ' -e "^ *$$ " || true
	for p in $(sandboxed_workerd_pids); do
		ps -o pid=,args= -p "$p" || true
	done
}

# The workerd processes whose working directory is under this test's directory.
sandboxed_workerd_pids() {
	local p
	for p in $(pgrep -x workerd 2>/dev/null); do
		case $(readlink "/proc/$p/cwd" 2>/dev/null) in "$BATS_TEST_TMPDIR"/*) echo "$p" ;; esac
	done
}

# reply_script FILE FORMAT: writes FILE, a script for socat's EXEC that reads the request (its
# head, and a body of Content-Length bytes) and then answers `printf FORMAT`. A server that
# answered and closed before the request had arrived would have its kernel reset the connection
# when the request came, and the client could lose the answer to that reset.
reply_script() {
	cat >"$1" <<-'EOF'
		#!/bin/bash
		len=0
		while IFS= read -r line; do
			line=${line%$'\r'}
			[ -z "$line" ] && break
			case ${line,,} in content-length:*) len=${line#*:} len=${len// /} ;; esac
		done
		[ "$len" -gt 0 ] 2>/dev/null && head -c "$len" >/dev/null
	EOF
	# the answer, then a short sleep that lets socat relay it before it sees the script gone
	printf 'printf %q\nsleep 0.2\n' "$2" >>"$1"
	chmod +x "$1"
}

# accepted LOG: the connections a `socat -d -d` listener logging to LOG has accepted so far.
accepted() {
	grep -c 'accepting connection' "$1" 2>/dev/null || true
}

# start_sink: a server on loopback that answers anything with "secret" and logs every
# connection to $T/sink.log (its port in SINK_PORT): for tests that must show nothing reached
# it (sink_untouched).
start_sink() {
	SINK_PORT=$(oys-port)
	reply_script "$T/sink.sh" 'HTTP/1.0 200 OK\r\n\r\nsecret'
	start_bg "$T/sink.log" socat -d -d "TCP-LISTEN:$SINK_PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/sink.sh"
	wait_port "$SINK_PORT"
	# wait_port's own probe is logged a moment after it connected: counted once logged
	wait_for 5 eval '[ "$(accepted "$T/sink.log")" -ge 1 ]'
	SINK_SEEN=$(accepted "$T/sink.log")
}

# sink_untouched: no connection reached the sink since start_sink.
sink_untouched() {
	[ "$(accepted "$T/sink.log")" = "$SINK_SEEN" ] || { echo "the sink was reached:"; cat "$T/sink.log"; return 1; }
}

# raw_request PORT FORMAT: sends `printf FORMAT` (so \r, \n and \0 are bytes) on a new
# connection to 127.0.0.1:PORT and prints the whole answer, up to the server's close (10 s at
# most). For requests curl will not send.
raw_request() {
	local fd rc
	exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
	# shellcheck disable=SC2059 # the format is the request
	printf "$2" >&"$fd"
	timeout 10 cat <&"$fd"
	rc=$?
	exec {fd}>&-
	return $rc
}
