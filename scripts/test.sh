#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: installs dependencies and test assets,
# builds (Release), runs every CTest test (unit, integration against the torch reference,
# bad-input checks), then rebuilds the unit tests with ASan+UBSan and runs them again.
#   DSV3_SKIP_SANITIZE=1 skips the sanitizer pass (local iteration only; CI runs it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DSV3_CACHE="${DSV3_CACHE:-$root/.cache}"
bash "$root/scripts/setup.sh" --tests
bash "$root/scripts/fetch_corpus.sh" >/dev/null  # the Brown corpus tests run on the real files
jobs="$(nproc)"
stage() { echo "== $1 (at ${SECONDS}s)"; }

stage "build (Release)"
bash "$root/scripts/build.sh" "$root/build"
stage "ctest (Release)"
(cd "$root/build" && ctest --output-on-failure -j"$jobs" --timeout 900)

if [ "${DSV3_SKIP_SANITIZE:-0}" != 1 ]; then
  stage "build (ASan+UBSan)"
  # Unit tests only, value-parameterised ones (Prefix/Suite.Test/Param) included; the two
  # that run the CLI use the Release binary built above.
  cmake -S "$root" -B "$root/build-sanitize" -DCMAKE_BUILD_TYPE=None -DDSV3_SANITIZE=ON \
    -DDSV3_BUILD_BENCH=OFF -DDSV3_TEST_BINARY="$root/build/dsv3" >/dev/null
  cmake --build "$root/build-sanitize" -j"$jobs" --target dsv3_unit_tests
  stage "ctest (ASan+UBSan, unit tests)"
  (cd "$root/build-sanitize" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" -R '^([A-Za-z0-9_]+/)?[A-Za-z0-9_]+\.' -E '^integration\.' --timeout 900)
fi
echo "== all tests passed in ${SECONDS}s"
