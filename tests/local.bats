#!/usr/bin/env bats
# The local platform under supervisord (Debian's package): the template starts and serves, and
# share/local/up (the README's first command, after deps and build) prints a curl line that
# works; share/local/down stops everything.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
	export OYS_CGROUP_PREFIX="oyst${BATS_TEST_NUMBER}l$$_"
	echo "$OYS_CGROUP_PREFIX $OYS_RUNTIME_DIR" >>"$BATS_TEST_TMPDIR/.pools"
	export OYS_BIN=${OYS_TEST_BIN:-$ROOT/bin}
	export OYS_STATE=$T/state OYS_LOCAL_STATE=$T/state
	export OYS_PORT=$(oys-port) OYS_AGENT_PORT=$(oys-port) OYS_ATTEST_PORT=$(oys-port)
	export OYS_ATTESTATION_URL=http://127.0.0.1:$OYS_ATTEST_PORT OYS_MAX_CONNECTIONS=8
	mkdir -p "$OYS_STATE"
}
teardown() {
	[ -f "$OYS_STATE/supervisord.pid" ] && "$ROOT/share/local/down" >/dev/null 2>&1
	common_teardown
	pool_teardown
}

@test "the supervisord template starts attestation, oys-serve, oys-warm and the agent, and serves" {
	oys-cgroup setup --count 2 >/dev/null
	id=$(put_fn "$EXAMPLES/factors.js")
	start_bg "$T/supervisord.out" supervisord -n -c "$ROOT/share/templates/supervisord-local.conf"
	wait_port "$OYS_PORT"
	PORT=$OYS_PORT
	wait_for 30 bash -c '[ "$(oys-warm status --json 2>/dev/null | jq .ready)" = 2 ]'
	serverless "$id" '{"num": 100}'
	[ "$status_code" = 200 ]
	[ "$body" = '{"num":100,"factors":[2,2,5,5]}' ]
	wait_for 10 grep -q '"warm":true' "$OYS_STATE/oys-serve.log"
	run -0 socat -T 5 - "TCP:127.0.0.1:$OYS_AGENT_PORT"
	[ "$output" = "up ready maxconn:2 200%" ]
	wait_port "$OYS_ATTEST_PORT"
	run -0 oys-attest fetch --url "$OYS_ATTESTATION_URL" -o doc.cbor
	run -0 oys-attest verify --root "$OYS_RUNTIME_DIR/attest-dev/root.pem" doc.cbor
	# the template created the signing key; the documents carry it, and the answers verify
	[ "$(jq -r .public_key <<<"$output")" = "$(oys-sign pubkey)" ]
	printf '{"code_id": "%s", "input": {"num": 12}}' "$id" >req.json
	curl -si --data-binary @req.json "http://127.0.0.1:$OYS_PORT/api/serverless" >answer
	run -0 oys-sign verify -a doc.cbor -r "$OYS_RUNTIME_DIR/attest-dev/root.pem" -m POST -P /api/serverless \
		-b req.json -c answer --require-oys
	wait_logged 2 "$OYS_STATE/oys-serve.log" # written after the answer
	# supervisord stops its programs, socat and its children with them
	kill -TERM "$BG_PID"
	wait_for 10 bash -c "! kill -0 $BG_PID 2>/dev/null"
	assert_clean
	! stray_processes | grep -q -e socat -e 'oys-serve'
	[ ! -e "$OYS_RUNTIME_DIR/warm" ]
}

@test "share/local/up starts the platform and prints a curl line that works; down stops it" {
	run -0 "$ROOT/share/local/up"
	printed=$output
	line=$(grep -m1 '^  curl -d .*api/serverless' <<<"$printed")
	[ -n "$line" ]
	run -0 --separate-stderr bash -c "$line"
	[ "$output" = '{"num":100,"factors":[2,2,5,5]}' ]
	# the lines it prints to check a signed answer work as printed
	[ "$(stat -c %a "$OYS_RUNTIME_DIR/signing.key")" = 600 ]
	check=$(sed -n '/^Every answer is signed by/,$p' <<<"$printed" | grep '^  ')
	[ "$(wc -l <<<"$check")" = 4 ]
	run -0 --separate-stderr bash -e -c "$check"
	run -0 "$ROOT/share/local/down"
	[ ! -e "$OYS_STATE/supervisord.pid" ]
	run -7 curl -s "http://127.0.0.1:$OYS_PORT/healthz" # 7: connection refused
	! stray_processes | grep -q -e socat -e supervisord
}
