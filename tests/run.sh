#!/usr/bin/env bash
# Runs every test of tund, the way CI does:
#   1. installs missing Debian packages (tools/install-deps.sh)
#   2. plain build with -Werror: unit tests (ctest) and the end-to-end
#      network-namespace tests (tests/e2e/test_*.sh)
#   3. the same again built with ASan+UBSan
#   4. every libFuzzer target for FUZZ_SECONDS (default 15) each
# Prints one line per test and a final "N passed, M failed[, K skipped]".
# A test that needs root exits 77 when it cannot run; under CI (CI=true)
# such a skip counts as a failure, because CI has root.
#
# Options: --no-asan, --no-fuzz, --no-e2e, --only-e2e (for quick local runs).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

do_asan=1 do_fuzz=1 do_e2e=1 do_unit=1
for a in "$@"; do
	case "$a" in
		--no-asan) do_asan=0 ;;
		--no-fuzz) do_fuzz=0 ;;
		--no-e2e) do_e2e=0 ;;
		--only-e2e) do_asan=0 do_fuzz=0 do_unit=0 ;;
		*) echo "usage: tests/run.sh [--no-asan] [--no-fuzz] [--no-e2e] [--only-e2e]" >&2; exit 2 ;;
	esac
done
fuzz_seconds=${FUZZ_SECONDS:-15}
passed=0 failed=0 skipped=0
failures=()
logdir=$(mktemp -d /tmp/tund-tests.XXXXXX)

result() { # name rc
	local name=$1 rc=$2
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1)); echo "PASS  $name"
	elif [ "$rc" -eq 77 ] && [ "${CI:-}" != true ]; then
		skipped=$((skipped + 1)); echo "SKIP  $name (needs root; see $logdir)"
	else
		failed=$((failed + 1)); failures+=("$name"); echo "FAIL  $name (rc=$rc, log: $logdir/${name//\//_}.log)"
		tail -n 30 "$logdir/${name//\//_}.log" 2>/dev/null | sed 's/^/      | /'
	fi
}

run() { # name command...
	local name=$1; shift
	local log="$logdir/${name//\//_}.log"
	"$@" >"$log" 2>&1
	result "$name" $?
}

unit_tests() { # build_dir flavour
	local dir=$1 flavour=$2 t
	for t in "$dir"/test_*; do
		[ -x "$t" ] || continue
		run "$flavour/unit/$(basename "$t")" "$t"
	done
}

# e2e_tests BUILD_DIR FLAVOUR OFFLOAD [VAR=VALUE...]: every end-to-end
# test, with each tund's [tund] offload set to OFFLOAD (tests/e2e/lib.sh
# lab_tund_conf_offload) and the VARs in its environment. The plain build
# runs with the default (auto), the sanitizer build with off, so both data
# paths pass every test.
e2e_tests() {
	local dir=$1 flavour=$2 offload=$3 t
	shift 3
	for t in tests/e2e/test_*.sh; do
		[ -f "$t" ] || continue
		# The NAT lab's own test starts none of our daemons: once is enough.
		[ "$flavour" != plain ] && [ "$(basename "$t")" = test_natlab.sh ] && continue
		run "$flavour/e2e/$(basename "$t" .sh)" env TUND_BIN_DIR="$dir" LAB_OFFLOAD="$offload" "$@" bash "$t"
	done
}

if ! tools/install-deps.sh; then
	echo "FAIL  install-deps"; echo "0 passed, 1 failed"; exit 1
fi

echo "== plain build (-Werror)"
if dir=$(tools/build.sh plain 2>"$logdir/build-plain.log"); then
	[ "$do_unit" = 1 ] && unit_tests "$dir" plain
	[ "$do_e2e" = 1 ] && e2e_tests "$dir" plain auto
else
	result build/plain 1; cat "$logdir/build-plain.log" | tail -40
fi

if [ "$do_asan" = 1 ]; then
	echo "== ASan+UBSan build"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	if dir=$(tools/build.sh asan 2>"$logdir/build-asan.log"); then
		unit_tests "$dir" asan
		# 256 MiB instead of test_offload's gigabyte: this pass hunts memory
		# errors, and the plain pass moves the full gigabyte.
		[ "$do_e2e" = 1 ] && e2e_tests "$dir" asan-offload-off off OFFLOAD_BIG_MIB=256
	else
		result build/asan 1; tail -40 "$logdir/build-asan.log"
	fi
fi

if [ "$do_fuzz" = 1 ]; then
	echo "== fuzz targets, ${fuzz_seconds}s each"
	if dir=$(tools/build.sh fuzz 2>"$logdir/build-fuzz.log"); then
		# Two at a time: libFuzzer is CPU-bound and the machine has two cores.
		fpids=() fnames=()
		for f in "$dir"/fuzz_*; do
			[ -x "$f" ] || continue
			name=$(basename "$f")
			corpus=$(mktemp -d "$logdir/corpus-$name.XXXX")
			seeds=tests/fuzz/corpus/$name
			[ -d "$seeds" ] || seeds=
			"$f" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
				"$corpus" ${seeds:+"$seeds"} >"$logdir/fuzz_$name.log" 2>&1 &
			fpids+=($!) fnames+=("$name")
			if [ "${#fpids[@]}" -ge 2 ]; then
				for i in "${!fpids[@]}"; do wait "${fpids[$i]}"; result "fuzz/${fnames[$i]}" $?; done
				fpids=() fnames=()
			fi
		done
		for i in "${!fpids[@]}"; do wait "${fpids[$i]}"; result "fuzz/${fnames[$i]}" $?; done
	else
		result build/fuzz 1; tail -40 "$logdir/build-fuzz.log"
	fi
fi

echo
[ "${#failures[@]}" -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
if [ "$skipped" -gt 0 ]; then
	echo "tests: $passed passed, $failed failed, $skipped skipped"
else
	echo "tests: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
