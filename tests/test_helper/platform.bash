# The platform for end-to-end tests: a cgroup pool of the test's own, a code store with
# functions in it, oys-serve behind real socat on 127.0.0.1, and the checks that nothing
# was left behind. Load after common-setup.

FN=$ROOT/tests/fixtures/fn

# pool_setup [COUNT] [MEMORY]: a pool with a prefix no other test uses; teardown removes it.
pool_setup() {
	export OYS_CGROUP_PREFIX="oyst${BATS_TEST_NUMBER}p$$_"
	oys-cgroup setup --count "${1:-4}" --memory "${2:-256M}" >/dev/null
	echo "$OYS_CGROUP_PREFIX $OYS_RUNTIME_DIR" >>"$BATS_TEST_TMPDIR/.pools"
}

# Each line of .pools: PREFIX and the runtime directory it was set up with (its lock files
# and its slots' network namespaces are there). A test that moved to another runtime
# directory after the setup used the slots' namespaces there: those mounts are undone here.
pool_teardown() {
	local p dir m
	[ -f "$BATS_TEST_TMPDIR/.pools" ] || return 0
	while read -r p dir; do
		OYS_CGROUP_PREFIX=$p OYS_RUNTIME_DIR=${dir:-$OYS_RUNTIME_DIR} oys-cgroup teardown --force >/dev/null 2>&1 || true
	done <"$BATS_TEST_TMPDIR/.pools"
	rm -f "$BATS_TEST_TMPDIR/.pools"
	for m in $(awk -v t="$BATS_TEST_TMPDIR/" '$9 == "nsfs" && index($5, t) == 1 { print $5 }' /proc/self/mountinfo); do
		umount "$m" 2>/dev/null || true
	done
}

# put_fn FILE: stores a function, prints its code_id.
put_fn() {
	oys-store put "$1"
}

# serve_start [ENV=VALUE...]: oys-serve behind socat on a free port ($PORT), its log in
# $T/serve.log (socat passes the children's stderr through).
serve_start() {
	PORT=$(oys-port)
	start_bg "$T/serve.log" env "$@" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" EXEC:oys-serve
	SOCAT_PID=$BG_PID
	wait_port "$PORT"
}

# call METHOD PATH [BODY]: curl to oys-serve; sets $status_code, $body, $headers.
call() {
	local method=$1 path=$2 data=${3-}
	local args=(-sS --max-time 60 -X "$method" -D "$T/h" -o "$T/b" -w '%{http_code}')
	if [ $# -ge 3 ]; then
		args+=(-H 'content-type: application/json' --data-binary "$data")
	elif [ "$method" = POST ]; then
		args+=(--data-binary '') # a POST says its length: oys-serve answers 411 otherwise
	fi
	status_code=$(curl "${args[@]}" "http://127.0.0.1:$PORT$path")
	body=$(cat "$T/b")
	headers=$(tr -d '\r' <"$T/h")
}

# serverless CODE_ID INPUT_JSON
serverless() {
	call POST /api/serverless "{\"code_id\": \"$1\", \"input\": $2}"
}

# oys-serve answers before its teardown, and counts the request in /metrics and writes its log
# line after it: a test that reads the log or /metrics waits for the line (wait_logged) or for
# every oys-serve of the test to be gone (wait_served), never only for the answer.

# logged_count [FILE]: the request lines in FILE (default $T/serve.log).
logged_count() {
	local f=${1:-$T/serve.log}
	[ -f "$f" ] || { echo 0; return 0; }
	grep -c '"event":"request"' "$f" || true
}

logged_at_least() {
	[ "$(logged_count "${2:-}")" -ge "$1" ]
}

# wait_logged N [FILE]: until FILE (default $T/serve.log) holds N request lines (10 s at most).
wait_logged() {
	wait_for 10 logged_at_least "$1" "${2:-}" ||
		{ echo "${2:-$T/serve.log}: $(logged_count "${2:-}") request lines, not $1"; return 1; }
}

# last_logged: the last request line of $T/serve.log (after wait_logged).
last_logged() {
	grep '"event":"request"' "$T/serve.log" | tail -1
}

# wait_served: every oys-serve of this test has exited, so each answer, teardown, /metrics count
# and log line is done (10 s at most).
wait_served() {
	wait_for 10 no_oys_serve || { echo "oys-serve still running: $(stray_processes)"; return 1; }
}

# error_code: the "code" of a JSON error body.
error_code() {
	jq -r .error.code <<<"$body"
}

# Nothing left behind: no workerd of this test, no request files, every cgroup free and empty.
# oys-serve answers before it tears down, so give the teardown a few seconds.
assert_clean() {
	local procs
	wait_for 5 no_workerd || { echo "workerd still running: $(stray_processes)"; return 1; }
	wait_for 5 no_request_files || { echo "request files left: $(ls -A "$OYS_RUNTIME_DIR/req")"; return 1; }
	wait_for 5 pool_free || { echo "cgroups not free: $(oys-cgroup list --json)"; return 1; }
	wait_for 5 no_oys_serve || { echo "oys-serve still running: $(stray_processes)"; return 1; }
	procs=$(stray_processes | grep -v -e socat -e supervisord || true)
	[ -z "$procs" ] || { echo "stray processes: $procs"; return 1; }
}

no_request_files() {
	[ ! -d "$OYS_RUNTIME_DIR/req" ] || [ -z "$(ls -A "$OYS_RUNTIME_DIR/req")" ]
}

# oys-serve processes of this test (their environment names its runtime directory).
no_oys_serve() {
	local p
	for p in $(pgrep -x oys-serve 2>/dev/null); do
		grep -qx "$p" "$BATS_TEST_TMPDIR/.bg-pids" && continue # a --listen parent we started
		tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qxF "OYS_RUNTIME_DIR=$OYS_RUNTIME_DIR" && return 1
	done
	return 0
}

# A workerd of this test is running: oys starts it in a request directory under the test's
# directory (sandboxed_workerd_pids), a test's own has its config there. pgrep leaves itself
# out; a "ps | grep" run through bash -c would match its own command line.
workerd_running() {
	[ -n "$(sandboxed_workerd_pids)" ] || pgrep -f "workerd serve $BATS_TEST_TMPDIR/" >/dev/null
}

no_workerd() {
	! workerd_running
}

pool_free() {
	local busy
	busy=$(oys-cgroup list --json | jq '[.[] | select(.busy or .tasks > 0)] | length')
	[ "$busy" = 0 ]
}

# expect_loop_timeout CODE_ID: oys-serve with a 1 s timeout stops a function that never answers
# with 504 timeout, within the timeout and some slack, and leaves nothing behind.
expect_loop_timeout() {
	serve_start OYS_TIMEOUT=1
	local start=$SECONDS
	serverless "$1" '{}'
	[ $((SECONDS - start)) -lt 15 ]
	[ "$status_code" = 504 ]
	[ "$(error_code)" = timeout ]
	assert_clean
}
