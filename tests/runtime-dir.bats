#!/usr/bin/env bats
# The runtime directory (OYS_RUNTIME_DIR) holds the request files, the cgroup locks, the drain
# flag, the metrics and the signing key: whoever can write in it, or replace it, can swap a
# request's config or delete a lock. Every tool that uses it refuses one that is not the
# effective uid's (or root's) own, or that others may write, or that sits below a directory others may
# replace; a fresh one is created 0755 and used.

load test_helper/common-setup
load test_helper/platform

setup() {
	common_setup
	HEALTHZ=$'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
}
teardown() {
	common_teardown
	pool_teardown
}

# refused_by_all MESSAGE: oys-run, oys-serve and oys-cgroup exit 78 with "TOOL: MESSAGE" and
# print nothing else.
refused_by_all() {
	run -78 --separate-stderr oys-run 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	[ "$stderr" = "oys-run: $1" ] || { echo "oys-run: $stderr"; return 1; }
	[ -z "$output" ]
	run -78 --separate-stderr oys-serve <<<"$HEALTHZ"
	[ "$stderr" = "oys-serve: $1" ] || { echo "oys-serve: $stderr"; return 1; }
	[ -z "$output" ]
	run -78 --separate-stderr oys-cgroup list
	[ "$stderr" = "oys-cgroup: $1" ] || { echo "oys-cgroup: $stderr"; return 1; }
	[ -z "$output" ]
}

@test "a fresh runtime directory is created 0755, with the directories above it, and used" {
	export OYS_RUNTIME_DIR=$T/fresh/run
	pool_setup 1 128M
	[ "$(stat -c '%a %u' "$OYS_RUNTIME_DIR")" = "755 $(id -u)" ]
	[ "$(stat -c %a "$T/fresh")" = 755 ]
	id=$(put_fn "$EXAMPLES/factors.js")
	run -0 oys-run "$id" - <<<'{"num": 6}'
	[ "$output" = '{"num":6,"factors":[2,3]}' ]
	run -0 --separate-stderr oys-serve <<<"$HEALTHZ"
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]]
	[ "$(stat -c %a "$OYS_RUNTIME_DIR/cgroup")" = 755 ]
	# under umask 077 it is tighter, and that is fine too
	export OYS_RUNTIME_DIR=$T/tight
	(umask 077 && oys-serve <<<"$HEALTHZ" >/dev/null 2>&1)
	[ "$(stat -c %a "$OYS_RUNTIME_DIR")" = 700 ]
	run -0 --separate-stderr oys-serve <<<"$HEALTHZ"
}

@test "a runtime directory owned by another uid is refused by oys-run, oys-serve and oys-cgroup" {
	export OYS_RUNTIME_DIR=$T/run
	mkdir -m 755 "$OYS_RUNTIME_DIR"
	chown 65534 "$OYS_RUNTIME_DIR"
	refused_by_all "runtime directory $OYS_RUNTIME_DIR is owned by uid 65534, not by root: refusing it"
}

@test "a runtime directory others may write is refused, sticky or not" {
	export OYS_RUNTIME_DIR=$T/run
	mkdir "$OYS_RUNTIME_DIR"
	chmod 0777 "$OYS_RUNTIME_DIR"
	refused_by_all "runtime directory $OYS_RUNTIME_DIR is writable by group or others (mode 0777): refusing it (chmod go-w it)"
	chmod 1777 "$OYS_RUNTIME_DIR"
	refused_by_all "runtime directory $OYS_RUNTIME_DIR is writable by group or others (mode 1777): refusing it (chmod go-w it)"
	chmod 0775 "$OYS_RUNTIME_DIR"
	refused_by_all "runtime directory $OYS_RUNTIME_DIR is writable by group or others (mode 0775): refusing it (chmod go-w it)"
	chmod 0755 "$OYS_RUNTIME_DIR"
	run -0 --separate-stderr oys-serve <<<"$HEALTHZ"
}

@test "a directory above it that another uid owns, or others may write without the sticky bit, is refused" {
	mkdir -m 755 "$T/up"
	export OYS_RUNTIME_DIR=$T/up/run
	chown 65534 "$T/up"
	refused_by_all "runtime directory $OYS_RUNTIME_DIR: $T/up above it is owned by uid 65534, not by root: refusing it"
	chown 0 "$T/up"
	chmod 0777 "$T/up"
	refused_by_all "runtime directory $OYS_RUNTIME_DIR: $T/up above it is writable by group or others (mode 0777, not sticky): refusing it"
	# sticky and world-writable, like /tmp: nobody can replace what is not theirs there
	chmod 1777 "$T/up"
	run -0 --separate-stderr oys-serve <<<"$HEALTHZ"
	[[ ${lines[0]} == $'HTTP/1.1 200 OK\r' ]]
}

@test "a symbolic link another uid owns, on the way to it, is refused; our own link is followed" {
	mkdir -m 755 "$T/real"
	ln -s "$T/real" "$T/link"
	export OYS_RUNTIME_DIR=$T/link/run
	run -0 --separate-stderr oys-serve <<<"$HEALTHZ"
	[ -d "$T/real/run" ]
	chown -h 65534 "$T/link"
	refused_by_all "runtime directory $OYS_RUNTIME_DIR: $T/link is a symbolic link owned by uid 65534: refusing it"
}

@test "a directory inside it that another uid owns is refused before it is used" {
	export OYS_RUNTIME_DIR=$T/run
	mkdir -p "$OYS_RUNTIME_DIR/cgroup" "$OYS_RUNTIME_DIR/req"
	chown 65534 "$OYS_RUNTIME_DIR/cgroup" "$OYS_RUNTIME_DIR/req"
	export OYS_CGROUP_PREFIX="oyst${BATS_TEST_NUMBER}p$$_"
	echo "$OYS_CGROUP_PREFIX $OYS_RUNTIME_DIR" >>"$BATS_TEST_TMPDIR/.pools" # pool_setup's prefix, for the teardown
	run -78 --separate-stderr oys-cgroup setup --count 1
	[ "$stderr" = "oys-cgroup: runtime directory $OYS_RUNTIME_DIR: $OYS_RUNTIME_DIR/cgroup is owned by uid 65534, not by root: refusing it" ]
	# nothing was created before the refusal
	[ -z "$(ls -d /sys/fs/cgroup/*/"$OYS_CGROUP_PREFIX"* 2>/dev/null)" ]
	chown 0 "$OYS_RUNTIME_DIR/cgroup"
	pool_setup 1 128M
	id=$(put_fn "$EXAMPLES/factors.js")
	run -78 --separate-stderr oys-run "$id" - <<<'{"num": 6}'
	[ "$stderr" = "oys-run: runtime directory $OYS_RUNTIME_DIR: $OYS_RUNTIME_DIR/req is owned by uid 65534, not by root: refusing it" ]
	[ -z "$output" ]
	pool_free
}
