#!/usr/bin/env bats
# The libFuzzer targets (tests/fuzz/*.c, what `make fuzz` runs) build and run clean for a
# bounded time: no crash, no sanitizer report, no leak on what the fuzzer throws at them.

load test_helper/common-setup
setup() { common_setup; }
teardown() { common_teardown; }

@test "every fuzz target runs for a bounded time without a finding" {
	OYS_FUZZ_SECONDS=${OYS_FUZZ_CHECK_SECONDS:-6} OYS_FUZZ_BUILD=$BATS_FILE_TMPDIR/fuzz run -0 "$ROOT/tests/fuzz/run"
	echo "$output"
	local src name runs seeds corpus n=0
	for src in "$ROOT"/tests/fuzz/*.c; do
		name=$(basename "$src" .c)
		[ "$name" != mkseed ] || continue
		n=$((n + 1))
		[[ $output == *"# fuzz $name: "*" runs in "*" s, corpus "*" inputs, no finding"* ]] ||
			{ echo "$name did not run clean"; return 1; }
		# It ran for real: thousands of inputs, and some reached code the seeds did not (the
		# corpus grew beyond them).
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BATS_FILE_TMPDIR/fuzz/$name.log")
		[ "${runs:-0}" -gt 1000 ] || { echo "$name ran only ${runs:-0} inputs"; return 1; }
		seeds=$BATS_FILE_TMPDIR/fuzz/seeds
		[ -d "$ROOT/tests/fuzz/$name.seeds" ] && seeds=$ROOT/tests/fuzz/$name.seeds
		corpus=$(find "$BATS_FILE_TMPDIR/fuzz/corpus/$name" -type f | wc -l)
		[ "$corpus" -gt "$(find "$seeds" -type f | wc -l)" ] || { echo "$name found nothing new"; return 1; }
	done
	[ "$n" -ge 3 ] # attest_verify, http_request, http_response at least
}

@test "a finding fails the run and is kept for replay" {
	# A copy of the tree (times kept, so the objects built above are reused) with one more
	# target that overflows a buffer on some inputs.
	mkdir -p fz/tests/fuzz fz/lib fz/tests/fixtures
	cp -p "$ROOT"/lib/*.c "$ROOT"/lib/*.h fz/lib/
	cp -rp "$ROOT/tests/fixtures/nitro" fz/tests/fixtures/
	cp -p "$ROOT/tests/fuzz/run" "$ROOT/tests/fuzz/mkseed.c" fz/tests/fuzz/
	cat >fz/tests/fuzz/crash.c <<'C'
/* fuzz-deps: -lm */
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	volatile char buf[4];
	if (n > 8 && d[0] == 0x84)
		buf[n % 8] = 1; /* out of bounds on purpose */
	return 0;
}
C
	ln -s "$ROOT/share" fz/share
	# Its reports are expected: keep them out of a sanitizer run's report directory.
	export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
	OYS_FUZZ_SECONDS=20 OYS_FUZZ_BUILD=$BATS_FILE_TMPDIR/fuzz run -1 fz/tests/fuzz/run
	echo "$output"
	[[ $output == *"# fuzz crash: FINDING (exit "* ]]
	[[ $output == *"out of bounds"* ]]
	# The input is kept and replays the finding.
	crash=$(ls "$BATS_FILE_TMPDIR"/fuzz/artifacts/crash-crash-* | head -1)
	[ "$(head -c 1 "$crash" | od -An -tx1 | tr -d ' ')" = 84 ]
	run ! "$BATS_FILE_TMPDIR/fuzz/crash" "$crash"
	[[ $output == *"out of bounds"* ]]
}
