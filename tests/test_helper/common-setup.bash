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

# start_sink: a server on loopback that answers anything with "secret" and logs every
# connection to $T/sink.log (its port in SINK_PORT): for tests that must show nothing reached it.
start_sink() {
	SINK_PORT=$(oys-port)
	# (the short sleep lets socat relay the answer before it sees the script gone)
	printf '#!/bin/sh\nprintf "HTTP/1.0 200 OK\\r\\n\\r\\nsecret"\nsleep 0.2\n' >"$T/sink.sh"
	chmod +x "$T/sink.sh"
	start_bg "$T/sink.log" socat -d -d "TCP-LISTEN:$SINK_PORT,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/sink.sh"
	wait_port "$SINK_PORT"
	: >"$T/sink.log" # forget wait_port's own probe
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
