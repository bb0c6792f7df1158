#!/usr/bin/env bash
# The mgr benchmark (issue 8): mgr against the psql floors and dbmate.
#
#   scripts/bench.sh                 full run: N = 10,100,1000,10000; writes bench/RESULTS.md and bench/chart.svg
#   scripts/bench.sh --quick         N = 10,100, 2 runs; writes bench/work/quick/ (smoke test, < 1 min once built)
#   scripts/bench.sh --sizes 10,100 --runs 5 --runs-large 5 --cheap-runs 10
#   scripts/bench.sh --sizes 1000,10000 --phases no-op,status,validate,lint --out bench/work/partial
#                                    time only some phases (set-up for the rest still runs, untimed)
#
# MGR_BENCH_BIN   use this mgr binary instead of building build/bench (Release)
# MGR_BENCH_PORT  sandbox port (default: the first that works from 25460)
#
# Builds mgr (Release, build/bench), starts its own durable sandbox PostgreSQL
# (fsync, synchronous_commit, full_page_writes on) in a temporary directory,
# installs dbmate into bench/work/node_modules when it can (without network the
# dbmate row is skipped with a note), runs bench/run.py, and stops the sandbox
# on every exit path. Exits non-zero when the harness is broken (a result
# check failed or a tool failed); never on timings.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

quick=0
out=""
args=()
sizes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --sizes) sizes=$2; shift ;;
    --sizes=*) sizes=${1#--sizes=} ;;
    --out) out=$2; shift ;;
    --runs|--runs-large|--cheap-runs|--large-from|--seed|--phases) args+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "[bench.sh] $*" >&2; }

# Dependencies: gnuplot, time, node/npm. Offline, carry on without them.
if ! bash scripts/install-deps.sh bench >/dev/null 2>&1; then
  log "warning: scripts/install-deps.sh bench failed (offline?); continuing with what is installed"
fi

# mgr, Release. Other work may sit uncommitted in the tree: record what was built.
changes=$(git status --porcelain -- src include CMakeLists.txt 2>/dev/null | wc -l)
mgr_build="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ "$changes" -gt 0 ] && mgr_build="$mgr_build + $changes uncommitted file(s) under src/, include/"
mgr_build="$mgr_build, built $(date -u +%H:%M) UTC"
if [ -n "${MGR_BENCH_BIN:-}" ]; then
  mgr=$MGR_BENCH_BIN
  mgr_build="given binary $MGR_BENCH_BIN (MGR_BENCH_BIN)"
else
  build_dir=$repo/build/bench
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMGR_BUILD_TESTS=OFF >/dev/null
  ninja -C "$build_dir" mgr >/dev/null
  mgr=$build_dir/mgr
fi
[ -x "$mgr" ] || { log "no mgr binary at $mgr"; exit 1; }
mgr=$(cd "$(dirname "$mgr")" && pwd)/$(basename "$mgr")

# dbmate: the npm package's native binary, called directly.
mkdir -p bench/work
dbmate_bin=bench/work/node_modules/@dbmate/linux-x64/bin/dbmate
dbmate_note=""
if [ ! -x "$dbmate_bin" ]; then
  if command -v npm >/dev/null; then
    log "installing dbmate into bench/work/node_modules (npm)"
    timeout "$([ $quick = 1 ] && echo 30 || echo 180)" \
      npm install --prefix bench/work --no-audit --no-fund dbmate >/dev/null 2>&1 || true
  fi
fi
if [ -x "$dbmate_bin" ] && "$dbmate_bin" --version >/dev/null 2>&1; then
  dbmate_bin=$(cd "$(dirname "$dbmate_bin")" && pwd)/dbmate
else
  dbmate_note="dbmate could not be installed (npm install --prefix bench/work dbmate failed: offline?); the dbmate rows are skipped"
  log "warning: $dbmate_note"
  dbmate_bin=""
fi

bindir=${MGR_PG_BIN_DIR:-}
if [ -z "$bindir" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { bindir=$d; break; }
  done
fi
[ -n "$bindir" ] || bindir=$(dirname "$(command -v initdb || command -v psql)")

# Own sandbox: own directory and port, durable settings (MGR_SANDBOX_FAST unset).
# The first port that works from 25460 (below the kernel's ephemeral range, so
# no client connection can be holding it); pg-sandbox.sh tries the next ones.
sandbox=$(mktemp -d /tmp/mgr-bench-sandbox.XXXXXX)
chmod 755 "$sandbox"
unset MGR_SANDBOX_FAST
export MGR_SANDBOX_DIR=$sandbox MGR_SANDBOX_PORT=${MGR_BENCH_PORT:-auto:25460}
cleanup() {
  # A throwaway cluster: stop it without the shutdown checkpoint (seconds of
  # fsync for nothing), then let the sandbox script remove it.
  if [ -n "${bindir:-}" ] && [ -d "$sandbox/data" ]; then
    local data
    data=$(readlink -f "$sandbox/data")
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    else
      "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  fi
  bash "$repo/scripts/pg-sandbox.sh" destroy >/dev/null 2>&1 || true
  rm -rf "$sandbox"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

bash scripts/pg-sandbox.sh start 2>/dev/null
port=$(bash scripts/pg-sandbox.sh port)
log "sandbox on port $port ($sandbox)"

run_args=(--mgr "$mgr" --mgr-build "$mgr_build" --port "$port" --bindir "$bindir" --dbmate "$dbmate_bin" --dbmate-note "$dbmate_note")
if [ $quick = 1 ]; then
  run_args+=(--quick --sizes "${sizes:-10,100}" --runs 1 --runs-large 1 --cheap-runs 2 --out "$repo/bench/work/quick")
else
  run_args+=(--sizes "${sizes:-10,100,1000,10000}" --out "${out:-$repo/bench}")
fi
start=$(date +%s)
set +e
python3 bench/run.py "${run_args[@]}" "${args[@]}"
rc=$?
set -e
log "finished in $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
