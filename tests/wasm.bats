#!/usr/bin/env bats
# WebAssembly functions: WASI command modules run by share/templates/wasm-glue.js in real
# workerd, through the config oys-capnp --wasm writes. C and WAT sources are compiled at test
# time (tests/fixtures/wasm/build); the helpers are in tests/fixtures/wasm/helpers.bash.

load test_helper/common-setup
load fixtures/wasm/helpers
setup() {
	common_setup
	PORT=$(oys-port)
}
teardown() { common_teardown; }

# ---- calling convention: stdin, stdout, arguments, environment ----

@test "factors.c built for wasm32-wasi answers exactly like factors.js" {
	wasm_serve "$EXAMPLES/factors.c"
	cp "$EXAMPLES/factors.js" f.js
	local wasm_port=$PORT
	PORT=$(oys-port)
	oys-capnp --js f.js --port "$PORT" -o js.capnp
	start_bg "$T/js.log" "$WORKERD" serve js.capnp
	wait_port "$PORT"
	local js_port=$PORT n js
	for n in 360 97 2 1000000007 600851475143 9007199254740991; do
		PORT=$js_port wasm_request / -H 'content-type: application/json' --data "{\"num\": $n}"
		js=$HTTP_BODY
		PORT=$wasm_port wasm_request / -H 'content-type: application/json' --data "{\"num\": $n}"
		[ "$HTTP_STATUS" = 200 ]
		[ "$HTTP_TYPE" = application/json ]
		[ "$HTTP_BODY" = "$js" ] || { echo "num $n: wasm $HTTP_BODY, js $js"; return 1; }
	done
	[ "$HTTP_BODY" = '{"num":9007199254740991,"factors":[6361,69431,20394401]}' ]
}

@test "factors.c on bad input: exit status 1 is a 500 that carries the status and stderr" {
	wasm_serve "$EXAMPLES/factors.c"
	wasm_request / --data '{"num": 1}'
	[ "$HTTP_STATUS" = 500 ]
	[ "$HTTP_TYPE" = application/json ]
	[ "$(wasm_error_field code)" = exit_status ]
	[ "$(wasm_error_field exit_status)" = 1 ]
	[ "$(wasm_error_field message)" = "function.wasm exited with status 1" ]
	[ "$(wasm_error_field stderr)" = 'factors: send JSON like {"num": 100}; num must be a whole number >= 2' ]
}

@test "arguments and environment come from ?arg, ?env and the input's args and env" {
	wasm_serve probe
	body='{"args": ["from input"], "env": {"MODE": "test"}, "num": 1}'
	wasm_request '/some/path?arg=-v&arg=two%20words&env=GREETING=hi%3Dthere' \
		-H 'content-type: application/json' --data "$body"
	[ "$HTTP_STATUS" = 200 ]
	[ "$HTTP_TYPE" = application/json ]
	[ "$(jq -c .argv <<<"$HTTP_BODY")" = '["function.wasm","-v","two words","from input"]' ]
	[ "$(jq -c .env <<<"$HTTP_BODY")" = '["REQUEST_METHOD=POST","PATH_INFO=/some/path","QUERY_STRING=arg=-v&arg=two%20words&env=GREETING=hi%3Dthere","CONTENT_TYPE=application/json","CONTENT_LENGTH='${#body}'","GREETING=hi=there","MODE=test"]' ]
	[ "$(jq .stdin_bytes <<<"$HTTP_BODY")" = "${#body}" ]
	# A GET: no body, no arguments.
	wasm_request /
	[ "$(jq -c '[.argv, .env[0], .stdin_bytes]' <<<"$HTTP_BODY")" = '[["function.wasm"],"REQUEST_METHOD=GET",0]' ]
	# args/env of another shape are the program's own input, left alone.
	wasm_request / --data '{"args": "not a list", "env": ["x"]}'
	[ "$(jq -c '[.argv, (.env | length)]' <<<"$HTTP_BODY")" = '[["function.wasm"],5]' ]
}

@test "arguments that cannot be C strings are refused with 400" {
	wasm_serve probe
	wasm_request '/?arg=a%00b'
	[ "$HTTP_STATUS" = 400 ]
	[ "$(wasm_error_field code)" = bad_request ]
	[ "$(wasm_error_field message)" = "an argument or environment value contains NUL" ]
	wasm_request '/?env=novalue'
	[ "$HTTP_STATUS" = 400 ]
	[ "$(wasm_error_field message)" = 'query parameter env="novalue" is not NAME=VALUE' ]
	wasm_request / --data '{"env": {"A=B": "c"}}'
	[ "$HTTP_STATUS" = 400 ]
	[ "$(wasm_error_field message)" = "env name \"A=B\" is empty or has '='" ]
}

@test "a C program sees no host: no files, no directories, no sockets; clocks, random and stderr work" {
	wasm_serve probe
	wasm_request / --data 'twelve bytes'
	[ "$HTTP_STATUS" = 200 ]
	# wasi-libc finds no preopened directory, so every path is ENOTCAPABLE (76) before any call.
	[ "$(jq -c '[.open_etc_passwd, .open_relative, .creat_tmp, .opendir_root, .mkdir, .stat_root]' <<<"$HTTP_BODY")" = '[76,76,76,76,76,76]' ]
	# ESPIPE, EBADF, EBADF, EINVAL, ENOTSOCK
	[ "$(jq -c '[.lseek_stdin, .read_fd3, .write_stdin, .fsync_stdout, .socket_accept_fd0]' <<<"$HTTP_BODY")" = '[70,8,8,28,57]' ]
	[ "$(jq -c '[.stdin_bytes, .fstat_stdin, .isatty_stdout, .sleep, .poll_stdin, .random_differs, .malloc_8m]' <<<"$HTTP_BODY")" = '[12,0,0,0,1,1,1]' ]
	local t
	t=$(jq .realtime_s <<<"$HTTP_BODY")
	[ $((t - $(date +%s))) -le 5 ]
	[ $(($(date +%s) - t)) -le 60 ]
	# stderr went to workerd's stderr, line by line, the unterminated last line too.
	grep -qx 'probe: first line' "$T/workerd.log"
	grep -qx 'probe: last line, no newline' "$T/workerd.log"
}

@test "every WASI preview1 function is there and answers a proper errno, never a crash" {
	wasm_serve all-imports
	wasm_request /
	[ "$HTTP_STATUS" = 200 ]
	local names=(fd_advise fd_allocate fd_datasync fd_sync fd_fdstat_set_flags fd_fdstat_set_rights
		fd_filestat_set_size fd_filestat_set_times fd_pread fd_pwrite fd_readdir fd_renumber
		fd_prestat_get fd_prestat_dir_name fd_seek fd_tell path_create_directory path_filestat_get
		path_filestat_set_times path_link path_open path_readlink path_remove_directory path_rename
		path_symlink path_unlink_file sock_accept sock_recv sock_send sock_shutdown proc_raise
		sched_yield clock_time_get clock_res_get random_get fd_close fd_read fd_write fd_fdstat_get
		fd_filestat_get poll_oneoff args_sizes_get args_get environ_sizes_get environ_get
		efault_random_get efault_clock_time_get efault_fd_fdstat_get efault_fd_write_iovec)
	local want=(8 8 28 8 58 58 28 58 70 70 8 58 8 8 70 70 8 8 8 8 8 8 8 8 8 54 57 8 57 8 52 0 28 0 0
		8 8 8 8 8 28 0 0 0 0 21 21 21 21)
	local got
	read -r -a got <<<"$(od -An -v -tu1 "$T/body" | tr -s ' \n' ' ')"
	[ "${#got[@]}" = "${#names[@]}" ]
	local i bad=0
	for i in "${!names[@]}"; do
		[ "${got[i]}" = "${want[i]}" ] || { echo "${names[i]}: errno ${got[i]}, want ${want[i]}"; bad=1; }
	done
	[ $bad = 0 ]
}

@test "stdin and stdout are byte-exact; the content type follows the output" {
	wasm_serve echo
	wasm_request / --data '{"a": [1, 2]}'
	[ "$HTTP_STATUS" = 200 ]
	[ "$HTTP_TYPE" = application/json ]
	[ "$HTTP_BODY" = '{"a": [1, 2]}' ]
	wasm_request / --data-binary $'héllo\n'
	[ "$HTTP_TYPE" = "text/plain; charset=utf-8" ]
	[ "$HTTP_BODY" = "héllo" ]
	wasm_request / --data-binary '{"not": json'
	[ "$HTTP_TYPE" = "text/plain; charset=utf-8" ]
	head -c 3000000 /dev/urandom >in.bin
	printf '\0\377' >>in.bin
	wasm_request / --data-binary @in.bin
	[ "$HTTP_STATUS" = 200 ]
	[ "$HTTP_TYPE" = application/octet-stream ]
	cmp in.bin "$T/body"
	wasm_request /
	[ "$HTTP_STATUS" = 200 ]
	[ ! -s "$T/body" ]
}

@test "a stderr flood is logged up to 256 KiB, then counted" {
	wasm_serve echo
	seq 1 100000 >lines.txt # 588,895 bytes
	wasm_request '/?arg=-2' --data-binary @lines.txt
	[ "$HTTP_STATUS" = 200 ]
	[ ! -s "$T/body" ]
	grep -qx 1 "$T/workerd.log"
	grep -qx 40000 "$T/workerd.log"
	run -1 grep -qx 100000 "$T/workerd.log"
	grep -qE '^\[function.wasm: [0-9]+ more bytes of stderr not logged\]$' "$T/workerd.log"
	[ "$(stat -c %s "$T/workerd.log")" -lt 300000 ]
}

# ---- errors ----

@test "exit status 3 with stderr text: 500 with the status and stderr's tail, stderr in the log" {
	wasm_serve exit3
	wasm_request /
	[ "$HTTP_STATUS" = 500 ]
	[ "$HTTP_TYPE" = application/json ]
	[ "$(wasm_error_field code)" = exit_status ]
	[ "$(wasm_error_field message)" = "function.wasm exited with status 3" ]
	[ "$(wasm_error_field exit_status)" = 3 ]
	[ "$(wasm_error_field stderr)" = $'exit3: reading the input\nexit3: cannot go on: the answer is not 42' ]
	[ "$(wasm_error_field stage)" = function ]
	[[ $HTTP_BODY != *"partial output"* ]]
	grep -qx 'exit3: cannot go on: the answer is not 42' "$T/workerd.log"
	# Any status, here from ?arg: echo -x 7 copies its input to stdout and exits 7.
	kill -KILL "$WORKERD_PID"
	wasm_serve echo
	wasm_request '/?arg=-x&arg=7' --data 'lost output'
	[ "$HTTP_STATUS" = 500 ]
	[ "$(wasm_error_field exit_status)" = 7 ]
	[ "$(wasm_error_field stderr)" = "" ]
}

@test "a trap (abort() in C, a stack overflow) is a 502 with stderr's tail; workerd lives on" {
	wasm_serve abort
	wasm_request /
	[ "$HTTP_STATUS" = 502 ]
	[ "$(wasm_error_field code)" = wasm_trap ]
	[ "$(wasm_error_field message)" = "function.wasm trapped: unreachable" ]
	[ "$(wasm_error_field stderr)" = "abort: giving up" ]
	[ "$(wasm_error_field exit_status)" = null ]
	kill -KILL "$WORKERD_PID"
	wasm_serve recurse
	wasm_request /
	[ "$HTTP_STATUS" = 502 ]
	[ "$(wasm_error_field message)" = "function.wasm trapped: Maximum call stack size exceeded" ]
	wasm_request /
	[ "$HTTP_STATUS" = 502 ]
}

@test "a module importing WASI functions the shim does not provide: 400 naming each one" {
	wasm_serve unknown-import
	wasm_request /
	[ "$HTTP_STATUS" = 400 ]
	[ "$(wasm_error_field code)" = unsupported_import ]
	[ "$(wasm_error_field imports)" = '["wasi_snapshot_preview1.sock_open","wasi_unstable.fd_write"]' ]
	[ "$(wasm_error_field message)" = "function.wasm imports wasi_snapshot_preview1.sock_open, wasi_unstable.fd_write, which oys does not provide (it gives WASI preview1 functions, wasi_snapshot_preview1.*, and nothing else)" ]
	kill -0 "$WORKERD_PID" # no crash
}

@test "a module without _start (a reactor) is refused with 400" {
	wasm_serve reactor
	wasm_request /
	[ "$HTTP_STATUS" = 400 ]
	[ "$(wasm_error_field code)" = not_a_command ]
	[ "$(wasm_error_field message)" = "function.wasm exports no _start function: oys runs WASI command modules (build with clang --target=wasm32-wasi, without -mexec-model=reactor)" ]
}

@test "a file that is not valid Wasm: workerd refuses to start and names the compile error" {
	printf 'this is not wasm\n' >function.wasm
	oys-capnp --wasm function.wasm --port "$PORT" -o c.capnp
	run -1 --separate-stderr timeout 20 "$WORKERD" serve c.capnp
	[[ $stderr == *"service main: Uncaught CompileError: WasmModuleObject::Compile(): expected magic word 00 61 73 6d, found 74 68 69 73 @+0"* ]]
	# A truncated module (magic bytes right, sections cut).
	head -c 300 "$(wasm_build probe)" >function.wasm
	run -1 --separate-stderr timeout 20 "$WORKERD" serve c.capnp
	[[ $stderr == *"service main: Uncaught CompileError: WasmModuleObject::Compile(): "* ]]
	[ -z "$(stray_processes)" ]
}

# ---- limits ----

@test "an endless loop holds the request until workerd is killed: SIGTERM is not enough, SIGKILL is" {
	wasm_serve loop
	curl -sS --max-time 60 "http://127.0.0.1:$PORT/" >curl.out 2>&1 &
	local curl_pid=$! ticks rc=0
	sleep 1
	kill -0 "$curl_pid" # no answer
	ticks=$(awk '{print $14 + $15}' "/proc/$WORKERD_PID/stat")
	[ "$ticks" -ge 50 ] # the loop spins: half a second of CPU at least
	kill -TERM "$WORKERD_PID"
	sleep 1
	kill -0 "$WORKERD_PID" # workerd waits for the request, which never ends
	kill -0 "$curl_pid"
	kill -KILL "$WORKERD_PID"
	wait "$curl_pid" || rc=$?
	[ "$rc" = 52 ] # curl: empty reply from server
	wait_for 5 sh -c "! kill -0 $WORKERD_PID 2>/dev/null"
	[ -z "$(stray_processes)" ]
}

@test "memory grown without bound stops at the 64 MiB cap: 502 memory_limit, and it is freed" {
	wasm_serve grow
	local i rss
	for i in 1 2 3 4; do
		wasm_request /
		[ "$HTTP_STATUS" = 502 ]
		[ "$(wasm_error_field code)" = memory_limit ]
		[ "$(wasm_error_field message)" = "function.wasm trapped: unreachable with its linear memory at 64 MiB of the 64 MiB cap" ]
		[ "$(wasm_error_field memory_bytes)" = 67108864 ]
		[ "$(wasm_error_field memory_limit_bytes)" = 67108864 ]
	done
	# One run's memory at most, not four: a reused process frees the last run's memory.
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$WORKERD_PID/status")
	[ "$rss" -lt $((200 * 1024)) ] || { echo "workerd RSS $rss kB"; return 1; }
	kill -KILL "$WORKERD_PID"
	wait_for 5 sh -c "! kill -0 $WORKERD_PID 2>/dev/null"
	[ -z "$(stray_processes)" ]
}

@test "malloc in C gets NULL at the cap: the program's own error, reported as memory_limit" {
	wasm_serve alloc
	wasm_request '/?arg=32'
	[ "$HTTP_STATUS" = 200 ]
	[ "$HTTP_BODY" = '{"mib":32,"sum":528}' ]
	wasm_request '/?arg=200'
	[ "$HTTP_STATUS" = 502 ]
	[ "$(wasm_error_field code)" = memory_limit ]
	[ "$(wasm_error_field exit_status)" = 1 ]
	[[ $(wasm_error_field stderr) == "alloc: out of memory after 6"[0-9]" MiB" ]]
	[[ $(wasm_error_field message) == "function.wasm exited with status 1 with its linear memory at 6"*" MiB of the 64 MiB cap" ]]
}

@test "a module declaring more initial memory than the cap: 502 memory_limit" {
	wasm_serve big-memory
	wasm_request /
	[ "$HTTP_STATUS" = 502 ]
	[ "$(wasm_error_field code)" = memory_limit ]
	[ "$(wasm_error_field message)" = "function.wasm cannot get its initial memory (the cap is 64 MiB): WebAssembly.Instance(): Out of memory: Cannot allocate Wasm memory for new instance" ]
}
