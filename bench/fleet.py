#!/usr/bin/env python3
"""Fleet benchmark (issue 15): `mgr apply <fleet>` over N databases x M migrations
against the parallelism, with the peak number of mgr connections on the server and
mgr's peak RSS. Normally started by bench/fleet.sh, which starts a sandbox server.

    bench/fleet.py --mgr BIN --port P [--databases 200] [--migrations 20]
                   [--parallel 1,2,4,8,16] [--runs 1] [--backup off|required] [--out FILE]

Each run starts from N freshly created databases; the run counts only when
`mgr status --json` then reports every database at head (else exit 1: the harness
or mgr is broken). The single-database cost is measured the same way on one database.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def log(msg):
    print(f"[fleet-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Server:
    def __init__(self, port, psql):
        self.port = port
        self.psql_bin = psql

    def url(self, db):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, sql, db="postgres"):
        r = subprocess.run([self.psql_bin, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(db), "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {sql[:80]}: {r.stderr.strip()}")
        return r.stdout.strip()

    def recreate(self, names):
        for n in names:
            self.psql(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
            self.psql(f'CREATE DATABASE "{n}" TEMPLATE template0')


class ConnectionSampler(threading.Thread):
    """Samples how many connections mgr holds (application_name 'mgr ...') every 50 ms."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                n = int(self.server.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'mgr %'"))
                self.peak = max(self.peak, n)
            except (RuntimeError, ValueError):
                pass
            self.stop.wait(0.05)


def write_project(root, server, fleet, migrations, backup):
    os.makedirs(os.path.join(root, "config"), exist_ok=True)
    mig = os.path.join(root, "migrations")
    shutil.rmtree(mig, ignore_errors=True)
    os.makedirs(mig)
    for i in range(1, migrations + 1):
        with open(os.path.join(mig, f"{i:04d}_t{i}.sql"), "w") as f:
            f.write(f"CREATE TABLE t{i} (id bigint PRIMARY KEY, v text NOT NULL DEFAULT '');\n"
                    f"CREATE INDEX t{i}_v ON t{i} (v);\n"
                    f"INSERT INTO t{i} (id) SELECT g FROM generate_series(1, 100) g;\n")
    lines = ["environments:", "  single:", f"    url: {server.url('fleet_single')}", f"    backup: {backup}",
             "    drift: off", "  prod:", f"    backup: {backup}", "    drift: off", "    databases:"]
    lines += [f"      - {server.url(db)}" for db in fleet]
    with open(os.path.join(root, "config", "environments.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def peak_rss_of(argv, cwd):
    """Runs argv; (wall s, exit code, stdout, stderr, peak RSS KiB) via wait4's rusage."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return wall, os.waitstatus_to_exitcode(status), out.read().decode(errors="replace"), \
            err.read().decode(errors="replace"), ru.ru_maxrss


def run_fleet(args, server, root, fleet, parallel):
    server.recreate(fleet)
    sampler = ConnectionSampler(server)
    sampler.start()
    wall, rc, out, err, rss = peak_rss_of(
        [args.mgr, "--config", os.path.join(root, "config/environments.yaml"), "apply", "prod", "--yes",
         "--parallel", str(parallel)], root)
    sampler.stop.set()
    sampler.join()
    if rc != 0:
        raise RuntimeError(f"mgr apply prod --parallel {parallel} exited {rc}: {err[-2000:]}")
    status = subprocess.run([args.mgr, "--config", os.path.join(root, "config/environments.yaml"), "status", "prod",
                             "--json"], cwd=root, capture_output=True, text=True)
    doc = json.loads(status.stdout)
    at_head = doc["fleets"][0]["at_head"]
    if at_head != len(fleet):
        raise RuntimeError(f"after apply only {at_head}/{len(fleet)} databases are at head")
    return {"parallel": parallel, "seconds": round(wall, 3), "peak_connections": sampler.peak,
            "peak_rss_mib": round(rss / 1024, 1)}


def run_single(args, server, root):
    times = []
    for _ in range(3):
        server.recreate(["fleet_single"])
        wall, rc, _, err, _ = peak_rss_of(
            [args.mgr, "--config", os.path.join(root, "config/environments.yaml"), "apply", "single"], root)
        if rc != 0:
            raise RuntimeError(f"mgr apply single exited {rc}: {err[-2000:]}")
        times.append(wall)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mgr", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--psql", default=shutil.which("psql") or "psql")
    ap.add_argument("--databases", type=int, default=200)
    ap.add_argument("--migrations", type=int, default=20)
    ap.add_argument("--parallel", default="1,2,4,8,16")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--backup", choices=["off", "required"], default="off")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    args.mgr = os.path.abspath(args.mgr)
    server = Server(args.port, args.psql)
    fleet = [f"fleet_{i:05d}" for i in range(args.databases)]
    root = tempfile.mkdtemp(prefix="mgr-fleet-bench.")
    try:
        write_project(root, server, fleet, args.migrations, args.backup)
        single = run_single(args, server, root)
        log(f"one database, {args.migrations} migrations: {single:.3f} s")
        results = []
        for p in [int(x) for x in args.parallel.split(",")]:
            runs = [run_fleet(args, server, root, fleet, p) for _ in range(args.runs)]
            best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
            log(f"parallel {p}: {best['seconds']} s, peak {best['peak_connections']} connections, "
                f"{best['peak_rss_mib']} MiB")
            results.append(best)
        doc = {"databases": args.databases, "migrations": args.migrations, "backup": args.backup,
               "single_database_seconds": round(single, 3), "runs": results}
        print("| parallel | wall (s) | per database (ms) | vs one single apply | peak mgr connections | peak RSS (MiB) |")
        print("|---|---|---|---|---|---|")
        for r in results:
            per_db = r["seconds"] / args.databases
            print(f"| {r['parallel']} | {r['seconds']:.2f} | {per_db * 1000:.1f} | {per_db / single:.2f}x | "
                  f"{r['peak_connections']} | {r['peak_rss_mib']} |")
        if args.out:
            with open(args.out, "w") as f:
                json.dump(doc, f, indent=2)
    finally:
        for db in fleet + ["fleet_single"]:
            try:
                server.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            except RuntimeError:
                pass
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
