#!/usr/bin/env bats
# oys-port: a free port, and the already-bound socket oys-run hands to workerd.

load test_helper/common-setup
setup() { common_setup; }
teardown() { common_teardown; }

@test "prints a port that is free: a server can listen on it" {
	run -0 --separate-stderr oys-port
	[[ $output =~ ^[0-9]+$ ]]
	[ "$output" -ge 1 ]
	[ "$output" -le 65535 ]
	[ -z "$stderr" ]
	port=$output
	start_bg "$T/socat.log" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" SYSTEM:'echo hello'
	wait_port "$port"
}

@test "--host ::1 gives a port free on IPv6 loopback" {
	run -0 oys-port --host ::1
	[[ $output =~ ^[0-9]+$ ]]
}

@test "two calls give ports that both work" {
	a=$(oys-port)
	b=$(oys-port)
	[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]
}

@test "an address that is not ours is refused with one line" {
	run -69 --separate-stderr oys-port --host 192.0.2.1
	[ -z "$output" ]
	[[ $stderr == "oys-port: cannot listen on 192.0.2.1 port 0: Cannot assign requested address" ]]
}

@test "a host that does not resolve is a usage error" {
	run -64 --separate-stderr oys-port --host no.such.host.invalid
	[ -z "$output" ]
	[[ $stderr == "oys-port: cannot resolve host no.such.host.invalid: "* ]]
}

@test "an operand is refused" {
	run -64 --separate-stderr oys-port 8080
	[ "$stderr" = "oys-port: unexpected argument '8080' (see oys-port --help)" ]
}
