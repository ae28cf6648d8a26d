#!/usr/bin/env bats
# Functions are bundles: modules plus settings, stored under the SHA-256 of one canonical
# serialisation. End to end with real functions through oys-store, oys-run and oys-serve
# behind socat: settings applied per request (compatibility, memory, CPU, timeout, outbound,
# env), the host's maxima, bad bundles refused at put and again at run.

load test_helper/common-setup
load test_helper/platform
load fixtures/wasm/helpers

BUNDLES=$ROOT/tests/fixtures/bundles

setup() {
	common_setup
}
teardown() {
	common_teardown
	pool_teardown
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# The multi-module fixture with its Wasm module built, in $T/multi.
multi() {
	cp -r "$BUNDLES/multi" "$T/multi"
	cp "$(wasm_build add)" "$T/multi/add.wasm"
}

# The JSON log lines of requests in $T/serve.log.
log_lines() {
	grep '"event":"request"' "$T/serve.log"
}

# ---- storing ----

@test "put: a single file keeps its old id; settings make a bundle, other settings another id" {
	run -0 oys-store put "$FN/loop.js"
	[ "$output" = "$(sha "$FN/loop.js")" ]
	plain=$output
	run -0 oys-store put --timeout 1 "$FN/loop.js"
	t1=$output
	run -0 oys-store put --timeout 2 "$FN/loop.js"
	t2=$output
	[ "$t1" != "$plain" ]
	[ "$t2" != "$plain" ]
	[ "$t1" != "$t2" ]
	# what is stored is the serialisation, and the id is its SHA-256
	oys-store get "$t1" >b1
	[ "$(head -c 5 b1 | od -An -tx1 | tr -d ' ')" = 006f797301 ]
	[ "$(sha b1)" = "$t1" ]
	run -0 oys-store get --manifest "$t1"
	[ "$(jq -c . <<<"$output")" = '{"main":"worker.js","timeout":1,"modules":{"worker.js":"esm"}}' ]
	# the same bundle again (from stdin, or its serialisation) is the same id
	run -0 oys-store put --timeout 1 - <"$FN/loop.js"
	[ "$output" = "$t1" ]
	run -0 oys-store put b1
	[ "$output" = "$t1" ]
	run -0 oys-store put - <b1
	[ "$output" = "$t1" ]
}

@test "put DIR: modules by path, oys.json settings, flags over them; --unpack gives the same bundle back" {
	multi
	run -0 --separate-stderr oys-store put multi
	id=$output
	run -0 oys-store get --manifest "$id"
	[ "$(jq -c . <<<"$output")" = '{"main":"index.js","compatibility_date":"2024-09-01","timeout":5,"env":{"REGION":"eu-1"},"modules":{"add.wasm":"wasm","data/config.json":"json","greeting.txt":"text","index.js":"esm","lib/util.js":"esm"}}' ]
	# unpacked and stored again: the same id
	run -0 oys-store get --unpack back "$id"
	[ -f back/lib/util.js ]
	[ -f back/oys.json ]
	cmp back/add.wasm multi/add.wasm
	run -0 oys-store put back
	[ "$output" = "$id" ]
	# flags override oys.json (env per name); the order of flags does not matter
	run -0 oys-store put multi --env REGION=us-2 --env ZONE=a --compat-flag nodejs_als --compat-flag nodejs_compat
	id2=$output
	run -0 oys-store put multi --compat-flag nodejs_compat --env ZONE=a --compat-flag nodejs_als --env REGION=us-2
	[ "$output" = "$id2" ]
	run -0 oys-store get --manifest "$id2"
	[ "$(jq -c '[.env, .compatibility_flags]' <<<"$output")" = '[{"REGION":"us-2","ZONE":"a"},["nodejs_als","nodejs_compat"]]' ]
	# unpacking refuses a directory that holds something
	run -73 --separate-stderr oys-store get --unpack back "$id"
	[ "$stderr" = "oys-store: back is not empty" ]
}

@test "bad settings at put: exit 65, the key named, nothing stored" {
	multi
	bad() { # EXPECTED-STDERR ARGS...
		local want=$1
		shift
		run -65 --separate-stderr oys-store put "$@"
		[ "$stderr" = "oys-store: $want" ] || { echo "got: $stderr"; return 1; }
		[ -z "$output" ]
	}
	bad "--compat-flag: compatibility flag 'experimental' is not allowed: functions get no experimental or unsafe features" \
		--compat-flag experimental multi
	bad "--compat-flag: compatibility flag 'unsafe_eval' is not allowed: functions get no experimental or unsafe features" \
		--compat-flag unsafe_eval "$FN/echo.js"
	bad "--compat-date: '2024-13-01' is not a date YYYY-MM-DD" --compat-date 2024-13-01 multi
	bad "--memory: 'lots' is not a size between 1M and 1T (like 64M, 1G)" --memory lots multi
	bad "--cpu: '0' is not a number of cores (0.01 to 1024, like 0.5)" --cpu 0 multi
	bad "--timeout: 'soon' is not a number of seconds (0.001 to 86400, like 2.5)" --timeout soon multi
	bad "--env: 'API-KEY' is not an env name (an identifier of A-Z a-z 0-9 _, at most 64 bytes, not OYS_*)" \
		--env API-KEY=x multi
	bad "--env: 'novalue' is not NAME=VALUE" --env novalue multi
	bad "main: 'nope.js' is not a module of the bundle multi" --main nope.js multi
	bad "--outbound: outbound policy: 127.0.0.0/8 lies inside 127.0.0.0/8 (loopback), which a function never reaches" \
		--outbound 127.0.0.0/8 multi
	echo '{"main": "index.js", "memroy": "64M"}' >multi/oys.json
	bad "multi/oys.json: unknown key 'memroy' (the keys are main, compatibility_date, compatibility_flags, memory, cpu, timeout, outbound, env, modules)" multi
	echo '{"main": "index.js", "env": {"1st": "x"}}' >multi/oys.json
	bad "multi/oys.json: env: '1st' is not an env name (an identifier of A-Z a-z 0-9 _, at most 64 bytes, not OYS_*)" multi
	echo '{"main": "index.js", "compatibility_flags": ["nodejs_compat", "experimental"]}' >multi/oys.json
	bad "multi/oys.json: compatibility_flags: compatibility flag 'experimental' is not allowed: functions get no experimental or unsafe features" multi
	echo '{"main": "index.js", "memory": "64X"}' >multi/oys.json
	bad "multi/oys.json: memory: '64X' is not a size between 1M and 1T (like 64M, 1G)" multi
	rm multi/oys.json
	bad "main: not given (--main, or \"main\" in oys.json), and multi holds 2 modules that could be it: index.js, lib/util.js" multi
	# a serialised bundle that is not valid is refused too
	printf '\0oys\1\1\0\0\0\4x.js' >broken
	bad "broken: bundle: it holds no module" broken
	[ ! -d "$OYS_STORE" ] || [ -z "$(find "$OYS_STORE" -maxdepth 1 -type f -name '[0-9a-f]*')" ]
}

# ---- running ----

@test "a bundle of an ES module importing JSON, text, another module and Wasm, through oys-run and oys-serve" {
	pool_setup 2 256M
	multi
	want='{"config":{"a":40,"b":2},"greeting":"HELLO FROM A TEXT MODULE!","sum":42,"region":"eu-1"}'
	run -0 --separate-stderr oys-run --code multi
	[ "$output" = "$want" ]
	id=$(oys-store put multi)
	run -0 --separate-stderr oys-run --json "$id"
	[ "$(jq -r .body <<<"$output")" = "$want" ]
	[ "$(jq -c '.settings | [.main, .compatibility_date, .timeout, .env, .own]' <<<"$output")" = \
		'["index.js","2024-09-01",5,["REGION"],["compatibility_date","timeout"]]' ]
	# oys-run --code reports the id oys-store put gives
	run -0 --separate-stderr oys-run --code multi --json
	[ "$(jq -r .code_id <<<"$output")" = "$id" ]
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 200 ]
	[ "$body" = "$want" ]
	call GET "/fn/$id/"
	[ "$body" = "$want" ]
	assert_clean
}

@test "nodejs_compat on an old date: refused to compile without the flag (400), answers with it" {
	pool_setup 2 256M
	without=$(oys-store put "$BUNDLES/nodebuf")
	with=$(oys-store put "$BUNDLES/nodebuf" --compat-flag nodejs_compat)
	run -65 --separate-stderr oys-run "$without"
	[[ $stderr == *'oys-run: function does not start: '*'No such module "node:buffer"'* ]]
	run -0 --separate-stderr oys-run "$with"
	[ "$output" = b3lzIGJ1bmRsZXM= ]
	serve_start
	serverless "$without" '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = compile_error ]
	serverless "$with" '{}'
	[ "$status_code" = 200 ]
	[ "$body" = b3lzIGJ1bmRsZXM= ]
	# each ran with its own settings, the host's date untouched
	wait_logged 2
	[ "$(log_lines | jq -sc '[.[].settings | [.compatibility_date, .compatibility_flags]]')" = \
		'[["2024-09-01",[]],["2024-09-01",["nodejs_compat"]]]' ]
	assert_clean
}

@test "memory: asking 64M, 100 MB is killed (502 memory_limit) in a 256M pool where it runs without; the pool's limit is back after" {
	pool_setup 1 256M
	plain=$(oys-store put "$FN/alloc100.js")
	small=$(oys-store put --memory 64M "$FN/alloc100.js")
	serve_start
	serverless "$plain" '{}'
	[ "$status_code" = 200 ]
	[ "$body" = "allocated 100 MiB" ]
	serverless "$small" '{}'
	[ "$status_code" = 502 ]
	[ "$(error_code)" = memory_limit ]
	[[ $(jq -r .error.message <<<"$body") == *"out of memory (limit 64 MiB)"* ]]
	# the one cgroup of the pool has the pool's 256M again for the next request
	serverless "$plain" '{}'
	[ "$status_code" = 200 ]
	wait_for 5 eval '[ "$(log_lines | wc -l)" = 3 ]'
	[ "$(log_lines | jq -sc '[.[].settings.memory]')" = "[268435456,67108864,268435456]" ]
	[ "$(log_lines | jq -sc '[.[].oom_kill]')" = "[false,true,false]" ]
	assert_clean
}

@test "a function asking more than the host allows: 400 limit_exceeded naming both values, nothing starts" {
	pool_setup 2 256M
	big=$(oys-store put --memory 512M "$FN/echo.js")
	cores=$(oys-store put --cpu 2 "$FN/echo.js")
	long=$(oys-store put --timeout 60 "$FN/echo.js")
	open=$(oys-store put --outbound public "$FN/echo.js")
	OYS_MAX_MEMORY=256M run -77 --separate-stderr oys-run --json "$big"
	[ "$stderr" = "oys-run: memory: the function asks for 512M, this host allows at most 256M (OYS_MAX_MEMORY)" ]
	[ "$(jq -r '.status, .error.code, .error.stage, .cgroup' <<<"$output")" = $'400\nlimit_exceeded\nfetch\nnull' ]
	# by default a function may ask for what the host gives: the pool's memory, its CPU, the
	# host's timeout and outbound policy
	run -77 --separate-stderr oys-run "$big"
	[ "$stderr" = "oys-run: memory: the function asks for 512M, this host allows at most 256M (OYS_MAX_MEMORY)" ]
	run -77 --separate-stderr oys-run "$cores"
	[ "$stderr" = "oys-run: cpu: the function asks for 2 cores, this host allows at most 0.5 (OYS_MAX_CPU)" ]
	run -77 --separate-stderr oys-run "$long"
	[ "$stderr" = "oys-run: timeout: the function asks for 60 s, this host allows at most 10 s (OYS_MAX_TIMEOUT)" ]
	run -77 --separate-stderr oys-run "$open"
	[ "$stderr" = "oys-run: outbound: the function asks for 'public', this host allows at most 'none' (OYS_OUTBOUND_ALLOWED)" ]
	# an operator who allows more
	OYS_MAX_CPU=2 OYS_MAX_TIMEOUT=60 OYS_OUTBOUND_ALLOWED=public run -0 --separate-stderr oys-run --json "$open"
	[ "$(jq -r .settings.outbound <<<"$output")" = public ]
	run -0 --separate-stderr oys-run --max-memory 1G --json "$big"
	[ "$(jq -r .settings.memory <<<"$output")" = 536870912 ]
	# through oys-serve: 400, and no sandbox was taken
	serve_start OYS_MAX_MEMORY=256M
	serverless "$big" '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = limit_exceeded ]
	[ "$(jq -r .error.message <<<"$body")" = "memory: the function asks for 512M, this host allows at most 256M (OYS_MAX_MEMORY)" ]
	wait_for 5 eval 'log_lines >/dev/null'
	[ "$(log_lines | jq -r '[.error, .cgroup, .ms.start] | @tsv')" = $'limit_exceeded\t\t0' ]
	assert_clean
}

@test "timeout 1 on a host whose default is 10: the looping function ends with 504 long before 10 s" {
	pool_setup 2 256M
	id=$(oys-store put --timeout 1 "$FN/loop.js")
	serve_start OYS_TIMEOUT=10
	start=$SECONDS
	serverless "$id" '{}'
	[ "$status_code" = 504 ]
	[ "$(error_code)" = timeout ]
	[ $((SECONDS - start)) -lt 8 ]
	wait_for 5 eval 'log_lines >/dev/null'
	[ "$(log_lines | jq -c '[.settings.timeout, .settings.own, .timeout]')" = '[1,["timeout"],true]' ]
	run -75 --separate-stderr oys-run "$id"
	[ "$stderr" = "oys-run: function did not answer within 1 s" ]
	assert_clean
}

@test "CPU: the function's own limit is on its cgroup while it runs, the pool's again for the next" {
	pool_setup 1 256M
	slow=$(oys-store put --cpu 0.25 --memory 200M "$FN/slow.js")
	plain=$(oys-store put "$FN/slow.js")
	cg=${OYS_CGROUP_PREFIX}0
	limits() { oys-cgroup stat --json "$cg" | jq -c '[.busy, .cpu_limit, .memory_limit]'; }
	oys-run "$slow" - <<<'{"ms": 4000}' >out1 &
	wait_for 10 eval '[ "$(limits)" = "[true,0.25,209715200]" ]'
	wait $!
	[ "$(cat out1)" = '{"slept":4000}' ]
	oys-run "$plain" - <<<'{"ms": 4000}' >out2 &
	wait_for 10 eval '[ "$(limits)" = "[true,0.5,268435456]" ]'
	wait $!
	[ "$(cat out2)" = '{"slept":4000}' ]
	assert_clean
}

@test "env reaches the function as bindings (module, service worker, Wasm), never the process environment or a log" {
	pool_setup 2 256M
	secret=s3cr3t-$RANDOM$RANDOM
	id=$(oys-store put --env SECRET="$secret" --env REGION=eu-1 "$FN/env.js")
	sw=$(oys-store put --env SECRET="$secret" "$FN/env-sw.js")
	wasm=$(oys-store put --env SECRET="$secret" "$(wasm_build probe)")
	run -0 --separate-stderr oys-run --json "$id"
	[ "$(jq -c '.body | fromjson' <<<"$output")" = "{\"env\":{\"REGION\":\"eu-1\",\"SECRET\":\"$secret\"}}" ]
	[ "$(jq -c .settings.env <<<"$output")" = '["REGION","SECRET"]' ]
	# the value only in the function's own answer
	[[ $(jq 'del(.body)' <<<"$output") != *"$secret"* ]]
	[[ $stderr != *"$secret"* ]]
	run -0 --separate-stderr oys-run "$sw"
	[ "$output" = "global SECRET=$secret" ]
	run -0 --separate-stderr oys-run "$wasm"
	jq -e --arg s "SECRET=$secret" '.env | index($s)' <<<"$output"
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 200 ]
	serverless "$sw" '{}'
	[ "$body" = "global SECRET=$secret" ]
	wait_for 5 eval '[ "$(log_lines | wc -l)" = 2 ]'
	[ "$(log_lines | jq -sc '[.[].settings.env]')" = '[["REGION","SECRET"],["SECRET"]]' ]
	run ! grep -qF "$secret" "$T/serve.log"
	# nor is it in the environment of the workerd that runs the function
	oys-run "$id" - <<<'{"ms": 3000}' >slow.out &
	run_pid=$!
	wait_for 10 workerd_running
	pid=$(sandboxed_workerd_pids | head -1)
	[ -n "$pid" ]
	tr '\0' '\n' <"/proc/$pid/environ" >workerd.env
	run ! grep -qF "$secret" workerd.env
	wait "$run_pid"
	grep -qF "$secret" slow.out
	assert_clean
}

@test "a bundle whose settings were edited on disk is refused like damaged code" {
	pool_setup 2 256M
	id=$(oys-store put --timeout 1 "$FN/loop.js")
	f=$OYS_STORE/$id
	[ -f "$f" ]
	# the timeout record (tag 6, u32 milliseconds): 1000 ms becomes 60000 ms
	hex=$(od -An -v -tx1 "$f" | tr -d ' \n')
	[[ $hex == *06000003e8* ]]
	perl -0777 -pe 's/\x06\x00\x00\x03\xe8/\x06\x00\x00\xea\x60/' "$f" >edited
	[ "$(od -An -v -tx1 edited | tr -d ' \n')" = "${hex/06000003e8/060000ea60}" ]
	chmod u+w "$f"
	cat edited >"$f"
	run -65 --separate-stderr oys-run "$id"
	[[ $stderr == "oys-run: code $id in $OYS_STORE is damaged: its SHA-256 is $(sha edited)" ]]
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 502 ]
	[ "$(error_code)" = bad_code ]
	assert_clean
}

@test "a bundle from elsewhere that is not valid is refused at run: 400 bad_bundle, nothing starts" {
	pool_setup 2 256M
	mkdir -p "$OYS_STORE"
	# valid structure, but an experimental flag: stored under its hash as a storage server
	# or calldata could hold it, since only oys-store put checks at put
	printf '\0oys\1\1\0\0\0\4w.js\3\0\0\0\14experimental\11\0\0\0\4w.js\1\0\0\0\21export default {}' >bad
	id=$(sha bad)
	cp bad "$OYS_STORE/$id"
	run -65 --separate-stderr oys-run "$id"
	[ "$stderr" = "oys-run: bundle: compatibility_flag: compatibility flag 'experimental' is not allowed: functions get no experimental or unsafe features" ]
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = bad_bundle ]
	assert_clean
}

@test "outbound: the function's own policy goes into its config; the log line shows what applied" {
	pool_setup 2 256M
	id=$(oys-store put --outbound public "$FN/echo.js")
	OYS_OUTBOUND_ALLOWED=public run -0 --separate-stderr oys-run --trace --keep "$id"
	dir=$(sed -n 's/^# files kept in //p' <<<"$stderr")
	grep -q 'network = (allow = \["public"\]' "$dir/config.capnp"
	# the trace reproduces the config from the bundle: oys-capnp --bundle
	grep -q "^\[config .*\] oys-capnp --bundle $dir/bundle.oys --outbound public -o $dir/config.capnp" <<<"$stderr"
	(cd "$dir" && oys-capnp --bundle bundle.oys -o again.capnp)
	diff <(grep -v embed "$dir/config.capnp") <(grep -v embed "$dir/again.capnp")
	rm -rf "$dir"
	serve_start OYS_OUTBOUND_ALLOWED=public
	serverless "$id" '{}'
	[ "$status_code" = 200 ]
	wait_for 5 eval 'log_lines >/dev/null'
	[ "$(log_lines | jq -c '.settings | [.outbound, .own, .memory, .cpu, .timeout]')" = '["public",["outbound"],268435456,0.5,10]' ]
	assert_clean
}

@test "Wasm: a bundle's memory setting sets the glue's memory cap; its env is WASI environment" {
	pool_setup 2 256M
	wasm=$(wasm_build probe)
	id=$(oys-store put --memory 64M --env GREETING=hi "$wasm")
	run -0 --separate-stderr oys-run --trace --keep "$id"
	jq -e '.env | index("GREETING=hi")' <<<"$output"
	dir=$(sed -n 's/^# files kept in //p' <<<"$stderr")
	# half of 64 MiB in 64 KiB pages
	grep -q -- '--wasm-max-mem-pages=512"' "$dir/config.capnp"
	rm -rf "$dir"
	assert_clean
}
