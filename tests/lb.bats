#!/usr/bin/env bats
# Many enclave hosts behind a real HAProxy 2.6 configured by share/templates/haproxy.cfg.
# A "host" here is what an enclave is, without vsock: socat TCP-LISTEN on 127.0.0.1 running
# oys-serve, with a runtime directory and a cgroup pool of its own, and a second socat running
# `oys-serve --agent` with the same environment for HAProxy's agent check. HAProxy logs one
# line per request (option httplog, with oys's request id) to $T/haproxy.log.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
	SLOW=$(put_fn "$FN/slow.js")
	HOSTS=()
}
teardown() {
	common_teardown
	pool_teardown
}

# host_start NAME SANDBOXES [VAR=VALUE...]: a host with a pool of that size (and that
# environment); sets HOST_PORT_<NAME>, AGENT_PORT_<NAME>, HOST_PID_<NAME> and AGENT_PID_<NAME>
# (the socats: their process groups are the host).
host_start() {
	local name=$1 n=$2 prefix="oyst${BATS_TEST_NUMBER}p$$${1}_" port aport
	shift 2
	mkdir -p "$T/$name"
	echo "$prefix $T/$name/run" >>"$BATS_TEST_TMPDIR/.pools"
	OYS_CGROUP_PREFIX=$prefix OYS_RUNTIME_DIR=$T/$name/run oys-cgroup setup --count "$n" --memory 128M >/dev/null
	port=$(oys-port)
	start_bg "$T/$name/serve.log" env OYS_RUNTIME_DIR="$T/$name/run" OYS_CGROUP_PREFIX="$prefix" "$@" \
		socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:oys-serve
	printf -v "HOST_PID_$name" %s "$BG_PID"
	wait_port "$port"
	aport=$(oys-port)
	start_bg "$T/$name/agent.log" env OYS_RUNTIME_DIR="$T/$name/run" OYS_CGROUP_PREFIX="$prefix" "$@" \
		socat "TCP-LISTEN:$aport,bind=127.0.0.1,reuseaddr,fork" EXEC:'oys-serve --agent'
	printf -v "AGENT_PID_$name" %s "$BG_PID"
	wait_port "$aport"
	printf -v "HOST_PORT_$name" %s "$port"
	printf -v "AGENT_PORT_$name" %s "$aport"
	printf -v "POOL_$name" %s "$n"
	HOSTS+=("$name")
}

# lb_start: HAProxy from the template, the server list replaced by this test's hosts; waits
# until every host's agent has reported its pool (maxconn and weight = the pool's size).
lb_start() {
	local h lines="" port aport
	for h in "${HOSTS[@]}"; do
		port=HOST_PORT_$h aport=AGENT_PORT_$h
		lines+="    server $h 127.0.0.1:${!port} agent-port ${!aport}\n"
	done
	sed -e "/# BEGIN servers/,/# END servers/c\\
$lines" "$ROOT/share/templates/haproxy.cfg" >"$T/haproxy.cfg"
	LB_PORT=$(oys-port)
	STATS_PORT=$(oys-port)
	export OYS_LB_BIND=127.0.0.1:$LB_PORT OYS_LB_STATS_BIND=127.0.0.1:$STATS_PORT OYS_LB_SOCKET=$T/lb.sock
	haproxy -c -q -f "$T/haproxy.cfg"
	start_bg "$T/haproxy.log" haproxy -db -f "$T/haproxy.cfg"
	LB_PID=$BG_PID
	wait_port "$LB_PORT"
	wait_for 10 agents_reported || { lb_stat; return 1; }
}

# lb_stat: HAProxy's "show stat" for the hosts: name status scur smax slim weight wretr wredis.
lb_stat() {
	echo "show stat" | socat - "UNIX-CONNECT:$T/lb.sock" | awk -F, '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == "oys_enclaves" && $2 != "BACKEND" {
			print $2, $col["status"], $col["scur"], $col["smax"], $col["slim"], $col["weight"], $col["wretr"], $col["wredis"]
		}'
}

agents_reported() {
	local h pool want="" got
	for h in "${HOSTS[@]}"; do
		pool=POOL_$h
		want+="$h UP ${!pool} ${!pool}"$'\n'
	done
	got=$(lb_stat | awk '{ print $1, $2, $5, $6 }')
	[ "$got"$'\n' = "$want" ]
}

# load N CONCURRENCY MS: N calls of the slow function (MS milliseconds each) through HAProxy,
# CONCURRENCY at a time; $T/load/N.code holds each status, $T/load/N.body each body.
load_run() {
	mkdir -p "$T/load"
	export T LB_PORT SLOW
	seq 1 "$1" | xargs -P "$2" -I{} bash -c 'curl -sS --max-time 60 -o "$T/load/{}.body" -w "%{http_code}" \
		-H "content-type: application/json" --data-binary "{\"code_id\": \"$SLOW\", \"input\": {\"ms\": '"$3"'}}" \
		"http://127.0.0.1:$LB_PORT/api/serverless" >"$T/load/{}.code" 2>>"$T/load/curl.err"'
}

load_all_ok() {
	local n=$1 i bad=0
	for i in $(seq 1 "$n"); do
		if [ "$(cat "$T/load/$i.code" 2>/dev/null)" != 200 ]; then
			echo "request $i: $(cat "$T/load/$i.code" 2>/dev/null) $(cat "$T/load/$i.body" 2>/dev/null)"
			bad=$((bad + 1))
		fi
	done
	[ $bad = 0 ]
}

# served NAME [STATUS|any]: function calls a host answered (with that status; default 200).
served() {
	grep '"event":"request"' "$T/$1/serve.log" | jq -s --arg st "${2:-200}" \
		'[.[] | select(.path == "/api/serverless" and ($st == "any" or .status == ($st | tonumber)))] | length'
}

served_at_least() {
	[ "$(served "$1")" -ge "$2" ]
}

# logged N: the hosts' logs have N function calls (a host writes its line after the teardown,
# a little after the client has its answer); lb_logged N: HAProxy's log has N.
logged() {
	local h n=0
	for h in "${HOSTS[@]}"; do n=$((n + $(served "$h" any))); done
	[ "$n" -ge "$1" ]
}
lb_logged() {
	[ "$(lb_lines | wc -l)" -ge "$1" ]
}

# inflight NAME: requests HAProxy has on a host now; inflight_at_least NAME N.
inflight() {
	lb_stat | awk -v h="$1" '$1 == h { print $3 }'
}
inflight_at_least() {
	[ "$(inflight "$1")" -ge "$2" ]
}

# lb_lines: HAProxy's lines for function calls as "server status retries" (retries "+N" when
# the request went to another host).
lb_lines() {
	grep '"POST /api/serverless ' "$T/haproxy.log" | awk '{ split($4, s, "/"); split($11, c, "/"); print s[2], $6, c[5] }'
}

# intervals NAME: "start end" in ms of each function call on a host, from its log: the request
# began ms.request before the line was written, and its answer was out ms.teardown before.
intervals() {
	grep '"event":"request"' "$T/$1/serve.log" | jq -r 'select(.path == "/api/serverless") |
		(.time | capture("^(?<s>[^.]+)\\.(?<ms>[0-9]+)Z$")) as $t |
		(($t.s + "Z" | fromdate) * 1000 + ($t.ms | tonumber)) as $logged |
		"\($logged - .ms.request) \($logged - (.ms.teardown // 0))"'
}

# max_concurrent NAME: the most calls a host had at once between arrival and answer (the log
# has millisecond times: intervals that touch within 1 ms are not counted as overlapping).
max_concurrent() {
	intervals "$1" | awk '{ printf "%.3f 1\n%.3f -1\n", $1 + 1, $2 - 1 }' | sort -k1,1g -k2,2n |
		awk '{ c += $2; if (c > m) m = c } END { print m + 0 }'
}

@test "the agent reports the pool size, 'drain' while draining, 'down' without a pool" {
	host_start h1 3
	run -0 socat -T 5 - "TCP:127.0.0.1:$AGENT_PORT_h1"
	[ "$output" = "up ready maxconn:3 300%" ]
	curl -sS -o /dev/null --data-binary '' "http://127.0.0.1:$HOST_PORT_h1/unregister"
	run -0 socat -T 5 - "TCP:127.0.0.1:$AGENT_PORT_h1"
	[ "$output" = drain ]
	run -0 env OYS_RUNTIME_DIR="$T/other" OYS_CGROUP_PREFIX=oyst_no_such_pool_ oys-serve --agent
	[ "$output" = "down#no cgroup pool" ]
}

@test "requests spread by free capacity; no host gets more than its sandboxes, nobody gets 429" {
	host_start h1 1
	host_start h2 2
	host_start h4 4
	lb_start
	# 42 calls of 400 ms, 9 at a time: more than the biggest host (4) and than all (7) can take
	load_run 42 9 400
	load_all_ok 42
	wait_for 5 logged 42
	n1=$(served h1) n2=$(served h2) n4=$(served h4)
	echo "# spread: h1 (1 sandbox) $n1, h2 (2) $n2, h4 (4) $n4" >&3
	[ $((n1 + n2 + n4)) = 42 ]
	[ "$n1" -ge 1 ]
	[ "$n4" -gt "$n2" ]
	[ "$n2" -gt "$n1" ]
	# no host answered 429 or anything but 200, and none had more calls at once than sandboxes
	for h in h1 h2 h4; do
		[ "$(served "$h" any)" = "$(served "$h")" ]
		run -1 grep -q '"error":"no_sandbox"' "$T/$h/serve.log"
	done
	c1=$(max_concurrent h1) c2=$(max_concurrent h2) c4=$(max_concurrent h4)
	echo "# most at once (host logs): h1 $c1, h2 $c2, h4 $c4" >&3
	[ "$c1" -le 1 ]
	[ "$c2" -le 2 ]
	[ "$c4" -le 4 ]
	[ "$c4" -ge 3 ]
	# HAProxy's own count of requests in flight per host: at most the pool, and the pool reached
	run -0 lb_stat
	echo "# show stat (name status scur smax slim weight wretr wredis): ${output//$'\n'/; }" >&3
	[ "$(awk '{ printf "%s=%s ", $1, $4 }' <<<"$output")" = "h1=1 h2=2 h4=4 " ]
	# every HAProxy line names the host and carries oys's request id, found in that host's log
	line=$(grep ' oys_enclaves/h4 ' "$T/haproxy.log" | grep '/api/serverless' | head -1)
	id=$(grep -oE '\{[0-9a-f]{32}\}' <<<"$line" | tr -d '{}')
	grep -q "\"request_id\":\"$id\"" "$T/h4/serve.log"
}

@test "a draining host stops receiving new requests, without a client error; undrain brings it back" {
	# the hosts run new requests for 1 s after /unregister (--drain-grace), while the agent's
	# "drain" (every 0.5 s) takes them out of HAProxy's rotation
	host_start h1 2 OYS_DRAIN_GRACE=1
	host_start h2 2 OYS_DRAIN_GRACE=1
	host_start h4 4 OYS_DRAIN_GRACE=1
	lb_start
	# 7 at a time: the whole capacity, more than h1 and h2 can take without h4
	load_run 42 7 400 &
	lpid=$!
	wait_for 20 served_at_least h4 3
	run -0 curl -sS --data-binary '' "http://127.0.0.1:$HOST_PORT_h4/unregister"
	[ "$output" = '{"draining":true}' ]
	drained=$(date +%s%3N)
	wait "$lpid"
	load_all_ok 42
	wait_for 5 logged 42
	# from the agent's next check on, h4 got nothing (none at all 1 s after); the others kept
	# serving; h4 refused nothing (no 503 draining)
	late=$(intervals h4 | awk -v t=$((drained + 1000)) '$1 > t' | wc -l)
	others=$(cat <(intervals h1) <(intervals h2) | awk -v t=$((drained + 1000)) '$1 > t' | wc -l)
	last=$(intervals h4 | awk -v t="$drained" 'BEGIN { m = -1e9 } $1 - t > m { m = $1 - t } END { printf "%d", m }')
	echo "# drain: h4 answered $(served h4) calls, its last call arriving at $last ms from /unregister, $(served h4 503) refused; h1+h2 $others after 1 s" >&3
	[ "$late" = 0 ]
	[ "$others" -ge 6 ]
	[ "$(served h4 any)" = "$(served h4)" ]
	# HAProxy has h4 out of rotation (the agent said "drain"; /healthz answers 503)
	[ "$(lb_stat | awk '$1 == "h4" { print $2 }')" = DOWN ]
	# undrain: the agent says "up ready", the health check passes, h4 takes requests again
	curl -sS -o /dev/null --data-binary '' "http://127.0.0.1:$HOST_PORT_h4/register"
	wait_for 10 bash -c "echo 'show stat' | socat - 'UNIX-CONNECT:$T/lb.sock' | grep -q '^oys_enclaves,h4,.*,UP,'"
	before=$(served h4)
	rm -rf "$T/load"
	load_run 14 7 300
	load_all_ok 14
	wait_for 5 served_at_least h4 $((before + 1))
}

@test "without a drain grace, the requests a draining host refuses are retried on the others" {
	host_start h1 2
	host_start h4 4
	# h4's agent does not see the drain (another runtime directory): HAProxy learns it from
	# /healthz alone, two failed checks later, and h4 refuses (503 draining) what comes meanwhile
	kill -TERM -- "-$AGENT_PID_h4"
	start_bg "$T/h4/agent.log" env OYS_RUNTIME_DIR="$T/h4/agent-run" OYS_CGROUP_PREFIX="oyst${BATS_TEST_NUMBER}p$$h4_" \
		socat "TCP-LISTEN:$AGENT_PORT_h4,bind=127.0.0.1,reuseaddr,fork" EXEC:'oys-serve --agent'
	wait_port "$AGENT_PORT_h4"
	lb_start
	# 2 at a time: h1 can take every request h4 refuses
	load_run 24 2 300 &
	lpid=$!
	wait_for 20 served_at_least h4 2
	curl -sS -o /dev/null --data-binary '' "http://127.0.0.1:$HOST_PORT_h4/unregister"
	wait "$lpid"
	load_all_ok 24
	wait_for 5 lb_logged 24
	refused=$(served h4 503)
	retried=$(lb_lines | awk '$3 != "0"' | wc -l)
	echo "# drain without grace, before HAProxy knew: h4 refused $refused, HAProxy retried $retried, every client got 200" >&3
	[ "$refused" -ge 1 ]
	[ "$retried" -ge "$refused" ]
}

@test "killing a host mid-load loses no request: the ones it held and refused are retried elsewhere" {
	host_start h1 2
	host_start h2 2
	host_start h4 4
	lb_start
	load_run 60 8 500 &
	lpid=$!
	# kill h4 (its socat, every oys-serve and workerd under it, its agent) while it runs requests
	wait_for 30 served_at_least h4 4
	wait_for 10 inflight_at_least h4 3
	held=$(inflight h4)
	kill -KILL -- "-$HOST_PID_h4" "-$AGENT_PID_h4"
	wait "$lpid"
	load_all_ok 60
	wait_for 5 lb_logged 60
	# every call was answered once (HAProxy's log: 60 lines, all 200); what h4 held when it
	# died (empty-response) or was sent afterwards (conn-failure) HAProxy moved to another host:
	# its redispatches away from h4 are exactly the retried calls, all ending on h1 or h2
	[ "$(lb_lines | wc -l)" = 60 ]
	[ "$(lb_lines | awk '$2 != 200' | wc -l)" = 0 ]
	retried=$(lb_lines | awk '$3 != "0"' | wc -l)
	elsewhere=$(lb_lines | awk '$3 ~ /^\+/ && $1 != "h4"' | wc -l)
	moved=$(lb_stat | awk '$1 == "h4" { print $8 }')
	echo "# kill: h4 held $held calls when killed (HAProxy scur), had answered $(lb_lines | awk '$1 == "h4"' | wc -l); HAProxy moved $moved away from it, retried $retried, $elsewhere on h1/h2; h1 answered $(lb_lines | awk '$1 == "h1"' | wc -l), h2 $(lb_lines | awk '$1 == "h2"' | wc -l)" >&3
	[ "$held" -ge 1 ]
	[ "$moved" -ge 1 ]
	[ "$retried" = "$moved" ]
	[ "$elsewhere" = "$moved" ]
	# and HAProxy has h4 down
	wait_for 5 bash -c "echo 'show stat' | socat - 'UNIX-CONNECT:$T/lb.sock' | grep -q '^oys_enclaves,h4,.*,DOWN'"
}

# caddy_start NAME: Caddy from the template in front of host NAME; sets CADDY_PORT_<NAME>. The
# operators' network is one the test is not in, so /metrics through Caddy is refused.
caddy_start() {
	local port=HOST_PORT_$1 cport
	cport=$(oys-port)
	start_bg "$T/$1/caddy.log" env XDG_DATA_HOME="$T/xdg" XDG_CONFIG_HOME="$T/xdg" OYS_CADDY_ADMIN=off \
		OYS_CADDY_ADDR="127.0.0.1:$cport" OYS_ENCLAVE="127.0.0.1:${!port}" OYS_OPERATORS=192.0.2.0/24 \
		caddy run --adapter caddyfile --config "$ROOT/share/templates/Caddyfile"
	wait_port "$cport"
	printf -v "CADDY_PORT_$1" %s "$cport"
}

@test "through Caddy: calls pass, operator endpoints are closed, an enclave that dies is 503 and retried" {
	run -0 env XDG_DATA_HOME="$T/xdg" XDG_CONFIG_HOME="$T/xdg" caddy validate --adapter caddyfile \
		--config "$ROOT/share/templates/Caddyfile"
	host_start h1 2
	host_start h2 2
	caddy_start h1
	caddy_start h2
	PORT=$CADDY_PORT_h2
	serverless "$SLOW" '{"ms": 1}'
	[ "$status_code" = 200 ]
	[ "$body" = '{"slept":1}' ]
	grep -q '^X-Oyster-Request-Id: ' <<<"$headers"
	call GET /metrics
	[ "$status_code" = 403 ]
	[ "$(error_code)" = forbidden ]
	call POST /unregister
	[ "$status_code" = 403 ]
	# HAProxy -> Caddy -> host for both hosts
	HOST_PORT_h1=$CADDY_PORT_h1 HOST_PORT_h2=$CADDY_PORT_h2 lb_start
	load_run 30 2 300 &
	lpid=$!
	wait_for 20 served_at_least h2 2
	kill -KILL -- "-$HOST_PID_h2" "-$AGENT_PID_h2"
	wait "$lpid"
	load_all_ok 30
	wait_for 5 lb_logged 30
	# Caddy answered 503 enclave_unreachable for what h2 held or was sent afterwards; HAProxy
	# sent those to h1
	PORT=$CADDY_PORT_h2
	serverless "$SLOW" '{"ms": 1}'
	[ "$status_code" = 503 ]
	[ "$(error_code)" = enclave_unreachable ]
	grep -q '^Retry-After: 1' <<<"$headers"
	unreachable=$(grep -c '"status":503' "$T/h2/caddy.log")
	retried=$(lb_lines | awk '$3 != "0"' | wc -l)
	echo "# through Caddy: h2 answered $(served h2) before it died, Caddy said enclave_unreachable $unreachable times, HAProxy retried $retried, h1 answered $(served h1)" >&3
	[ "$retried" -ge 1 ]
	[ "$(lb_lines | awk '$2 != 200' | wc -l)" = 0 ]
}
