#!/usr/bin/env bash
# Installs what is missing, builds, starts a throwaway PostgreSQL of its own
# (own directory and port: never the demo's), runs every test with ctest,
# stops the server on every exit path, and exits with ctest's status.
#
#   scripts/test.sh [ctest args...]      e.g. scripts/test.sh -R unit.
#
# MGR_BUILD_DIR   build directory (default: build/test)
# MGR_TEST_JOBS   parallel ctest jobs (default: number of cores)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bash scripts/install-deps.sh build

build_dir=${MGR_BUILD_DIR:-$repo/build/test}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMGR_WERROR=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

sandbox=$(mktemp -d /tmp/mgr-test-sandbox.XXXXXX)
chmod 755 "$sandbox"
# Its own port: the first that works from 25432 (below the kernel's ephemeral
# range, so no client connection can be holding it), never the demo's 54329.
export MGR_SANDBOX_DIR=$sandbox MGR_SANDBOX_PORT=${MGR_TEST_PORT:-auto:25432} MGR_SANDBOX_FAST=1
cleanup() {
  bash "$repo/scripts/pg-sandbox.sh" destroy >/dev/null 2>&1 || true
  rm -rf "$sandbox"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/pg-sandbox.sh start
export MGR_TEST_DATABASE_URL
MGR_TEST_DATABASE_URL=$(bash scripts/pg-sandbox.sh url postgres)
# A test that cannot reach the server fails instead of skipping.
export MGR_TEST_REQUIRE_DB=1

set +e
ctest --test-dir "$build_dir" --output-on-failure -j "${MGR_TEST_JOBS:-$(nproc)}" "$@"
rc=$?
set -e
exit $rc
