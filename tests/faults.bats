#!/usr/bin/env bats
# Faults: parts of the platform die or fail while requests run, and what a client and an
# operator see: a clear error (status and code) within a bounded time, never a hang, and
# nothing left behind. Real processes killed for real, real servers that are down, slow or
# answer garbage, a real filesystem that is full, a real pool torn down under load.
# (oys-warm killed mid-load is tested on the oys-warm branch.)

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
}
teardown() {
	common_teardown
	pool_teardown
	if [ -f "$T/.mounts" ]; then
		tac "$T/.mounts" | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
		rm -f "$T/.mounts"
	fi
}

# this_oys_serve: the pid of the oys-serve of this test that is running (the one serving).
this_oys_serve() {
	local p
	for p in $(pgrep -x oys-serve 2>/dev/null); do
		tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qxF "OYS_RUNTIME_DIR=$OYS_RUNTIME_DIR" && echo "$p"
	done
}

# post_bg ID INPUT NAME: POST /api/serverless in the background; status in $T/NAME.code, body
# in $T/NAME.body, the milliseconds it took in $T/NAME.ms; its pid in BG_POST.
post_bg() {
	(
		start=$(date +%s%N)
		curl -sS --max-time 60 -o "$T/$3.body" -w '%{http_code}' -H 'content-type: application/json' \
			--data-binary "{\"code_id\": \"$1\", \"input\": $2}" "http://127.0.0.1:$PORT/api/serverless" \
			>"$T/$3.code" 2>"$T/$3.err" || true
		echo $((($(date +%s%N) - start) / 1000000)) >"$T/$3.ms"
	) &
	BG_POST=$!
}

@test "oys-serve killed with SIGKILL mid-request: its workerd dies with it, its cgroup comes back, the next request sweeps its directory, /metrics still reads" {
	pool_setup 1 128M
	loop=$(put_fn "$FN/loop.js")
	factors=$(put_fn "$EXAMPLES/factors.js")
	serve_start OYS_TIMEOUT=60
	post_bg "$loop" '{}' killed
	wait_for 10 workerd_running
	s=$(this_oys_serve)
	[ "$(wc -w <<<"$s")" = 1 ]
	w=$(sandboxed_workerd_pids)
	kill -KILL "$s"
	wait "$BG_POST"
	[ "$(cat "$T/killed.code")" = 000 ] # no answer: the connection closed (curl 52)
	# workerd was the dead process's child: the kernel killed it (parent-death signal)
	wait_for 5 gone "$w"
	wait_for 5 no_workerd
	# the reservation was a lock the kernel dropped with the process: the pool's only
	# cgroup is free again, empty
	wait_for 5 pool_free
	# the dead request's directory is still there, until the next request sweeps it
	[ "$(ls "$OYS_RUNTIME_DIR/req" | grep -c '\.lock$')" = 1 ]
	serverless "$factors" '{"num": 6}'
	[ "$status_code" = 200 ]
	[ "$body" = '{"num":6,"factors":[2,3]}' ]
	wait_for 5 no_request_files
	call GET /metrics
	[ "$status_code" = 200 ]
	grep -q '^oys_requests_total{endpoint="serverless",status="200"} 1$' <<<"$body"
	grep -q '^oys_sandboxes{state="free"} 1$' <<<"$body"
	assert_clean
}

@test "workerd killed from outside mid-request: 502 crashed at once, not a hang, nothing left" {
	pool_setup 2 128M
	loop=$(put_fn "$FN/loop.js")
	serve_start OYS_TIMEOUT=60
	post_bg "$loop" '{}' crash
	wait_for 10 workerd_running
	kill -KILL "$(sandboxed_workerd_pids)"
	wait "$BG_POST"
	[ "$(cat "$T/crash.code")" = 502 ]
	[ "$(jq -r .error.code "$T/crash.body")" = crashed ]
	[ "$(jq -r .error.message "$T/crash.body")" = "function crashed: workerd killed by signal 9" ]
	[ "$(jq -r .error.stage "$T/crash.body")" = execute ]
	[ "$(cat "$T/crash.ms")" -lt 10000 ] # far from the 60 s timeout
	assert_clean
}

# timed_call ID: serverless ID '{}', its time in ms in $ms.
timed_call() {
	local t0
	t0=$(date +%s%N)
	serverless "$1" '{}'
	ms=$((($(date +%s%N) - t0) / 1000000))
}

# expect_fetch_error STATUS CODE MESSAGE-PATTERN MAX-MS: the last call failed so, in time.
expect_fetch_error() {
	[ "$status_code" = "$1" ] || { echo "status $status_code: $body"; return 1; }
	[ "$(error_code)" = "$2" ] || { echo "code: $body"; return 1; }
	[ "$(jq -r .error.stage <<<"$body")" = fetch ]
	[[ $(jq -r .error.message <<<"$body") == $3 ]] || { echo "message: $(jq -r .error.message <<<"$body")"; return 1; }
	[ "$ms" -lt "$4" ] || { echo "took $ms ms"; return 1; }
}

# dead_port: a port nothing listens on (bound and released a moment ago).
dead_port() {
	oys-port
}

@test "the storage server down, slow, or answering garbage: 502 storage_unavailable, 504 storage_timeout, 502 storage_bad_answer, each in bounded time, nothing left" {
	pool_setup 2 128M
	id=$(printf 'export default {}' | sha256sum | cut -d' ' -f1)
	# down: nothing listens
	dead=$(dead_port)
	serve_start OYS_STORE="http://127.0.0.1:$dead" OYS_FETCH_TIMEOUT=1
	timed_call "$id"
	expect_fetch_error 502 storage_unavailable "storage server: http://127.0.0.1:$dead/challenge: *onnect*" 5000
	# slow: it takes the connection and never answers; the fetch timeout (1 s) ends the wait
	slow=$(oys-port)
	start_bg "$T/slow.log" socat "TCP-LISTEN:$slow,bind=127.0.0.1,reuseaddr,fork" 'EXEC:sleep 120'
	wait_port "$slow"
	serve_start OYS_STORE="http://127.0.0.1:$slow" OYS_FETCH_TIMEOUT=1
	timed_call "$id"
	expect_fetch_error 504 storage_timeout "storage server: http://127.0.0.1:$slow/challenge: timed out" 5000
	[ "$ms" -ge 900 ]
	# garbage: no HTTP at all, then HTTP that is not the protocol
	junk=$(oys-port)
	reply_script "$T/junk.sh" 'this is no HTTP at all\r\n'
	start_bg "$T/junk.log" socat "TCP-LISTEN:$junk,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/junk.sh"
	wait_port "$junk"
	serve_start OYS_STORE="http://127.0.0.1:$junk" OYS_FETCH_TIMEOUT=1
	timed_call "$id"
	expect_fetch_error 502 storage_bad_answer "storage server: http://127.0.0.1:$junk/challenge: the answer is not HTTP (*)" 5000
	odd=$(oys-port)
	reply_script "$T/odd.sh" 'HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\n{"a": 1}\n'
	start_bg "$T/odd.log" socat "TCP-LISTEN:$odd,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/odd.sh"
	wait_port "$odd"
	serve_start OYS_STORE="http://127.0.0.1:$odd" OYS_FETCH_TIMEOUT=1
	timed_call "$id"
	expect_fetch_error 502 storage_bad_answer "storage server http://127.0.0.1:$odd answered a challenge without a 32-byte nonce" 5000
	wait_served
	assert_clean
	call GET /metrics
	grep -q '^oys_fetch_failures_total{reason="unavailable"} 1$' <<<"$body"
	grep -q '^oys_fetch_failures_total{reason="timeout"} 1$' <<<"$body"
	grep -q '^oys_fetch_failures_total{reason="bad_answer"} 2$' <<<"$body"
	grep -q '^oys_runs_total 0$' <<<"$body"
}

@test "the attestation server down: 502 attestation_unavailable, not a storage error" {
	pool_setup 2 128M
	id=$(printf 'export default {}' | sha256sum | cut -d' ' -f1)
	# a storage server that hands out challenges (what comes first), and no attestation server
	store=$(oys-port)
	challenge="{\"nonce\":\"$(printf 'ab%.0s' {1..32})\",\"expires_in\":60}"
	reply_script "$T/store.sh" "HTTP/1.1 201 Created\r\nContent-Length: ${#challenge}\r\n\r\n$challenge"
	start_bg "$T/store.log" socat "TCP-LISTEN:$store,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/store.sh"
	wait_port "$store"
	dead=$(dead_port)
	serve_start OYS_STORE="http://127.0.0.1:$store" OYS_ATTESTATION_URL="http://127.0.0.1:$dead" OYS_FETCH_TIMEOUT=1
	timed_call "$id"
	expect_fetch_error 502 attestation_unavailable "attestation: attestation server: http://127.0.0.1:$dead/attestation/raw?public_key=*onnect*" 5000
	wait_served
	assert_clean
	call GET /metrics
	grep -q '^oys_fetch_failures_total{reason="attestation_unavailable"} 1$' <<<"$body"
	grep -q '^oys_errors_total{code="storage_unavailable"} 0$' <<<"$body"
}

@test "the chain RPC down: 502 chain_unavailable, at once" {
	pool_setup 2 128M
	dead=$(dead_port)
	serve_start OYS_RPC_URL="http://127.0.0.1:$dead" OYS_CODE_CONTRACT=0x00000000000000000000000000000000000C0DE0 \
		OYS_FETCH_TIMEOUT=1
	timed_call "0x$(printf '1%.0s' {1..64})"
	expect_fetch_error 502 chain_unavailable "RPC: http://127.0.0.1:$dead: *onnect*" 5000
	wait_served
	assert_clean
	call GET /metrics
	grep -q '^oys_fetch_failures_total{reason="chain_unavailable"} 1$' <<<"$body"
}

# small_fs DIR SIZE: a tmpfs of that size mounted on DIR (created), unmounted in teardown.
small_fs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0755" oys-test "$1" || skip "cannot mount a tmpfs here"
	echo "$1" >>"$T/.mounts"
}

# fill DIR: a file that takes every free block of DIR's filesystem ($DIR/filler).
fill() {
	dd if=/dev/zero of="$1/filler" bs=64k 2>/dev/null || true
	[ "$(stat -f -c %a "$1")" = 0 ]
}

@test "the runtime directory's filesystem full: a clear error before anything runs, and requests work again once there is room" {
	small_fs "$OYS_RUNTIME_DIR" 4m
	pool_setup 2 128M
	factors=$(put_fn "$EXAMPLES/factors.js")
	serve_start
	serverless "$factors" '{"num": 6}'
	[ "$status_code" = 200 ]
	wait_served
	fill "$OYS_RUNTIME_DIR"
	for i in 1 2 3; do
		serverless "$factors" '{"num": 6}'
		[ "$status_code" = 503 ] || { echo "$status_code $body"; return 1; }
		[ "$(error_code)" = no_space ]
		[[ $(jq -r .error.message <<<"$body") == "the runtime directory $OYS_RUNTIME_DIR is full: cannot write "*": No space left on device" ]]
	done
	wait_served
	assert_clean
	# room again
	rm "$OYS_RUNTIME_DIR/filler"
	serverless "$factors" '{"num": 12}'
	[ "$status_code" = 200 ]
	[ "$body" = '{"num":12,"factors":[2,2,3]}' ]
	wait_served
	call GET /metrics
	grep -q '^oys_errors_total{code="no_space"} 3$' <<<"$body"
	grep -q '^oys_requests_total{endpoint="serverless",status="200"} 2$' <<<"$body"
	assert_clean
}

@test "a full filesystem from the first request on: metrics, locks and the request fail cleanly, no crash" {
	small_fs "$OYS_RUNTIME_DIR" 1m
	pool_setup 2 128M
	factors=$(put_fn "$EXAMPLES/factors.js")
	fill "$OYS_RUNTIME_DIR"
	serve_start
	serverless "$factors" '{"num": 6}'
	[ "$status_code" = 503 ] || { echo "$status_code $body"; cat "$T/serve.log"; return 1; }
	[ "$(error_code)" = no_space ]
	# no room for the counters either: /metrics says why, and nothing crashed (a store into
	# a hole of the counters' mapping on a full tmpfs was SIGBUS)
	call GET /metrics
	[ "$status_code" = 503 ] || { echo "$status_code $body"; cat "$T/serve.log"; return 1; }
	[ "$(error_code)" = no_space ]
	[[ $(jq -r .error.message <<<"$body") == "cannot allocate $OYS_RUNTIME_DIR/metrics: No space left on device" ]]
	wait_served
	wait_logged 2
	run -1 grep -i 'signal\|core dumped\|bus error' "$T/serve.log"
	rm "$OYS_RUNTIME_DIR/filler"
	serverless "$factors" '{"num": 6}'
	[ "$status_code" = 200 ]
	wait_served
	call GET /metrics
	[ "$status_code" = 200 ]
	assert_clean
}

@test "a code store on a full filesystem: put fails cleanly and leaves no partial file" {
	small_fs "$T/store" 1m
	export OYS_STORE=$T/store
	small=$(put_fn "$EXAMPLES/factors.js")
	head -c 3000000 /dev/urandom >big.js
	run -74 --separate-stderr oys-store put big.js
	[[ $stderr == "oys-store: cannot write $OYS_STORE/.tmp/put-"*": No space left on device" ]]
	[ -z "$output" ]
	# the store holds what it held: whole files only, each under its hash
	[ "$(ls -A "$OYS_STORE" | grep -v '^\.' | tr '\n' ' ')" = "$small " ]
	[ -z "$(find "$OYS_STORE" -type f ! -name "$small" ! -name .lock)" ]
	[ -z "$(ls -A "$OYS_STORE/.tmp")" ]
	oys-store get "$small" | cmp - "$EXAMPLES/factors.js"
	[ "$(sha256sum <"$OYS_STORE/$small" | cut -d' ' -f1)" = "$small" ]
	# the same through a storage server (oys-store serve behind socat): 507, nothing partial
	port=$(oys-port)
	start_bg "$T/store.log" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:oys-store serve --open-uploads"
	wait_port "$port"
	status_code=$(curl -sS -o "$T/b" -w '%{http_code}' --data-binary @big.js "http://127.0.0.1:$port/code")
	[ "$status_code" = 507 ] || { echo "$status_code $(cat "$T/b")"; return 1; }
	[ "$(ls -A "$OYS_STORE" | grep -v '^\.' | tr '\n' ' ')" = "$small " ]
	[ -z "$(find "$OYS_STORE" -type f ! -name "$small" ! -name .lock)" ]
	[ -z "$(ls -A "$OYS_STORE/.tmp")" ]
}

@test "the pool torn down and set up again while requests run: each answer is its function's or a clear error, and no request touches another's sandbox" {
	pool_setup 4 128M
	slow=$(put_fn "$FN/slow.js")
	factors=$(put_fn "$EXAMPLES/factors.js")
	serve_start
	mkdir -p "$T/load"
	export T PORT slow factors
	# 90 calls, 8 at a time: slow ones (600 ms) and quick ones, while the pool goes and comes back
	seq 1 90 | xargs -P 8 -I{} bash -c 'if [ $(({} % 3)) = 0 ]; then b="{\"code_id\": \"$slow\", \"input\": {\"ms\": 600}}"; \
		else b="{\"code_id\": \"$factors\", \"input\": {\"num\": $(({} + 1))}}"; fi
		curl -sS --max-time 60 -o "$T/load/{}.body" -w "%{http_code}" -H "content-type: application/json" \
		--data-binary "$b" "http://127.0.0.1:$PORT/api/serverless" >"$T/load/{}.code" 2>/dev/null || true' &
	lpid=$!
	rounds=0
	for _ in 1 2 3; do
		wait_for 20 workerd_running || break # (the load may be over)
		oys-cgroup teardown --force
		sleep 0.1
		oys-cgroup setup --count 4 --memory 128M >/dev/null
		rounds=$((rounds + 1))
		sleep 1
	done
	wait "$lpid"
	[ "$rounds" -ge 1 ]
	ok=0 gone=0 nopool=0 busy=0
	for i in $(seq 1 90); do
		c=$(cat "$T/load/$i.code")
		b=$(cat "$T/load/$i.body")
		if [ $((i % 3)) = 0 ]; then want='{"slept":600}'; else want="{\"num\":$((i + 1)),\"factors\":["; fi
		[ "$c" = 200 ] && [[ $b == "$want"* ]] && { ok=$((ok + 1)); continue; }
		case $c/$(jq -r .error.code <<<"$b" 2>/dev/null)/$(jq -r .error.message <<<"$b" 2>/dev/null) in
		"502/sandbox_gone/the sandbox pool was torn down during the request (cgroup $OYS_CGROUP_PREFIX"[0-3]" removed)") gone=$((gone + 1)) ;;
		"500/config/no cgroup pool $OYS_CGROUP_PREFIX (run oys-cgroup setup)") nopool=$((nopool + 1)) ;;
		429/no_sandbox/*) busy=$((busy + 1)) ;;
		*) echo "#$i: $c $b"; return 1 ;;
		esac
	done
	echo "# pool torn down $rounds times under load: $ok answered by their function, $gone cut (sandbox_gone), $nopool found no pool, $busy no free sandbox" >&3
	[ "$gone" -ge 1 ]
	[ "$ok" -ge 30 ]
	wait_served
	assert_clean
}
