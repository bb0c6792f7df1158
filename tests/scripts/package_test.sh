#!/usr/bin/env bash
# Builds the Debian package with cpack from a build folder and checks it:
# the file name, the Depends field (libraries from dpkg-shlibdeps plus
# postgresql-client), that every library the binary needs comes from a
# package it depends on, and that the packaged binary works from the
# extracted tree: --version, init, new, lint, the man page and completions.
#   package_test.sh <build dir> <version> <source dir>
set -euo pipefail
build=$1 version=$2 src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Its own output folder: the test never leaves a package in the build tree.
(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
arch=$(dpkg --print-architecture)
deb=$work/out/mgr_${version}_${arch}.deb
[ -f "$deb" ] || { ls -la "$work/out"; fail "no $deb"; }

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
# libspdlog1.10-fmt9 is the virtual package libspdlog1.10 provides (its ABI with fmt 9).
for pkg in libpqxx-6.4 libyaml-cpp0.7 'libspdlog1.10(-fmt9)?' libfmt9 libssl3 libboost-filesystem1.74.0 \
           libpg-query1504.0 libpq5 'libstdc\+\+6' libc6 postgresql-client; do
  grep -Eq "(^|, )$pkg( |,|$)" <<<"$depends" || fail "Depends lacks $pkg"
done

dpkg-deb -x "$deb" "$work/root"
bin=$work/root/usr/bin/mgr
[ -x "$bin" ] || fail "no usr/bin/mgr in the package"
for f in usr/share/man/man1/mgr.1.gz usr/share/bash-completion/completions/mgr \
         usr/share/zsh/vendor-completions/_mgr usr/share/doc/mgr/README.md usr/share/doc/mgr/cli.md; do
  [ -s "$work/root/$f" ] || fail "package lacks $f"
done
zcat "$work/root/usr/share/man/man1/mgr.1.gz" | grep -q '^\.TH MGR 1' || fail "man page is not roff"

# Every library the binary links directly belongs to a package named in Depends,
# so a machine with only those packages can run it.
while read -r lib; do
  path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3 }')
  { [ -n "$path" ] && [ "$path" != "not" ]; } || fail "$lib not found"
  owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$owner" ] || owner=$(dpkg -S "$path" | head -1 | cut -d: -f1)
  ok=no
  # The owner itself, or a virtual package it provides, must be in Depends.
  for name in "$owner" $(dpkg-query -W -f='${Provides}' "$owner" | sed 's/([^)]*)//g; s/,/ /g'); do
    grep -Fq " $name " <<<" $(sed 's/([^)]*)//g; s/,/ /g' <<<"$depends") " && ok=yes
  done
  [ $ok = yes ] || fail "$lib comes from $owner, which is not in Depends"
done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')

# The packaged binary, from the extracted tree.
"$bin" --version | tee "$work/version"
grep -q "^mgr $version (" "$work/version" || fail "--version: $(cat "$work/version")"
if git -C "$src" rev-parse --short=12 HEAD >/dev/null 2>&1; then
  grep -q "(git $(git -C "$src" rev-parse --short=12 HEAD)" "$work/version" || fail "--version does not name HEAD"
fi
project=$work/project
mkdir "$project"
cd "$project"
export DEV_DATABASE_URL=postgresql://127.0.0.1:1/d TEST_DATABASE_URL=postgresql://127.0.0.1:1/t \
       PROD_DATABASE_URL=postgresql://127.0.0.1:1/p MGR_CONFIG=
"$bin" init >/dev/null
"$bin" new create_users >/dev/null
up=$(ls migrations/*_create_users.sql)
echo 'CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);' >> "$up"
"$bin" lint
"$bin" new drop_email >/dev/null
drop=$(ls migrations/*_drop_email.sql)
echo 'ALTER TABLE users DROP COLUMN email;' >> "$drop"
set +e
"$bin" lint >/dev/null
rc=$?
set -e
[ "$rc" = 3 ] || fail "lint of a DROP COLUMN: exit $rc, expected 3"
echo "package: ok ($deb)"
