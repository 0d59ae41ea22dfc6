#!/usr/bin/env bash
# Configures and builds one flavour of tund into a build directory.
#   tools/build.sh [plain|asan|fuzz] [BUILD_DIR]
# plain: -Werror with test hooks; asan: the same under ASan+UBSan;
# fuzz: clang with libFuzzer targets (CMakeLists.txt instruments the
# library code the targets exercise for coverage too).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-plain}
dir=${2:-$root/build${flavour/plain/}}
[ "$flavour" = plain ] || dir=${2:-$root/build-$flavour}
common=(-DTUND_WERROR=ON -DTUND_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
case "$flavour" in
	plain) cmake -S "$root" -B "$dir" "${common[@]}" >/dev/null ;;
	asan) cmake -S "$root" -B "$dir" "${common[@]}" -DTUND_SANITIZE=ON >/dev/null ;;
	fuzz) CC=clang cmake -S "$root" -B "$dir" "${common[@]}" -DTUND_FUZZ=ON >/dev/null ;;
	*) echo "build.sh: unknown flavour $flavour (plain, asan, fuzz)" >&2; exit 2 ;;
esac
if [ "$flavour" = fuzz ]; then
	# Only the fuzz targets: the programs and unit tests are built (and
	# run) by the other flavours.
	mapfile -t targets < <(cd "$root/tests/fuzz" && for f in fuzz_*.c; do echo "${f%.c}"; done)
	cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" >/dev/null
else
	cmake --build "$dir" -j"$(nproc)" >/dev/null
fi
echo "$dir"
