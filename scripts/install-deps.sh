#!/usr/bin/env bash
# Installs the Debian packages mgr needs to build, test, demo and benchmark.
# Returns at once when everything is present: apt-get update runs only when
# something is missing. Safe to run as root (CI) or with sudo available.
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build)

pkgs_build=(
  g++ cmake ninja-build pkg-config ca-certificates
  libpqxx-dev libpq-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libssl-dev libboost-dev libboost-filesystem-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev libpg-query-dev
  postgresql-15 postgresql-client-15
  dpkg-dev file  # cpack -G DEB: dpkg-shlibdeps derives the package's library dependencies
)
# The benchmark also needs these (bench/, scripts/bench.sh).
pkgs_bench=(time gnuplot-nox nodejs npm)
# The fuzz targets (scripts/fuzz.sh): clang with libFuzzer (libclang-rt-14-dev), ccache is optional.
pkgs_fuzz=(clang libclang-rt-14-dev)

wanted=()
for g in "${groups[@]}"; do
  case "$g" in
    build) wanted+=("${pkgs_build[@]}") ;;
    bench) wanted+=("${pkgs_build[@]}" "${pkgs_bench[@]}") ;;
    fuzz) wanted+=("${pkgs_fuzz[@]}") ;;
    *) echo "install-deps.sh: unknown group '$g' (build|bench|fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${wanted[@]}"; do
  # A package counts as present only when dpkg says it is fully installed.
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    # nodejs/npm may come from elsewhere (nvm, the image): a working binary is enough.
    case "$p" in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# Installing postgresql-15 may create and start a default cluster via the
# init system; policy-rc.d is not ours to change, and mgr never uses that cluster.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps.sh: done" >&2
