#!/usr/bin/env bats
# Monitoring: GET /metrics counts what a host's oys-serve processes did, exactly; the
# Prometheus, alert and Alertmanager templates pass their own tools; a real Prometheus 2.42
# scraping a host fires the OOM alert, and a real Alertmanager delivers it to a webhook.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
}
teardown() {
	common_teardown
	pool_teardown
}

# metrics PORT: GET /metrics into $body.
metrics() {
	body=$(curl -sS --max-time 10 "http://127.0.0.1:$1/metrics")
}

# has LINE: the exposition in $body has that line, exactly.
has() {
	grep -qxF "$1" <<<"$body" || { echo "no line: $1"; grep -F "${1%% *}" <<<"$body" | head -20; return 1; }
}

# value NAME{LABELS}: its value in $body.
value() {
	awk -v n="$1" '$1 == n { print $2 }' <<<"$body"
}

# post PORT BODY OUT: POST /api/serverless in the background (its pid added to $POSTS);
# status in OUT.code, body in OUT.body.
post() {
	curl -sS --max-time 60 -o "$3.body" -w '%{http_code}' -H 'content-type: application/json' \
		--data-binary "$2" "http://127.0.0.1:$1/api/serverless" >"$3.code" &
	POSTS+=($!)
}

@test "/metrics counts exactly what concurrent oys-serve processes did: statuses, errors, OOM kills, timeouts" {
	pool_setup 8 128M
	factors=$(put_fn "$EXAMPLES/factors.js")
	bomb=$(put_fn "$FN/membomb.js")
	loop=$(put_fn "$FN/loop.js")
	unknown=$(printf 'nothing' | sha256sum | cut -d' ' -f1)
	# two listeners on one host (one runtime directory), every request its own process
	serve_start OYS_TIMEOUT=2
	p1=$PORT
	p2=$(oys-port)
	start_bg "$T/serve2.log" env OYS_TIMEOUT=2 socat "TCP-LISTEN:$p2,bind=127.0.0.1,reuseaddr,fork" EXEC:oys-serve
	wait_port "$p2"
	# 3 ok, 1 unknown id, 1 bad JSON, 1 OOM kill, 1 timeout, all at once
	POSTS=()
	post "$p1" "{\"code_id\": \"$factors\", \"input\": {\"num\": 12}}" ok1
	post "$p2" "{\"code_id\": \"$factors\", \"input\": {\"num\": 13}}" ok2
	post "$p1" "{\"code_id\": \"$factors\", \"input\": {\"num\": 14}}" ok3
	post "$p2" "{\"code_id\": \"$unknown\", \"input\": {}}" unknown
	post "$p1" '{"code_id": ' badjson
	post "$p2" "{\"code_id\": \"$bomb\", \"input\": {}}" oom
	post "$p1" "{\"code_id\": \"$loop\", \"input\": {}}" timeout
	wait "${POSTS[@]}"
	[ "$(for r in ok1 ok2 ok3 unknown badjson oom timeout; do printf '%s ' "$(cat "$r.code")"; done)" = "200 200 200 404 400 502 504 " ]
	[ "$(jq -r .error.code oom.body)" = memory_limit ]
	assert_clean

	metrics "$p2"
	has "oys_build_info{version=\"$(oys-serve --version | cut -d' ' -f2)\"} 1"
	has 'oys_requests_total{endpoint="serverless",status="200"} 3'
	has 'oys_requests_total{endpoint="serverless",status="400"} 1'
	has 'oys_requests_total{endpoint="serverless",status="404"} 1'
	has 'oys_requests_total{endpoint="serverless",status="502"} 1'
	has 'oys_requests_total{endpoint="serverless",status="504"} 1'
	has 'oys_requests_total{endpoint="serverless",status="429"} 0'
	[ "$(grep '^oys_requests_total' <<<"$body" | awk '{ n += $2 } END { print n }')" = 7 ]
	has 'oys_errors_total{code="not_found"} 1'
	has 'oys_errors_total{code="bad_json"} 1'
	has 'oys_errors_total{code="memory_limit"} 1'
	has 'oys_errors_total{code="timeout"} 1'
	[ "$(grep '^oys_errors_total' <<<"$body" | awk '{ n += $2 } END { print n }')" = 4 ]
	has 'oys_oom_kills_total 1'
	has 'oys_timeouts_total 1'
	has 'oys_attestation_refusals_total 0'
	has 'oys_fetch_failures_total{reason="not_found"} 1'
	[ "$(grep '^oys_fetch_failures_total' <<<"$body" | awk '{ n += $2 } END { print n }')" = 1 ]
	# the 7 calls in the latency histogram, the 2 s timeout above 1 s; 5 functions started
	# (3 ok, the OOM kill, the timeout)
	has 'oys_request_duration_seconds_count{endpoint="serverless"} 7'
	has 'oys_request_duration_seconds_bucket{endpoint="serverless",le="+Inf"} 7'
	[ "$(value 'oys_request_duration_seconds_bucket{endpoint="serverless",le="1"}')" -le 6 ]
	awk -v v="$(value 'oys_request_duration_seconds_sum{endpoint="serverless"}')" 'BEGIN { exit !(v >= 2) }'
	has 'oys_runs_total 5'
	has 'oys_function_memory_peak_bytes_count 5'
	# the memory bomb peaked at its cgroup's 128 MiB, the other four far below
	has 'oys_function_memory_peak_bytes_bucket{le="67108864"} 4'
	has 'oys_function_memory_peak_bytes_bucket{le="134217728"} 5'
	awk -v v="$(value 'oys_stage_seconds_total{stage="execute"}')" 'BEGIN { exit !(v >= 2) }'
	awk -v v="$(value 'oys_stage_seconds_total{stage="start"}')" 'BEGIN { exit !(v > 0) }'
	awk -v v="$(value 'oys_function_cpu_seconds_total')" 'BEGIN { exit !(v > 0) }'
	has 'oys_sandboxes{state="running"} 0'
	has 'oys_sandboxes{state="free"} 8'
	has 'oys_draining 0'
	# /metrics counts itself once answered; it is valid Prometheus text
	metrics "$p1"
	has 'oys_requests_total{endpoint="metrics",status="200"} 1'
	run -0 promtool check metrics <<<"$body"
	[ -z "$output" ]
}

@test "/metrics: fetch failures by reason, attestation refusals, busy sandboxes, draining" {
	pool_setup 2 128M
	id=$(put_fn "$EXAMPLES/factors.js")
	# an attestation server, and a storage server that trusts another enclave image
	aport=$(oys-port)
	start_bg "$T/attest.log" oys-attest serve --dev --listen "127.0.0.1:$aport"
	wait_port "$aport"
	curl -sS --max-time 10 -o "$T/doc" "http://127.0.0.1:$aport/attestation/raw"
	sport=$(oys-port)
	printf '#!/bin/sh\nexec oys-store serve --open-uploads --root %q --pcr 0=%s\n' "$OYS_RUNTIME_DIR/attest-dev/root.pem" \
		"$(printf 'ab%.0s' {1..48})" >"$T/store.sh"
	chmod +x "$T/store.sh"
	start_bg "$T/store.log" socat "TCP-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" "EXEC:$T/store.sh"
	wait_port "$sport"
	serve_start OYS_STORE="http://127.0.0.1:$sport" OYS_ATTESTATION_URL="http://127.0.0.1:$aport"
	serverless "$id" '{"num": 6}'
	[ "$status_code" = 502 ]
	[ "$(error_code)" = attestation_refused ]
	# the same host with its storage down
	dead=$(oys-port)
	serve_start OYS_STORE="http://127.0.0.1:$dead"
	serverless "$id" '{"num": 6}'
	[ "$status_code" = 502 ]
	[ "$(error_code)" = storage_unavailable ]
	# a sandbox held by someone else, and the host draining
	start_bg "$T/hold.log" oys-cgroup reserve --exec -- sleep 60
	wait_for 10 bash -c "[ \"\$(oys-cgroup list --json | jq '[.[] | select(.busy)] | length')\" = 1 ]"
	call POST /unregister
	wait_served # each request is counted after its answer
	metrics "$PORT"
	has 'oys_attestation_refusals_total 1'
	has 'oys_fetch_failures_total{reason="attestation_refused"} 1'
	has 'oys_fetch_failures_total{reason="unavailable"} 1'
	has 'oys_fetch_failures_total{reason="not_found"} 0'
	has 'oys_errors_total{code="attestation_refused"} 1'
	has 'oys_errors_total{code="storage_unavailable"} 1'
	has 'oys_requests_total{endpoint="serverless",status="502"} 2'
	has 'oys_requests_total{endpoint="admin",status="200"} 1'
	has 'oys_runs_total 0'
	has 'oys_sandboxes{state="running"} 1'
	has 'oys_sandboxes{state="free"} 1'
	has 'oys_draining 1'
}

@test "the templates pass promtool and amtool; the alert rules pass their unit tests" {
	run -0 promtool check config "$ROOT/share/templates/prometheus.yml"
	run -0 promtool check rules "$ROOT/share/templates/oys-alerts.yml"
	[[ $output == *"SUCCESS: 12 rules found"* ]]
	run -0 promtool test rules "$FIXTURES/monitoring/oys-alerts.test.yml"
	run -0 amtool check-config "$ROOT/share/templates/alertmanager.yml"
	# every alert of the rules has a unit test
	for a in $(grep -oP '^\s+- alert: \K\w+' "$ROOT/share/templates/oys-alerts.yml"); do
		grep -q "alertname: $a\$" "$FIXTURES/monitoring/oys-alerts.test.yml" || { echo "no test for $a"; return 1; }
	done
}

# query PROMQL: the JSON result of an instant query to Prometheus.
query() {
	curl -sS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" | jq -c .data.result
}

oom_alert_firing() {
	curl -sS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/alerts" |
		jq -e --arg i "127.0.0.1:$PORT" '.data.alerts[] | select(.labels.alertname == "OysOOMKill" and .labels.instance == $i and .state == "firing")' >/dev/null
}

oom_alert_delivered() {
	[ -s "$T/alerts.jsonl" ] && jq -e -s --arg i "127.0.0.1:$PORT" \
		'[.[] | select(.status == "firing") | .alerts[] | select(.labels.alertname == "OysOOMKill" and .labels.instance == $i)] | length > 0' \
		"$T/alerts.jsonl" >/dev/null
}

@test "a real Prometheus scraping a host fires OysOOMKill after an OOM kill; Alertmanager posts it to a webhook" {
	pool_setup 2 128M
	bomb=$(put_fn "$FN/membomb.js")
	serve_start
	# the webhook: every POST's JSON body, one line each, in $T/alerts.jsonl
	sink=$(oys-port)
	start_bg "$T/sink.log" env SINK_LOG="$T/alerts.jsonl" \
		socat "TCP-LISTEN:$sink,bind=127.0.0.1,reuseaddr,fork" "EXEC:$FIXTURES/monitoring/webhook-sink"
	wait_port "$sink"
	# Alertmanager from the template: the sink as its webhook, a 1 s group wait
	am=$(oys-port)
	sed -e "s|url: http://127.0.0.1:5001/oys-alerts|url: http://127.0.0.1:$sink/oys-alerts|" \
		-e 's/group_wait: 30s/group_wait: 1s/' "$ROOT/share/templates/alertmanager.yml" >"$T/alertmanager.yml"
	grep -q "127.0.0.1:$sink" "$T/alertmanager.yml"
	start_bg "$T/alertmanager.log" prometheus-alertmanager --config.file="$T/alertmanager.yml" \
		--storage.path="$T/am" --web.listen-address="127.0.0.1:$am" --cluster.listen-address=
	wait_port "$am" 20
	# Prometheus from the template: this host as the only target, 1 s scrapes and evaluations
	PROM_PORT=$(oys-port)
	sed -e 's/^\(  [a-z_]*_interval:\) 15s/\1 1s/' \
		-e "s|^  - oys-alerts.yml|  - $ROOT/share/templates/oys-alerts.yml|" \
		-e "s|- 127.0.0.1:9093|- 127.0.0.1:$am|" \
		-e '/- 10.0.1.2:80/d' -e '/- 10.0.1.3:80/d' -e "s|- 10.0.1.1:80|- 127.0.0.1:$PORT|" \
		-e '/^  # The load balancer/,$d' "$ROOT/share/templates/prometheus.yml" >"$T/prometheus.yml"
	run -0 promtool check config "$T/prometheus.yml"
	grep -q "127.0.0.1:$PORT" "$T/prometheus.yml"
	start_bg "$T/prometheus.log" prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
		--web.listen-address="127.0.0.1:$PROM_PORT"
	wait_port "$PROM_PORT" 20
	# two scrapes with no OOM kill yet, and no alert
	wait_for 30 bash -c "curl -sS 'http://127.0.0.1:$PROM_PORT/api/v1/query' --data-urlencode 'query=count_over_time(oys_oom_kills_total[1m]) >= 2' | jq -e '.data.result | length == 1' >/dev/null"
	[ "$(query 'oys_oom_kills_total' | jq -r '.[0].value[1]')" = 0 ]
	[ "$(query 'up{job="oys"}' | jq -r '.[0].value[1]')" = 1 ]
	run ! oom_alert_firing
	# an OOM kill
	serverless "$bomb" '{}'
	[ "$status_code" = 502 ]
	[ "$(error_code)" = memory_limit ]
	start=$SECONDS
	wait_for 30 oom_alert_firing || { curl -sS "http://127.0.0.1:$PROM_PORT/api/v1/alerts"; return 1; }
	fired=$((SECONDS - start))
	wait_for 30 oom_alert_delivered || { cat "$T/alerts.jsonl" "$T/alertmanager.log"; return 1; }
	echo "# OOM kill -> alert firing in Prometheus ${fired} s, at the webhook $((SECONDS - start)) s" >&3
	line=$(jq -c 'select(.status == "firing")' "$T/alerts.jsonl" | head -1)
	[ "$(jq -r '.alerts[0].labels.severity' <<<"$line")" = warning ]
	[ "$(jq -r '.alerts[0].annotations.summary' <<<"$line")" = "functions killed for memory on 127.0.0.1:$PORT" ]
	[ "$(jq -r .receiver <<<"$line")" = oys-webhook ]
}
