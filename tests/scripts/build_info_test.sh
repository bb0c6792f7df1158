#!/usr/bin/env bash
# cmake/build_info.cmake, the generator behind `mgr --version`'s commit:
# the commit and "dirty" in a git tree, "outside git" elsewhere, and the
# header rewritten only when that changes (a new commit needs no reconfigure,
# a no-op build recompiles nothing).
#   build_info_test.sh <path to build_info.cmake>
set -euo pipefail
script=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
gen() { cmake -DSRC="$1" -DOUT="$2" -P "$script"; }
field() { sed -n "s/^#define $1 //p" "$2"; }

# Outside git: no commit.
mkdir "$work/plain"
gen "$work/plain" "$work/plain.h"
[ "$(field MGR_GIT_COMMIT "$work/plain.h")" = '""' ] || fail "outside git: $(cat "$work/plain.h")"

# A git tree: the commit, clean.
repo=$work/repo
git init -q "$repo"
git -C "$repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m one
echo 'a' > "$repo/file.txt"
git -C "$repo" add file.txt
git -C "$repo" -c user.name=t -c user.email=t@t commit -q -m two
first=$(git -C "$repo" rev-parse --short=12 HEAD)
gen "$repo" "$work/h"
[ "$(field MGR_GIT_COMMIT "$work/h")" = "\"$first\"" ] || fail "commit: $(cat "$work/h")"
[ "$(field MGR_GIT_DIRTY "$work/h")" = 0 ] || fail "clean tree marked dirty"

# Unchanged: the header is not rewritten (same inode timestamp).
touch -d '2000-01-01' "$work/h"
gen "$repo" "$work/h"
[ "$(stat -c %Y "$work/h")" = "$(date -d 2000-01-01 +%s)" ] || fail "rewritten without a change"

# An edit: dirty. An untracked file: dirty too (the build globs sources).
echo 'b' >> "$repo/file.txt"
gen "$repo" "$work/h"
[ "$(field MGR_GIT_DIRTY "$work/h")" = 1 ] || fail "edit not dirty"
git -C "$repo" checkout -q file.txt
touch "$repo/new.cpp"
gen "$repo" "$work/h"
[ "$(field MGR_GIT_DIRTY "$work/h")" = 1 ] || fail "untracked file not dirty"

# A new commit: the new commit, clean again, without any reconfigure.
git -C "$repo" add new.cpp
git -C "$repo" -c user.name=t -c user.email=t@t commit -q -m three
second=$(git -C "$repo" rev-parse --short=12 HEAD)
gen "$repo" "$work/h"
[ "$(field MGR_GIT_COMMIT "$work/h")" = "\"$second\"" ] || fail "new commit not seen: $(cat "$work/h")"
[ "$(field MGR_GIT_DIRTY "$work/h")" = 0 ] || fail "committed tree still dirty"

# A source tree inside someone else's repository is not "in git".
mkdir -p "$repo/vendored/mgr"
gen "$repo/vendored/mgr" "$work/v.h"
[ "$(field MGR_GIT_COMMIT "$work/v.h")" = '""' ] || fail "parent repository's commit used"
echo "build_info: ok"
