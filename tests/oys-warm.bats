#!/usr/bin/env bats
# oys-warm: pre-started single-use sandboxes, with real workerd, real cgroups, oys-serve behind
# real socat on 127.0.0.1. One request per sandbox process; answers equal to the cold path's;
# the cold path takes over when oys-warm dies; nothing left behind, however it ended.

load test_helper/common-setup
load test_helper/platform
load fixtures/wasm/helpers

setup() {
	common_setup
	pool_setup 4 256M
}
teardown() {
	common_teardown
	pool_teardown
	local d
	[ ! -f "$T/.rm-dirs" ] || while read -r d; do rm -rf "$d"; done <"$T/.rm-dirs"
}

# warm_start N [ARGS...]: oys-warm with N sandboxes (its log in $T/warm.log, its pid in
# WARM_PID), once all of them are ready.
warm_start() {
	local n=$1
	shift
	start_bg "$T/warm.log" oys-warm --count "$n" "$@"
	WARM_PID=$BG_PID
	wait_for 30 warm_ready "$n" || { cat "$T/warm.log"; oys-warm status; return 1; }
}

# warm_ready N: oys-warm answers that N sandboxes are ready.
warm_ready() {
	[ "$(oys-warm status --json 2>/dev/null | jq .ready)" = "$1" ]
}

# warm_stop: SIGTERM, and oys-warm is gone (it exits once everything is given back).
warm_stop() {
	kill -TERM "$WARM_PID"
	wait_for 15 gone "$WARM_PID"
}

gone() {
	! kill -0 "$1" 2>/dev/null
}

# No sandbox left: no workerd, no cgroup held, none of oys-warm's files.
assert_no_warm() {
	assert_clean
	[ ! -e "$OYS_RUNTIME_DIR/warm" ] || { ls -lR "$OYS_RUNTIME_DIR/warm"; return 1; }
	[ ! -e "$OYS_RUNTIME_DIR/warm.lock" ]
}

# The request log line of the last call (oys-serve logs after answering: wait for it).
last_line() {
	wait_for 10 grep -q '"path":"/api/serverless"' "$T/serve.log"
	grep '"event":"request"' "$T/serve.log" | grep -v '"path":"/status"' | tail -1
}

last_fn_line() {
	wait_for 10 grep -q '"path":"/fn/' "$T/serve.log"
	grep '"event":"request"' "$T/serve.log" | grep '"path":"/fn/' | tail -1
}

warm_lines() {
	grep '"event":"request"' "$T/serve.log" | grep -c '"warm":true' || true
}

workerds() {
	sandboxed_workerd_pids | wc -l
}

# ---- the tool ----

@test "status without oys-warm: 69 and one line; no pool, or more sandboxes than the pool: one line" {
	run -69 --separate-stderr oys-warm status
	[ -z "$output" ]
	[ "$stderr" = "oys-warm: not running (no $OYS_RUNTIME_DIR/warm/control.sock)" ]
	run -64 --separate-stderr oys-warm --count 5
	[ "$stderr" = "oys-warm: --count 5: the pool $OYS_CGROUP_PREFIX has 4 cgroups" ]
	run -78 --separate-stderr env OYS_CGROUP_PREFIX=nopool_ oys-warm
	[ "$stderr" = "oys-warm: no cgroup pool nopool_: run oys-cgroup setup first" ]
	run -64 --separate-stderr oys-warm --count 0
	[ -z "$output" ]
	assert_no_warm
}

@test "sandboxes get ready, each in a cgroup it holds; status counts them and their memory; SIGTERM leaves nothing" {
	warm_start 3
	[ "$(workerds)" = 3 ]
	run -0 oys-warm status --json
	[ "$(jq .count <<<"$output")" = 3 ]
	[ "$(jq '.policies[0].policy' <<<"$output")" = '"none"' ]
	[ "$(jq '.idle_memory.sandboxes' <<<"$output")" = 3 ]
	# an idle sandbox is a whole workerd: megabytes, counted by its cgroup
	[ "$(jq '.idle_memory.mean_bytes > 4000000' <<<"$output")" = true ]
	[ "$(oys-cgroup list --json | jq '[.[] | select(.busy)] | length')" = 3 ]
	[ "$(find "$OYS_RUNTIME_DIR/warm" -name http.sock | wc -l)" = 3 ]
	[ "$(stat -c %a "$OYS_RUNTIME_DIR/warm")" = 700 ]
	run -0 oys-warm status
	[[ ${lines[1]} =~ ^none\ +3\ +0\ +0\ +0$ ]]
	[[ ${lines[2]} == "idle sandbox memory: "*" MiB (mean of 3;"* ]]
	# a second one on the same runtime directory is refused
	run -69 --separate-stderr oys-warm --count 1
	[[ $stderr == "oys-warm: another oys-warm runs on $OYS_RUNTIME_DIR ("*" is held)" ]] || { echo "$stderr"; return 1; }
	warm_stop
	grep -q '"event":"warm stopped"' "$T/warm.log"
	assert_no_warm
}

# The CPU weights of the pool's members (v1 cpu.shares), in member order.
cpu_shares() {
	local i
	for i in 0 1 2 3; do cat "/sys/fs/cgroup/cpu/$OYS_CGROUP_PREFIX$i/cpu.shares"; done | xargs
}
busy_warm() {
	[ "$(oys-warm status --json | jq .busy)" = "$1" ]
}

@test "a sandbox starting or ready yields the CPU (the lowest weight); a request gets the default, warm or cold" {
	[ -d "/sys/fs/cgroup/cpu/${OYS_CGROUP_PREFIX}0" ] || skip "no cgroup v1 cpu controller here (the weight is cpu.weight on v2)"
	id=$(put_fn "$FN/slow.js")
	warm_start 4
	[ "$(cpu_shares)" = "2 2 2 2" ]
	serve_start
	curl -sS -o "$T/warm.out" --data-binary "{\"code_id\": \"$id\", \"input\": {\"ms\": 3000}}" \
		-H 'content-type: application/json' "http://127.0.0.1:$PORT/api/serverless" &
	cpid=$!
	wait_for 20 busy_warm 1
	# the claimed one runs the request at the default weight, the others wait ready at the lowest
	[ "$(cpu_shares | tr ' ' '\n' | sort -n | xargs)" = "2 2 2 1024" ] || { cpu_shares; return 1; }
	wait "$cpid"
	[ "$(jq -c . "$T/warm.out")" = '{"slept":3000}' ]
	warm_stop
	# cold: a reservation gives the cgroup its default weight back
	curl -sS -o "$T/cold.out" --data-binary "{\"code_id\": \"$id\", \"input\": {\"ms\": 3000}}" \
		-H 'content-type: application/json' "http://127.0.0.1:$PORT/api/serverless" &
	cpid=$!
	wait_for 20 workerd_running
	run -0 oys-cgroup list --json
	busy=$(jq -r '.[] | select(.busy) | .name' <<<"$output")
	[ -n "$busy" ]
	[ "$(cat "/sys/fs/cgroup/cpu/$busy/cpu.shares")" = 1024 ]
	wait "$cpid"
	[ "$(jq -c . "$T/cold.out")" = '{"slept":3000}' ]
	[ "$(last_line | jq .warm)" = false ]
	assert_no_warm
}

# ---- through oys-serve ----

@test "one request per process: a value kept in a global is never found again, on the warm path" {
	id=$(put_fn "$FN/global.js")
	warm_start 2
	serve_start
	local markers=""
	for i in 1 2 3 4 5; do
		serverless "$id" '{}'
		[ "$status_code" = 200 ]
		[ "$(jq -r .found <<<"$body")" = null ] || { echo "call $i found $body"; return 1; }
		markers+="$(jq -r .marker <<<"$body")"$'\n'
		[ "$(last_line | jq .warm)" = true ]
	done
	[ "$(sort -u <<<"${markers%$'\n'}" | wc -l)" = 5 ]
	run -0 oys-warm status --json
	[ "$(jq .served <<<"$output")" = 5 ]
	warm_stop
	assert_no_warm
}

# the whole answer minus what differs on every call
answer() {
	curl -sS -i --max-time 60 -H 'content-type: application/json' --data-binary "$2" \
		"http://127.0.0.1:$PORT/fn/$1/" | grep -v -i -e '^X-Oyster-Request-Id:' -e '^X-Oyster-Execution-Ms:'
}

@test "a warm answer equals the cold one byte for byte: ES module, service worker, Wasm" {
	local js sw sloppy wasm
	js=$(put_fn "$EXAMPLES/factors.js")
	sw=$(put_fn "$EXAMPLES/factors-sw.js")
	sloppy=$(put_fn "$FIXTURES/js/sloppy-sw.js")
	wasm=$(put_fn "$(wasm_build "$EXAMPLES/factors.c")")
	serve_start
	for id in "$js" "$sw" "$wasm"; do answer "$id" '{"num": 360}' >"cold-$id"; done
	answer "$js" '{"num": 1}' >"cold-bad-$js"
	answer "$sloppy" '{}' >"cold-$sloppy"
	[ "$(warm_lines)" = 0 ]
	warm_start 2
	for id in "$js" "$sw" "$wasm"; do
		answer "$id" '{"num": 360}' >"warm-$id"
		cmp "cold-$id" "warm-$id" || { diff "cold-$id" "warm-$id"; return 1; }
		[ "$(last_line | jq .warm)" = true ]
	done
	answer "$js" '{"num": 1}' >"warm-bad-$js"
	cmp "cold-bad-$js" "warm-bad-$js"
	answer "$sloppy" '{}' >"warm-$sloppy"
	cmp "cold-$sloppy" "warm-$sloppy"
	[[ $(cat "warm-$sloppy") == *'{"sloppy":true,"topThisIsGlobal":true}' ]]
	grep -q '^HTTP/1.1 200' "warm-$wasm"
	[[ $(cat "warm-$wasm") == *'{"num":360,"factors":[2,2,2,3,3,5]}' ]]
	[ "$(warm_lines)" = 5 ]
	warm_stop
	assert_no_warm
}

@test "a function that throws: the same 500 warm as cold, its stack in the log" {
	id=$(put_fn "$FN/throws.js")
	warm_start 1
	serve_start
	serverless "$id" '{"num": 1}'
	[ "$status_code" = 500 ]
	[ "$body" = "Internal Server Error" ]
	line=$(last_line)
	[ "$(jq .warm <<<"$line")" = true ]
	[[ $(jq -r .console <<<"$line") == *'Uncaught Error: input rejected: {"num":1}'*'at check (worker.js:3:'* ]]
	warm_stop
	assert_no_warm
}

@test "warm: a syntax error is 400 compile_error naming the line, as cold" {
	id=$(put_fn "$FIXTURES/js/syntax-error.js")
	warm_start 1
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = compile_error ]
	[ "$(jq -r .error.message <<<"$body")" = "function does not start: Uncaught SyntaxError: missing ) after argument list at worker.js:2:32" ]
	[ "$(last_line | jq .warm)" = true ]
	warm_stop
	assert_no_warm
}

@test "warm: an endless loop is 504 timeout" {
	id=$(put_fn "$FN/loop.js")
	warm_start 1
	serve_start OYS_TIMEOUT=1
	local start=$SECONDS
	serverless "$id" '{}'
	[ $((SECONDS - start)) -lt 15 ]
	[ "$status_code" = 504 ]
	[ "$(error_code)" = timeout ]
	line=$(last_line)
	[ "$(jq .warm <<<"$line")" = true ]
	[ "$(jq .timeout <<<"$line")" = true ]
	warm_stop
	assert_no_warm
}

@test "warm: a memory bomb is 502 memory_limit, counted by the sandbox's cgroup" {
	id=$(put_fn "$FN/membomb.js")
	warm_start 1
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 502 ]
	[ "$(error_code)" = memory_limit ]
	line=$(last_line)
	[ "$(jq .warm <<<"$line")" = true ]
	[ "$(jq .oom_kill <<<"$line")" = true ]
	warm_stop
	assert_no_warm
}

@test "a claim race: concurrent requests on a small pool never share a sandbox" {
	id=$(put_fn "$FN/global.js")
	warm_start 4
	serve_start
	local i pids=()
	for i in $(seq 1 8); do
		curl -sS --max-time 60 -o "r$i" -w '%{http_code}' -H 'content-type: application/json' \
			--data "{\"code_id\": \"$id\", \"input\": {}}" "http://127.0.0.1:$PORT/api/serverless" >"s$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 1 8); do
		[ "$(cat "s$i")" = 200 ] || { echo "request $i: $(cat "s$i") $(cat "r$i")"; return 1; }
		[ "$(jq -r .found "r$i")" = null ]
	done
	[ "$(cat r* | jq -r .marker | sort -u | wc -l)" = 8 ]
	wait_for 10 bash -c "[ \$(grep -c '\"event\":\"request\"' '$T/serve.log') = 8 ]"
	[ "$(warm_lines)" -ge 4 ]
	warm_stop
	assert_no_warm
}

@test "oys-warm killed mid-load: every request still answered, nothing left, a new one sweeps and serves" {
	slow=$(put_fn "$FN/slow.js")
	warm_start 4
	serve_start
	local i pids=()
	for i in $(seq 1 4); do
		curl -sS --max-time 60 -o "r$i" -w '%{http_code}' -H 'content-type: application/json' \
			--data "{\"code_id\": \"$slow\", \"input\": {\"ms\": 1500}}" "http://127.0.0.1:$PORT/api/serverless" >"s$i" &
		pids+=($!)
	done
	wait_for 20 bash -c "[ \"\$(oys-warm status --json | jq .busy)\" = 4 ]"
	kill -KILL "$WARM_PID"
	wait "${pids[@]}"
	for i in $(seq 1 4); do
		[ "$(cat "s$i")" = 200 ] || { echo "request $i: $(cat "s$i") $(cat "r$i")"; return 1; }
		[ "$(cat "r$i")" = '{"slept":1500}' ]
	done
	# their sandboxes died with oys-warm before a byte of the answer: each ran again, cold
	wait_for 10 bash -c "[ \$(grep -c '\"event\":\"request\"' '$T/serve.log') = 4 ]"
	[ "$(grep '"event":"request"' "$T/serve.log" | grep -c '"warm":false')" = 4 ]
	assert_clean
	# what the dead one left is swept by the next one, which serves
	[ -S "$OYS_RUNTIME_DIR/warm/control.sock" ]
	run -69 oys-warm status
	id=$(put_fn "$FN/global.js")
	warm_start 2
	[ "$(find "$OYS_RUNTIME_DIR/warm" -name http.sock | wc -l)" = 2 ]
	serverless "$id" '{}'
	[ "$status_code" = 200 ]
	[ "$(last_line | jq .warm)" = true ]
	warm_stop
	assert_no_warm
}

@test "SIGTERM while busy: the running request finishes, then nothing is left" {
	slow=$(put_fn "$FN/slow.js")
	warm_start 2
	serve_start
	curl -sS --max-time 60 -o r1 -w '%{http_code}' -H 'content-type: application/json' \
		--data "{\"code_id\": \"$slow\", \"input\": {\"ms\": 1000}}" "http://127.0.0.1:$PORT/api/serverless" >s1 &
	local client=$!
	wait_for 20 bash -c "[ \"\$(oys-warm status --json | jq .busy)\" = 1 ]"
	kill -TERM "$WARM_PID"
	wait "$client"
	[ "$(cat s1)" = 200 ]
	[ "$(cat r1)" = '{"slept":1000}' ]
	wait_for 15 gone "$WARM_PID"
	[ "$(last_line | jq .warm)" = true ]
	assert_no_warm
}

@test "a claimer that dies: oys-warm kills its sandbox and starts another" {
	warm_start 2
	printf 'export default { async fetch() { await new Promise((r) => setTimeout(r, 30000)); return new Response("late"); } };\n' >wait.js
	OYS_TIMEOUT=60 start_bg "$T/run.log" oys-run --code wait.js
	local runner=$BG_PID
	wait_for 20 bash -c "[ \"\$(oys-warm status --json | jq .busy)\" = 1 ]"
	kill -KILL "$runner"
	wait_for 20 warm_ready 2
	[ "$(oys-warm status --json | jq .served)" = 1 ]
	[ "$(workerds)" = 2 ]
	# the next run sweeps the dead one's request files, in a sandbox of its own
	run -0 oys-run --code "$EXAMPLES/factors.js" --json - <<<'{"num": 6}'
	[ "$(jq .warm <<<"$output")" = true ]
	warm_stop
	assert_no_warm
}

@test "warm outbound: none has no network at all; public still refuses loopback, and the sink sees nothing" {
	id=$(put_fn "$FIXTURES/js/outbound.js")
	start_sink
	warm_start 1
	serve_start
	call GET "/fn/$id/?u=http://127.0.0.1:$SINK_PORT/"
	[ "$status_code" = 502 ]
	[[ $body == "refused: This worker is not permitted to access the internet"* ]]
	[ "$(last_fn_line | jq .warm)" = true ]
	warm_stop
	warm_start 1 --outbound public
	serve_start OYS_OUTBOUND=public
	local u
	for u in "127.0.0.1:$SINK_PORT" "[::1]:$SINK_PORT" "localhost:$SINK_PORT" "169.254.169.254"; do
		call GET "/fn/$id/?u=http://$u/"
		[ "$status_code" = 502 ] || { echo "reached $u: $body"; return 1; }
		[[ $body == "refused: "* ]]
		[ "$(last_fn_line | jq .warm)" = true ]
		wait_for 20 warm_ready 1
	done
	grep -q "connecting to 127.0.0.1:$SINK_PORT is not allowed" "$T/serve.log"
	! grep -q 'accepting connection' "$T/sink.log"
	warm_stop
	assert_no_warm
}

@test "no sandbox for the policy, or none of these limits: cold, as before" {
	id=$(put_fn "$FN/global.js")
	warm_start 2 --outbound public
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 200 ]
	[ "$(last_line | jq .warm)" = false ]
	warm_stop
	warm_start 2 --memory 128M
	serve_start
	serverless "$id" '{}'
	[ "$(last_line | jq .warm)" = false ]
	serve_start OYS_MEMORY=128M
	serverless "$id" '{}'
	[ "$(last_line | jq .warm)" = true ]
	warm_stop
	assert_no_warm
}

@test "oys-serve's /status and /metrics show the warm sandboxes and count warm and cold runs" {
	id=$(put_fn "$FN/global.js")
	serve_start
	serverless "$id" '{}'
	warm_start 2
	serverless "$id" '{}'
	wait_for 20 warm_ready 2
	call GET /status
	[ "$(jq -c .warm <<<"$body")" = '{"ready":2,"busy":0,"starting":0}' ]
	[ "$(jq .running <<<"$body")" = 0 ]
	[ "$(jq .free <<<"$body")" = 4 ]
	call GET /metrics
	grep -q '^oys_runs_start_total{start="cold"} 1$' <<<"$body"
	grep -q '^oys_runs_start_total{start="warm"} 1$' <<<"$body"
	grep -q '^oys_warm_sandboxes{state="ready"} 2$' <<<"$body"
	grep -q '^oys_sandboxes{state="free"} 4$' <<<"$body"
	warm_stop
	call GET /status
	[ "$(jq .warm <<<"$body")" = null ]
	assert_no_warm
}

@test "a sandbox that cannot start is started again after a growing delay; requests go cold meanwhile" {
	# where the sandbox's user may run it (the test's own directory is closed to other users)
	bin=$(mktemp -d /tmp/oys-broken.XXXXXX)
	echo "$bin" >>"$T/.rm-dirs"
	chmod 755 "$bin"
	printf '#!/bin/sh\necho "no workerd here" >&2\nexit 3\n' >"$bin/broken"
	chmod 755 "$bin/broken"
	OYS_WORKERD=$bin/broken start_bg "$T/warm.log" oys-warm --count 1
	WARM_PID=$BG_PID
	wait_for 20 grep -q '"retry_ms":2000' "$T/warm.log"
	line=$(grep '"event":"sandbox failed"' "$T/warm.log" | head -1)
	[ "$(jq -r .retry_ms <<<"$line")" = 1000 ]
	[ "$(jq -r .output <<<"$line")" = "no workerd here" ]
	[ "$(oys-warm status --json | jq .ready)" = 0 ]
	id=$(put_fn "$FN/global.js")
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 200 ]
	[ "$(last_line | jq .warm)" = false ]
	warm_stop
	assert_no_warm
}

@test "experimental and unsafe compatibility flags are refused, warm or cold" {
	warm_start 1
	# with --code the flags are the function's own settings: a bundle a run refuses (65)
	run -65 --separate-stderr oys-run --code "$EXAMPLES/factors.js" --compat-flag experimental - <<<'{"num": 4}'
	[[ $stderr == *"compatibility flag 'experimental' is not allowed: functions get no experimental or unsafe features"* ]]
	run -65 --separate-stderr oys-run --code "$EXAMPLES/factors.js" --compat-flag unsafe_eval - <<<'{"num": 4}'
	[[ $stderr == *"compatibility flag 'unsafe_eval' is not allowed"* ]]
	run -0 oys-run --code "$EXAMPLES/factors.js" --json - <<<'{"num": 4}'
	[ "$(jq .warm <<<"$output")" = true ]
	[ "$(jq -r .body <<<"$output")" = '{"num":4,"factors":[2,2]}' ]
	warm_stop
	assert_no_warm
}
