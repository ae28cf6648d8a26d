#!/usr/bin/env bats
# The sandbox around workerd (issue 13, findings 7 and 8), each layer seen on the running
# workerd: its own uid per pool slot with no capabilities, no_new_privs and the seccomp
# filter, an empty environment, a Unix socket in a request directory no one else can enter and
# no TCP port, its own network namespace (outbound none) and a /proc of its own; failures of the
# child reported as such; the slots' network namespaces removed with the pool.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
	pool_setup 2 128M
	SLOW=$(put_fn "$FN/slow.js")
}
teardown() {
	common_teardown
	pool_teardown
}

# slow_run [ARGS...]: oys-run of the slow function (3 s) in the background; sets RUN_PID and,
# once workerd serves, WPID (its pid) and SLOT (the pool index of its cgroup).
slow_run() {
	oys-run "$@" "$SLOW" - <<<'{"ms": 3000}' >"$T/slow.out" 2>"$T/slow.err" &
	RUN_PID=$!
	wait_for 10 workerd_running
	WPID=$(sandboxed_workerd_pids | head -1)
	[ -n "$WPID" ]
	SLOT=$(sed -n "s|^[0-9]*:memory:/${OYS_CGROUP_PREFIX}\([0-9]*\)\$|\1|p" "/proc/$WPID/cgroup")
	[ -n "$SLOT" ]
}

# status_of PID FIELD: the value of a /proc/PID/status field, tabs as spaces.
status_of() {
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr '\t' ' ' | sed 's/ *$//'
}

# open_test_dirs: other users may traverse the test's directories down to the runtime
# directory, so that only a request directory itself stands in their way.
open_test_dirs() {
	local d=$T
	while [ "$d" != / ] && [ "$d" != /tmp ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

slow_done() {
	wait "$RUN_PID"
	[ "$(cat "$T/slow.out")" = '{"slept":3000}' ]
}

@test "workerd runs as its slot's own uid and gid, with no capability, no_new_privs and the filter" {
	slow_run
	uid=$((2000000000 + SLOT))
	[ "$(status_of "$WPID" Uid)" = "$uid $uid $uid $uid" ]
	[ "$(status_of "$WPID" Gid)" = "$uid $uid $uid $uid" ]
	[ -z "$(status_of "$WPID" Groups)" ]
	for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
		[ "$(status_of "$WPID" $cap)" = 0000000000000000 ]
	done
	[ "$(status_of "$WPID" NoNewPrivs)" = 1 ]
	[ "$(status_of "$WPID" Seccomp)" = 2 ]
	# the request directory and its files are that uid's, and no one else's
	dir=$(readlink "/proc/$WPID/cwd")
	[ "$(stat -c '%u %g %a' "$dir")" = "$uid $uid 500" ]
	[ "$(stat -c '%u %a' "$dir/config.capnp" "$dir/code.js" | sort -u)" = "$uid 400" ]
	slow_done
	assert_clean
}

@test "two sandboxes at once have two uids, and neither can enter the other's directory" {
	open_test_dirs
	oys-run "$SLOW" - <<<'{"ms": 3000}' >"$T/a.out" &
	a=$!
	oys-run "$SLOW" - <<<'{"ms": 3000}' >"$T/b.out" &
	b=$!
	wait_for 10 eval '[ "$(sandboxed_workerd_pids | wc -l)" = 2 ]'
	pids=($(sandboxed_workerd_pids))
	p1=${pids[0]} p2=${pids[1]}
	u1=$(status_of "$p1" Uid | cut -d' ' -f1)
	u2=$(status_of "$p2" Uid | cut -d' ' -f1)
	[ "$u1" != "$u2" ]
	d2=$(readlink "/proc/$p2/cwd")
	run setpriv --reuid="$u1" --regid="$u1" --clear-groups ls "$d2"
	[ "$status" != 0 ]
	[[ $output == *"Permission denied"* ]]
	run setpriv --reuid="$u2" --regid="$u2" --clear-groups ls "$d2"
	[ "$status" = 0 ] # its own: the denial above is the uid's, not the path's
	wait "$a"
	wait "$b"
	assert_clean
}

@test "no TCP port: workerd listens on a Unix socket that a second local user cannot reach" {
	open_test_dirs
	slow_run
	sock=$(readlink "/proc/$WPID/cwd")/http.sock
	[ -S "$sock" ]
	ss -xlpn | grep -F "$sock" | grep -q "pid=$WPID,"
	run -1 grep -q "pid=$WPID," <<<"$(ss -tlpn)"
	run -1 grep -q "pid=$WPID," <<<"$(nsenter -t "$WPID" -n ss -tlpn)"
	[ -z "$(nsenter -t "$WPID" -n ss -tan | tail -n +2)" ]
	# oys reaches it; another user sees the request directories but cannot enter one
	run curl -sS --max-time 10 --unix-socket "$sock" -d '{"ms": 0}' http://localhost/
	[ "$output" = '{"slept":0}' ]
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	run nobody ls "$OYS_RUNTIME_DIR/req"
	[ "$status" = 0 ]
	run nobody curl -sS --max-time 5 --unix-socket "$sock" -d '{"ms": 0}' http://localhost/
	[ "$status" != 0 ]
	[[ $output == *"Permission denied"* || $output == *"Couldn't connect"* ]]
	[[ $output != *slept* ]]
	slow_done
	assert_clean
}

@test "workerd gets an empty environment: nothing of oys-serve's, no OYS_ADMIN_TOKEN" {
	serve_start OYS_ADMIN_TOKEN=s3cret-token
	curl -sS --max-time 30 -o "$T/slow.body" -H 'content-type: application/json' \
		-d "{\"code_id\": \"$SLOW\", \"input\": {\"ms\": 3000}}" "http://127.0.0.1:$PORT/api/serverless" &
	c=$!
	wait_for 10 workerd_running
	w=$(sandboxed_workerd_pids | head -1)
	[ "$(stat -c %s "/proc/$w/environ")" = 0 ]
	[ -z "$(tr -d '\0' <"/proc/$w/environ")" ]
	# oys-serve has it (the variable was set), workerd does not
	s=$(pgrep -P "$(pgrep -P "$SOCAT_PID" | head -1)" -x oys-serve || pgrep -P "$SOCAT_PID" -x oys-serve | head -1)
	tr '\0' '\n' <"/proc/$s/environ" | grep -qx OYS_ADMIN_TOKEN=s3cret-token
	wait "$c"
	[ "$(cat "$T/slow.body")" = '{"slept":3000}' ]
	assert_clean
}

@test "outbound none: a network namespace of its own with only a loopback that is down; public: the host's" {
	slow_run
	[ "$(readlink "/proc/$WPID/ns/net")" != "$(readlink /proc/self/ns/net)" ]
	links=$(nsenter -t "$WPID" -n ip -o link show)
	[ "$(wc -l <<<"$links")" = 1 ]
	[[ $links == "1: lo: <LOOPBACK> "*"state DOWN"* ]]
	[ -z "$(nsenter -t "$WPID" -n ip -o addr show)" ]
	# the slot's namespace, kept for the next request in this slot
	[ "$(readlink "/proc/$WPID/ns/net")" = "$(nsenter --net="$OYS_RUNTIME_DIR/netns/$OYS_CGROUP_PREFIX$SLOT" readlink /proc/self/ns/net)" ]
	slow_done
	slow_run --outbound public
	[ "$(readlink "/proc/$WPID/ns/net")" = "$(readlink /proc/self/ns/net)" ]
	slow_done
	assert_clean
}

@test "its own PID and mount namespaces: its /proc shows workerd alone" {
	slow_run
	[ "$(readlink "/proc/$WPID/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
	[ "$(readlink "/proc/$WPID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
	[ "$(ls "/proc/$WPID/root/proc" | grep -cE '^[0-9]+$')" = 1 ]
	[ "$(cat "/proc/$WPID/root/proc/1/comm")" = workerd ]
	# its mounts are not ours: the host's /proc did not change
	[ "$(grep -c ' /proc proc ' /proc/self/mountinfo)" = "$(grep -c ' /proc proc ' /proc/1/mountinfo)" ]
	slow_done
	assert_clean
}

@test "the slots' network namespaces go with the pool" {
	id=$(put_fn "$EXAMPLES/factors.js")
	run -0 oys-run "$id" - <<<'{"num": 6}'
	ns=$(ls "$OYS_RUNTIME_DIR/netns")
	[ -n "$ns" ]
	for n in $ns; do
		grep -qF " $OYS_RUNTIME_DIR/netns/$n " /proc/self/mountinfo
	done
	run -0 oys-cgroup teardown
	[ -z "$(ls -A "$OYS_RUNTIME_DIR/netns")" ]
	! grep -qF " $OYS_RUNTIME_DIR/netns/" /proc/self/mountinfo
}

@test "OYS_SANDBOX_UID: a base of 0 is refused, root keeps oys's uid without capabilities" {
	run -78 --separate-stderr env OYS_SANDBOX_UID=0 oys-run "$SLOW"
	[ "$stderr" = "oys-run: OYS_SANDBOX_UID: 0 would run workerd as root; say 'root' for that (development only)" ]
	[ -z "$output" ]
	run -64 --separate-stderr oys-run --sandbox-uid -5 "$SLOW"
	[ "$stderr" = "oys-run: --sandbox-uid: '-5' is not a uid (1 to 4294966270, or root)" ]
	slow_run --sandbox-uid 3000000000
	[ "$(status_of "$WPID" Uid | cut -d' ' -f1)" = $((3000000000 + SLOT)) ]
	slow_done
	OYS_SANDBOX_UID=root slow_run
	[ "$(status_of "$WPID" Uid)" = "0 0 0 0" ]
	for cap in CapPrm CapEff CapBnd; do
		[ "$(status_of "$WPID" $cap)" = 0000000000000000 ]
	done
	[ "$(status_of "$WPID" Seccomp)" = 2 ]
	slow_done
	assert_clean
}

@test "a step of the child that fails is oys-run's error, not the function's" {
	# a directory closed to other users: the slot's uid cannot reach this workerd
	mkdir -m 700 "$T/closed"
	ln -s "$WORKERD" "$T/closed/workerd"
	run -78 --separate-stderr env OYS_WORKERD="$T/closed/workerd" oys-run --json "$SLOW"
	[ "$(jq -r .error.stage <<<"$output")" = start ]
	[ "$(jq -r .error.code <<<"$output")" = internal ]
	[[ $(jq -r .error.message <<<"$output") == "cannot run $T/closed/workerd as uid 200000000"[01]": Permission denied (every directory above it must be open to that user)" ]]
	run -78 --separate-stderr env OYS_WORKERD="$T/closed/workerd" oys-run "$SLOW"
	[[ $stderr == "oys-run: cannot run $T/closed/workerd as uid 200000000"[01]": Permission denied"* ]]
	[ -z "$output" ]
	assert_clean
}
