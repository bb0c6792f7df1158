#!/usr/bin/env python3
"""mgr lint against squawk on the labelled corpus in tests/lint-corpus/.

Usage: bench/lint_compare.py [--mgr build/test/mgr] [--squawk PATH]

squawk (npm `squawk-cli`) is installed into bench/work/squawk/ (git-ignored)
when no --squawk is given. Files with `-- mgr:no-transaction` are given to
squawk as they are; the others with --assume-in-transaction, which is how mgr
runs them. A dangerous case is found when the linter reports something that
counts; a safe case is a false positive when it does. Prints a Markdown table
(the one in docs/lint-rules.md) and the time mgr takes to lint 1,000 files.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "lint-corpus"

# squawk rules about style or robustness, not about what PostgreSQL does to
# the running database; "hazard rules" are all the others.
SQUAWK_HYGIENE = {
    "prefer-robust-stmts", "require-lock-timeout", "require-statement-timeout", "require-timeout-settings",
    "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-big-int", "prefer-identity",
    "prefer-text-field", "prefer-timestamptz", "prefer-timestamp-tz", "ban-char-field",
}


def load_manifest():
    cases = []
    for line in (CORPUS / "manifest.tsv").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        file, label, family, _why = line.split("\t")
        cases.append({"file": file, "dangerous": label == "dangerous", "family": family})
    return cases


def ensure_squawk(explicit):
    if explicit:
        return explicit
    prefix = ROOT / "bench" / "work" / "squawk"
    binary = prefix / "node_modules" / ".bin" / "squawk"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), "squawk-cli"],
                       check=True)
    return str(binary)


def no_transaction(path):
    for line in path.read_text().splitlines():
        s = line.strip()
        if not s:
            continue
        if not s.startswith("--"):
            return False
        if s.replace(" ", "") == "--mgr:no-transaction":
            return True
    return False


def run_squawk(squawk, cases):
    rules = {c["file"]: set() for c in cases}
    groups = {True: [], False: []}
    for c in cases:
        p = CORPUS / "cases" / c["file"]
        groups[no_transaction(p)].append(str(p))
    for notx, files in groups.items():
        if not files:
            continue
        cmd = [squawk, "--reporter", "json", "--pg-version", "15"]
        if not notx:
            cmd.append("--assume-in-transaction")
        out = subprocess.run(cmd + files, capture_output=True, text=True)
        text = out.stdout.strip()
        for v in json.loads(text) if text else []:
            rules[Path(v["file"]).name].add(v["rule_name"])
    return rules


def run_mgr(mgr, cases):
    files = [str(CORPUS / "cases" / c["file"]) for c in cases]
    env = dict(os.environ, MGR_CONFIG="", NO_COLOR="1")
    out = subprocess.run([mgr, "lint", "--format", "json"] + files, capture_output=True, text=True, env=env,
                         cwd=tempfile.gettempdir())
    doc = json.loads(out.stdout)
    findings = {c["file"]: [] for c in cases}
    for f in doc["findings"]:
        findings[Path(f["file"]).name].append(f)
    return findings


def score(cases, flagged):
    dangerous = [c for c in cases if c["dangerous"]]
    safe = [c for c in cases if not c["dangerous"]]
    found = sum(1 for c in dangerous if flagged(c["file"]))
    fps = sum(1 for c in safe if flagged(c["file"]))
    return found, len(dangerous), fps, len(safe)


def fmt(found, dangerous, fps, safe):
    return f"{100.0 * found / dangerous:.0f} % ({found}/{dangerous}) | {100.0 * fps / safe:.0f} % ({fps}/{safe})"


def lint_speed(mgr, cases, n=1000):
    with tempfile.TemporaryDirectory() as d:
        srcs = [CORPUS / "cases" / c["file"] for c in cases]
        paths = []
        for i in range(n):
            p = Path(d) / f"{i + 1:04d}_case.sql"
            shutil.copyfile(srcs[i % len(srcs)], p)
            paths.append(str(p))
        env = dict(os.environ, MGR_CONFIG="", NO_COLOR="1")
        best = None
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([mgr, "lint", "--format", "json"] + paths, capture_output=True, env=env, cwd=d)
            ms = (time.perf_counter() - t) * 1000
            best = ms if best is None else min(best, ms)
        return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mgr", default=str(ROOT / "build" / "test" / "mgr"))
    ap.add_argument("--squawk")
    args = ap.parse_args()
    cases = load_manifest()
    squawk = ensure_squawk(args.squawk)
    version = subprocess.run([squawk, "--version"], capture_output=True, text=True).stdout.strip()
    sq = run_squawk(squawk, cases)
    mg = run_mgr(args.mgr, cases)
    unnamed = {"alter-table-other", "constraints", "partitions", "domains", "sequences", "drop-cascade", "rules",
               "publications", "matviews", "catalog", "cte", "always-true", "dynamic-sql", "functions"}
    subsets = [("all cases", cases),
               ("families the first lint issue named", [c for c in cases if c["family"] not in unnamed]),
               ("families no issue named", [c for c in cases if c["family"] in unnamed])]
    linters = [
        ("mgr lint (error findings)", lambda f: any(x["severity"] == "error" for x in mg[f])),
        ("mgr lint (any finding)", lambda f: bool(mg[f])),
        (f"{version}, hazard rules", lambda f: bool(sq[f] - SQUAWK_HYGIENE)),
        (f"{version}, default rules", lambda f: bool(sq[f])),
    ]
    print(f"Corpus: {len(cases)} cases in tests/lint-corpus/ "
          f"({sum(c['dangerous'] for c in cases)} dangerous, {sum(not c['dangerous'] for c in cases)} safe)\n")
    print("| linter | cases | recall (dangerous found) | false positives (safe flagged) |")
    print("|---|---|---|---|")
    for name, flagged in linters:
        for subset, cs in subsets:
            print(f"| {name} | {subset} | {fmt(*score(cs, flagged))} |")
    print(f"\nmgr lint of 1,000 files: {lint_speed(args.mgr, cases):.0f} ms (best of 3)")
    misses = [c["file"] for c in cases if c["dangerous"] and not linters[0][1](c["file"])]
    fps = [c["file"] for c in cases if not c["dangerous"] and linters[0][1](c["file"])]
    print("mgr misses:", ", ".join(misses) or "none", file=sys.stderr)
    print("mgr false positives:", ", ".join(fps) or "none", file=sys.stderr)


if __name__ == "__main__":
    main()
