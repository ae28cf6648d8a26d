#!/usr/bin/env bats
# oys-run: the whole flow from a shell, real workerd in real cgroups, and nothing left behind
# however a run ends.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
	pool_setup 2 128M
	echo '{"num": 360}' >input.json
}
teardown() {
	common_teardown
	pool_teardown
}

@test "the factors example runs from the shell: body on stdout, exit 0, nothing left" {
	id=$(put_fn "$EXAMPLES/factors.js")
	run -0 --separate-stderr oys-run "$id" input.json
	[ "$output" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
	assert_clean
}

@test "input from stdin, and a local file with --code" {
	id=$(put_fn "$EXAMPLES/factors.js")
	run -0 oys-run "$id" - <<<'{"num": 97}'
	[ "$output" = '{"num":97,"factors":[97]}' ]
	run -0 oys-run --code "$EXAMPLES/factors-sw.js" - <<<'{"num": 12}'
	[ "$output" = '{"num":12,"factors":[2,2,3]}' ]
	assert_clean
}

@test "the input reaches the function byte for byte (no re-serialisation)" {
	id=$(put_fn "$FN/echo.js")
	printf '{"n": 12345678901234567890, "f": 1.50, "s": "\\u00e9"}' >big.json
	run -0 oys-run "$id" big.json
	[ "$(jq -r .body <<<"$output")" = '{"n": 12345678901234567890, "f": 1.50, "s": "\u00e9"}' ]
	[ "$(jq -r .method <<<"$output")" = POST ]
	[ "$(jq -r '.headers["content-type"]' <<<"$output")" = application/json ]
}

@test "--include prints the status and headers; --json a result with timings and memory" {
	id=$(put_fn "$EXAMPLES/factors.js")
	run -0 oys-run --include "$id" input.json
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]]
	grep -qi '^content-type: application/json' <<<"$output"
	run -0 oys-run --json "$id" input.json
	[ "$(jq -r .status <<<"$output")" = 200 ]
	[ "$(jq -r .body <<<"$output")" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
	[ "$(jq -r .error <<<"$output")" = null ]
	jq -e '.ms.start > 0 and .ms.execute >= 0 and .ms.total >= .ms.start' <<<"$output"
	jq -e '.memory_peak > 1000000 and .cpu_ms > 0' <<<"$output"
	[[ $(jq -r .cgroup <<<"$output") == "$OYS_CGROUP_PREFIX"* ]]
}

@test "--method, --path and --header reach the function" {
	id=$(put_fn "$FN/echo.js")
	run -0 oys-run -X PUT --path '/a/b?x=1' -H 'X-Test: yes' "$id" input.json
	[ "$(jq -r .method <<<"$output")" = PUT ]
	[ "$(jq -r .path <<<"$output")" = /a/b ]
	[ "$(jq -r .query <<<"$output")" = '?x=1' ]
	[ "$(jq -r '.headers["x-test"]' <<<"$output")" = yes ]
}

@test "an unknown code id is exit 66 with one line, nothing on stdout" {
	id=$(printf 'not stored' | sha256sum | cut -d' ' -f1)
	run -66 --separate-stderr oys-run "$id" input.json
	[ -z "$output" ]
	[ "$stderr" = "oys-run: code $id not found: store $OYS_STORE does not exist" ]
	put_fn "$EXAMPLES/factors.js" >/dev/null
	run -66 --separate-stderr oys-run "$id" input.json
	[ "$stderr" = "oys-run: code $id not found in $OYS_STORE" ]
	assert_clean
}

@test "a malformed code id is refused before any use" {
	run -64 --separate-stderr oys-run ../../etc/passwd input.json
	[ -z "$output" ]
	[[ $stderr == "oys-run: "*"../../etc/passwd"* ]]
	assert_clean
}

@test "input that is not JSON is exit 65 naming the file" {
	id=$(put_fn "$EXAMPLES/factors.js")
	echo '{"num": ' >bad.json
	run -65 --separate-stderr oys-run "$id" bad.json
	[[ $stderr == "oys-run: bad.json: bad JSON: "* ]]
}

@test "code that does not compile: exit 65 with workerd's message and the line" {
	id=$(put_fn "$FIXTURES/js/syntax-error.js")
	run -65 --separate-stderr oys-run "$id" input.json
	[ -z "$output" ]
	[[ $stderr == *"oys-run: function does not start: Uncaught SyntaxError: missing ) after argument list at worker.js:2:32" ]]
	assert_clean
}

@test "a function that throws: its own 500, its console and the stack on stderr, exit 1" {
	id=$(put_fn "$FN/throws.js")
	run -1 --separate-stderr oys-run "$id" input.json
	[ "$output" = "Internal Server Error" ]
	[[ $stderr == *'checking input {"num":360}'* ]]
	[[ $stderr == *'Uncaught Error: input rejected: {"num":360}'* ]]
	[[ $stderr == *'at check (worker.js:3:'* ]]
	[[ $stderr == *"oys-run: function answered 500 Internal Server Error" ]]
	assert_clean
}

@test "an endless loop is stopped at the timeout: exit 75, nothing left" {
	id=$(put_fn "$FN/loop.js")
	start=$SECONDS
	run -75 --separate-stderr oys-run --timeout 1 "$id" input.json
	[ $((SECONDS - start)) -lt 15 ]
	[[ $stderr == *"oys-run: function did not answer within 1 s" ]]
	assert_clean
}

@test "a memory bomb is killed by the kernel in its cgroup: exit 137, memory_limit" {
	id=$(put_fn "$FN/membomb.js")
	run -137 --separate-stderr oys-run --json "$id" input.json
	[ "$(jq -r .error.code <<<"$output")" = memory_limit ]
	[ "$(jq -r .oom_kill <<<"$output")" = true ]
	[ "$(jq -r .status <<<"$output")" = 502 ]
	jq -e '.memory_peak > 100000000' <<<"$output"
	[[ $stderr == *"oys-run: function killed: out of memory (limit 128 MiB)" ]]
	assert_clean
}

@test "--memory lowers the limit of one run" {
	id=$(put_fn "$FN/membomb.js")
	run -137 --separate-stderr oys-run --memory 96M "$id" input.json
	[[ $stderr == *"oys-run: function killed: out of memory (limit 96 MiB)" ]]
	assert_clean
}

@test "oys-run honours the variables oys-serve reads: OYS_MEMORY, OYS_MAX_RESPONSE; a flag wins" {
	id=$(put_fn "$FN/membomb.js")
	OYS_MEMORY=96M run -137 --separate-stderr oys-run "$id" input.json
	[[ $stderr == *"oys-run: function killed: out of memory (limit 96 MiB)" ]]
	big=$(put_fn "$FN/big.js")
	OYS_MAX_RESPONSE=1M run -65 --separate-stderr oys-run --path '/?mib=2' "$big"
	[[ $stderr == *"oys-run: function response larger than 1048576 bytes" ]]
	OYS_MAX_RESPONSE=1M run -0 oys-run --max-response 3M --path '/?mib=2' --json "$big"
	[ "$(jq -r '.body | length' <<<"$output")" = $((2 << 20)) ]
	assert_clean
}

@test "a bad value in the environment is a configuration error naming the variable" {
	id=$(put_fn "$EXAMPLES/factors.js")
	OYS_TIMEOUT=soon run -78 --separate-stderr oys-run "$id" input.json
	[ -z "$output" ]
	[ "$stderr" = "oys-run: OYS_TIMEOUT: 'soon' is not a number of seconds (up to 86400)" ]
	run -64 --separate-stderr oys-run --timeout soon "$id" input.json
	[ "$stderr" = "oys-run: --timeout: 'soon' is not a number of seconds (up to 86400)" ]
	OYS_MEMORY=lots run -78 --separate-stderr oys-run "$id" input.json
	[ "$stderr" = "oys-run: OYS_MEMORY: 'lots' is not a size (like 65536, 512K, 128M, 1G)" ]
	assert_clean
}

@test "no free cgroup: exit 69 and a clear message" {
	id=$(put_fn "$EXAMPLES/factors.js")
	start_bg "$T/r1.log" oys-cgroup reserve --exec -- sleep 60
	start_bg "$T/r2.log" oys-cgroup reserve --exec -- sleep 60
	wait_for 10 bash -c "[ \"\$(oys-cgroup list --json | jq '[.[] | select(.busy)] | length')\" = 2 ]"
	run -69 --separate-stderr oys-run "$id" input.json
	[ -z "$output" ]
	[[ $stderr == "oys-run: no free cgroup in pool $OYS_CGROUP_PREFIX"* ]]
	common_teardown
	assert_clean
}

@test "SIGTERM during a run stops workerd and cleans up: exit 143" {
	id=$(put_fn "$FN/loop.js")
	oys-run --timeout 60 "$id" input.json >out 2>err &
	pid=$!
	wait_for 10 workerd_running
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 143 ]
	grep -q "oys-run: interrupted by signal 15: stopped and cleaned up" err
	assert_clean
}

@test "SIGKILL of oys-run: workerd dies with it, the cgroup and files come back" {
	id=$(put_fn "$FN/loop.js")
	oys-run --timeout 60 "$id" input.json >out 2>err &
	pid=$!
	wait_for 10 workerd_running
	kill -KILL "$pid"
	wait "$pid" || true
	wait_for 5 no_workerd
	wait_for 5 pool_free
	# the next run sweeps the dead one's files
	id2=$(put_fn "$EXAMPLES/factors.js")
	run -0 oys-run "$id2" input.json
	assert_clean
}

@test "--trace prints each step as a command; with --keep they can be re-run" {
	id=$(put_fn "$EXAMPLES/factors.js")
	run -0 --separate-stderr oys-run --trace --keep "$id" input.json
	[ "$output" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
	grep -q '^\[fetch .* ms\] oys-fetch '"$id"' -o ' <<<"$stderr"
	grep -q '^\[config .* ms\] oys-capnp --js .*/code.js --outbound none -o .*/config.capnp' <<<"$stderr"
	grep -q '^\[cgroup .* ms\] oys-cgroup reserve --prefix '"$OYS_CGROUP_PREFIX"'    # got '"$OYS_CGROUP_PREFIX" <<<"$stderr"
	grep -q '^\[sandbox .* ms\] chown -R 2000000[0-9]*:2000000[0-9]* .*/req/[0-9a-f]*    # workerd runs as uid 2000000[0-9]*, no capabilities, no_new_privs, seccomp, network namespace '"$OYS_CGROUP_PREFIX" <<<"$stderr"
	grep -q '^\[start .* ms\] oys-cgroup exec '"$OYS_CGROUP_PREFIX"'[0-9]* -- .*workerd serve .*/config.capnp --socket-addr http=unix:.*/req/[0-9a-f]*/http.sock' <<<"$stderr"
	grep -q '^\[execute .* ms\] curl -sS --unix-socket .*/http.sock -X POST --data-binary @.*/input.json http://localhost/' <<<"$stderr"
	dir=$(sed -n 's/^# files kept in //p' <<<"$stderr")
	[ -f "$dir/code.js" ]
	[ -f "$dir/config.capnp" ]
	[ -f "$dir/input.json" ]
	# re-run the fetch and config steps by hand: same bytes
	fetch=$(sed -n 's/^\[fetch *[0-9.]* ms\] //p' <<<"$stderr")
	eval "${fetch/-o */-o $T/again.js}"
	cmp "$T/again.js" "$dir/code.js"
	config=$(sed -n 's/^\[config *[0-9.]* ms\] //p' <<<"$stderr")
	eval "${config/-o */-o $dir/again.capnp}"
	cmp "$dir/again.capnp" "$dir/config.capnp"
	rm -rf "$dir"
	assert_clean
}

@test "the function's console output is printed on stderr" {
	id=$(put_fn "$FN/console.js")
	run -0 --separate-stderr oys-run "$id"
	[ "$output" = done ]
	[[ $stderr == *"first line of output"* && $stderr == *"a warning on stderr"* ]]
}

@test "a response larger than --max-response is refused, not truncated" {
	id=$(put_fn "$FN/big.js")
	run -65 --separate-stderr oys-run --max-response 1M --path '/?mib=3' "$id"
	[ -z "$output" ]
	[[ $stderr == *"oys-run: function response larger than 1048576 bytes" ]]
	run -0 oys-run --max-response 4M --path '/?mib=3' --json "$id"
	[ "$(jq -r '.body | length' <<<"$output")" = $((3 << 20)) ]
	assert_clean
}

@test "a body cut short by workerd's hang detector is an error, not a 200" {
	id=$(put_fn "$FN/hang-stream.js")
	run -70 --separate-stderr oys-run --json "$id"
	[ "$(jq -r .error.code <<<"$output")" = incomplete_response ]
	[ "$(jq -r .status <<<"$output")" = 502 ]
	assert_clean
}
