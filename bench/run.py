#!/usr/bin/env python3
"""The mgr benchmark harness. Normally started by scripts/bench.sh, which
builds mgr, starts the sandbox and passes the connection details.

    bench/run.py --mgr BIN --port P --bindir DIR [--sizes 10,100,1000,10000]
                 [--runs 5] [--runs-large 5] [--large-from 10000] [--cheap-runs 10]
                 [--dbmate BIN] [--out DIR] [--quick]

Every timed run applies the same SQL to a freshly created database and is
checked (schema dump without bookkeeping tables, row counts, migrations
recorded) before its time counts. Any failed check, or a tool failing where
it must succeed, aborts with exit status 1: the harness is broken then, and
the smoke test in scripts/test.sh must see it.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
SCRATCH = os.path.join(WORK, "full")  # per mode (full / quick), so a smoke test never touches a full run's files
BOOKKEEPING = ["mgr_history*", "schema_migrations*", "bench_history*"]
HISTORY = "mgr_history"


class HarnessError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes

def timed(argv, env=None, cwd=None, tag="cmd"):
    """Run argv; wall time (s), peak RSS (KiB, from wait4's rusage), exit code, stdout, stderr."""
    os.makedirs(os.path.join(SCRATCH, "out"), exist_ok=True)
    out_path = os.path.join(SCRATCH, "out", f"{tag}.stdout")
    err_path = os.path.join(SCRATCH, "out", f"{tag}.stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full_env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter()
        p.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, "rb") as f:
        so = f.read().decode(errors="replace")
    with open(err_path, "rb") as f:
        se = f.read().decode(errors="replace")
    return t1 - t0, ru.ru_maxrss, p.returncode, so, se


def must(argv, env=None, input_text=None, what=None):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    r = subprocess.run(argv, input=input_text, capture_output=True, text=True, env=full_env)
    if r.returncode != 0:
        raise HarnessError(f"{what or argv[0]} failed ({r.returncode}): {' '.join(argv)}\n{r.stderr[-2000:]}")
    return r.stdout


class PG:
    def __init__(self, bindir, port):
        self.bindir = bindir
        self.port = port
        self.psql_bin = os.path.join(bindir, "psql")
        self.pg_dump = os.path.join(bindir, "pg_dump")
        self.pg_restore = os.path.join(bindir, "pg_restore")
        self.created = []

    def conn_args(self, db):
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db]

    def url(self, db):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def psql_argv(self, db):
        return [self.psql_bin, "-X", "-q", "-v", "ON_ERROR_STOP=1"] + self.conn_args(db)

    def q(self, db, sql):
        return must(self.psql_argv(db) + ["-At", "-c", sql], what="psql").strip()

    def create(self, name, template=None):
        # Every database name is used once per size; dropping them between timed
        # runs would put DROP's I/O next to the next measurement.
        self.created.append(name)
        if template:
            self.q("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            self.q("postgres", f'CREATE DATABASE "{name}"')

    def drop_created(self):
        for name in self.created:
            self.drop(name)
        self.created = []

    def drop(self, name):
        self.q("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def schema_dump(self, db):
        argv = [self.pg_dump, "--schema-only", "--no-owner"] + self.conn_args(db)
        for p in BOOKKEEPING:
            argv += ["-T", p]
        text = must(argv, what="pg_dump --schema-only")
        # Drop comments (version banner) and pg_dump's per-run random \restrict key; the objects must match exactly.
        return "\n".join(l for l in text.splitlines()
                         if l.strip() and not l.startswith("--") and not l.startswith(("\\restrict", "\\unrestrict")))

    def row_counts(self, db):
        sql = ("SELECT string_agg(table_name || '=' || (xpath('/row/c/text()', query_to_xml("
               "format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text, "
               "',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public' "
               "AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'mgr_history%' "
               "AND table_name NOT LIKE 'schema_migrations%' AND table_name NOT LIKE 'bench_history%'")
        return self.q(db, sql)

    def count(self, db, table, where=""):
        return int(self.q(db, f"SELECT count(*) FROM {table} {where}"))


# --------------------------------------------------------------------------- stats

def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": len(xs), "all": xs}


class Results:
    def __init__(self):
        self.times = {}   # (phase, row, n) -> [s]
        self.rss = {}     # (phase, row, n) -> [KiB]
        self.notes = []
        self.skipped = {}  # (phase,row) -> reason

    def add(self, phase, row, n, secs, rss=None):
        self.times.setdefault((phase, row, n), []).append(secs)
        if rss is not None:
            self.rss.setdefault((phase, row, n), []).append(rss)

    def med(self, phase, row, n):
        xs = self.times.get((phase, row, n))
        return statistics.median(xs) if xs else None

    def to_json(self):
        return {
            "times": [{"phase": k[0], "row": k[1], "n": k[2], **stats(v)} for k, v in self.times.items()],
            "rss_kib": [{"phase": k[0], "row": k[1], "n": k[2], "max": max(v), "all": v} for k, v in self.rss.items()],
            "notes": self.notes,
            "skipped": [{"phase": k[0], "row": k[1], "reason": v} for k, v in self.skipped.items()],
        }


# --------------------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, a):
        self.a = a
        self.pg = PG(a.bindir, a.port)
        self.mgr = a.mgr
        self.dbmate = a.dbmate
        self.res = Results()
        self.cfg_dir = os.path.join(SCRATCH, "config")
        self.backups_dir = os.path.join(SCRATCH, "backups")
        os.makedirs(self.cfg_dir, exist_ok=True)
        self.validate_available = None
        self.phases = set(a.phases.split(","))
        self.lint_available = None

    # ---- configs
    def write_configs(self, gen_dir):
        mig = os.path.join(gen_dir, "mgr")
        common = (f"migrations_dir: {mig}\nbackups_dir: {self.backups_dir}\nhistory_table: {HISTORY}\n"
                  f"pg_bin_dir: {self.a.bindir}\n")
        # Apply phases: only dev is applied to; no promote_from anywhere, so no gate is measured.
        def apply_cfg(backup, durable_each=False):
            return common + "environments:\n" + "".join(
                f"  {e}:\n    url: ${{BENCH_{e.upper()}_URL}}\n    backup: {backup}\n    lint: off\n"
                + ("    durable_each: true\n" if durable_each else "")
                for e in ("dev", "test", "prod"))
        # Status/validate/lint: the real promotion chain dev -> test -> prod.
        status = common + (
            "environments:\n"
            "  dev:\n    url: ${BENCH_DEV_URL}\n    backup: off\n    lint: off\n"
            "  test:\n    url: ${BENCH_TEST_URL}\n    promote_from: dev\n    backup: off\n    lint: off\n"
            "  prod:\n    url: ${BENCH_PROD_URL}\n    promote_from: test\n    backup: off\n    lint: off\n")
        paths = {}
        for name, text in (("plain", apply_cfg("off")), ("durable", apply_cfg("off", True)),
                           ("backup", apply_cfg("required")), ("status", status)):
            p = os.path.join(self.cfg_dir, f"{name}.yaml")
            with open(p, "w") as f:
                f.write(text)
            paths[name] = p
        return paths

    def urls(self, dev, test=None, prod=None):
        return {"BENCH_DEV_URL": self.pg.url(dev), "BENCH_TEST_URL": self.pg.url(test or dev),
                "BENCH_PROD_URL": self.pg.url(prod or dev)}

    # ---- checks
    def check(self, db, n, history, ref, label):
        dump = self.pg.schema_dump(db)
        if dump != ref["dump"]:
            a, b = ref["dump"].splitlines(), dump.splitlines()
            diff = [f"- {x}" for x in a if x not in set(b)][:5] + [f"+ {x}" for x in b if x not in set(a)][:5]
            raise HarnessError(f"{label}: schema differs from the reference:\n" + "\n".join(diff))
        counts = self.pg.row_counts(db)
        if counts != ref["counts"]:
            raise HarnessError(f"{label}: row counts differ from the reference")
        if history:
            table, where = history
            got = self.pg.count(db, table, where)
            if got != n:
                raise HarnessError(f"{label}: {got} migrations recorded in {table}, expected {n}")

    def run_ok(self, argv, env, tag, label, ok_codes=(0,)):
        secs, rss, rc, so, se = timed(argv, env=env, tag=tag, cwd=WORK)
        if rc not in ok_codes:
            raise HarnessError(f"{label}: exit {rc}\n{se[-3000:]}\n{so[-1000:]}")
        return secs, rss, rc, so, se

    # ---- per size
    def size(self, n, runs, cheap_runs):
        gen_dir = os.path.join(WORK, "gen", f"n{n}")
        must([sys.executable, os.path.join(HERE, "gen.py"), "--out", gen_dir, "--n", str(n), "--seed", str(self.a.seed)],
             what="generator")
        ids = open(os.path.join(gen_dir, "ids.txt")).read().split()
        cfg = self.write_configs(gen_dir)
        pg = self.pg
        all_sql = os.path.join(gen_dir, "all.sql")

        log(f"N={n}: reference database (psql -1 -f all.sql, untimed)")
        pg.create(f"b{n}_ref")
        must(pg.psql_argv(f"b{n}_ref") + ["-1", "-f", all_sql], what="reference apply")
        ref = {"dump": pg.schema_dump(f"b{n}_ref"), "counts": pg.row_counts(f"b{n}_ref")}

        # ---------------- fresh
        rows = {
            "psql -1 (floor)": (lambda db: pg.psql_argv(db) + ["-1", "-f", all_sql], None, None),
            "psql per-migration tx (floor)": (lambda db: pg.psql_argv(db) + ["-f", os.path.join(gen_dir, "per_tx.sql")],
                                              None, ("bench_history", "")),
            "mgr apply": (lambda db: [self.mgr, "--config", cfg["plain"], "apply", "dev"], "plain",
                          (HISTORY, "WHERE success")),
            # Issue 16: every migration's commit waits for the WAL flush, as before.
            "mgr apply, durable_each: true": (lambda db: [self.mgr, "--config", cfg["durable"], "apply", "dev"], "durable",
                                              (HISTORY, "WHERE success")),
        }
        if self.dbmate:
            rows["dbmate migrate"] = (lambda db: [self.dbmate, "--url", pg.url(db) + "?sslmode=disable",
                                                  "--migrations-dir", os.path.join(gen_dir, "dbmate"),
                                                  "--no-dump-schema", "migrate"], None, ("schema_migrations", ""))
        names = list(rows)
        tpl = {}
        if "fresh" not in self.phases:
            # Not measured this time: the later phases still need databases that mgr and
            # dbmate brought up to N themselves (untimed, checked).
            for row in ("mgr apply", "dbmate migrate"):
                if row not in rows:
                    continue
                make, cfgname, history = rows[row]
                db = f"b{n}_setup_{names.index(row)}"
                pg.create(db)
                log(f"N={n} setup (untimed): {row}")
                self.run_ok(make(db), self.urls(db) if cfgname else None, "fresh", f"setup N={n} {row}")
                self.check(db, n, history, ref, f"setup N={n} {row}")
                tpl[row] = db
        for r in range(runs if "fresh" in self.phases else 0):
            order = names[r % len(names):] + names[:r % len(names)]  # rotate: no row always first
            for k, row in enumerate(order):
                make, cfgname, history = rows[row]
                db = f"b{n}_fresh_{r}_{names.index(row)}"
                pg.create(db)
                if not self.a.quick:
                    pg.q("postgres", "CHECKPOINT")  # no checkpoint debt from the previous run inside this one
                env = self.urls(db) if cfgname else None
                log(f"N={n} fresh run {r + 1}/{runs}: {row}")
                secs, rss, _, _, _ = self.run_ok(make(db), env, "fresh", f"fresh N={n} {row}")
                self.check(db, n, history, ref, f"fresh N={n} {row} run {r + 1}")
                self.res.add("fresh", row, n, secs, rss if row.startswith("mgr") else None)
                tpl[row] = db  # the last verified database of each row serves the later phases
        tpl_mgr = tpl["mgr apply"]
        tpl_dbmate = tpl.get("dbmate migrate")

        # ---------------- no-op (on the databases the last fresh runs left)
        log(f"N={n}: no-op")
        noop = [
            ("psql one query (floor)", lambda: pg.psql_argv(tpl_mgr) + ["-At", "-c", f"SELECT migration_id, checksum FROM {HISTORY}"],
             None),
            ("mgr apply", lambda: [self.mgr, "--config", cfg["plain"], "apply", "dev"], self.urls(tpl_mgr)),
        ]
        if self.dbmate:
            noop.append(("dbmate migrate", lambda: [self.dbmate, "--url", pg.url(tpl_dbmate) + "?sslmode=disable",
                                                    "--migrations-dir", os.path.join(gen_dir, "dbmate"),
                                                    "--no-dump-schema", "migrate"], None))
        self.repeat("no-op", n, noop if "no-op" in self.phases else [], cheap_runs,
                    check_out=lambda row, so: row != "mgr apply" or "nothing to apply" in so)
        self.check(tpl_mgr, n, (HISTORY, "WHERE success"), ref, f"no-op N={n} mgr")
        if self.dbmate:
            self.check(tpl_dbmate, n, ("schema_migrations", ""), ref, f"no-op N={n} dbmate")

        # ---------------- status / validate / lint: three environments holding all N
        log(f"N={n}: status (3 environments x {n})")
        st = {"dev": tpl_mgr}
        for e in ("test", "prod"):
            st[e] = f"b{n}_st_{e}"
            pg.create(st[e], template=tpl_mgr)
            # As if applied there: each database's history names its own environment.
            pg.q(st[e], f"UPDATE {HISTORY} SET environment = '{e}'")
        st_env = self.urls(st["dev"], st["test"], st["prod"])
        floor_script = os.path.join(SCRATCH, "status_floor.sql")
        with open(floor_script, "w") as f:
            for e in ("dev", "test", "prod"):
                f.write(f"\\c {st[e]}\nSELECT migration_id, checksum, applied_at FROM {HISTORY};\n")
        status_rows = [
            ("psql 3 connections (floor)", lambda: pg.psql_argv("postgres") + ["-At", "-f", floor_script], None),
            ("mgr status", lambda: [self.mgr, "--config", cfg["status"], "status"], st_env),
        ]
        if self.dbmate:
            # dbmate has no multi-environment view: its status once per environment, on one
            # database holding all N (the work per call is the same; fewer copies to make).
            dstatus = os.path.join(SCRATCH, "dbmate_status3.sh")
            with open(dstatus, "w") as f:
                f.write("set -e\n" + "".join(
                    f"'{self.dbmate}' --url '{pg.url(tpl_dbmate)}?sslmode=disable' --migrations-dir "
                    f"'{os.path.join(gen_dir, 'dbmate')}' status >/dev/null\n" for _ in range(3)))
            status_rows.append(("dbmate status x3", lambda: ["/bin/sh", dstatus], None))
        self.repeat("status", n, status_rows if "status" in self.phases else [], cheap_runs,
                    check_out=lambda row, so: row != "mgr status" or so.count("\n") >= n)

        # validate
        if self.validate_available is not False and "validate" in self.phases:
            secs, rss, rc, so, se = timed([self.mgr, "--config", cfg["status"], "validate"], env=st_env, tag="validate", cwd=WORK)
            if rc == 1 and "not available in this build" in (se + so):
                self.validate_available = False
                self.res.skipped[("validate", "mgr validate")] = "`mgr validate` is not implemented in this build (\"not available in this build\")"
                log("mgr validate: not available in this build; skipped")
            else:
                self.validate_available = True
                # Three consistent environments: the release gate must pass (exit 0).
                self.repeat("validate", n, [("mgr validate", lambda: [self.mgr, "--config", cfg["status"], "validate"], st_env)],
                            cheap_runs)

        # lint
        if self.lint_available is not False and "lint" in self.phases:
            secs, rss, rc, so, se = timed([self.mgr, "--config", cfg["status"], "lint"], env=st_env, tag="lint", cwd=WORK)
            if rc == 1 and "not available in this build" in (se + so):
                self.lint_available = False
                self.res.skipped[("lint", "mgr lint")] = "`mgr lint` is not implemented in this build"
            else:
                self.lint_available = True
                self.repeat("lint", n, [("mgr lint", lambda: [self.mgr, "--config", cfg["status"], "lint"], st_env)],
                            cheap_runs, ok_codes=(0, 3))

        # ---------------- backup: one pending migration on a database holding N-1
        if "backup" not in self.phases:
            if not self.a.quick:
                pg.drop_created()
            return
        log(f"N={n}: backup phase (template with {n - 1} applied, untimed)")
        prev = f"b{n}_prev"
        pg.create(prev)
        must([self.mgr, "--config", cfg["plain"], "apply", "dev", "--to", ids[-2]], env=self.urls(prev),
             what="mgr apply --to (backup template)")
        dump_file = os.path.join(SCRATCH, "bench.dump")
        for r in range(runs):
            for k, (row, cfgname) in enumerate((("mgr apply 1 pending", "plain"),
                                                ("mgr apply 1 pending, backup: required", "backup"))):
                db = f"b{n}_bk_{r}_{k}"
                pg.create(db, template=prev)
                shutil.rmtree(self.backups_dir, ignore_errors=True)
                if not self.a.quick:
                    pg.q("postgres", "CHECKPOINT")
                log(f"N={n} backup run {r + 1}/{runs}: {row}")
                secs, rss, _, so, _ = self.run_ok([self.mgr, "--config", cfg[cfgname], "apply", "dev"], self.urls(db),
                                                  "backup", f"backup N={n} {row}")
                self.check(db, n, (HISTORY, "WHERE success"), ref, f"backup N={n} {row}")
                if cfgname == "backup":
                    files = os.listdir(self.backups_dir) if os.path.isdir(self.backups_dir) else []
                    if not files:
                        raise HarnessError(f"backup N={n}: no backup file written in {self.backups_dir}")
                self.res.add("backup", row, n, secs, rss)
            secs, _, _, _, _ = self.run_ok([pg.pg_dump, "-Fc", "-f", dump_file] + pg.conn_args(prev), None,
                                           "pgdump", f"pg_dump N={n}")
            self.res.add("backup", "pg_dump -Fc alone", n, secs)
            secs, _, _, so, _ = self.run_ok([pg.pg_restore, "--list", dump_file], None, "pgrestore", f"pg_restore N={n}")
            self.res.add("backup", "pg_restore --list (verification)", n, secs)
        shutil.rmtree(self.backups_dir, ignore_errors=True)
        if not self.a.quick:
            log(f"N={n}: dropping this size's databases (untimed)")
            pg.drop_created()

    def repeat(self, phase, n, rows, runs, env_override=None, check_out=None, ok_codes=(0,)):
        # One untimed warm-up each (page cache, catalog cache), then interleaved timed runs.
        for row, make, env in rows:
            self.run_ok(make(), env, phase, f"{phase} N={n} {row} (warm-up)", ok_codes)
        for r in range(runs):
            for row, make, env in rows:
                secs, rss, rc, so, se = self.run_ok(make(), env, phase, f"{phase} N={n} {row}", ok_codes)
                if check_out and not check_out(row, so):
                    raise HarnessError(f"{phase} N={n} {row}: unexpected output:\n{so[-2000:]}")
                self.res.add(phase, row, n, secs, rss if row.startswith("mgr") else None)


# --------------------------------------------------------------------------- report

def machine_info(pg):
    info = {}
    info["cores"] = os.cpu_count()
    try:
        model = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
        info["cpu"] = model[0] if model else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    mem = {l.split(":")[0]: l.split(":")[1].strip() for l in open("/proc/meminfo")}
    info["memory"] = mem.get("MemTotal", "?")
    info["kernel"] = platform.release()
    return info


def versions(a, pg):
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except Exception:
            return "n/a"
    v = {
        "mgr": first_line([a.mgr, "--version"]),
        "server": pg.q("postgres", "SELECT version()"),
        "psql": first_line([pg.psql_bin, "--version"]),
        "pg_dump": first_line([pg.pg_dump, "--version"]),
        "dbmate": first_line([a.dbmate, "--version"]) if a.dbmate else "not installed (row skipped)",
        "python": platform.python_version(),
        "gnuplot": first_line(["gnuplot", "--version"]) if shutil.which("gnuplot") else "not installed",
    }
    if a.mgr_build:
        v["mgr built from"] = a.mgr_build
    return v


def fmt_ms(s):
    if s is None:
        return "–"
    ms = s * 1000
    if ms >= 10000:
        return f"{ms / 1000:.1f} s"
    if ms >= 100:
        return f"{ms:.0f}"
    return f"{ms:.1f}"


def cell(res, phase, row, n):
    xs = res.times.get((phase, row, n))
    if not xs:
        return "–"
    return f"**{fmt_ms(statistics.median(xs))}** ({fmt_ms(min(xs))}–{fmt_ms(max(xs))})"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fr(x):
    return "–" if x is None else f"{x:.2f}×"


def chart(res, sizes, out_dir, name):
    if not shutil.which("gnuplot"):
        return None, "gnuplot is not installed (scripts/install-deps.sh bench); no chart"
    data = os.path.join(SCRATCH, "chart.dat")
    series = []
    keys = sorted({(p, r) for (p, r, _) in res.times})
    order = ["fresh", "no-op", "status", "validate", "lint", "backup"]
    keys.sort(key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1]))
    with open(data, "w") as f:
        for i, (phase, row) in enumerate(keys):
            pts = [(n, res.med(phase, row, n)) for n in sizes if res.med(phase, row, n) is not None]
            if not pts:
                continue
            f.write(f"# {phase}: {row}\n")
            for n, s in pts:
                xs = res.times[(phase, row, n)]
                f.write(f"{n} {s * 1000:.3f} {min(xs) * 1000:.3f} {max(xs) * 1000:.3f}\n")
            f.write("\n\n")
            series.append(f"{phase}: {row}")
    svg = os.path.join(out_dir, name)
    fresh_plots, other_plots = [], []
    for i, title in enumerate(series):
        phase = title.split(":")[0]
        dash = {"fresh": 1, "no-op": 1, "status": 2, "validate": 3, "lint": 4, "backup": 5}.get(phase, 1)
        is_floor = "floor" in title
        line = (f"'{data}' index {i} using 1:2:3:4 with yerrorlines lw {1 if is_floor else 2} dt {dash} "
                f"title \"{title}\"")
        (fresh_plots if phase == "fresh" else other_plots).append(line)
    gp = os.path.join(SCRATCH, "chart.gp")
    lo, hi = min(sizes) / 1.4, max(sizes) * 1.4
    with open(gp, "w") as f:
        f.write(f"""set terminal svg size 1400,640 dynamic enhanced font 'sans,11' background rgb 'white'
set output '{svg}'
set multiplot layout 1,2 title "mgr benchmark: median wall time vs N (log-log; whiskers: min-max)"
set logscale xy
set xrange [{lo}:{hi}]
set xlabel "N (migrations)"
set ylabel "ms"
set grid
set key top left noenhanced font 'sans,9' spacing 0.9
set xtics ({', '.join(str(n) for n in sizes)})
set title "fresh: apply all N to an empty database"
plot {', '.join(fresh_plots) if fresh_plots else '1/0 notitle'}
set title "no-op, status, validate, lint, backup (one command, N applied)"
plot {', '.join(other_plots) if other_plots else '1/0 notitle'}
unset multiplot
""")
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode != 0:
        return None, "gnuplot failed: " + r.stderr[-500:]
    return svg, None


def collect_meta(a, pg, sizes, started, finished, load_before, load_after, runs_for):
    return {
        "generated": f"on {started.strftime('%Y-%m-%d %H:%M')} UTC, {(finished - started).total_seconds() / 60:.1f} min",
        "load": f"before: {load_before}, after: {load_after}",
        "machine": machine_info(pg),
        "versions": versions(a, pg),
        "settings": {k: pg.q("postgres", f"SHOW {k}") for k in
                     ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers",
                      "max_wal_size")},
        "runs": {str(n): list(runs_for(n)) for n in sizes},
        "phases": sorted(a.phases.split(",")),
    }


def report(a, res, sizes, meta):
    out_dir = a.out
    os.makedirs(out_dir, exist_ok=True)
    svg, chart_note = chart(res, sizes, out_dir, "chart.svg")
    mi, ver, settings = meta["machine"], meta["versions"], meta["settings"]
    runs_for = lambda n: meta["runs"][str(n)]
    L = []
    w = L.append
    w("# mgr benchmark results")
    w("")
    w(f"Generated by `scripts/bench.sh{' --quick' if a.quick else ''}` ({'sizes ' + ','.join(map(str, sizes))}) "
      f"{meta['generated']}. "
      "All times are wall-clock milliseconds of the whole process (start-up, connection, work, exit): "
      "**median** (min–max). Regenerate with `scripts/bench.sh` (full) or `scripts/bench.sh --quick`.")
    w("")
    w("## Machine")
    w("")
    w(f"- {mi['cores']} cores ({mi['cpu']}), {mi['memory']} memory, Linux {mi['kernel']}")
    w(f"- load average (1/5/15 min) {meta['load']}")
    w("- The PostgreSQL server runs on the same machine as the tools (127.0.0.1, TCP).")
    if a.load_note:
        w(f"- {a.load_note}")
    w("")
    w("## Versions")
    w("")
    for k, v in ver.items():
        w(f"- {k}: {v}")
    w("")
    w("## Settings")
    w("")
    w("- Server: the sandbox cluster (`scripts/pg-sandbox.sh`, own directory and port), durable settings kept: " +
      ", ".join(f"`{k}={v}`" for k, v in settings.items()) + ".")
    w(f"- Runs per figure: fresh and backup phases {', '.join(f'N={n}: {runs_for(n)[0]}' for n in sizes)}; "
      f"no-op, status, validate, lint: {', '.join(f'N={n}: {runs_for(n)[1]}' for n in sizes)} "
      "(after one untimed warm-up each). Rows are interleaved within each run and their order rotates from run to run.")
    w("- Every row applies the same generated SQL (`bench/gen.py`, seed "
      f"{a.seed}: create table, add column, create index, insert rows, create view, add CHECK / FOREIGN KEY "
      "constraint) to a freshly created database. Before a time counts, the result is checked: `pg_dump --schema-only` "
      "identical to a reference database built with `psql -1 -f all.sql` (bookkeeping tables `mgr_history*`, "
      "`schema_migrations`, `bench_history` excluded), identical row counts in every table, and N migrations recorded "
      "in the row's history table.")
    w(f"- mgr: `history_table: {HISTORY}` (so it never collides with dbmate's `schema_migrations`). Apply phases use "
      "a config whose three environments dev/test/prod have no `promote_from`, `backup: off`, `lint: off`, and apply "
      "to `dev`: the promotion gate is not part of those figures. Status, validate and lint use a config with the "
      "real chain dev → test → prod (`promote_from`), three databases each holding all N migrations.")
    w("- dbmate: its native binary (`node_modules/@dbmate/linux-x64/bin/dbmate`), `--no-dump-schema migrate`, "
      "files in its `-- migrate:up` / `-- migrate:down` format with the same SQL; `dbmate status x3` runs its "
      "status once per environment database (it has no multi-environment view).")
    w("- Floors: `psql -1 -f all.sql` (one transaction, no bookkeeping); one `psql` running `BEGIN; <file>; INSERT INTO "
      "bench_history ...; COMMIT;` per migration; for no-op, one `psql` process reading the history table "
      "(process start + connection + one query); for status, one `psql` process connecting to the three "
      "databases and reading each history table.")
    w("- Backup phase: a database holding N−1 migrations (copied from a template for each run) gets the last one "
      "applied by `mgr apply` with `backup: off` and with `backup: required` (pg_dump -Fc + `pg_restore --list` "
      "verification + manifest); `pg_dump -Fc` and `pg_restore --list` are timed alone on the same N−1 database.")
    w("- Peak RSS: `ru_maxrss` of the mgr process from `wait4()`.")
    if meta.get("phases") and set(meta["phases"]) != {"fresh", "no-op", "status", "validate", "lint", "backup"}:
        w(f"- Phases timed in this run: {', '.join(sorted(meta['phases']))} (the others only set up, untimed).")
    for note in res.notes:
        w(f"- {note}")
    for (phase, row), why in res.skipped.items():
        w(f"- **Skipped** {phase} / {row}: {why}.")
    if chart_note:
        w(f"- Chart: {chart_note}.")
    w("")

    # table of medians
    w("## Medians (ms)")
    w("")
    w("| phase | row | " + " | ".join(f"N={n}" for n in sizes) + " |")
    w("|---|---|" + "---|" * len(sizes))
    order = ["fresh", "no-op", "status", "validate", "lint", "backup"]
    keys = sorted({(p, r) for (p, r, _) in res.times}, key=lambda k: (order.index(k[0]), k[1]))
    for phase, row in keys:
        w(f"| {phase} | {row} | " + " | ".join(cell(res, phase, row, n) for n in sizes) + " |")
    w("")

    # ratios
    w("## mgr against its floor and dbmate (ratios of medians, same run)")
    w("")
    w("| phase | mgr figure | ratio to | " + " | ".join(f"N={n}" for n in sizes) + " |")
    w("|---|---|---|" + "---|" * len(sizes))
    comps = [
        ("fresh", "mgr apply", "psql per-migration tx (floor)"),
        ("fresh", "mgr apply", "psql -1 (floor)"),
        ("fresh", "mgr apply, durable_each: true", "psql -1 (floor)"),
        ("fresh", "mgr apply", "dbmate migrate"),
        ("no-op", "mgr apply", "psql one query (floor)"),
        ("no-op", "mgr apply", "dbmate migrate"),
        ("status", "mgr status", "psql 3 connections (floor)"),
        ("status", "mgr status", "dbmate status x3"),
        ("validate", "mgr validate", "psql 3 connections (floor)"),
    ]
    for phase, row, base in comps:
        base_phase = "status" if phase == "validate" else phase
        vals = [ratio(res.med(phase, row, n), res.med(base_phase, base, n)) for n in sizes]
        if all(v is None for v in vals):
            continue
        w(f"| {phase} | {row} | {base} | " + " | ".join(fr(v) for v in vals) + " |")
    # backup budget
    vals = []
    for n in sizes:
        b = res.med("backup", "mgr apply 1 pending, backup: required", n)
        p = res.med("backup", "mgr apply 1 pending", n)
        d = res.med("backup", "pg_dump -Fc alone", n)
        v = res.med("backup", "pg_restore --list (verification)", n)
        vals.append(ratio(b, (p + d + v) if None not in (p, d, v) else None))
    w("| backup | mgr apply, backup: required | apply without backup + pg_dump -Fc + pg_restore --list | " +
      " | ".join(fr(v) for v in vals) + " |")
    w("")

    # cost per extra migration
    w("## Cost per extra migration (fresh, ms per migration)")
    w("")
    steps = list(zip(sizes, sizes[1:]))
    if len(sizes) >= 2:
        w("| row | " + " | ".join(f"{x}→{y}" for x, y in steps) + f" | {sizes[0]}→{sizes[-1]} |")
        w("|---|" + "---|" * (len(steps) + 1))
        for row in sorted({r for (p, r, _) in res.times if p == "fresh"}):
            def slope(x, y):
                mx, my = res.med("fresh", row, x), res.med("fresh", row, y)
                return None if mx is None or my is None else (my - mx) * 1000 / (y - x)
            vals = [slope(x, y) for x, y in steps] + [slope(sizes[0], sizes[-1])]
            w(f"| {row} | " + " | ".join("–" if v is None else f"{v:.2f}" for v in vals) + " |")
        w("")

    # RSS
    w("## Peak RSS of mgr (MiB, max over runs)")
    w("")
    w("| phase | row | " + " | ".join(f"N={n}" for n in sizes) + " |")
    w("|---|---|" + "---|" * len(sizes))
    rkeys = sorted({(p, r) for (p, r, _) in res.rss}, key=lambda k: (order.index(k[0]), k[1]))
    for phase, row in rkeys:
        w(f"| {phase} | {row} | " + " | ".join(
            f"{max(res.rss[(phase, row, n)]) / 1024:.1f}" if (phase, row, n) in res.rss else "–" for n in sizes) + " |")
    w("")

    if svg:
        w("## Chart")
        w("")
        w(f"![median wall time against N for every row]({os.path.basename(svg)})")
        w("")

    # targets
    w("## Targets (issue 8)")
    w("")
    w("| target | result | verdict |")
    w("|---|---|---|")
    for t in targets(res, sizes):
        w(f"| {t[0]} | {t[1]} | {t[2]} |")
    w("")
    if a.analysis and os.path.exists(a.analysis):
        w(open(a.analysis).read().rstrip())
        w("")
    path = os.path.join(out_dir, "RESULTS.md")
    with open(path, "w") as f:
        f.write("\n".join(L))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"sizes": sizes, "meta": meta, "machine": mi, "versions": ver, "settings": settings, **res.to_json()},
                  f, indent=1)
    return path


def verdict(ok, margin):
    return ("**met**" if ok else "**missed**") + f" ({margin})"


def targets(res, sizes):
    out = []
    med = res.med

    def pct(x, limit):
        return f"{(x / limit - 1) * 100:+.0f}% vs limit"

    n = 1000
    if n in sizes:
        m, f, d = med("fresh", "mgr apply", n), med("fresh", "psql per-migration tx (floor)", n), med("fresh", "dbmate migrate", n)
        if m and f:
            r = m / f
            out.append(("fresh, N=1000, backups and lint off: ≤ 1.10× the per-migration-tx floor",
                        f"{fmt_ms(m)} ms vs floor {fmt_ms(f)} ms = {r:.2f}×",
                        verdict(r <= 1.10, f"{(r - 1.10) * 100:+.0f} points vs 1.10×")))
        if m and d:
            out.append(("fresh, N=1000: faster than dbmate in the same run", f"{fmt_ms(m)} ms vs dbmate {fmt_ms(d)} ms = {m / d:.2f}×",
                        verdict(m < d, f"{(m / d - 1) * 100:+.0f}% vs dbmate")))
    for n, limit in ((1000, 0.040), (10000, 0.080)):
        m = med("no-op", "mgr apply", n)
        if m is not None:
            extra = ""
            d = med("no-op", "dbmate migrate", n)
            if d:
                extra = f"; dbmate {fmt_ms(d)} ms"
            out.append((f"no-op, N={n}: ≤ {limit * 1000:.0f} ms", f"{fmt_ms(m)} ms{extra}", verdict(m <= limit, pct(m, limit))))
    for phase, row in (("status", "mgr status"), ("validate", "mgr validate")):
        m = med(phase, row, 10000)
        label = f"`{row}`, 3 environments × 10000: ≤ 300 ms"
        if m is not None:
            out.append((label, f"{fmt_ms(m)} ms", verdict(m <= 0.300, pct(m, 0.300))))
        elif (phase, row) in res.skipped:
            out.append((label, "not measured", "n/a: " + res.skipped[(phase, row)]))
        elif 10000 not in sizes:
            out.append((label, "N=10000 not in this run", "n/a"))
    m = med("lint", "mgr lint", 1000)
    if m is not None:
        out.append(("`mgr lint` over 1000 files: ≤ 300 ms", f"{fmt_ms(m)} ms", verdict(m <= 0.300, pct(m, 0.300))))
    elif ("lint", "mgr lint") in res.skipped:
        out.append(("`mgr lint` over 1000 files: ≤ 300 ms", "not measured", "n/a: " + res.skipped[("lint", "mgr lint")]))
    for n in sizes:
        b = med("backup", "mgr apply 1 pending, backup: required", n)
        p = med("backup", "mgr apply 1 pending", n)
        d = med("backup", "pg_dump -Fc alone", n)
        v = med("backup", "pg_restore --list (verification)", n)
        if None in (b, p, d, v):
            continue
        limit = p + d + v + 0.05 * p
        out.append((f"backup, N={n}: apply with `backup: required` ≤ apply without + pg_dump -Fc + verification + 5% of the apply",
                    f"{fmt_ms(b)} ms vs limit {fmt_ms(limit)} ms (= {fmt_ms(p)} + {fmt_ms(d)} + {fmt_ms(v)} + 5%); "
                    f"overhead beyond budget {fmt_ms(max(0.0, b - (p + d + v)))} ms",
                    verdict(b <= limit, pct(b, limit))))
    if 1000 in sizes and 10000 in sizes and 100 in sizes:
        m1, m2, m3 = med("fresh", "mgr apply", 100), med("fresh", "mgr apply", 1000), med("fresh", "mgr apply", 10000)
        f1, f2, f3 = (med("fresh", "psql per-migration tx (floor)", k) for k in (100, 1000, 10000))
        if None not in (m1, m2, m3):
            s_lo = (m2 - m1) * 1000 / 900
            s_hi = (m3 - m2) * 1000 / 9000
            fl = ""
            if None not in (f1, f2, f3):
                fl = f"; floor {(f2 - f1) * 1000 / 900:.2f} → {(f3 - f2) * 1000 / 9000:.2f} ms"
            ok = s_hi <= s_lo * 1.25
            why = f"{(s_hi / s_lo - 1) * 100:+.0f}% slope change; flat = within +25%"
            if not ok and None not in (f1, f2, f3):
                fs_lo, fs_hi = (f2 - f1) * 1000 / 900, (f3 - f2) * 1000 / 9000
                why += (f"; the per-migration-tx floor changes {(fs_hi / fs_lo - 1) * 100:+.0f}% over the same range, "
                        f"mgr minus floor: {s_lo - fs_lo:+.2f} → {s_hi - fs_hi:+.2f} ms/migration "
                        f"({'growth is the server’s, not mgr’s' if (s_hi - fs_hi) <= max(0.1, (s_lo - fs_lo) * 1.25) else 'mgr grows faster than the floor'})")
            out.append(("growth: fresh cost per extra migration flat from N=1000 to N=10000 (no O(N²) step)",
                        f"mgr {s_lo:.2f} ms/migration (100→1000) → {s_hi:.2f} ms/migration (1000→10000){fl}",
                        verdict(ok, why)))
    nmax = max(sizes)
    rss = [max(v) for (p, r, n), v in res.rss.items() if n == nmax]
    if rss:
        worst = max(rss) / 1024
        which = [f"{p}/{r}" for (p, r, n), v in res.rss.items() if n == nmax and max(v) / 1024 == worst][0]
        label = f"peak RSS of any mgr command ≤ 64 MiB at N={nmax}" + ("" if nmax == 10000 else " (target is at N=10000)")
        out.append((label, f"{worst:.1f} MiB ({which})", verdict(worst <= 64, f"{worst - 64:+.1f} MiB vs limit")))
    return out


# --------------------------------------------------------------------------- main

def report_from(a):
    set_scratch(a)
    data = json.load(open(a.report_from))
    res = Results()
    sizes = data["sizes"]
    seen = {}
    for t in data["times"]:
        n = t["n"]
        if "runs" not in t:
            # Files written before "runs" existed: "n" held the run count. Entries were
            # stored size by size, so the k-th entry of a (phase, row) is the k-th size it ran at.
            k = seen.get((t["phase"], t["row"]), 0)
            seen[(t["phase"], t["row"])] = k + 1
            n = sizes[k]
        res.times[(t["phase"], t["row"], n)] = t["all"]
    for r in data["rss_kib"]:
        res.rss[(r["phase"], r["row"], r["n"])] = r["all"]
    res.notes = data["notes"]
    res.skipped = {(x["phase"], x["row"]): x["reason"] for x in data["skipped"]}
    sizes = data["sizes"]
    meta = data.get("meta")
    if meta is None:  # results.json from before "meta" was stored: recover it from the old RESULTS.md
        old = open(os.path.join(a.out, "RESULTS.md")).read()
        gen = re.search(r"\(sizes [0-9,]+\) (on .*? min)\. ", old)
        load = re.search(r"load average \(1/5/15 min\) (.*)", old)
        runs = {}
        for n in sizes:
            fresh = len(res.times.get(("fresh", "mgr apply", n), []))
            cheap = len(res.times.get(("no-op", "mgr apply", n), []))
            runs[str(n)] = [fresh, cheap]
        meta = {"generated": gen.group(1) if gen else "?", "load": load.group(1) if load else "?",
                "machine": data["machine"], "versions": data["versions"], "settings": data["settings"], "runs": runs}
    path = report(a, res, sizes, meta)
    log(f"wrote {path}")
    return 0


def set_scratch(a):
    global SCRATCH
    SCRATCH = os.path.join(WORK, "quick-scratch" if a.quick else "full-scratch")
    os.makedirs(SCRATCH, exist_ok=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mgr", required="--report-from" not in sys.argv)
    ap.add_argument("--port", type=int, required="--report-from" not in sys.argv)
    ap.add_argument("--bindir", required="--report-from" not in sys.argv)
    ap.add_argument("--dbmate", default="")
    ap.add_argument("--dbmate-note", default="")
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runs-large", type=int, default=5)
    ap.add_argument("--large-from", type=int, default=10000)
    ap.add_argument("--cheap-runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--analysis", default=os.path.join(HERE, "analysis.md"),
                    help="markdown appended to RESULTS.md (profiling notes)")
    ap.add_argument("--load-note", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--phases", default="fresh,no-op,status,validate,lint,backup",
                    help="which phases to time (the others' set-up still runs, untimed)")
    ap.add_argument("--mgr-build", default="", help="what the mgr binary was built from (commit, local changes)")
    ap.add_argument("--report-from", default="", help="rewrite RESULTS.md from a results.json (no measuring)")
    a = ap.parse_known_args()[0] if "--report-from" in sys.argv else ap.parse_args()
    if a.report_from:
        return report_from(a)
    set_scratch(a)
    sizes = sorted(int(s) for s in a.sizes.split(",") if s.strip())
    if any(n < 2 for n in sizes):
        print("run.py: every size must be >= 2", file=sys.stderr)
        return 2

    def runs_for(n):
        fresh = a.runs_large if n >= a.large_from else a.runs
        return fresh, max(a.cheap_runs, fresh)

    bench = Bench(a)
    if a.dbmate_note:
        bench.res.notes.append(a.dbmate_note)
    if not a.dbmate:
        bench.res.skipped[("all phases", "dbmate")] = a.dbmate_note or "dbmate not available"
    started = datetime.datetime.utcnow()
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    try:
        for n in sizes:
            fr_runs, cheap = runs_for(n)
            bench.size(n, fr_runs, cheap)
    except HarnessError as e:
        log(f"FAILED: {e}")
        return 1
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    finished = datetime.datetime.utcnow()
    if a.runs < 5 or (max(sizes) >= a.large_from and a.runs_large < 5):
        bench.res.notes.append(
            f"Fewer than 5 runs where stated above ({'quick mode' if a.quick else f'N ≥ {a.large_from}: {a.runs_large} runs, to keep the full run near an hour on this machine'}).")
    meta = collect_meta(a, bench.pg, sizes, started, finished, load_before, load_after, runs_for)
    path = report(a, bench.res, sizes, meta)
    log(f"wrote {path}")
    # Print the targets table to the terminal too.
    for t in targets(bench.res, sizes):
        log(f"target: {t[0]}: {t[1]}: {t[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
