#!/usr/bin/env bats
# oys-serve behind real socat on 127.0.0.1: the HTTP API end to end, real workerd, real
# cgroups, and after every request, whatever its end: no workerd, no files, every cgroup free.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
	pool_setup 4 128M
	FACTORS=$(put_fn "$EXAMPLES/factors.js")
}
teardown() {
	common_teardown
	pool_teardown
}

@test "POST /api/serverless runs the factors example and adds the X-Oyster headers" {
	serve_start
	serverless "$FACTORS" '{"num": 100}'
	[ "$status_code" = 200 ]
	[ "$body" = '{"num":100,"factors":[2,2,5,5]}' ]
	grep -qi '^content-type: application/json' <<<"$headers"
	grep -qE '^X-Oyster-Request-Id: [0-9a-f]{32}$' <<<"$headers"
	grep -q "^X-Oyster-Code-Id: $FACTORS\$" <<<"$headers"
	grep -qE '^X-Oyster-Execution-Ms: [0-9]+\.[0-9]$' <<<"$headers"
	grep -q '^Connection: close' <<<"$headers"
	assert_clean
}

@test "the same function through /fn/<code_id>/" {
	serve_start
	call POST "/fn/$FACTORS/" '{"num": 100}'
	[ "$status_code" = 200 ]
	[ "$body" = '{"num":100,"factors":[2,2,5,5]}' ]
	call POST "/fn/$FACTORS" '{"num": 7}'
	[ "$body" = '{"num":7,"factors":[7]}' ]
	assert_clean
}

@test "/fn/ passes method, path, query, headers and body through, and the answer back" {
	id=$(put_fn "$FN/echo.js")
	serve_start
	status_code=$(curl -sS -X PATCH -H 'X-Custom: 1' -H 'Content-Type: text/plain' --data-binary 'raw body' \
		-D "$T/h" -o "$T/b" -w '%{http_code}' "http://127.0.0.1:$PORT/fn/$id/some/path?a=1&b=two")
	[ "$status_code" = 200 ]
	body=$(cat "$T/b")
	[ "$(jq -r .method <<<"$body")" = PATCH ]
	[ "$(jq -r .path <<<"$body")" = /some/path ]
	[ "$(jq -r .query <<<"$body")" = '?a=1&b=two' ]
	[ "$(jq -r '.headers["x-custom"]' <<<"$body")" = 1 ]
	[ "$(jq -r '.headers["x-forwarded-for"]' <<<"$body")" = 127.0.0.1 ]
	[ "$(jq -r .body <<<"$body")" = 'raw body' ]
	grep -qi '^x-echo: yes' "$T/h"
}

@test "the function's status and content type come back as they are" {
	id=$(put_fn "$FN/status.js")
	serve_start
	serverless "$id" '{"status": 418, "type": "text/x-teapot", "body": "short and stout"}'
	[ "$status_code" = 418 ]
	[ "$body" = "short and stout" ]
	grep -qi '^content-type: text/x-teapot' <<<"$headers"
}

@test "an unknown code_id is 404 not_found, as JSON with the request id" {
	serve_start
	id=$(printf 'nothing' | sha256sum | cut -d' ' -f1)
	serverless "$id" '{}'
	[ "$status_code" = 404 ]
	[ "$(error_code)" = not_found ]
	[ "$(jq -r .error.stage <<<"$body")" = fetch ]
	[[ $(jq -r .error.request_id <<<"$body") =~ ^[0-9a-f]{32}$ ]]
	assert_clean
}

@test "malformed JSON, a missing code_id, a malformed code_id: 400 each" {
	serve_start
	call POST /api/serverless '{"code_id": '
	[ "$status_code" = 400 ]
	[ "$(error_code)" = bad_json ]
	call POST /api/serverless '{"input": 1}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = bad_request ]
	[ "$(jq -r .error.message <<<"$body")" = "code_id missing or not a string" ]
	call POST /api/serverless '{"code_id": "../../etc/passwd", "input": 1}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = bad_code_id ]
	call POST /fn/ABC/x '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = bad_code_id ]
	assert_clean
}

@test "code with a syntax error: 400 compile_error with the line" {
	id=$(put_fn "$FIXTURES/js/syntax-error.js")
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = compile_error ]
	[ "$(jq -r .error.message <<<"$body")" = "function does not start: Uncaught SyntaxError: missing ) after argument list at worker.js:2:32" ]
	assert_clean
}

@test "a function that throws gives its own 500, and its stack reaches the log" {
	id=$(put_fn "$FN/throws.js")
	serve_start
	serverless "$id" '{"num": 1}'
	[ "$status_code" = 500 ]
	[ "$body" = "Internal Server Error" ]
	wait_logged 1
	line=$(last_logged)
	[[ $(jq -r .console <<<"$line") == *'Uncaught Error: input rejected: {"num":1}'*'at check (worker.js:3:'* ]]
	assert_clean
}

@test "an endless loop: 504 timeout within the timeout and some slack" {
	expect_loop_timeout "$(put_fn "$FN/loop.js")"
}

@test "a memory bomb: 502 memory_limit, counted by the cgroup" {
	id=$(put_fn "$FN/membomb.js")
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 502 ]
	[ "$(error_code)" = memory_limit ]
	wait_logged 1
	line=$(last_logged)
	[ "$(jq -r .oom_kill <<<"$line")" = true ]
	assert_clean
}

@test "pool exhausted: 429 with Retry-After" {
	for i in 1 2 3 4; do start_bg "$T/r$i.log" oys-cgroup reserve --exec -- sleep 60; done
	wait_for 10 bash -c "[ \"\$(oys-cgroup list --json | jq '[.[] | select(.busy)] | length')\" = 4 ]"
	serve_start
	serverless "$FACTORS" '{"num": 4}'
	[ "$status_code" = 429 ]
	[ "$(error_code)" = no_sandbox ]
	grep -q '^Retry-After: 1' <<<"$headers"
	common_teardown
	assert_clean
}

@test "draining: /unregister makes new requests 503, /register takes them again" {
	serve_start
	call POST /unregister
	[ "$status_code" = 200 ]
	[ "$body" = '{"draining":true}' ]
	serverless "$FACTORS" '{"num": 4}'
	[ "$status_code" = 503 ]
	[ "$(error_code)" = draining ]
	call GET /healthz
	[ "$status_code" = 503 ]
	call GET /status
	[ "$(jq -r .draining <<<"$body")" = true ]
	call POST /register
	serverless "$FACTORS" '{"num": 4}'
	[ "$status_code" = 200 ]
	assert_clean
}

@test "the admin endpoints want the operator token when one is set" {
	serve_start OYS_ADMIN_TOKEN=s3cret
	call POST /unregister
	[ "$status_code" = 403 ]
	[ "$(error_code)" = forbidden ]
	status_code=$(curl -sS -o /dev/null -w '%{http_code}' --data-binary '' -H 'Authorization: Bearer s3cret' \
		"http://127.0.0.1:$PORT/unregister")
	[ "$status_code" = 200 ]
	# without a token, a peer that is not loopback is refused
	run -0 --separate-stderr env TCPREMOTEIP=10.1.2.3 PROTO=TCP oys-serve <<<$'POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 403 Forbidden\r' ]]
}

@test "an oversized body is 413 before it is read; a wrong method 405; no route 404" {
	serve_start OYS_MAX_BODY=1K
	head -c 5000 /dev/zero | tr '\0' 'x' >big
	status_code=$(curl -sS -o "$T/b" -w '%{http_code}' -H 'content-type: application/json' \
		--data-binary @big "http://127.0.0.1:$PORT/api/serverless")
	[ "$status_code" = 413 ]
	[ "$(jq -r .error.code "$T/b")" = too_large ]
	call GET /api/serverless
	[ "$status_code" = 405 ]
	grep -q '^Allow: POST' <<<"$headers"
	call GET /nowhere
	[ "$status_code" = 404 ]
	[ "$(error_code)" = no_route ]
}

@test "a slow client is cut off with 408" {
	serve_start OYS_READ_TIMEOUT=1
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/serverless HTTP/1.1\r\nHost: x\r\n' >&5
	start=$SECONDS
	run -0 timeout 10 cat <&5
	exec 5>&-
	[ $((SECONDS - start)) -lt 8 ]
	[[ ${lines[0]} == $'HTTP/1.1 408 Request Timeout\r' ]]
	assert_clean
}

@test "a chunked request body works; ambiguous framing is refused" {
	serve_start
	status_code=$(curl -sS -o "$T/b" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		-H 'content-type: application/json' --data-binary "{\"code_id\": \"$FACTORS\", \"input\": {\"num\": 8}}" \
		"http://127.0.0.1:$PORT/api/serverless")
	[ "$status_code" = 200 ]
	[ "$(cat "$T/b")" = '{"num":8,"factors":[2,2,2]}' ]
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /fn/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' "$FACTORS" >&5
	run -0 timeout 10 cat <&5
	exec 5>&-
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'GET /healthz HTTP/1.1\nHost: x\n\n' >&5
	run -0 timeout 10 cat <&5
	exec 5>&-
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	assert_clean
}

@test "a NUL byte in the request head is 400 JSON, never a crash" {
	serve_start
	run -0 raw_request "$PORT" 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	[ "$(jq -r .error.code <<<"${lines[-1]}")" = bad_request ]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "NUL byte in request head" ]
	run -0 raw_request "$PORT" 'GET /heal\0thz HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 400 Bad Request\r' ]]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "NUL byte in request head" ]
	# Each was answered and logged by a live oys-serve (the log line comes after the answer).
	logged_twice() { [ "$(grep -c '"status":400,"error":"bad_request","message":"NUL byte in request head"' serve.log)" = 2 ]; }
	wait_for 10 logged_twice
	call GET /healthz
	[ "$status_code" = 200 ]
	assert_clean
}

@test "a response over the limit is 502, a body cut by the hang detector is 502" {
	big=$(put_fn "$FN/big.js")
	hang=$(put_fn "$FN/hang-stream.js")
	serve_start OYS_MAX_RESPONSE=1M
	call GET "/fn/$big/?mib=2"
	[ "$status_code" = 502 ]
	[ "$(error_code)" = response_too_large ]
	call GET "/fn/$hang/"
	[ "$status_code" = 502 ]
	[ "$(error_code)" = incomplete_response ]
	assert_clean
}

@test "a client that goes away mid-run: workerd is stopped long before the timeout" {
	id=$(put_fn "$FN/loop.js")
	serve_start OYS_TIMEOUT=60
	curl -sS --max-time 60 -H 'content-type: application/json' \
		--data-binary "{\"code_id\": \"$id\", \"input\": {}}" "http://127.0.0.1:$PORT/api/serverless" >/dev/null 2>&1 &
	cpid=$!
	wait_for 10 workerd_running
	kill "$cpid"
	wait "$cpid" || true
	wait_for 10 no_workerd
	assert_clean
	grep -q '"error":"client_gone"' "$T/serve.log" || { cat "$T/serve.log"; return 1; }
}

@test "50 concurrent requests on a pool of 4: each answered 200 or 429, nothing left" {
	slow=$(put_fn "$FN/slow.js")
	serve_start
	pids=()
	for i in $(seq 1 50); do
		curl -sS --max-time 60 -o "$T/out.$i" -w '%{http_code}\n' -H 'content-type: application/json' \
			--data-binary "{\"code_id\": \"$slow\", \"input\": {\"ms\": 300}}" \
			"http://127.0.0.1:$PORT/api/serverless" >"$T/code.$i" 2>/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	ok=0 busy=0
	for i in $(seq 1 50); do
		c=$(cat "$T/code.$i")
		case $c in
		200) [ "$(cat "$T/out.$i")" = '{"slept":300}' ] && ok=$((ok + 1)) ;;
		429) [ "$(jq -r .error.code "$T/out.$i")" = no_sandbox ] && busy=$((busy + 1)) ;;
		*) echo "request $i: $c $(cat "$T/out.$i")"; return 1 ;;
		esac
	done
	[ $((ok + busy)) = 50 ]
	[ "$ok" -ge 4 ]
	assert_clean
}

@test "400 requests, 16 at a time, on a pool of 4: a 429 only after the whole wait for a sandbox, and the counters say so" {
	slow=$(put_fn "$FN/slow.js")
	serve_start
	mkdir -p "$T/load"
	export T PORT FACTORS slow
	# quick calls, and every 20th one holding its sandbox for 1 s
	seq 1 400 | xargs -P 16 -I{} bash -c 'if [ $(({} % 20)) = 0 ]; then b="{\"code_id\": \"$slow\", \"input\": {\"ms\": 1000}}"; \
		else b="{\"code_id\": \"$FACTORS\", \"input\": {\"num\": $(({} + 1))}}"; fi
		curl -sS --max-time 60 -o "$T/load/{}.body" -w "%{http_code}" -H "content-type: application/json" \
		--data-binary "$b" "http://127.0.0.1:$PORT/api/serverless" >"$T/load/{}.code" 2>/dev/null || true'
	ok=0 busy=0
	for i in $(seq 1 400); do
		c=$(cat "$T/load/$i.code")
		b=$(cat "$T/load/$i.body")
		if [ $((i % 20)) = 0 ]; then want='{"slept":1000}'; else want="{\"num\":$((i + 1)),\"factors\":["; fi
		if [ "$c" = 200 ] && [[ $b == "$want"* ]]; then
			ok=$((ok + 1))
		elif [ "$c" = 429 ] && [ "$(jq -r .error.code <<<"$b")" = no_sandbox ]; then
			busy=$((busy + 1))
		else
			echo "request $i: $c $b"
			return 1
		fi
	done
	wait_served
	wait_logged 400
	# every 429 waited the whole second oys-serve gives a request for a sandbox
	[ "$(grep '"event":"request"' "$T/serve.log" | jq -s '[.[] | select(.status == 429)] | length')" = "$busy" ]
	short=$(grep '"event":"request"' "$T/serve.log" | jq -c 'select(.status == 429 and (.sandbox_wait_ms // 0) < 1000)')
	[ -z "$short" ] || { echo "429 before the whole wait: $short"; return 1; }
	waited=$(grep '"event":"request"' "$T/serve.log" | jq -s '[.[] | select(.sandbox_wait_ms != null)] | length')
	echo "# 400 requests, 16 at a time, pool of 4: $ok answered, $busy got 429 after the whole wait; $waited waited for a sandbox" >&3
	call GET /metrics
	grep -qx "oys_sandbox_waits_failed_total $busy" <<<"$body"
	grep -qx "oys_sandbox_waits_total $waited" <<<"$body"
	grep -qx "oys_errors_total{code=\"no_sandbox\"} $busy" <<<"$body"
	grep -qx "oys_requests_total{endpoint=\"serverless\",status=\"429\"} $busy" <<<"$body"
	grep -qx "oys_requests_total{endpoint=\"serverless\",status=\"200\"} $ok" <<<"$body"
	assert_clean
}

@test "one JSON log line per request, with stages, memory and the console's tail" {
	id=$(put_fn "$FN/console.js")
	serve_start
	call GET "/fn/$id/"
	[ "$body" = done ]
	wait_logged 1 # written after the teardown, after the answer
	line=$(last_logged)
	[ "$(jq -r .code_id <<<"$line")" = "$id" ]
	[ "$(jq -r .status <<<"$line")" = 200 ]
	[ "$(jq -r .peer <<<"$line")" = "127.0.0.1:$(jq -r '.peer | split(":")[1]' <<<"$line")" ]
	jq -e '.ms.fetch >= 0 and .ms.config >= 0 and .ms.cgroup >= 0 and .ms.start > 0 and .ms.execute >= 0' <<<"$line"
	jq -e '.memory_peak > 1000000 and .cpu_ms > 0 and .oom_kill == false and .timeout == false' <<<"$line"
	[[ $(jq -r .console <<<"$line") == *"first line of output"*"a warning on stderr"* ]]
	[[ $(jq -r .request_id <<<"$line") =~ ^[0-9a-f]{32}$ ]]
}

@test "/healthz, /status and /metrics describe the host" {
	serve_start
	call GET /healthz
	[ "$status_code" = 200 ]
	[ "$body" = ok ]
	call GET /status
	[ "$(jq -c '{running, free, total, draining}' <<<"$body")" = '{"running":0,"free":4,"total":4,"draining":false}' ]
	serverless "$FACTORS" '{"num": 6}'
	wait_served # counted after the teardown, after the answer
	call GET /metrics
	grep -q '^oys_requests_total{endpoint="serverless",status="200"} 1$' <<<"$body"
	grep -q '^oys_sandboxes{state="free"} 4$' <<<"$body"
	grep -q '^oys_draining 0$' <<<"$body"
}

@test "oys-serve answers a request on stdin with no socket at all" {
	run -0 --separate-stderr oys-serve <<<$'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]]
	[[ ${lines[-1]} == ok ]]
}

@test "--listen serves without socat" {
	PORT=$(oys-port)
	start_bg "$T/listen.log" oys-serve --listen "127.0.0.1:$PORT"
	wait_port "$PORT"
	serverless "$FACTORS" '{"num": 9}'
	[ "$body" = '{"num":9,"factors":[3,3]}' ]
	assert_clean
}

# stuck_client PATH: a client (socat with a tiny receive buffer, its output piped into a reader
# that takes the first bytes and then never reads again) that sends GET PATH and stops reading
# once the answer has begun. Its first bytes land in $T/stuck.head; STUCK_PID is its group.
stuck_client() {
	start_bg "$T/stuck.log" bash -c "{ printf 'GET $1 HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 120; } |
		socat - TCP:127.0.0.1:$PORT,rcvbuf=4096 | { head -c 15 >'$T/stuck.head'; sleep 120; }"
	STUCK_PID=$BG_PID
}

@test "a client that stops reading holds no sandbox: the next request is served, its oys-serve leaves at the write deadline" {
	pool_setup 1 128M
	big=$(put_fn "$FN/big.js")
	serve_start OYS_WRITE_TIMEOUT=2
	# 15 MiB: more than the kernel buffers between oys-serve and the stuck reader take
	stuck_client "/fn/$big/?mib=15"
	wait_for 30 grep -q '^HTTP/1.1 200' "$T/stuck.head"
	# the answer has begun: the sandbox is given back while the client does not read
	serverless "$FACTORS" '{"num": 4}'
	[ "$status_code" = 200 ] || { echo "next request: $status_code $body"; return 1; }
	[ "$body" = '{"num":4,"factors":[2,2]}' ]
	assert_clean_but_stuck() { no_workerd && no_request_files && pool_free; }
	wait_for 5 assert_clean_but_stuck
	# the stuck one is dropped at the deadline and says so
	wait_for 20 grep -q '"error":"write_timeout"' "$T/serve.log"
	line=$(grep '"error":"write_timeout"' "$T/serve.log")
	[ "$(jq -r .status <<<"$line")" = 200 ]
	[[ $(jq -r .message <<<"$line") == "the client took no part of the answer for 2 s ("*" of 15.0 MiB sent): dropped" ]]
	wait_for 5 no_oys_serve
	call GET /metrics
	grep -q '^oys_errors_total{code="write_timeout"} 1$' <<<"$body"
	kill -TERM -- "-$STUCK_PID"
	assert_clean
}

@test "a client that goes away with its answer half taken: logged client_gone at once, not at the deadline" {
	big=$(put_fn "$FN/big.js")
	serve_start OYS_WRITE_TIMEOUT=60
	stuck_client "/fn/$big/?mib=15"
	wait_for 30 grep -q '^HTTP/1.1 200' "$T/stuck.head"
	wait_for 10 no_workerd # the sandbox is given back while the answer waits
	kill -TERM -- "-$STUCK_PID"
	wait_for 20 grep -q '"error":"client_gone"' "$T/serve.log"
	line=$(grep '"error":"client_gone"' "$T/serve.log")
	[[ $(jq -r .message <<<"$line") == "the client closed the connection after "*" of 15.0 MiB" ]]
	jq -e '.ms.request < 30000' <<<"$line"
	assert_clean
}

@test "--listen --max-connections: a connection beyond the cap waits for a free slot" {
	PORT=$(oys-port)
	start_bg "$T/listen.log" oys-serve --listen "127.0.0.1:$PORT" --max-connections 1 --read-timeout 2
	wait_port "$PORT"
	exec 5<>"/dev/tcp/127.0.0.1/$PORT" # says nothing: served until its read timeout
	call GET /healthz
	[ "$status_code" = 200 ]
	run -0 timeout 10 cat <&5
	exec 5>&-
	[[ ${lines[0]} == $'HTTP/1.1 408 Request Timeout\r' ]]
	# one at a time: the silent connection was answered (and logged) before the next was taken
	wait_logged 2 "$T/listen.log"
	[ "$(grep -o '"status":[0-9]*' "$T/listen.log" | tr '\n' ' ')" = '"status":408 "status":200 ' ]
	run -64 --separate-stderr oys-serve --max-connections 0
	[ "$stderr" = "oys-serve: --max-connections: '0' is not a whole number from 1 to 65536" ]
}

# admin ENV...: POST /unregister on stdin with the environment given; prints the status line
# and the log line's peer.
admin() {
	env "$@" oys-serve <<<$'POST /unregister HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' 2>"$T/admin.err" |
		head -1 | tr -d '\r'
	jq -r .peer "$T/admin.err"
}

@test "the admin token is checked whole: a prefix, an extension, another token of its length are refused" {
	tok=s3cret-0123456789
	for bad in s3cret-012345678 s3cret-01234567890 s3cret-0123456780 S3CRET-0123456789 ''; do
		status_code=$(printf 'POST /unregister HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\n\r\n' "$bad" |
			OYS_ADMIN_TOKEN=$tok oys-serve 2>/dev/null | head -1 | cut -d' ' -f2)
		[ "$status_code" = 403 ] || { echo "token '$bad': $status_code"; return 1; }
	done
	status_code=$(printf 'POST /unregister HTTP/1.1\r\nHost: x\r\nAuthorization: bearer %s\r\nContent-Length: 0\r\n\r\n' "$tok" |
		OYS_ADMIN_TOKEN=$tok oys-serve 2>/dev/null | head -1 | cut -d' ' -f2)
	[ "$status_code" = 200 ]
}

@test "no peer information at all is a remote peer, unless the operator says otherwise" {
	# printf ... | oys-serve: the read-only endpoints answer, the admin ones want a token
	run -0 --separate-stderr oys-serve <<<$'GET /status HTTP/1.1\r\nHost: x\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]]
	run -0 admin
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	[ "${lines[1]}" = - ]
	run -0 admin OYS_TRUST_NO_PEER=1
	[ "${lines[0]}" = "HTTP/1.1 200 OK" ]
	[ -e "$OYS_RUNTIME_DIR/draining" ]
	run -0 admin OYS_TRUST_NO_PEER=0
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	run -0 --separate-stderr oys-serve --trust-no-peer <<<$'POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]]
	[ ! -e "$OYS_RUNTIME_DIR/draining" ]
	run -78 --separate-stderr env OYS_TRUST_NO_PEER=yes oys-serve </dev/null
	[ "$stderr" = "oys-serve: OYS_TRUST_NO_PEER: 'yes' is not 0 or 1" ]
}

@test "a VSOCK peer (socat's SOCAT_PEERADDR is its CID) is never loopback, whatever its CID" {
	# socat sets SOCAT_PEERADDR to the CID in decimal and SOCAT_PEERPORT to the port
	# (xio-vsock.c); CID 1 is VSOCK's own loopback, 3 the parent instance of an enclave
	for cid in 1 2 3 127 2130706433; do
		run -0 admin SOCAT_PEERADDR=$cid SOCAT_PEERPORT=5000 OYS_TRUST_NO_PEER=1
		[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ] || { echo "CID $cid: ${lines[0]}"; return 1; }
		[ "${lines[1]}" = "vsock:$cid:5000" ]
	done
	# with the token it is allowed, as any peer is
	run -0 --separate-stderr env SOCAT_PEERADDR=3 SOCAT_PEERPORT=5000 OYS_ADMIN_TOKEN=t oys-serve \
		<<<$'POST /unregister HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: 0\r\n\r\n'
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]]
	# and a function behind a VSOCK peer gets no X-Forwarded-For (there is no IP address)
	id=$(put_fn "$FN/echo.js")
	run -0 --separate-stderr env SOCAT_PEERADDR=3 SOCAT_PEERPORT=5000 oys-serve \
		<<<$"GET /fn/$id/ HTTP/1.1"$'\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n'
	[ "$(jq -r '.headers["x-forwarded-for"]' <<<"${lines[-1]}")" = null ]
}

@test "peers are read as addresses: socat's IPv6 spelling, mapped loopback, and what is no address" {
	# socat writes IPv6 peers in brackets and in full (xio-ip6.c)
	run -0 admin 'SOCAT_PEERADDR=[0000:0000:0000:0000:0000:0000:0000:0001]' SOCAT_PEERPORT=4000
	[ "${lines[0]}" = "HTTP/1.1 200 OK" ]
	[ "${lines[1]}" = "[::1]:4000" ]
	run -0 admin 'SOCAT_PEERADDR=[0000:0000:0000:0000:0000:ffff:7f00:0001]' SOCAT_PEERPORT=4000
	[ "${lines[0]}" = "HTTP/1.1 200 OK" ]
	run -0 admin 'SOCAT_PEERADDR=[2001:0db8:0000:0000:0000:0000:0000:0001]' SOCAT_PEERPORT=4000
	[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ]
	[ "${lines[1]}" = "[2001:db8::1]:4000" ]
	run -0 admin PROTO=TCP TCPREMOTEIP=127.1.2.3 TCPREMOTEPORT=1
	[ "${lines[0]}" = "HTTP/1.1 200 OK" ]
	# a UNIX socket's path, or a spelling that is no address, is no loopback
	for a in /run/oys.sock 127.0.0.1.example.com 127 0x7f000001 localhost; do
		run -0 admin PROTO=TCP TCPREMOTEIP=$a TCPREMOTEPORT=1 OYS_TRUST_NO_PEER=1
		[ "${lines[0]}" = "HTTP/1.1 403 Forbidden" ] || { echo "$a: ${lines[0]}"; return 1; }
		[ "${lines[1]}" = unknown ]
	done
}

@test "every header of the function comes back, not only the first 64" {
	id=$(put_fn "$FN/headers.js")
	serve_start
	call GET "/fn/$id/?n=200"
	[ "$status_code" = 200 ]
	[ "$body" = "200 headers" ]
	[ "$(grep -c '^x-h-[0-9]*: [0-9]*$' <<<"$headers")" = 200 ]
	grep -q '^x-h-199: 199$' <<<"$headers"
	grep -qi '^content-type: text/plain' <<<"$headers"
	grep -q '^X-Oyster-Request-Id: ' <<<"$headers"
}

@test "a Content-Type with a control character is 502 bad_response, as any such header is" {
	id=$(put_fn "$FN/status.js")
	serve_start
	for t in 'text/x\u0001y' 'text/x\u007fy'; do
		serverless "$id" "{\"status\": 200, \"type\": \"$t\"}"
		[ "$status_code" = 502 ] || { echo "$t: $status_code $headers"; return 1; }
		[ "$(error_code)" = bad_response ]
	done
	# bytes beyond ASCII are field content (obs-text): passed as they are
	serverless "$id" '{"status": 200, "type": "text/\u00e9"}'
	[ "$status_code" = 200 ]
	grep -qi $'^content-type: text/\xc3\xa9$' <<<"$headers"
	assert_clean
}

@test "a JSON body with a raw NUL byte is 400 bad_json, wherever the NUL is" {
	serve_start
	for body in '{"code_id": "%s", "input": "a\0b"}' '{"code_id": "%s", "input": 1}\0' '\0{"code_id": "%s"}'; do
		# shellcheck disable=SC2059 # the format is the body
		printf "$body" "$FACTORS" >"$T/nul.json"
		status_code=$(curl -sS -o "$T/b" -w '%{http_code}' -H 'content-type: application/json' \
			--data-binary @"$T/nul.json" "http://127.0.0.1:$PORT/api/serverless")
		[ "$status_code" = 400 ] || { echo "$body: $status_code $(cat "$T/b")"; return 1; }
		[ "$(jq -r .error.code "$T/b")" = bad_json ]
		[[ $(jq -r .error.message "$T/b") == "bad JSON: a raw NUL byte at byte "* ]]
	done
	# written as \u0000 it is JSON, and reaches the function
	serverless "$FACTORS" '{"num": 12, "note": "a\u0000b"}'
	[ "$status_code" = 200 ]
	assert_clean
}

@test "a body slower than the read timeout is cut off with 408, however fast its head was" {
	serve_start OYS_READ_TIMEOUT=1
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/serverless HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"code_id": ' >&5
	start=$SECONDS
	run -0 timeout 10 cat <&5
	exec 5>&-
	[ $((SECONDS - start)) -lt 8 ]
	[[ ${lines[0]} == $'HTTP/1.1 408 Request Timeout\r' ]]
	[ "$(jq -r .error.code <<<"${lines[-1]}")" = timeout_reading ]
	[ "$(jq -r .error.message <<<"${lines[-1]}")" = "client too slow: request body did not arrive in time" ]
	assert_clean
}
