#!/usr/bin/env bats
# Every tool keeps the shared contract: --help, --version, one-line usage errors with exit 64,
# a man page that documents every option it has, bash and zsh completion, a README section.

load test_helper/common-setup
setup() { common_setup; }
teardown() { common_teardown; }

tools() {
	local t
	for t in "${OYS_TEST_BIN:-$ROOT/bin}"/oys-*; do basename "$t"; done
}

# Subcommands of a tool: the candidates it completes first that answer "usage: TOOL SUB".
subcommands() {
	local w
	for w in $("$1" --complete ''); do
		[[ $w == :* ]] && continue
		"$1" "$w" --help 2>/dev/null | head -1 | grep -q "^usage: $1 $w" && echo "$w"
	done
}

@test "the build has every tool of the flow that has landed" {
	run tools
	[[ $output == *oys-capnp* && $output == *oys-port* ]]
}

@test "--help prints the usage on stdout and exits 0, for every tool and subcommand" {
	for t in $(tools); do
		run -0 --separate-stderr "$t" --help
		[[ ${lines[0]} == "usage: $t"* ]] || { echo "$t --help: ${lines[0]}"; return 1; }
		[ -z "$stderr" ]
		for s in $(subcommands "$t"); do
			run -0 --separate-stderr "$t" "$s" --help
			[ -z "$stderr" ]
		done
	done
}

@test "--version names the tool and the version" {
	for t in $(tools); do
		run -0 "$t" --version
		[[ $output =~ ^$t\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "$t: $output"; return 1; }
	done
}

@test "an unknown option is exit 64 with one line on stderr and nothing on stdout" {
	for t in $(tools); do
		run -64 --separate-stderr "$t" --no-such-option
		[ -z "$output" ]
		[ "$stderr" = "$t: unknown option --no-such-option (see $t --help)" ] || { echo "$stderr"; return 1; }
	done
}

@test "every tool has a man page that lints clean and has the standard sections" {
	for t in $(tools); do
		m=$ROOT/man/$t.1
		[ -f "$m" ] || { echo "no man page for $t"; return 1; }
		run -0 mandoc -T lint -W warning "$m"
		[ -z "$output" ] || { echo "$output"; return 1; }
		for sec in NAME SYNOPSIS DESCRIPTION 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
			grep -q "^\.Sh $sec\$" "$m" || { echo "$t.1 lacks $sec"; return 1; }
		done
	done
	run -0 mandoc -T lint -W warning "$ROOT/man/oys.7"
}

@test "every long option a tool accepts is documented in its man page" {
	for t in $(tools); do
		for s in "" $(subcommands "$t"); do
			for o in $("$t" --complete ${s:+"$s"} --); do
				[ "$o" = --help ] || [ "$o" = --version ] && continue
				grep -qF -- "Fl -${o#--}" "$ROOT/man/$t.1" || { echo "$t.1 does not document $o"; return 1; }
			done
		done
	done
}

# The variables a tool reads or names: OYS_ names inside its string literals (what it passes to
# getenv and oys_conf, and what its usage text lists). Constants such as OYS_EUSAGE or
# OYS_ATTEST_MAX_PCRS are code, not strings, and are not variables.
env_vars() {
	grep -o '"\([^"\\]\|\\.\)*"' "$1" | grep -o 'OYS_[A-Z0-9_]*' | sort -u
}

@test "every OYS_ variable a tool reads is in its man page and in oys(7)" {
	[[ $(env_vars "$ROOT/cmd/oys-store.c") == *OYS_ATTEST_PCRS* ]]
	[[ $(env_vars "$ROOT/cmd/oys-attest.c") != *OYS_ATTEST_MAX_PCRS* ]]
	for t in $(tools); do
		for v in $(env_vars "$ROOT/cmd/$t.c"); do
			grep -q "Ev $v" "$ROOT/man/$t.1" || { echo "$t.1 does not list $v"; return 1; }
			grep -q "Ev $v" "$ROOT/man/oys.7" || { echo "oys.7 does not list $v"; return 1; }
		done
	done
}

@test "settings are resolved once: in lib/, only conf.c reads the environment" {
	run grep -ln 'getenv\|secure_getenv\|environ\b' "$ROOT"/lib/*.c
	[ "$output" = "$ROOT/lib/conf.c" ]
}

# The libraries a binary names itself (DT_NEEDED), without those its libraries pull in.
needed() {
	readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

@test "each tool links what it uses: the run links no pool administration, no verifier" {
	local bin=${OYS_TEST_BIN:-$ROOT/bin} t
	# The checks can fail: oys-cgroup does link libcgroup, oys-attest libcbor.
	run -0 ldd "$bin/oys-cgroup"
	[[ $output == *libcgroup* ]]
	run -0 ldd "$bin/oys-attest"
	[[ $output == *libcbor* ]]
	for t in oys-run oys-serve; do
		run -0 ldd "$bin/$t"
		[[ $output != *libcgroup* ]] || { echo "$t links libcgroup: $output"; return 1; }
		run -0 needed "$bin/$t"
		[[ $output != *libm.so* ]] || { echo "$t links libm: $output"; return 1; }
	done
	# They pass an attestation document on; verifying it (libcbor) is the storage server's job.
	# libcrypto (sealed code from a storage server) is loaded when first needed, not at start.
	run -0 ldd "$bin/oys-store"
	[[ $output == *libcrypto* ]]
	for t in oys-fetch oys-run oys-serve; do
		run -0 ldd "$bin/$t"
		[[ $output != *libcbor* ]] || { echo "$t links libcbor: $output"; return 1; }
		[[ $output != *libcrypto* ]] || { echo "$t links libcrypto: $output"; return 1; }
	done
	for t in oys-capnp oys-port; do
		run -0 ldd "$bin/$t"
		[[ $output != *libcurl* && $output != *libcbor* && $output != *libcgroup* ]] ||
			{ echo "$t: $output"; return 1; }
	done
}

@test "bash completion covers every tool and completes from the tool itself" {
	for t in $(tools); do
		grep -q "^complete -F _oys_complete .*\b$t\b" "$ROOT/completions/oys.bash" || { echo "bash: $t"; return 1; }
	done
	source "$ROOT/completions/oys.bash"
	COMP_WORDS=(oys-capnp --out)
	COMP_CWORD=1
	_oys_complete
	[ "${COMPREPLY[*]}" = "--outbound --output" ]
	COMP_WORDS=(oys-capnp --outbound p)
	COMP_CWORD=2
	_oys_complete
	[ "${COMPREPLY[*]}" = "public" ]
	touch alpha.js
	COMP_WORDS=(oys-capnp --js al)
	COMP_CWORD=2
	_oys_complete
	[ "${COMPREPLY[*]}" = "alpha.js" ]
}

@test "zsh completion covers every tool, parses, and offers the tool's own options" {
	for t in $(tools); do
		head -1 "$ROOT/completions/_oys" | grep -q "\b$t\b" || { echo "zsh: $t"; return 1; }
	done
	run -0 zsh -n "$ROOT/completions/_oys"
	# Run the completion body with compadd/_files stubbed to print what they are given.
	run -0 zsh -c '
		compadd() { [[ $1 == -a ]] && print -l -- ${(P)2}; }
		_files() { print -- FILES; }
		words=(oys-capnp --outbound ""); CURRENT=3
		source '"$ROOT"'/completions/_oys
		words=(oys-capnp --js ""); CURRENT=3
		source '"$ROOT"'/completions/_oys'
	[ "$output" = $'none\npublic\nFILES' ]
}

@test "the README has a section on every tool" {
	for t in $(tools); do
		grep -q "^### \`$t\`" "$ROOT/README.md" || { echo "README lacks a section on $t"; return 1; }
	done
}
