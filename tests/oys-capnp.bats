#!/usr/bin/env bats
# oys-capnp: configs that real workerd serves, a network policy that holds, and names that
# cannot break out of the config.

load test_helper/common-setup
setup() {
	common_setup
	PORT=$(oys-port)
}
teardown() {
	common_teardown
	if [ -f "$T/.host-addr" ]; then ip addr del "$(cat "$T/.host-addr")/32" dev lo 2>/dev/null || true; fi
}

post() { curl -sS --max-time 10 -H 'content-type: application/json' --data "$2" "http://127.0.0.1:$PORT$1"; }

@test "an ES-module function served by real workerd computes prime factors" {
	cp "$EXAMPLES/factors.js" f.js
	oys-capnp --js f.js --port "$PORT" >c.capnp
	grep -q 'esModule = embed "f.js"' c.capnp
	serve_workerd c.capnp
	run -0 post / '{"num": 360}'
	[ "$output" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
}

@test "a service-worker script (addEventListener) is detected and served" {
	cp "$EXAMPLES/factors-sw.js" f.js
	oys-capnp --js f.js --port "$PORT" >c.capnp
	grep -q 'serviceWorkerScript = embed "f.js"' c.capnp
	serve_workerd c.capnp
	run -0 post / '{"num": 97}'
	[ "$output" = '{"num":97,"factors":[97]}' ]
}

@test "--syntax overrides detection, and a wrong guess fails visibly" {
	cp "$FIXTURES/js/hello-sw.js" f.js
	oys-capnp --js f.js --syntax module --port "$PORT" >c.capnp
	grep -q 'esModule' c.capnp
	run -64 --separate-stderr oys-capnp --js f.js --syntax wasm
	[ "$stderr" = "oys-capnp: --syntax: 'wasm' is not auto, module or service-worker (see oys-capnp --help)" ]
}

@test "a named socket (for --socket-fd) is left for workerd's command line" {
	cp "$EXAMPLES/factors.js" f.js
	oys-capnp --js f.js --socket web >c.capnp
	grep -q '(name = "web", http = (), service = "main")' c.capnp
	start_bg "$T/workerd.log" "$WORKERD" serve c.capnp --socket-addr "web=127.0.0.1:$PORT"
	wait_port "$PORT"
	run -0 post / '{"num": 12}'
	[ "$output" = '{"num":12,"factors":[2,2,3]}' ]
}

@test "-o writes the config atomically, with embeds relative to its own directory" {
	mkdir -p code out elsewhere
	cp "$EXAMPLES/factors.js" code/f.js
	oys-capnp --js code/f.js --port "$PORT" -o out/c.capnp
	grep -q 'embed "../code/f.js"' out/c.capnp
	[ -z "$(ls -A out | grep -v '^c.capnp$')" ]
	cd elsewhere
	serve_workerd "$T/out/c.capnp"
	run -0 post / '{"num": 10}'
	[ "$output" = '{"num":10,"factors":[2,5]}' ]
}

# refusals: how many outbound connections workerd refused by policy so far.
refusals() { grep -c 'is not allowed' "$T/workerd.log" || true; }

# try_outbound POLICY [URL...]: every spelling of loopback, "this host" and link-local (and
# the URLs given) is refused by workerd's policy, one refusal logged per URL, and the sink
# sees nothing.
try_outbound() {
	local policy=$1
	shift
	cp "$FIXTURES/js/outbound.js" f.js
	oys-capnp --js f.js --port "$PORT" --outbound "$policy" >c.capnp
	serve_workerd c.capnp
	local u n=0
	for u in "127.0.0.1:$SINK_PORT" "127.1:$SINK_PORT" "2130706433:$SINK_PORT" "0x7f000001:$SINK_PORT" \
		"[::ffff:127.0.0.1]:$SINK_PORT" "[::ffff:7f00:1]:$SINK_PORT" "[64:ff9b::7f00:1]:$SINK_PORT" \
		"[::1]:$SINK_PORT" "[::]:$SINK_PORT" "localhost:$SINK_PORT" "0.0.0.0:$SINK_PORT" \
		"[::ffff:0.0.0.0]:$SINK_PORT" "169.254.169.254" "[::ffff:169.254.169.254]" \
		"[64:ff9b::a9fe:a9fe]" "$@"; do
		n=$((n + 1))
		run -0 curl -sS --max-time 10 -G --data-urlencode "u=http://$u/" "http://127.0.0.1:$PORT/"
		[[ $output == "refused: "* ]] || { echo "reached $u: $output"; return 1; }
		# refused by workerd's policy (not by a dead sink or a missing route)
		wait_for 5 eval '[ "$(refusals)" -ge "$n" ]' || { echo "$u: not refused by policy"; cat "$T/workerd.log"; return 1; }
	done
	grep -q "connecting to 127.0.0.1:$SINK_PORT is not allowed" "$T/workerd.log"
	sink_untouched
	curl -sS --max-time 5 "http://127.0.0.1:$SINK_PORT/" | grep -q secret # the sink itself works
	wait_for 5 eval '[ "$(accepted "$T/sink.log")" -gt "$SINK_SEEN" ]' # (that call, logged)
	SINK_SEEN=$(accepted "$T/sink.log")
}

@test "outbound none (the default): fetch() reaches no loopback server" {
	start_sink
	try_outbound none
	grep -q 'network = (allow = \[\])' c.capnp
}

@test "outbound public: loopback and link-local are still refused" {
	start_sink
	try_outbound public
}

@test "outbound CIDRs: even 0.0.0.0/0 and ::/0 never reach loopback" {
	start_sink
	try_outbound 0.0.0.0/0,::/0
	grep -q '"local"' c.capnp
}

@test "outbound ::ffff:0:0/96 (more specific than 127.0.0.0/8) does not reach [::ffff:127.0.0.1]" {
	start_sink
	try_outbound ::ffff:0:0/96
	grep -q '"::ffff:127.0.0.0/104"' c.capnp
}

@test "outbound private (workerd's list holds loopback and 0.0.0.0/32) reaches none of them" {
	start_sink
	try_outbound private,public
}

@test "an allowed CIDR inside an always-denied range is refused before any config is written" {
	cp "$EXAMPLES/factors.js" f.js
	run -64 --separate-stderr oys-capnp --js f.js --outbound 127.0.0.1/32 -o c.capnp
	[ "$stderr" = "oys-capnp: outbound policy: 127.0.0.1/32 lies inside 127.0.0.0/8 (loopback), which a function never reaches" ]
	[ -z "$output" ]
	[ ! -e c.capnp ]
	for cidr in 127.0.0.1 10.0.0.0/8,127.0.0.0/8 0.0.0.0/32 169.254.169.254/32 ::1 ::/128 fe80::1/128 \
		::ffff:127.0.0.1/128 ::ffff:7f00:0/104 ::ffff:169.254.169.254 64:ff9b::7f00:1 64:ff9b::a9fe:a9fe/128 \
		64:ff9b::/104; do
		run -64 --separate-stderr oys-capnp --js f.js --outbound "$cidr"
		[[ $stderr == "oys-capnp: outbound policy: "*" lies inside "*", which a function never reaches" ]] ||
			{ echo "$cidr: $stderr"; return 1; }
		[ -z "$output" ]
	done
	# the same through oys-run's setting
	OYS_OUTBOUND=127.0.0.1/32 run -64 --separate-stderr oys-capnp --js f.js
	[ "$stderr" = "oys-capnp: outbound policy: 127.0.0.1/32 lies inside 127.0.0.0/8 (loopback), which a function never reaches" ]
	# ranges that contain a denied one are fine: the denies win inside them
	oys-capnp --js f.js --outbound 0.0.0.0/0,::ffff:0:0/96,64:ff9b::/96,127.0.0.0/7 >/dev/null
}

# An address of this host that is not loopback: one the test adds to lo (so nothing outside the
# machine can reach it, as with loopback; the machine's own eth0 address would put the sink on
# a real network), removed in teardown. Sets HOST_ADDR.
add_host_addr() {
	local i
	for i in 1 2 3 4 5; do
		HOST_ADDR=198.18.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
		ip addr add "$HOST_ADDR/32" dev lo 2>/dev/null && break
		HOST_ADDR=
	done
	[ -n "$HOST_ADDR" ] || skip "cannot add an address to lo (no CAP_NET_ADMIN here)"
	echo "$HOST_ADDR" >"$T/.host-addr"
}

# start_host_sink: the sink of start_sink on HOST_ADDR instead of 127.0.0.1.
start_host_sink() {
	HOST_SINK_PORT=$(oys-port)
	reply_script "$T/host-sink.sh" 'HTTP/1.0 200 OK\r\n\r\nsecret'
	start_bg "$T/host-sink.log" socat -d -d "TCP-LISTEN:$HOST_SINK_PORT,bind=$HOST_ADDR,reuseaddr,fork" "EXEC:$T/host-sink.sh"
	wait_for 10 bash -c "exec 3<>/dev/tcp/$HOST_ADDR/$HOST_SINK_PORT" 2>/dev/null
}

@test "outbound public and CIDRs: the host's own addresses are denied, read when the config is rendered" {
	start_sink
	add_host_addr
	start_host_sink
	# The sink on the host's address answers a client on the host: it is there to be reached.
	curl -sS --max-time 5 "http://$HOST_ADDR:$HOST_SINK_PORT/" | grep -q secret
	# the probe and this call, each logged a moment after it connected
	wait_for 5 eval '[ "$(accepted "$T/host-sink.log")" -ge 2 ]'
	seen=$(accepted "$T/host-sink.log")
	for policy in public 0.0.0.0/0,::/0 ::ffff:0:0/96,198.18.0.0/15; do
		try_outbound "$policy" "$HOST_ADDR:$HOST_SINK_PORT" "[::ffff:$HOST_ADDR]:$HOST_SINK_PORT"
		grep -q "connecting to $HOST_ADDR:$HOST_SINK_PORT is not allowed" "$T/workerd.log"
		grep -qF "\"$HOST_ADDR/32\", \"::ffff:$HOST_ADDR/128\", \"64:ff9b::$HOST_ADDR/128\"" c.capnp
		kill -TERM "$WORKERD_PID"
		wait_for 10 bash -c "! kill -0 $WORKERD_PID 2>/dev/null"
		: >"$T/workerd.log"
	done
	[ "$(accepted "$T/host-sink.log")" = "$seen" ] || { cat "$T/host-sink.log"; return 1; }
	# every address of every interface is denied (the machine's own eth0 one too)
	for a in $(ip -o addr show | awk '{print $4}' | cut -d/ -f1); do
		case $a in 127.* | ::1 | fe80:*) continue ;; esac
		[[ $a == *:* ]] && want="\"$a/128\"" || want="\"$a/32\""
		grep -qF "$want" c.capnp || { echo "$a not denied"; return 1; }
	done
	# and allowing one of them is refused
	run -64 --separate-stderr oys-capnp --js f.js --outbound "$HOST_ADDR/32"
	[ "$stderr" = "oys-capnp: outbound policy: $HOST_ADDR/32 is this host's own address $HOST_ADDR/32 (interface lo), which a function never reaches" ]
}

@test "OYS_OUTBOUND sets the policy when no flag is given" {
	cp "$EXAMPLES/factors.js" f.js
	OYS_OUTBOUND=public oys-capnp --js f.js >c.capnp
	grep -q 'allow = \["public"\]' c.capnp
}

@test "a bad outbound policy is refused before any config is written" {
	cp "$EXAMPLES/factors.js" f.js
	run -64 --separate-stderr oys-capnp --js f.js --outbound '10.0.0.0/8"], deny = ['
	[ -z "$output" ]
	[ "$stderr" = "oys-capnp: outbound policy: '10.0.0.0/8\"]' is not a CIDR (like 10.0.0.0/8), public or private" ]
	run -64 --separate-stderr oys-capnp --js f.js --outbound 10.0.0.0/33
	[ "$stderr" = "oys-capnp: outbound policy: '10.0.0.0/33' is not a CIDR (like 10.0.0.0/8), public or private" ]
	run -64 --separate-stderr oys-capnp --js f.js --outbound ''
	[ "$stderr" = "oys-capnp: outbound policy is empty (use none, public or CIDRs)" ]
}

@test "a syntax error makes workerd fail at start with the line of the error" {
	cp "$FIXTURES/js/syntax-error.js" f.js
	oys-capnp --js f.js --port "$PORT" >c.capnp
	run -1 --separate-stderr timeout 20 "$WORKERD" serve c.capnp
	[[ $stderr == *"Uncaught SyntaxError: missing ) after argument list"* ]]
	[[ $stderr == *"at worker.js:2:"* ]]
}

@test "quotes and backslashes in a file name are escaped, and workerd reads the file" {
	name='we"ird\na$me `x`.js'
	cp "$EXAMPLES/factors.js" "$name"
	oys-capnp --js "$name" --port "$PORT" >c.capnp
	grep -qF 'embed "we\"ird\\na$me `x`.js"' c.capnp
	serve_workerd c.capnp
	run -0 post / '{"num": 6}'
	[ "$output" = '{"num":6,"factors":[2,3]}' ]
}

@test "a newline in a file name is refused: nothing is written" {
	name=$'evil.js")]);\nconst x = ("'
	cp "$EXAMPLES/factors.js" "$name"
	run -64 --separate-stderr oys-capnp --js "$name" -o c.capnp
	[ -z "$output" ]
	[ "$stderr" = "oys-capnp: code file name contains a control character" ]
	[ ! -e c.capnp ]
}

@test "../ in a path stays a plain relative path inside a string" {
	mkdir -p a/b
	cp "$EXAMPLES/factors.js" f.js
	cd a/b
	oys-capnp --js ../../f.js --port "$PORT" >c.capnp
	[ "$(grep -c embed c.capnp)" = 1 ]
	grep -q 'embed "../../f.js"' c.capnp
	serve_workerd c.capnp
	run -0 post / '{"num": 4}'
	[ "$output" = '{"num":4,"factors":[2,2]}' ]
}

@test "bad values are refused with one line: date, flag, socket name, port" {
	cp "$EXAMPLES/factors.js" f.js
	run -64 --separate-stderr oys-capnp --js f.js --compat-date '2024-01-01"'
	[ "$stderr" = "oys-capnp: compatibility date '2024-01-01\"' is not YYYY-MM-DD" ]
	run -64 --separate-stderr oys-capnp --js f.js --compat-flag 'nodejs_compat", "x'
	[ "$stderr" = "oys-capnp: compatibility flag 'nodejs_compat\", \"x' is not a flag name" ]
	run -64 --separate-stderr oys-capnp --js f.js --socket 'a b'
	[ "$stderr" = "oys-capnp: socket name 'a b': use letters, digits, '-' and '_'" ]
	run -64 --separate-stderr oys-capnp --js f.js --port 70000
	[ "$stderr" = "oys-capnp: --port: '70000' is not a whole number from 1 to 65535 (see oys-capnp --help)" ]
}

@test "functions get no experimental or unsafe features: those flags are refused" {
	cp "$EXAMPLES/factors.js" f.js
	for flag in experimental unsafe_eval unsafe_module; do
		run -64 --separate-stderr oys-capnp --js f.js --compat-flag "$flag"
		[ -z "$output" ]
		[ "$stderr" = "oys-capnp: compatibility flag '$flag' is not allowed: functions get no experimental or unsafe features" ]
	done
	run -0 oys-capnp --js f.js --compat-flag nodejs_compat
	[[ $output == *'compatibilityFlags = [ "nodejs_compat" ]'* ]]
}

@test "compatibility date and flags reach the config and workerd accepts them" {
	cp "$EXAMPLES/factors.js" f.js
	oys-capnp --js f.js --port "$PORT" --compat-date 2024-09-23 --compat-flag nodejs_compat >c.capnp
	grep -q 'compatibilityDate = "2024-09-23"' c.capnp
	grep -q 'compatibilityFlags = \[ "nodejs_compat" \]' c.capnp
	serve_workerd c.capnp
	run -0 post / '{"num": 9}'
	[ "$output" = '{"num":9,"factors":[3,3]}' ]
}

@test "a missing code file is exit 66, a Wasm binary given as --js is exit 65" {
	run -66 --separate-stderr oys-capnp --js nope.js
	[ "$stderr" = "oys-capnp: cannot open nope.js: No such file or directory" ]
	printf '\0asm\1\0\0\0' >m.wasm
	run -65 --separate-stderr oys-capnp --js m.wasm
	[ "$stderr" = "oys-capnp: m.wasm is a WebAssembly binary: use --wasm" ]
}

@test "a Wasm module gets the Wasm template with the glue next to it" {
	printf '\0asm\1\0\0\0' >m.wasm
	oys-capnp --code m.wasm >c.capnp
	grep -q 'wasm = embed "m.wasm"' c.capnp
	grep -q 'esModule = embed ".*wasm-glue.js"' c.capnp
}

@test "a broken template is a configuration error (78) naming it" {
	mkdir -p share/templates
	printf 'bad @@NOPE@@\n' >share/templates/worker-esm.capnp
	cp "$EXAMPLES/factors.js" f.js
	OYS_SHARE_DIR=$T/share run -78 --separate-stderr oys-capnp --js f.js
	[ "$stderr" = "oys-capnp: template worker-esm.capnp: unknown placeholder @@NOPE@@" ]
	OYS_SHARE_DIR=$T/nowhere run -78 --separate-stderr oys-capnp --js f.js
	[ "$stderr" = "oys-capnp: OYS_SHARE_DIR $T/nowhere has no templates directory" ]
}
