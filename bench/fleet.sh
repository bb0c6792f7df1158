#!/usr/bin/env bash
# The fleet benchmark (issue 15): mgr apply over a fleet of databases against
# the parallelism (bench/fleet.py; results go in bench/RESULTS.md, "Fleets").
#
#   bench/fleet.sh                          200 databases x 20 migrations, parallel 1,2,4,8,16
#   bench/fleet.sh --databases 20 --parallel 1,4    a small run that proves it works
#   (any other bench/fleet.py flag: --migrations, --runs, --backup required, --out FILE)
#
# MGR_BENCH_BIN   the mgr binary (default: build/bench/mgr, else build/test/mgr)
# MGR_BENCH_PORT  sandbox port (default: the first that works from 25560)
#
# Starts its own durable sandbox PostgreSQL (max_connections 200) in a
# temporary directory and removes it on every exit path.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
mgr=${MGR_BENCH_BIN:-}
if [ -z "$mgr" ]; then
  for candidate in build/bench/mgr build/test/mgr; do
    [ -x "$candidate" ] && { mgr=$repo/$candidate; break; }
  done
fi
[ -n "$mgr" ] || { echo "fleet.sh: no mgr binary; build one or set MGR_BENCH_BIN" >&2; exit 2; }
sandbox=$(mktemp -d /tmp/mgr-fleet-bench.XXXXXX)
chmod 755 "$sandbox"
unset MGR_SANDBOX_FAST
export MGR_SANDBOX_DIR=$sandbox MGR_SANDBOX_PORT=${MGR_BENCH_PORT:-auto:25560}
cleanup() {
  bash "$repo/scripts/pg-sandbox.sh" destroy >/dev/null 2>&1 || true
  rm -rf "$sandbox"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
bash scripts/pg-sandbox.sh start >/dev/null 2>&1
port=$(bash scripts/pg-sandbox.sh port)
echo "[fleet-bench] sandbox on port $port, mgr $mgr" >&2
python3 bench/fleet.py --mgr "$mgr" --port "$port" "$@"
