#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, own build dir) and runs each
# for a while on its committed seed corpus (fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh [seconds]        seconds per target (default 300)
#   scripts/fuzz.sh --smoke          a few seconds per target, for CI
#
# A crash, leak, timeout (10 s per input) or out-of-memory stops the target
# and fails the script; libFuzzer writes the input to fuzz/crashes/<target>/.
# New inputs found go to a scratch corpus (build/fuzz/corpus), not into git:
# merge interesting ones into fuzz/corpus/ by hand (-merge=1).
#
# MGR_FUZZ_BUILD_DIR   build directory (default: build/fuzz)
# MGR_FUZZ_TARGETS     space-separated subset (default: config catalog split lint)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

seconds=300
case "${1:-}" in
  --smoke) seconds=5 ;;
  '') ;;
  *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds|--smoke]" >&2; exit 2 ;;
  *) seconds=$1 ;;
esac

bash scripts/install-deps.sh build fuzz

build_dir=${MGR_FUZZ_BUILD_DIR:-$repo/build/fuzz}
targets=(${MGR_FUZZ_TARGETS:-config catalog split lint})
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMGR_FUZZ=ON -DMGR_SANITIZE=ON -DMGR_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

# Any UBSan report is a finding, not a line to scroll past.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if [ -f "$repo/scripts/lsan.supp" ]; then
  export LSAN_OPTIONS=suppressions=$repo/scripts/lsan.supp:print_suppressions=0
fi

rc=0
summary=()
for t in "${targets[@]}"; do
  seeds=$repo/fuzz/corpus/$t
  scratch=$build_dir/corpus/$t
  crashes=$repo/fuzz/crashes/$t
  mkdir -p "$scratch" "$crashes"
  log=$build_dir/fuzz_$t.log
  echo "fuzz.sh: $t for ${seconds}s" >&2
  set +e
  "$build_dir/fuzz/fuzz_$t" "$scratch" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [ $status -ne 0 ]; then
    rc=1
    echo "fuzz.sh: $t FAILED (exit $status); last lines of $log:" >&2
    tail -40 "$log" >&2
    summary+=("$t: FAILED after ${runs:-?} runs (see $log and $crashes)")
  else
    summary+=("$t: ${runs:-?} runs in ${seconds}s, ${speed:-?} exec/s, ${cov:-cov: ?}, no crash/leak/timeout")
  fi
done
printf 'fuzz.sh: %s\n' "${summary[@]}"
exit $rc
