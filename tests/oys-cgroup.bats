#!/usr/bin/env bats
# oys-cgroup: the sandbox pool, live on this machine's cgroup hierarchy. Each test has a pool of
# its own (prefix oyst<N>x<pid>_) and teardown removes it even when the test failed. cgroup v1
# is tested live where it is mounted; the v2 tests need a writable v2 hierarchy with the memory
# controller and skip with the reason otherwise.

load test_helper/common-setup

setup() {
	common_setup
	[ "$(id -u)" = 0 ] || skip "needs root: cgroups are created and written"
	P="oyst${BATS_TEST_NUMBER}x$$_"
	export OYS_CGROUP_PREFIX=$P
	# The hierarchy, as the kernel mounts it.
	MEM=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
	CPU=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/ { print $2; exit }' /proc/mounts)
	ACCT=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuacct(,|$)/ { print $2; exit }' /proc/mounts)
	PIDS=$(awk '$3 == "cgroup" && $4 ~ /(^|,)pids(,|$)/ { print $2; exit }' /proc/mounts)
	V2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
}

teardown() {
	common_teardown
	[ -n "${P:-}" ] || return 0
	oys-cgroup teardown --force --prefix "$P" >/dev/null 2>&1 || true
	local d
	for d in /sys/fs/cgroup/*/"$P"* /sys/fs/cgroup/"$P"* ${FOREIGN:+/sys/fs/cgroup/*/$FOREIGN}; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	true
}

require_v1() {
	[ -n "$MEM" ] || skip "no cgroup v1 memory controller is mounted (this is a cgroup v2 machine)"
}

require_v2() {
	[ -z "$MEM" ] && [ -n "$V2" ] && grep -qw memory "$V2/cgroup.controllers" 2>/dev/null ||
		skip "no writable cgroup v2 hierarchy with the memory controller here (cgroup v1 is in use${V2:+; $V2 has controllers: '$(cat "$V2/cgroup.controllers" 2>/dev/null)'})"
}

jqs() { oys-cgroup stat "$1" --json | jq -r "$2"; }
busy_count() { oys-cgroup list --json | jq '[.[] | select(.busy)] | length'; }
is_free() { [ "$(oys-cgroup list --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .busy')" = false ]; }

@test "setup on v1 turns the kernel's favordynmods mode on, once for the machine; teardown leaves it" {
	require_v1
	# Start from a machine where nothing of ours is mounted (the kernel may keep the mode: from
	# Linux 6.18 it does until reboot; the mount is what setup is seen to do).
	if [ -n "$(awk '$5 == "/run/oys-favordynmods"' /proc/self/mountinfo)" ]; then
		umount /run/oys-favordynmods
	fi
	oys-cgroup setup --count 1 --no-favordynmods
	[ -z "$(awk '$5 == "/run/oys-favordynmods"' /proc/self/mountinfo)" ]
	oys-cgroup setup --count 1
	# a named hierarchy with no controller, mounted with favordynmods (kernels from 6.0 know it)
	run -0 awk '$5 == "/run/oys-favordynmods"' /proc/self/mountinfo
	[ "${#lines[@]}" = 1 ]
	[[ ${lines[0]} == *" cgroup "*"name=oys"* ]]
	[[ ${lines[0]} == *favordynmods* ]]
	oys-cgroup setup --count 2 # again: nothing mounted twice
	run -0 awk '$5 == "/run/oys-favordynmods"' /proc/self/mountinfo
	[ "${#lines[@]}" = 1 ]
	oys-cgroup teardown
	[ -n "$(awk '$5 == "/run/oys-favordynmods"' /proc/self/mountinfo)" ]
}

@test "setup creates the pool with its limits in the kernel's files; list shows it; teardown removes it" {
	require_v1
	oys-cgroup setup --count 3 --memory 96M --cpu 0.25 --pids 40
	for i in 0 1 2; do
		[ "$(cat "$MEM/${P}$i/memory.limit_in_bytes")" = 100663296 ]
		[ "$(cat "$MEM/${P}$i/memory.swappiness")" = 0 ]
		if [ -e "$MEM/${P}$i/memory.memsw.limit_in_bytes" ]; then # swap off
			[ "$(cat "$MEM/${P}$i/memory.memsw.limit_in_bytes")" = 100663296 ]
		fi
		[ "$(cat "$CPU/${P}$i/cpu.cfs_period_us")" = 100000 ]
		[ "$(cat "$CPU/${P}$i/cpu.cfs_quota_us")" = 25000 ]
		[ "$(cat "$PIDS/${P}$i/pids.max")" = 40 ]
		[ -d "$ACCT/${P}$i" ]
	done
	[ ! -e "$MEM/${P}3" ]

	run -0 oys-cgroup list
	[ "${#lines[@]}" = 4 ]
	[[ ${lines[0]} == NAME* ]]
	[[ ${lines[1]} == "${P}0 "*" free "*" 96M "*" 0.25 "*" 40 "* ]]
	run -0 oys-cgroup list --json
	[ "$(jq length <<<"$output")" = 3 ]
	[ "$(jq -c '.[1] | [.name, .busy, .memory_limit, .cpu_limit, .pids_limit, .tasks, .version]' <<<"$output")" = \
		"[\"${P}1\",false,100663296,0.25,40,0,1]" ]

	oys-cgroup teardown
	for d in "$MEM" "$CPU" "$ACCT" "$PIDS"; do
		[ -z "$(ls -d "$d/$P"* 2>/dev/null)" ]
	done
	[ ! -e "$OYS_RUNTIME_DIR/cgroup/$P.limits" ]
	run -78 --separate-stderr oys-cgroup list
	[ "$stderr" = "oys-cgroup: no cgroup pool $P (run oys-cgroup setup)" ]
}

@test "setup again updates limits and size both ways, and without flags restores the defaults" {
	require_v1
	oys-cgroup setup --count 3 --memory 64M
	oys-cgroup setup --count 2 --memory 256M --cpu 1 --pids 10 # grow the limit, shrink the pool
	[ ! -e "$MEM/${P}2" ]
	[ ! -e "$CPU/${P}2" ]
	[ ! -e "$PIDS/${P}2" ]
	[ "$(cat "$MEM/${P}1/memory.limit_in_bytes")" = 268435456 ]
	[ ! -e "$MEM/${P}1/memory.memsw.limit_in_bytes" ] || [ "$(cat "$MEM/${P}1/memory.memsw.limit_in_bytes")" = 268435456 ]
	[ "$(cat "$CPU/${P}1/cpu.cfs_quota_us")" = 100000 ]
	[ "$(cat "$PIDS/${P}1/pids.max")" = 10 ]
	oys-cgroup setup --count 4 --memory 32M # lower the limit, grow the pool
	[ "$(cat "$MEM/${P}3/memory.limit_in_bytes")" = 33554432 ]
	[ "$(cat "$MEM/${P}0/memory.limit_in_bytes")" = 33554432 ]
	# A member that would go but is reserved stops the shrink before anything changes.
	name=$(oys-cgroup reserve)
	while [ "$name" = "${P}0" ]; do name=$(oys-cgroup reserve); done
	run -69 --separate-stderr oys-cgroup setup --count 1
	[[ $stderr == "oys-cgroup: cannot shrink pool $P: $name is reserved by process "[0-9]*" (release it first)" ]]
	[ "$(cat "$MEM/${P}0/memory.limit_in_bytes")" = 33554432 ]
	for n in 1 2 3; do oys-cgroup release "${P}$n"; done
	oys-cgroup setup --count 1
	[ ! -e "$MEM/${P}1" ]
	[ "$(jqs "${P}0" '[.memory_limit, .cpu_limit, .pids_limit] | @csv')" = "134217728,0.5,64" ]
}

@test "--count auto sizes the pool from free memory and the memory limit" {
	require_v1
	avail=$(awk '/^MemAvailable:/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
	keep=$((2 << 30))
	[ "$avail" -ge $((2 * keep)) ] || keep=$((avail / 2))
	want=$(((avail - keep) / (4 << 30)))
	[ "$want" -ge 1 ] || want=1
	oys-cgroup setup --count auto --memory 4G
	n=$(oys-cgroup list --json | jq length)
	[ "$n" -ge $((want - 1)) ] && [ "$n" -le $((want + 1)) ] || { echo "auto: $n cgroups, expected about $want"; return 1; }
}

@test "20 concurrent reserve --exec on a pool of 4: 4 hold, none twice, 16 get 69, all free after" {
	require_v1
	oys-cgroup setup --count 4 --memory 64M
	mkdir held
	# Each holder records its cgroup (mkdir fails if another one holds the same), checks that it
	# runs inside it, and waits for the go signal (bounded).
	cat >hold.sh <<-'EOF'
		#!/bin/sh
		mkdir "held/$OYS_CGROUP" || echo "$OYS_CGROUP" >>twice
		grep -q ":memory:/$OYS_CGROUP\$" /proc/self/cgroup || echo "$OYS_CGROUP" >>outside
		i=0
		while [ ! -e go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		rmdir "held/$OYS_CGROUP"
	EOF
	chmod +x hold.sh
	pids=()
	for i in $(seq 1 20); do
		oys-cgroup reserve --exec -- ./hold.sh >"out.$i" 2>"err.$i" &
		pids+=($!)
	done
	# The 16 that found no free cgroup return at once; the 4 holders wait for "go".
	wait_for 10 eval '[ "$(cat err.* 2>/dev/null | wc -l)" -ge 16 ]'
	wait_for 5 eval '[ "$(ls held | wc -l)" = 4 ]'
	[ "$(busy_count)" = 4 ]
	touch go
	ok=0 refused=0
	for i in $(seq 1 20); do
		rc=0
		wait "${pids[$((i - 1))]}" || rc=$?
		case $rc in
		0) ok=$((ok + 1)) ;;
		69)
			refused=$((refused + 1))
			[ "$(cat "err.$i")" = "oys-cgroup: no free cgroup in pool $P (4 busy)" ] || { cat "err.$i"; return 1; }
			;;
		*) echo "reserve $i exited $rc: $(cat "err.$i")"; return 1 ;;
		esac
	done
	[ "$ok" = 4 ]
	[ "$refused" = 16 ]
	[ ! -e twice ]
	[ ! -e outside ]
	[ -z "$(cat out.*)" ]
	[ "$(busy_count)" = 0 ]
}

@test "plain reserve holds the cgroup after it returns; release gives it back" {
	require_v1
	oys-cgroup setup --count 2
	run -0 --separate-stderr oys-cgroup reserve
	a=$output
	[[ $a == "${P}0" || $a == "${P}1" ]]
	holder=$(jqs "$a" .holder)
	[ "$(cat "/proc/$holder/comm")" = oys-cg-hold ]
	b=$(oys-cgroup reserve)
	[ "$b" != "$a" ]
	run -69 --separate-stderr oys-cgroup reserve
	[ "$stderr" = "oys-cgroup: no free cgroup in pool $P (2 busy)" ]
	[ -z "$output" ]

	oys-cgroup release "$a"
	wait_for 5 gone "$holder"
	is_free "$a"
	[ "$(oys-cgroup reserve)" = "$a" ]
	oys-cgroup release "$a"
	oys-cgroup release "$b"
	oys-cgroup release "$b" # again: nothing to do
	[ "$(busy_count)" = 0 ]
}

@test "a holder killed with SIGKILL releases its cgroup, also under reserve --exec" {
	require_v1
	oys-cgroup setup --count 1
	name=$(oys-cgroup reserve)
	holder=$(jqs "$name" .holder)
	kill -KILL "$holder"
	wait_for 5 is_free "$name"
	[ "$(oys-cgroup reserve)" = "$name" ]
	oys-cgroup release "$name"

	start_bg "$T/exec.log" oys-cgroup reserve --exec -- sleep 300
	wait_for 5 eval '[ "$(busy_count)" = 1 ]'
	[ "$(jqs "$name" .tasks)" = 1 ]
	kill -KILL "$BG_PID"
	wait_for 5 is_free "$name"
	[ "$(jqs "$name" .tasks)" = 0 ]
}

@test "reserve kills what a dead holder left in the cgroup" {
	require_v1
	oys-cgroup setup --count 1
	start_bg "$T/orphan.log" oys-cgroup exec "${P}0" -- sleep 300 # in the cgroup, no reservation
	orphan=$BG_PID
	wait_for 5 grep -qx "$orphan" "$MEM/${P}0/cgroup.procs"
	name=$(oys-cgroup reserve)
	[ "$name" = "${P}0" ]
	wait_for 5 eval '[ -z "$(cat "$MEM/${P}0/cgroup.procs")" ]'
	wait_for 5 gone "$orphan"
}

@test "exec runs the command inside the cgroup, in every controller, with the same pid" {
	require_v1
	oys-cgroup setup --count 2
	start_bg "$T/exec.log" oys-cgroup exec "${P}1" -- sh -c 'echo "$$ $OYS_CGROUP" >me; exec sleep 300'
	wait_for 5 test -s me
	[ "$(cat me)" = "$BG_PID ${P}1" ]
	for c in memory cpu cpuacct pids; do
		grep -Eq "^[0-9]+:([a-z,]*,)?$c(,[a-z,]*)?:/${P}1\$" "/proc/$BG_PID/cgroup" || { cat "/proc/$BG_PID/cgroup"; return 1; }
	done
	[ "$(jqs "${P}1" .tasks)" = 1 ]
	[ "$(jqs "${P}1" .busy)" = false ]
	run -127 --separate-stderr oys-cgroup exec "${P}0" -- no-such-command-here
	[ "$stderr" = "oys-cgroup: cannot run no-such-command-here: No such file or directory" ]
}

@test "a memory bomb under exec in a 64M cgroup is OOM-killed; stat reports the kill and the peak" {
	require_v1
	oys-cgroup setup --count 1 --memory 64M
	name=${P}0
	oys-cgroup stat --reset "$name" >/dev/null
	run -137 oys-cgroup exec "$name" -- sh -c 'head -c 300M /dev/zero | tail'
	run -0 oys-cgroup stat "$name" --json
	echo "$output"
	[ "$(jq .oom_kills_total <<<"$output")" -ge 1 ]
	[ "$(jq .oom_kills <<<"$output")" -ge 1 ]
	peak=$(jq .memory_peak <<<"$output")
	[ "$peak" -ge $((60 << 20)) ]
	[ "$peak" -le $((64 << 20)) ]
	[ "$(jq .memory_limit <<<"$output")" = 67108864 ]

	# stat --reset takes a new baseline that other processes see.
	oys-cgroup stat --reset "$name" >/dev/null
	[ "$(jqs "$name" .oom_kills)" = 0 ]

	# A reservation starts from zero: peak reset, OOM kills counted from its start.
	total=$(jqs "$name" .oom_kills_total)
	oys-cgroup reserve --exec -- true
	[ "$(jqs "$name" .oom_kills)" = 0 ]
	[ "$(jqs "$name" .oom_kills_total)" = "$total" ]
	[ "$(jqs "$name" .memory_peak)" -lt $((8 << 20)) ]
	run -137 oys-cgroup reserve --exec -- sh -c 'head -c 300M /dev/zero | tail'
	[ "$(jqs "$name" .oom_kills)" = 1 ]
	run -0 oys-cgroup stat "$name"
	[[ $output == *$'\noom_kills 1\n'* ]]
}

@test "a CPU spinner under --cpu 0.1 gets about a tenth of a core" {
	require_v1
	oys-cgroup setup --count 1 --cpu 0.1
	oys-cgroup stat --reset "${P}0" >/dev/null
	t0=$(date +%s%N)
	run -124 timeout 3 oys-cgroup exec "${P}0" -- sh -c 'while :; do :; done'
	t1=$(date +%s%N)
	used=$(jqs "${P}0" .cpu_usage_ns)
	# cores = CPU time / wall time; unlimited it would be ~1, the limit says 0.1.
	cores=$(awk -v u="$used" -v w=$((t1 - t0)) 'BEGIN { printf "%.3f", u / w }')
	echo "# spinner under --cpu 0.1: $cores cores" >&3
	awk -v c="$cores" 'BEGIN { exit !(c >= 0.03 && c <= 0.2) }'
}

@test "real workerd under exec in a pool cgroup serves a request (its peak memory is reported)" {
	require_v1
	[ -x "$WORKERD" ] || skip "workerd is not installed (make deps)"
	oys-cgroup setup --count 1
	PORT=$(oys-port)
	cp "$EXAMPLES/factors.js" f.js
	oys-capnp --js f.js --port "$PORT" >c.capnp
	oys-cgroup stat --reset "${P}0" >/dev/null
	start_bg "$T/workerd.log" oys-cgroup exec "${P}0" -- "$WORKERD" serve c.capnp
	wait_port "$PORT" 20
	run -0 curl -sS --max-time 10 -d '{"num": 360}' "http://127.0.0.1:$PORT/"
	[ "$output" = '{"num":360,"factors":[2,2,2,3,3,5]}' ]
	run -0 oys-cgroup stat "${P}0" --json
	peak=$(jq .memory_peak <<<"$output")
	threads=$(jq .pids_current <<<"$output")
	echo "# workerd serving one request: peak $((peak >> 10)) KiB, $threads threads, $(jq .cpu_usage_ns <<<"$output" | awk '{printf "%d", $1 / 1e6}') ms CPU" >&3
	[ "$(jq .tasks <<<"$output")" = 1 ]
	[ "$peak" -gt $((4 << 20)) ]
	[ "$peak" -lt $((128 << 20)) ]
	[ "$threads" -ge 1 ]
	[ "$threads" -lt 64 ]
}

@test "teardown refuses while a cgroup holds tasks or is reserved; --force kills and ends them" {
	require_v1
	oys-cgroup setup --count 2
	start_bg "$T/t.log" oys-cgroup exec "${P}0" -- sleep 300
	task=$BG_PID
	wait_for 5 grep -qx "$task" "$MEM/${P}0/cgroup.procs"
	run -69 --separate-stderr oys-cgroup teardown
	[ "$stderr" = "oys-cgroup: ${P}0 still holds 1 task (--force kills them)" ]
	[ -d "$MEM/${P}0" ]
	[ -d "$MEM/${P}1" ]

	kill -KILL "$task"
	wait_for 5 eval '[ -z "$(cat "$MEM/${P}0/cgroup.procs")" ]'
	name=$(oys-cgroup reserve)
	holder=$(jqs "$name" .holder)
	run -69 --separate-stderr oys-cgroup teardown
	[ "$stderr" = "oys-cgroup: $name is reserved by process $holder (--force ends it)" ]
	[ -d "$MEM/$name" ]

	start_bg "$T/t2.log" oys-cgroup exec "${P}0" -- sleep 300
	task=$BG_PID
	wait_for 5 grep -qx "$task" "$MEM/${P}0/cgroup.procs"
	oys-cgroup teardown --force
	wait_for 5 gone "$holder"
	[ ! -d "$MEM/${P}0" ]
	[ ! -d "$MEM/${P}1" ]
}

@test "bad names: '/' and '..' are refused (64), unknown and foreign cgroups are unknown (66); nothing changes" {
	require_v1
	oys-cgroup setup --count 1
	before=$(oys-cgroup list --json)
	for bad in "../${P}0" "${P}0/../x" ".." "a/b" ""; do
		for cmd in stat release; do
			run -64 --separate-stderr oys-cgroup "$cmd" "$bad"
			[ "$stderr" = "oys-cgroup: invalid cgroup name '$bad': use letters, digits, '_' and '-'" ]
			[ -z "$output" ]
		done
		run -64 --separate-stderr oys-cgroup exec "$bad" -- true
		[ "$stderr" = "oys-cgroup: invalid cgroup name '$bad': use letters, digits, '_' and '-'" ]
	done
	for cmd in stat release; do
		run -66 --separate-stderr oys-cgroup "$cmd" "${P}9"
		[ "$stderr" = "oys-cgroup: no cgroup ${P}9 in pool $P (see oys-cgroup list)" ]
		[ -z "$output" ]
	done
	# A cgroup that exists but is not the pool's cannot be reached (release would kill its tasks).
	FOREIGN="oysf${BATS_TEST_NUMBER}x$$_7"
	mkdir "$MEM/$FOREIGN"
	start_bg "$T/f.log" sh -c "echo \$\$ >$MEM/$FOREIGN/cgroup.procs; exec sleep 300"
	wait_for 5 eval '[ -n "$(cat "$MEM/$FOREIGN/cgroup.procs")" ]'
	run -66 --separate-stderr oys-cgroup release "$FOREIGN"
	[ "$stderr" = "oys-cgroup: no cgroup $FOREIGN in pool $P (see oys-cgroup list)" ]
	run -66 --separate-stderr oys-cgroup release --prefix "${FOREIGN%7}" "$FOREIGN" # named like a member
	[ "$stderr" = "oys-cgroup: no cgroup $FOREIGN in pool ${FOREIGN%7} (see oys-cgroup list)" ]
	kill -0 "$BG_PID"
	[ "$(oys-cgroup list --json)" = "$before" ]
}

@test "a pool that does not exist: list, reserve, teardown are exit 78; stat of a member is 66" {
	for cmd in list reserve teardown; do
		run -78 --separate-stderr oys-cgroup "$cmd"
		[ "$stderr" = "oys-cgroup: no cgroup pool $P (run oys-cgroup setup)" ]
		[ -z "$output" ]
	done
	run -66 --separate-stderr oys-cgroup stat "${P}0"
	[ "$stderr" = "oys-cgroup: no cgroup ${P}0 in pool $P (see oys-cgroup list)" ]
	[ ! -e "$OYS_RUNTIME_DIR/cgroup/${P}0.lock" ]
}

@test "not root: setup, reserve, exec, release, teardown, stat --reset are exit 77 and change nothing" {
	require_v1
	oys-cgroup setup --count 1 --memory 64M
	before=$(oys-cgroup list --json)
	# a runtime directory of its own: nobody may not use root's (see tests/runtime-dir.bats)
	NOBODY_RUN=$(mktemp -d /tmp/oys-nobody.XXXXXX)
	chown 65534 "$NOBODY_RUN"
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env PATH="$PATH" OYS_RUNTIME_DIR="$NOBODY_RUN" OYS_CGROUP_PREFIX="$P" "$@"; }
	Q="oyst${BATS_TEST_NUMBER}y$$_"
	run -77 --separate-stderr nobody oys-cgroup setup --count 1 --prefix "$Q"
	[ "$stderr" = "oys-cgroup: cannot write to $MEM: permission denied (run as root)" ]
	[ -z "$output" ]
	[ -z "$(ls -d /sys/fs/cgroup/*/"$Q"* 2>/dev/null)" ]
	run -77 --separate-stderr nobody oys-cgroup teardown
	[ "$stderr" = "oys-cgroup: cannot write to $MEM: permission denied (run as root)" ]
	for args in "reserve" "release ${P}0" "exec ${P}0 -- true"; do
		run -77 --separate-stderr nobody oys-cgroup $args
		[ "$stderr" = "oys-cgroup: cannot write to $MEM/${P}0: permission denied (run as root)" ] || { echo "$args: $stderr"; return 1; }
		[ -z "$output" ]
	done
	run -77 --separate-stderr nobody oys-cgroup stat --reset "${P}0"
	[[ $stderr == "oys-cgroup: cannot reset cgroup ${P}0 (memory.max_usage_in_bytes): Permission denied (run as root)" ]]
	[ "$(oys-cgroup list --json)" = "$before" ]
	[ -d "$MEM/${P}0" ]
	run -0 nobody oys-cgroup list # reading needs no privilege
	rm -rf "$NOBODY_RUN"
}

@test "bad option values are usage errors (64) with one line" {
	run -64 --separate-stderr oys-cgroup setup --count 0
	[ "$stderr" = "oys-cgroup: --count: '0' is not a whole number from 1 to 1024 (see oys-cgroup --help)" ]
	run -64 --separate-stderr oys-cgroup setup --count 2 --memory 1K
	[ "$stderr" = "oys-cgroup: --memory: '1K' is less than 4M (see oys-cgroup --help)" ]
	run -64 --separate-stderr oys-cgroup setup --count 2 --cpu 0
	[ "$stderr" = "oys-cgroup: --cpu: '0' is not a number from 0.01 to 1024 (see oys-cgroup --help)" ]
	run -64 --separate-stderr oys-cgroup setup
	[ "$stderr" = "oys-cgroup: setup needs --count N or --count auto (see oys-cgroup --help)" ]
	run -64 --separate-stderr oys-cgroup list --prefix pool1
	[ "$stderr" = "oys-cgroup: --prefix: 'pool1' is not a prefix (letters, digits, '_', '-', not ending in a digit) (see oys-cgroup --help)" ]
	run -64 --separate-stderr oys-cgroup list --prefix ../x_
	[ "$stderr" = "oys-cgroup: --prefix: '../x_' is not a prefix (letters, digits, '_', '-', not ending in a digit) (see oys-cgroup --help)" ]
	run -64 --separate-stderr oys-cgroup reserve --exec
	[ "$stderr" = "oys-cgroup: --exec needs a command (see oys-cgroup --help)" ]
	run -64 --separate-stderr oys-cgroup stat
	[ "$stderr" = "oys-cgroup: stat needs a cgroup name (see oys-cgroup --help)" ]
	[ -z "$output" ]
}

@test "completion offers the pool's cgroup names" {
	require_v1
	oys-cgroup setup --count 2
	run -0 oys-cgroup --complete stat ''
	[ "$output" = "${P}0"$'\n'"${P}1" ]
	run -0 oys-cgroup --complete setup --memory ''
	[[ $output == *128M* ]]
}

@test "v2: setup writes memory.max, memory.swap.max, cpu.max and pids.max; teardown removes it" {
	require_v2
	oys-cgroup setup --count 2 --memory 96M --cpu 0.25 --pids 40
	for i in 0 1; do
		[ "$(cat "$V2/${P}$i/memory.max")" = 100663296 ]
		[ ! -e "$V2/${P}$i/memory.swap.max" ] || [ "$(cat "$V2/${P}$i/memory.swap.max")" = 0 ]
		[ "$(cat "$V2/${P}$i/cpu.max")" = "25000 100000" ]
		[ "$(cat "$V2/${P}$i/pids.max")" = 40 ]
	done
	[ "$(oys-cgroup list --json | jq -c '.[0] | [.version, .memory_limit, .cpu_limit, .pids_limit]')" = "[2,100663296,0.25,40]" ]
	oys-cgroup teardown
	[ ! -d "$V2/${P}0" ]
}

@test "v2: a memory bomb is OOM-killed and counted from memory.events; reserve --exec runs inside" {
	require_v2
	oys-cgroup setup --count 1 --memory 64M
	run -0 oys-cgroup reserve --exec -- cat /proc/self/cgroup
	[ "$output" = "0::/${P}0" ]
	run -137 oys-cgroup reserve --exec -- sh -c 'head -c 300M /dev/zero | tail'
	[ "$(jqs "${P}0" .oom_kills_total)" -ge 1 ]
}
