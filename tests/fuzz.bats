#!/usr/bin/env bats
# The libFuzzer targets (tests/fuzz/*.c, what `make fuzz` runs) build and run clean for a
# bounded time: no crash, no sanitizer report, no leak on what the fuzzer throws at them.

load test_helper/common-setup
setup() { common_setup; }
teardown() { common_teardown; }

@test "every fuzz target runs for a bounded time without a finding" {
	OYS_FUZZ_SECONDS=${OYS_FUZZ_CHECK_SECONDS:-8} OYS_FUZZ_BUILD=$BATS_FILE_TMPDIR/fuzz run -0 "$ROOT/tests/fuzz/run"
	echo "$output"
	[[ $output == *"# fuzz attest_verify: "*" runs in "*" s, corpus "*" inputs, no finding"* ]]
	# The seeds reached the verifier: the run found new inputs beyond them.
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BATS_FILE_TMPDIR/fuzz/attest_verify.log")
	[ "$runs" -gt 1000 ]
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
