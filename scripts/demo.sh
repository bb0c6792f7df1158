#!/usr/bin/env bash
# The promotion flow end to end on a local sandbox PostgreSQL:
# install what is missing, build, start the sandbox with fresh app_dev,
# app_test and app_prod databases, then walk dev -> test -> prod.
# Safe to run again: it resets the sandbox databases each time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

started=$SECONDS
# Progress on stderr, with the time since the start: the first run compiles for minutes.
progress() { printf 'demo.sh [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*" >&2; }

progress "checking build dependencies (installs what is missing with apt)"
bash scripts/install-deps.sh build
build_dir=$repo/build/demo
progress "configuring $build_dir"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMGR_BUILD_TESTS=OFF >/dev/null
if [ -x "$build_dir/mgr" ]; then
  progress "building mgr (up to date in seconds after the first run)"
else
  progress "building mgr: the first build compiles about 35 files and takes a few minutes; ninja counts them"
fi
# Ninja's [done/total] counter: one updating line on a terminal, a line per file otherwise.
cmake --build "$build_dir" --target mgr -j "$(nproc)"
mgr=$build_dir/mgr
progress "built: $("$mgr" --version)"

export MGR_SANDBOX_PORT=${MGR_SANDBOX_PORT:-54329}
progress "starting the sandbox PostgreSQL with fresh app_dev, app_test, app_prod"
bash scripts/pg-sandbox.sh reset
progress "ready"
# The demo only ever talks to the sandbox, whatever the shell has set.
unset MGR_CONFIG
export DEV_DATABASE_URL TEST_DATABASE_URL PROD_DATABASE_URL
DEV_DATABASE_URL=$(bash scripts/pg-sandbox.sh url app_dev)
TEST_DATABASE_URL=$(bash scripts/pg-sandbox.sh url app_test)
PROD_DATABASE_URL=$(bash scripts/pg-sandbox.sh url app_prod)

bold='' plain=''
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true); fi
step() {
  echo
  echo "${bold}\$ mgr $*${plain}"
  set +e
  "$mgr" "$@"
  local rc=$?
  set -e
  echo "${bold}(exit $rc)${plain}"
  last_rc=$rc
}
expect() {
  if [ "$last_rc" -ne "$1" ]; then
    echo "demo.sh: expected exit $1, got $last_rc" >&2
    exit 1
  fi
}

echo "mgr demo: sandbox PostgreSQL on 127.0.0.1:$MGR_SANDBOX_PORT, config config/environments.yaml"
step status;                 expect 0
step apply dev;              expect 0
echo "# prod promotes from test, and test has nothing yet: the gate refuses."
step apply prod --yes;       expect 3
step apply test;             expect 0
step apply prod --yes;       expect 0
step status;                 expect 0
step backups;                expect 0

echo
echo "Done. The sandbox is still running: try 'build/demo/mgr status' or 'build/demo/mgr lint'."
echo "Stop it with: scripts/pg-sandbox.sh stop"
