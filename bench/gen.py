#!/usr/bin/env python3
"""Generate N realistic, deterministic migrations in every layout the benchmark needs.

    bench/gen.py --out DIR --n N [--seed S]

Writes, under DIR:
  mgr/<id>_<name>.sql          mgr's layout (one file per migration)
  dbmate/<id>_<name>.sql       dbmate's layout (-- migrate:up / -- migrate:down)
  all.sql                      every migration concatenated (psql -1 -f all.sql: the floor)
  per_tx.sql                   BEGIN; <file>; INSERT INTO bench_history ...; COMMIT; per migration
  ids.txt                      the ids in order
  MANIFEST                     n, seed, a hash of the SQL (reuse check)

The same SQL text goes into every layout. The mix (by weight): create table,
add column, create index, insert rows, create view, add constraint (CHECK or
FOREIGN KEY). Each migration is valid after the ones before it, so any
prefix applies cleanly. Ids are 14-digit timestamps, one minute apart.
"""
import argparse
import datetime
import hashlib
import os
import random
import shutil

HISTORY_DDL = ("CREATE TABLE bench_history (migration_id varchar(255) PRIMARY KEY, "
               "applied_at timestamptz NOT NULL DEFAULT now());\n")


class Table:
    def __init__(self, name):
        self.name = name
        self.columns = ["name", "qty", "created_at"]  # indexable columns
        self.extra = 0
        self.refs = 0
        self.checks = 0
        self.indexes = 0


def generate(n, seed):
    rnd = random.Random(seed)
    tables = []
    views = 0
    out = []  # (name, sql)
    kinds = ["create_table", "add_column", "create_index", "insert_rows", "create_view", "add_constraint"]
    weights = [16, 22, 18, 22, 10, 12]
    col_types = ["text", "integer", "boolean NOT NULL DEFAULT false", "numeric(12,2)", "jsonb", "timestamptz",
                 "bigint", "varchar(80)"]
    for i in range(n):
        kind = "create_table" if len(tables) < 2 else rnd.choices(kinds, weights)[0]
        if kind == "create_table":
            t = Table("t%05d" % (len(tables) + 1))
            tables.append(t)
            sql = (f"-- {t.name}: a new entity\n"
                   f"CREATE TABLE {t.name} (\n"
                   f"  id bigserial PRIMARY KEY,\n"
                   f"  name text NOT NULL,\n"
                   f"  qty integer NOT NULL DEFAULT 0,\n"
                   f"  created_at timestamptz NOT NULL DEFAULT now()\n"
                   f");\n"
                   f"COMMENT ON TABLE {t.name} IS 'entity {len(tables)}';\n")
            name = f"create_{t.name}"
        elif kind == "add_column":
            t = rnd.choice(tables)
            t.extra += 1
            col = f"c{t.extra}"
            ctype = rnd.choice(col_types)
            sql = f"-- {t.name}.{col}\nALTER TABLE {t.name} ADD COLUMN {col} {ctype};\n"
            if not ctype.startswith("jsonb") and not ctype.startswith("boolean"):
                t.columns.append(col)
            name = f"add_{col}_to_{t.name}"
        elif kind == "create_index":
            t = rnd.choice(tables)
            col = rnd.choice(t.columns)
            t.indexes += 1
            idx = f"{t.name}_{col}_i{t.indexes}"
            sql = f"-- index for lookups by {col}\nCREATE INDEX {idx} ON {t.name} ({col});\n"
            name = f"index_{t.name}_{col}"
        elif kind == "insert_rows":
            t = rnd.choice(tables)
            rows = rnd.randint(20, 200)
            sql = (f"-- seed data for {t.name}\n"
                   f"INSERT INTO {t.name} (name, qty)\n"
                   f"SELECT 'item ' || g, g % 97 FROM generate_series(1, {rows}) AS g;\n")
            name = f"seed_{t.name}"
        elif kind == "create_view":
            t = rnd.choice(tables)
            views += 1
            v = f"v{views:05d}"
            sql = (f"CREATE VIEW {v} AS\n"
                   f"  SELECT id, name, qty, created_at FROM {t.name} WHERE qty > {rnd.randint(0, 90)};\n")
            name = f"view_{v}"
        else:  # add_constraint
            t = rnd.choice(tables)
            others = [o for o in tables if o is not t]
            if rnd.random() < 0.5 and others:
                o = rnd.choice(others)
                t.refs += 1
                col = f"{o.name}_id{t.refs}"
                sql = (f"-- {t.name} references {o.name}\n"
                       f"ALTER TABLE {t.name} ADD COLUMN {col} bigint;\n"
                       f"ALTER TABLE {t.name} ADD CONSTRAINT {t.name}_{col}_fk\n"
                       f"  FOREIGN KEY ({col}) REFERENCES {o.name} (id);\n")
                name = f"fk_{t.name}_{o.name}"
            else:
                t.checks += 1
                sql = (f"ALTER TABLE {t.name} ADD CONSTRAINT {t.name}_qty_chk{t.checks} "
                       f"CHECK (qty >= 0 AND qty < {100 + rnd.randint(0, 1000)});\n")
                name = f"check_{t.name}"
        out.append((name, sql))
    return out


def ids(n):
    base = datetime.datetime(2024, 1, 1)
    return [(base + datetime.timedelta(minutes=i + 1)).strftime("%Y%m%d%H%M%S") for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    migrations = generate(a.n, a.seed)
    id_list = ids(a.n)
    digest = hashlib.sha256()
    for (name, sql), mid in zip(migrations, id_list):
        digest.update(f"{mid}_{name}\n{sql}".encode())
    manifest = f"n={a.n}\nseed={a.seed}\nsha256={digest.hexdigest()}\nversion=1\n"
    mpath = os.path.join(a.out, "MANIFEST")
    if os.path.exists(mpath) and open(mpath).read() == manifest:
        return  # already generated, identical
    # Write beside the target, then rename: a concurrent run never sees half a directory.
    final = a.out
    out = f"{final}.tmp-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "mgr"))
    os.makedirs(os.path.join(out, "dbmate"))
    with open(os.path.join(out, "all.sql"), "w") as all_sql, \
            open(os.path.join(out, "per_tx.sql"), "w") as per_tx, \
            open(os.path.join(out, "ids.txt"), "w") as id_file:
        per_tx.write(HISTORY_DDL)
        for (name, sql), mid in zip(migrations, id_list):
            fname = f"{mid}_{name}.sql"
            with open(os.path.join(out, "mgr", fname), "w") as f:
                f.write(sql)
            with open(os.path.join(out, "dbmate", fname), "w") as f:
                f.write("-- migrate:up\n" + sql + "\n-- migrate:down\n")
            all_sql.write(sql)
            per_tx.write("BEGIN;\n" + sql + f"INSERT INTO bench_history (migration_id) VALUES ('{mid}');\nCOMMIT;\n")
            id_file.write(mid + "\n")
    with open(os.path.join(out, "MANIFEST"), "w") as f:
        f.write(manifest)
    if os.path.exists(mpath) and open(mpath).read() == manifest:
        shutil.rmtree(out)  # another run finished the same directory first
        return
    old = f"{final}.old-{os.getpid()}"
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(out, final)
    shutil.rmtree(old, ignore_errors=True)

if __name__ == "__main__":
    main()
