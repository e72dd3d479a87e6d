#!/usr/bin/env bash
# Souk's test command (the README's and CI's): installs missing system packages, builds everything
# (the end-to-end tests run the built `souk` binary), runs the Swift test suite and prints its summary,
# then the real-process network tests in Tests/Network (pytest with an independent Python peer).
#
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh --filter SoukNodeTests   # extra arguments go to `swift test`
#
# SWIFT_BUILD_FLAGS (for example "--scratch-path .build-ci") is passed to both `swift build` and `swift test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

read -r -a build_flags <<<"${SWIFT_BUILD_FLAGS:-}"

# One style everywhere: the checked-in .swift-format (4 spaces, 120 columns), checked by the
# swift-format that ships with the toolchain. Fix with: swift format -i -r Sources Tests Benchmarks Package.swift
echo "==> swift format lint --strict"
if ! swift format lint --strict -r Sources Tests Benchmarks Package.swift; then
    echo "Formatting check FAILED: run \`swift format -i -r Sources Tests Benchmarks Package.swift\`" >&2
    exit 1
fi

echo "==> swift build ${build_flags[*]}"
if ! swift build "${build_flags[@]}"; then
    echo "Build FAILED; no tests were run." >&2
    exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/souk-test.XXXXXX.log")
trap 'rm -f "$log"' EXIT

echo "==> swift test ${build_flags[*]} $*"
set +e
swift test "${build_flags[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

echo
echo "==> Summary"
# Failures first (Swift Testing marks them with ✘, XCTest with "error:"), then the runners' totals.
grep -E '✘|: error: ' "$log" | grep -vE 'Test run with|^✘ Suite' | head -n 50 || true
grep -E 'Test run with [0-9]+ test|Executed [0-9]+ tests?' "$log" | tail -n 3 || true
if ((status != 0)); then
    echo "Tests FAILED (swift test exit status $status)" >&2
    exit "$status"
fi

# The network tests start real `souk` processes and talk to them with an independent Python peer
# (Tests/Network). They run on the full suite, not when `swift test` arguments narrow it.
if (($# == 0)); then
    bin_dir=$(swift build "${build_flags[@]}" --show-bin-path)
    echo
    echo "==> python3 -m pytest Tests/Network (SOUK_BIN=$bin_dir/souk)"
    if ! python3 -c 'import nacl, pytest' 2>/dev/null; then
        python3 -m pip install --quiet --disable-pip-version-check -r Tests/Network/requirements.txt
    fi
    SOUK_BIN="$bin_dir/souk" python3 -m pytest Tests/Network -q -p no:cacheprovider
fi
echo "All tests passed."
