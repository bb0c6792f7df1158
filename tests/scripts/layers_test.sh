#!/usr/bin/env bash
# The layer check (cmake/check_layers.cmake) catches what it exists for: on a
# copy of the tree it passes, then fails naming file:line for an #include that
# points up the layers, for a library the layer does not link, and for a
# source file that is in no layer.
#   tests/scripts/layers_test.sh <source dir>
set -euo pipefail
src=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fresh() {
  rm -rf "$work/tree"
  mkdir -p "$work/tree"
  cp -r "$src/src" "$src/include" "$src/cmake" "$work/tree/"
}
check() { cmake -DROOT="$work/tree" -P "$work/tree/cmake/check_layers.cmake" >"$work/out" 2>&1; }
expect_failure() {  # <what> <text the output must contain>
  if check; then
    echo "FAIL: $1: the check passed"; cat "$work/out"; exit 1
  fi
  if ! grep -qF -- "$2" "$work/out"; then
    echo "FAIL: $1: the output does not say: $2"; cat "$work/out"; exit 1
  fi
  echo "ok: $1"
}

fresh
check || { echo "FAIL: the check fails on an unchanged copy"; cat "$work/out"; exit 1; }
echo "ok: the unchanged tree passes"

# core (plan.cpp) including the database session, at a known line.
fresh
lines=$(wc -l <"$work/tree/src/plan.cpp")
echo '#include "mgr/session.hpp"' >>"$work/tree/src/plan.cpp"
expect_failure "an include up the layers" "src/plan.cpp:$((lines + 1)): #include \"mgr/session.hpp\" points up the layers"

# a public header of core including the linter
fresh
echo '#include "mgr/lint.hpp"' >>"$work/tree/include/mgr/text.hpp"
expect_failure "a core header including lint" "include/mgr/text.hpp:"

# proc (process.cpp) including libpqxx, which only db links
fresh
lines=$(wc -l <"$work/tree/src/process.cpp")
echo '#include <pqxx/pqxx>' >>"$work/tree/src/process.cpp"
expect_failure "a library the layer does not link" "src/process.cpp:$((lines + 1)): #include <pqxx/pqxx>: layer \`proc\` does not link pqxx"

# a new source file in no layer
fresh
echo 'int x;' >"$work/tree/src/zz_unlisted.cpp"
expect_failure "a file in no layer" "src/zz_unlisted.cpp: in no layer"

# lines with ; [ ] and \ before the include do not shift the line count
fresh
printf '%s\n' 'int a[2]; // [x;' 'const char* s = "\\";' '#include "mgr/cli.hpp"' >>"$work/tree/src/text.cpp"
lines=$(wc -l <"$work/tree/src/text.cpp")
expect_failure "line numbers past ; [ ] and \\" "src/text.cpp:$lines: #include \"mgr/cli.hpp\""
