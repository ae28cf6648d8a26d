#!/usr/bin/env bats
# WebAssembly functions end to end: stored, fetched (from a store or a chain), limited and
# served exactly like JavaScript, through oys-run and through oys-serve behind socat.

load test_helper/common-setup
load test_helper/platform
load test_helper/chain
load fixtures/wasm/helpers

setup() {
	common_setup
	pool_setup 2 128M
}
teardown() {
	common_teardown
	pool_teardown
}

@test "the Wasm factors function answers through oys-run exactly like the JS one" {
	wasm=$(put_fn "$(wasm_build "$EXAMPLES/factors.c")")
	js=$(put_fn "$EXAMPLES/factors.js")
	run -0 oys-run "$wasm" - <<<'{"num": 360}'
	[ "$output" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
	run -0 oys-run "$js" - <<<'{"num": 360}'
	[ "$output" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
	assert_clean
}

@test "the Wasm factors function through oys-serve: /api/serverless and /fn/" {
	id=$(put_fn "$(wasm_build "$EXAMPLES/factors.c")")
	serve_start
	serverless "$id" '{"num": 97}'
	[ "$status_code" = 200 ]
	[ "$body" = '{"num":97,"factors":[97]}' ]
	grep -qi '^content-type: application/json' <<<"$headers"
	call POST "/fn/$id/" '{"num": 12}'
	[ "$body" = '{"num":12,"factors":[2,2,3]}' ]
	assert_clean
}

@test "an endless loop in Wasm: 504 at the timeout, workerd killed, nothing left" {
	expect_loop_timeout "$(put_fn "$(wasm_build loop)")"
}

@test "memory grown without bound is stopped: an error, nothing leaked" {
	id=$(put_fn "$(wasm_build grow)")
	run -1 --separate-stderr oys-run --json "$id"
	[ "$(jq -r .status <<<"$output")" = 502 ]
	[ "$(jq -r .body <<<"$output" | jq -r .error.code)" = memory_limit ]
	jq -e '.memory_peak > 60000000' <<<"$output"
	assert_clean
}

@test "exit status 3 with stderr text: a 500 carrying both, stderr in oys-run's console" {
	id=$(put_fn "$(wasm_build exit3)")
	run -1 --separate-stderr oys-run "$id" - <<<'{}'
	[ "$(jq -r .error.code <<<"$output")" = exit_status ]
	[ "$(jq -r .error.exit_status <<<"$output")" = 3 ]
	[[ $(jq -r .error.stderr <<<"$output") == *"cannot go on: the answer is not 42"* ]]
	[[ $stderr == *"exit3: cannot go on: the answer is not 42"* ]]
	[[ $stderr == *"oys-run: function answered 500 Internal Server Error" ]]
	assert_clean
}

@test "a module importing a WASI function the shim lacks: 400 naming it" {
	id=$(put_fn "$(wasm_build unknown-import)")
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = unsupported_import ]
	assert_clean
}

@test "a file that is not valid Wasm: 400 compile_error with V8's reason" {
	printf '\0asm\1\0\0\0\xff\xff\xff' >bad.wasm
	id=$(put_fn bad.wasm)
	serve_start
	serverless "$id" '{}'
	[ "$status_code" = 400 ]
	[ "$(error_code)" = compile_error ]
	[[ $(jq -r .error.message <<<"$body") == "function does not start: Uncaught CompileError: WasmModuleObject::Compile(): "* ]]
	assert_clean
}

@test "Wasm stored in calldata and ending in zero bytes runs byte-exact from the chain" {
	# factors.wasm plus a custom section whose last bytes are zeros: cut one byte and the
	# module no longer compiles, so a run proves the length was honoured.
	cp "$(wasm_build "$EXAMPLES/factors.c")" padded.wasm
	printf '\0\x0a\x03pad\0\0\0\0\0\0' >>padded.wasm
	[ "$(tail -c 6 padded.wasm | od -An -tx1 | tr -d ' \n')" = 000000000000 ]
	start_anvil
	tx=$(send_code padded.wasm)
	run -0 oys-run "$tx" - <<<'{"num": 360}'
	[ "$output" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
	oys-fetch "$tx" | cmp - padded.wasm
	assert_clean
}
