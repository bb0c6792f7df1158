#!/usr/bin/env python3
"""What a schema snapshot costs next to the `pg_dump --schema-only` it runs.

    bench/drift_snapshot.py --mgr build/bench/mgr --url postgresql://postgres@127.0.0.1:PORT/postgres \
        [--sizes 100,1000] [--runs 10]

For each size N: a fresh database gets the first N generated migrations
(bench/gen.py, seed 42) with `mgr apply`, and a first snapshot with
`mgr drift dev --accept`. Then, interleaved, `--runs` times each:

  pg_dump   pg_dump --schema-only --no-owner --no-privileges (output discarded): the floor
  snapshot  mgr drift dev: start, connect, migration lock, mgr's tables looked up,
            the same pg_dump, canonical text, SHA-256, the stored snapshot read
            and compared. Recording after a change does the same work plus one
            INSERT ... ON CONFLICT instead of the comparison.

Prints the medians (min-max) in ms and the overhead, as a Markdown table.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def timed(args):
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def with_db(url, db):
    head, _, _ = url.rpartition("/")
    return head + "/" + db


def fmt(values):
    return "**%.1f** (%.1f–%.1f)" % (statistics.median(values), min(values), max(values))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mgr", required=True)
    ap.add_argument("--url", required=True, help="admin URL of the server (database is replaced)")
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    mgr = os.path.abspath(args.mgr)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        work = tempfile.mkdtemp(prefix="mgr-drift-bench-")
        db = "drift_bench_%d_%d" % (n, os.getpid())
        try:
            run([sys.executable, os.path.join(HERE, "gen.py"), "--out", os.path.join(work, "gen"), "--n", str(n)])
            os.makedirs(os.path.join(work, "config"))
            shutil.copytree(os.path.join(work, "gen", "mgr"), os.path.join(work, "migrations"))
            url = with_db(args.url, db)
            with open(os.path.join(work, "config", "environments.yaml"), "w") as f:
                f.write("environments:\n  dev:\n    url: %s\n    backup: off\n    lint: off\n" % url)
            run(["psql", "-X", "-q", args.url, "-c", 'CREATE DATABASE "%s"' % db])
            cfg = ["--config", os.path.join(work, "config", "environments.yaml")]
            run([mgr] + cfg + ["apply", "dev"])
            run([mgr] + cfg + ["drift", "dev", "--accept"])
            dump = ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--dbname=" + url, "--file=/dev/null"]
            snap = [mgr] + cfg + ["drift", "dev"]
            timed(dump), timed(snap)  # warm-up
            t_dump, t_snap = [], []
            for i in range(args.runs):
                pair = [(t_dump, dump), (t_snap, snap)]
                for sink, cmd in (pair if i % 2 == 0 else pair[::-1]):
                    sink.append(timed(cmd))
            lines = len(run(dump[:-1]).stdout.splitlines())
            over = (statistics.median(t_snap) / statistics.median(t_dump) - 1) * 100
            rows.append((n, lines, fmt(t_dump), fmt(t_snap), over))
        finally:
            subprocess.run(["psql", "-X", "-q", args.url, "-c", 'DROP DATABASE IF EXISTS "%s"' % db],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(work, ignore_errors=True)
    print("| migrations | dump lines | pg_dump --schema-only | mgr drift (snapshot) | overhead |")
    print("|---|---|---|---|---|")
    for n, lines, d, s, over in rows:
        print("| %d | %d | %s | %s | %+.0f %% |" % (n, lines, d, s, over))


if __name__ == "__main__":
    main()
