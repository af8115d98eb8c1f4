"""The database's schema, its migrations, and the mapping between rows and results."""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from typing import Any, Callable, Sequence

from lab4.core.events import Result
from lab4.store.codec import FAST_COMPRESS_ABOVE, encode_series

DB_NAME = "lab4.sqlite"
SCHEMA_VERSION = 1
APPLICATION_ID = 0x4C414234  # "LAB4" in the file header: a lab4 database says so itself

#: the columns a listing reads (never the series, tables, artifacts, observations or versions)
LIST_COLUMNS = (
    "id",
    "task",
    "status",
    "message",
    "step",
    "device",
    "dtype",
    "seed",
    "started",
    "ended",
    "duration_s",
    "params",
    "metrics",
    "group_id",
    "label",
    "marked",
)
DETAIL_COLUMNS = ("versions", "observations", "tables", "artifacts")


def _create_v1(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        step INTEGER,
        device TEXT NOT NULL DEFAULT 'cpu',
        dtype TEXT NOT NULL DEFAULT 'float32',
        seed INTEGER NOT NULL DEFAULT 0,
        started TEXT NOT NULL DEFAULT '',
        ended TEXT NOT NULL DEFAULT '',
        duration_s REAL NOT NULL DEFAULT 0,
        params TEXT NOT NULL,
        metrics TEXT NOT NULL,
        group_id TEXT NOT NULL DEFAULT '',
        label TEXT NOT NULL DEFAULT '',
        marked INTEGER NOT NULL DEFAULT 0
    )""")
    # what only an opened run needs lives apart, so that a listing reads small rows
    db.execute("""CREATE TABLE details (
        run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        versions TEXT NOT NULL,
        observations TEXT NOT NULL,
        tables TEXT NOT NULL,
        artifacts BLOB NOT NULL
    )""")
    db.execute("CREATE INDEX runs_by_task ON runs (task, started)")
    db.execute("CREATE INDEX runs_by_start ON runs (started, id)")
    db.execute("CREATE INDEX runs_by_group ON runs (group_id)")
    db.execute("""CREATE TABLE series (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        n INTEGER NOT NULL,
        x_kind TEXT NOT NULL,
        x0 REAL,
        dx REAL,
        x BLOB,
        y_kind TEXT NOT NULL,
        y BLOB NOT NULL,
        PRIMARY KEY (run_id, name)
    )""")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


#: MIGRATIONS[k] takes a database at schema version k to version k + 1
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_v1,)
assert len(MIGRATIONS) == SCHEMA_VERSION


# ---- rows <-> results


def run_record(result: Result) -> dict[str, Any]:
    data = result.to_json(series=False)  # plain JSON values: tuples as lists, non-finite floats as null
    return {
        "id": result.id,
        "task": result.task,
        "status": result.status,
        "message": result.message or "",
        "step": result.step,
        "device": result.device,
        "dtype": result.dtype,
        "seed": result.seed,
        "started": result.started,
        "ended": result.ended,
        "duration_s": result.duration_s,
        "params": json.dumps(data["params"], allow_nan=False),
        "metrics": json.dumps(data["metrics"], allow_nan=False),
        "versions": json.dumps(data["versions"], allow_nan=False),
        "observations": json.dumps(data["observations"], allow_nan=False),
        "tables": json.dumps(data["tables"], allow_nan=False),
        "artifacts": zlib.compress(json.dumps(data["artifacts"], allow_nan=False).encode("utf-8"), 6),
        "group_id": result.group,
        "label": result.label,
        "marked": int(bool(result.marked)),
    }


def series_rows(result: Result) -> list[dict[str, Any]]:
    """Every series encoded; long ones in parallel threads (numpy and zlib release the GIL)."""
    float32 = result.dtype == "float32"
    items = list(result.series.items())

    def encode(item: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        name, data = item
        return {"name": name, **encode_series(data.get("x", ()), data.get("y", ()), float32)}

    if len(items) > 1 and sum(len(d.get("y", ())) for _, d in items) > FAST_COMPRESS_ABOVE:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(items), os.cpu_count() or 1)) as pool:
            return list(pool.map(encode, items))
    return [encode(item) for item in items]


def result_from_row(row: Sequence[Any]) -> Result:
    """A whole run from the LIST_COLUMNS then the DETAIL_COLUMNS (series apart)."""
    result = results_from_rows([row])[0]
    versions, observations, tables, artifacts = row[len(LIST_COLUMNS) :]
    result.versions = json.loads(versions)
    result.observations = json.loads(observations)
    result.tables = json.loads(tables)
    result.artifacts = json.loads(zlib.decompress(artifacts).decode("utf-8"))
    return result


#: the Result field each listing column fills (``group_id`` is the result's ``group``)
_RESULT_FIELDS = tuple("group" if c == "group_id" else c for c in LIST_COLUMNS)
_PARAMS, _METRICS = LIST_COLUMNS.index("params"), LIST_COLUMNS.index("metrics")


def results_from_rows(rows: Sequence[Sequence[Any]]) -> list[Result]:
    """Listing rows (the LIST_COLUMNS, in order) as Results without series.

    The JSON columns of all rows are parsed in one call each (ten thousand small
    ``json.loads`` cost three times as much), and the garbage collector waits until the
    objects are built (its passes over the growing heap doubled the time)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        params = json.loads("[" + ",".join(r[_PARAMS] for r in rows) + "]")
        metrics = json.loads("[" + ",".join(r[_METRICS] for r in rows) + "]")
        out = []
        for r, p, m in zip(rows, params, metrics):
            fields = dict(zip(_RESULT_FIELDS, r))
            fields.update(params=p, metrics=m, marked=bool(fields["marked"]))
            out.append(Result(**fields))
        return out
    finally:
        if enabled:
            gc.enable()
