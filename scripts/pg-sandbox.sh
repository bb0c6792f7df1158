#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the demo, the tests and the benchmark.
#
#   scripts/pg-sandbox.sh start|stop|status|url [DB]|port|reset|psql [DB] [ARGS...]|destroy
#
# MGR_SANDBOX_DIR   where the cluster lives (default: .sandbox/ in the repo)
# MGR_SANDBOX_PORT  TCP port on 127.0.0.1 (default: 54329), or auto:BASE to take
#                   the first port from BASE on where the server starts (the
#                   choice is kept in the sandbox directory for url/psql/port)
# MGR_SANDBOX_FAST  1: fsync/synchronous_commit/full_page_writes off (tests only;
#                   the benchmark keeps the durable defaults)
#
# Trust authentication on 127.0.0.1 only, no Unix socket. The server refuses
# to run as root, so as root every server command runs as the `postgres` user.
# `start` is idempotent and creates app_dev, app_test and app_prod.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${MGR_SANDBOX_DIR:-$repo/.sandbox}
port_spec=${MGR_SANDBOX_PORT:-54329}
auto_port=0
if [ -f "$dir/port" ]; then
  port=$(cat "$dir/port")
elif [[ $port_spec == auto:* ]]; then
  port=${port_spec#auto:}
  auto_port=1
else
  port=$port_spec
fi
databases=(app_dev app_test app_prod)

die() { echo "pg-sandbox: $*" >&2; exit 1; }

find_bindir() {
  if [ -n "${MGR_PG_BIN_DIR:-}" ] && [ -x "$MGR_PG_BIN_DIR/initdb" ]; then echo "$MGR_PG_BIN_DIR"; return; fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  die "no PostgreSQL server binaries found (initdb); run scripts/install-deps.sh"
}
bindir=$(find_bindir)

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

data=$dir/data
log=$dir/server.log

is_running() { [ -d "$data" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

psql_cmd() {
  local db=$1; shift
  "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

start_on() {
  local opts="-p $1 -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200"
  if [ "${MGR_SANDBOX_FAST:-0}" = 1 ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -o "$opts" -w -t 60 start >/dev/null
}

init_cluster() {
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    # postgres must reach the data directory; if a parent of $dir is closed
    # to it (a 0700 home, say), keep the data in /tmp and link it.
    if ! runuser -u postgres -- test -x "$dir"; then
      local alt
      alt=$(mktemp -d /tmp/mgr-pgdata.XXXXXX)
      chown postgres: "$alt"
      ln -sfn "$alt" "$data"
      data=$alt
    else
      mkdir -p "$data"
      chown postgres: "$data"
    fi
  else
    mkdir -p "$data"
  fi
  chmod 700 "$data"
  as_owner "$bindir/initdb" -D "$data" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
}

start() {
  if is_running; then
    ensure_databases
    return
  fi
  if [ -L "$data" ]; then data=$(readlink -f "$data"); fi
  [ -f "$data/PG_VERSION" ] || init_cluster
  touch "$log"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$log"
  local tries=1
  [ "$auto_port" = 1 ] && tries=40
  local first=$port
  while :; do
    # A port may look free to a connect() and still be bound (a client's
    # ephemeral port, a socket closing): then the next one is tried.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && start_on "$port"; then
      break
    fi
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then
      tail -n 20 "$log" >&2
      die "server did not start on port $port (is the port taken? choose another with MGR_SANDBOX_PORT=...)"
    fi
    port=$((port + 1))
  done
  [ "$auto_port" = 1 ] && echo "$port" >"$dir/port"
  [ "$port" = "$first" ] || echo "pg-sandbox: port $first was taken; using $port" >&2
  ensure_databases
}

ensure_databases() {
  local db
  for db in "${databases[@]}"; do
    if [ -z "$(psql_cmd postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      psql_cmd postgres -c "CREATE DATABASE $db"
    fi
  done
}

reset_databases() {
  local db
  for db in "${databases[@]}"; do
    psql_cmd postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  done
  ensure_databases
}

stop() {
  if is_running; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  start) start; echo "PostgreSQL sandbox running on 127.0.0.1:$port ($dir)" >&2 ;;
  stop) stop ;;
  status)
    if is_running; then echo "running on 127.0.0.1:$port ($dir)"; else echo "stopped ($dir)"; exit 3; fi ;;
  url) echo "postgresql://postgres@127.0.0.1:$port/${1:-postgres}" ;;
  port) echo "$port" ;;
  reset) start; reset_databases ;;
  psql) db=${1:-postgres}; shift || true; psql_cmd "$db" "$@" ;;
  destroy) stop; rm -rf "$(readlink -f "$data" 2>/dev/null || echo "$data")" "$dir" ;;
  *) echo "usage: $0 start|stop|status|url [DB]|port|reset|psql [DB]|destroy" >&2; exit 2 ;;
esac
