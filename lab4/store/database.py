"""Where runs and notes live: one SQLite database, series as compact arrays, notes as Markdown.

Layout under the data directory (platformdirs' user data dir for ``lab4-tui``, or
``--data-dir``, or ``$LAB4_DATA_DIR``)::

    lab4.sqlite        every run: a row of the ``runs`` table (parameters, status, metrics,
                       observations, tables, artifacts, its comparison's id) and its series
                       in the ``series`` table as compressed arrays, read only when a run
                       is opened (listings never touch them)
    notes/<task>.md    the user's notes for a task (Markdown: people edit them by hand)
    exports/           what the app's export and ``lab4 export`` write (JSON, CSV)
    runs/*.json        runs written by lab4 0.1: imported once, when the database is
                       created, and left on disk as they are

Every save is one transaction (WAL mode, a busy timeout), so the app, the CLI and a second
app writing at once lose nothing, and a process killed at any moment loses at most the run
it was saving.  A damaged or foreign database file is reported with its path and what to
do, never overwritten or deleted; a database written by a newer lab4 is read but not
written.  Notes and exports are written to a temporary file and renamed.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
import threading
import zlib
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from lab4.core.events import STATUSES, Result

__all__ = [
    "Store", "StoreError", "RunList", "default_data_dir", "atomic_write", "SCHEMA_VERSION", "DB_NAME",
    "encode_series", "decode_series", "where_term",
]

ENV = "LAB4_DATA_DIR"
DB_NAME = "lab4.sqlite"
SCHEMA_VERSION = 1
APPLICATION_ID = 0x4C414234  # "LAB4" in the file header: a lab4 database says so itself
BUSY_TIMEOUT_S = 30.0
#: arrays longer than this are compressed at zlib's fastest level (a 10,000,000-step run
#: must save in well under 2 s); shorter ones at the default level
FAST_COMPRESS_ABOVE = 200_000
SHUFFLE_PIECE = 1 << 18  # values byte-shuffled at a time (a few ms each)
PLANE_SAMPLE = 1 << 16  # bytes of a byte plane tried first: a plane that does not shrink is stored raw

#: the columns a listing reads (never the series, tables, artifacts, observations or versions)
_LIST_COLUMNS = ("id", "task", "status", "message", "step", "device", "dtype", "seed", "started", "ended",
                 "duration_s", "params", "metrics", "group_id", "label", "marked")
_DETAIL_COLUMNS = ("versions", "observations", "tables", "artifacts")


class StoreError(Exception):
    """The database cannot be used as asked; the message names the file and what to do."""


class _Unwritable(StoreError):
    """The directory or the file refuses writes (read-only mount, permissions)."""


def _refuses_writes(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("unable to open", "readonly", "read-only", "permission denied"))


def default_data_dir() -> Path:
    env = os.environ.get(ENV)
    if env:
        return _expand(Path(env))
    import platformdirs

    return Path(platformdirs.user_data_dir("lab4-tui", appauthor=False))


def _expand(path: Path) -> Path:
    try:
        return path.expanduser()
    except RuntimeError:  # "~nosuchuser": keep it as typed
        return path


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---- series as compact arrays


def _as_float_array(values: Any) -> Any:
    import numpy as np

    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    if isinstance(values, array) and values.typecode == "d":
        # a view, no copy: a finished result's arrays no longer grow (a growing array.array
        # refuses to resize while viewed, it does not corrupt)
        return np.frombuffer(values, dtype=np.float64)
    if isinstance(values, list) and any(v is None for v in values):
        values = [math.nan if v is None else v for v in values]
    return np.array(values, dtype=np.float64)


#: zlib works on pieces of this size: one-shot (de)compression holds the GIL for the whole
#: buffer (~40 ms for 40 MB), which stalls the app's UI while a big run is saved or opened
ZLIB_PIECE = 1 << 20


def _deflate(data: bytes, level: int) -> bytes:
    if len(data) <= ZLIB_PIECE:
        return zlib.compress(data, level)
    packer = zlib.compressobj(level)
    view = memoryview(data)
    parts = [packer.compress(view[i:i + ZLIB_PIECE]) for i in range(0, len(data), ZLIB_PIECE)]
    return b"".join(parts) + packer.flush()


def _inflate(data: bytes) -> bytes:
    if len(data) <= ZLIB_PIECE:
        return zlib.decompress(data)
    unpacker = zlib.decompressobj()
    parts = []
    view = memoryview(data)
    for i in range(0, len(data), ZLIB_PIECE):
        parts.append(unpacker.decompress(view[i:i + ZLIB_PIECE]))
    parts.append(unpacker.flush())
    return b"".join(parts)


def _pack(values: Any, kind: str) -> bytes:
    """Little-endian values split into byte planes (every value's first byte, then every
    second byte...), each plane compressed with zlib unless a sample of it does not shrink.

    The planes of the sign and exponent vary slowly along a curve and compress to almost
    nothing; the low mantissa bytes of measured values are noise, stored as they are
    (compressing them would cost time for nothing).  Blob: per plane a flag byte (0 raw,
    1 zlib), its length (4 bytes), its bytes."""
    import numpy as np

    raw = np.ascontiguousarray(values, dtype="<f4" if kind == "f4" else "<f8")
    level = 1 if raw.size > FAST_COMPRESS_ABOVE else 6
    out = bytearray()
    planes = np.empty((raw.itemsize, raw.size), dtype=np.uint8)
    as_bytes = raw.view(np.uint8).reshape(-1, raw.itemsize)
    for start in range(0, raw.size, SHUFFLE_PIECE):  # pieces: a strided copy holds the GIL
        planes[:, start:start + SHUFFLE_PIECE] = as_bytes[start:start + SHUFFLE_PIECE].T
    for plane in planes:
        data = plane.tobytes()
        sample = data[:PLANE_SAMPLE]
        packed = _deflate(data, level) if len(zlib.compress(sample, 1)) < 0.9 * len(sample) else None
        if packed is not None and len(packed) < len(data):
            out += b"\x01" + len(packed).to_bytes(4, "little") + packed
        else:
            out += b"\x00" + len(data).to_bytes(4, "little") + data
    return bytes(out)


def _unpack(blob: bytes, kind: str, n: int) -> Any:
    import numpy as np

    size = 4 if kind == "f4" else 8
    planes = np.empty((size, n), dtype=np.uint8)
    at = 0
    for k in range(size):
        flag, length = blob[at], int.from_bytes(blob[at + 1:at + 5], "little")
        data = blob[at + 5:at + 5 + length]
        planes[k] = np.frombuffer(_inflate(data) if flag else data, dtype=np.uint8)
        at += 5 + length
    values = np.empty((n, size), dtype=np.uint8)
    for start in range(0, n, SHUFFLE_PIECE):  # pieces: a strided copy holds the GIL
        values[start:start + SHUFFLE_PIECE] = planes[:, start:start + SHUFFLE_PIECE].T
    return values.view("<f4" if kind == "f4" else "<f8").reshape(n).astype(np.float64)


def encode_series(x: Any, y: Any, float32: bool) -> dict[str, Any]:
    """One series as a row: x as ``range`` (x0 + i dx) when it is one, else an array; values
    in float32 when the run computed in float32 and every value round-trips exactly."""
    import numpy as np

    xs, ys = _as_float_array(x), _as_float_array(y)
    n = int(min(xs.size, ys.size))
    xs, ys = xs[:n], ys[:n]
    row: dict[str, Any] = {"n": n, "x_kind": "f8", "x0": None, "dx": None, "x": None}
    if n >= 1:
        x0, dx = float(xs[0]), (float(xs[1] - xs[0]) if n > 1 else 1.0)
        whole = x0.is_integer() and dx.is_integer() and abs(x0) + abs(dx) * n < 2**52  # exact sums
        if whole and xs[-1] == x0 + dx * (n - 1) and (n < 3 or bool((np.diff(xs) == dx).all())):
            row.update(x_kind="range", x0=x0, dx=dx)
    if row["x_kind"] != "range":
        row["x"] = _pack(xs, "f8")
    kind = "f8"
    if float32:
        with np.errstate(over="ignore", invalid="ignore"):
            narrow = ys.astype(np.float32)
            exact = bool((narrow == ys).all()) or bool(((narrow == ys) | np.isnan(ys)).all())
        if exact:
            kind = "f4"
    row.update(y_kind=kind, y=_pack(ys, kind))
    return row


def decode_series(row: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    n = row["n"]
    if row["x_kind"] == "range":
        x = row["x0"] + row["dx"] * np.arange(n, dtype=np.float64)
    else:
        x = _unpack(row["x"], "f8", n)
    return {"x": x, "y": _unpack(row["y"], row["y_kind"], n)}


# ---- the schema and its migrations


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


@dataclass
class RunList:
    """Runs of a listing (without series, tables, artifacts), warnings, and how many matched
    before ``limit``/``offset`` cut the page."""

    runs: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total: int = 0


class Store:
    """The data directory: runs in a SQLite database, notes in Markdown files.

    Thread-safe and process-safe: every call opens its own connection (cheap), writes are
    ``BEGIN IMMEDIATE`` transactions that wait for each other up to ``BUSY_TIMEOUT_S``.
    """

    def __init__(self, root: Path | str | None = None):
        self.root = _expand(Path(root)) if root else default_data_dir()
        #: why this store cannot be written ("" when it can): a newer schema, a read-only
        #: directory (then the old JSON runs, if any, are listed from memory)
        self.read_only = ""
        self._ready = False
        self._lock = threading.Lock()
        self._memory: sqlite3.Connection | None = None
        self._notices: list[str] = []

    # ---- paths

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def runs_dir(self) -> Path:
        """Where lab4 0.1 kept one JSON file per run (imported once)."""
        return self.root / "runs"

    @property
    def notes_dir(self) -> Path:
        return self.root / "notes"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    # ---- connections

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self._ensure()
        if self._memory is not None:
            with self._lock:
                yield self._memory
            return
        db = self._open()
        try:
            yield db
        finally:
            db.close()

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                 check_same_thread=False)
        except sqlite3.Error as exc:
            raise (_Unwritable if _refuses_writes(exc) else StoreError)(f"cannot open {self.db_path}: {exc}") from None
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA foreign_keys = ON")
            # WAL with synchronous NORMAL: a commit survives a killed process (the journal is
            # complete or ignored); only a power cut may lose the last commits, never corrupt
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the header: is it a database?
        except sqlite3.DatabaseError as exc:
            db.close()
            if _refuses_writes(exc):
                raise _Unwritable(f"cannot open {self.db_path}: {exc}") from None
            raise self._damaged(exc) from None
        return db

    def _ensure(self) -> None:
        """Open (or create) the database once per Store: check what it is, migrate it, import
        the JSON runs of lab4 0.1 when it is new."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                db = self._open()
            except OSError as exc:
                self._fall_back_to_memory(f"cannot create {self.db_path}: {exc.strerror or exc}")
                return
            except _Unwritable as exc:
                self._fall_back_to_memory(str(exc))
                return
            try:
                self._prepare(db)
            except sqlite3.DatabaseError as exc:
                if not _refuses_writes(exc):
                    raise self._damaged(exc) from None
                self._fall_back_to_memory(f"cannot write {self.db_path}: {exc}")
                return
            finally:
                db.close()
            self._ready = True

    def _damaged(self, exc: Exception) -> StoreError:
        return StoreError(
            f"{self.db_path} is damaged or is not a lab4 database ({exc}). It was left untouched: move it "
            f"away and lab4 starts a new one there, or choose another data directory (--data-dir, {ENV})."
        )

    def _prepare(self, db: sqlite3.Connection) -> None:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            raise StoreError(
                f"{self.db_path} is not a lab4 database (it holds {', '.join(sorted(tables)) or 'other data'}). "
                f"It was left untouched: move it away, or choose another data directory (--data-dir, {ENV})."
            )
        if version > SCHEMA_VERSION:
            self.read_only = (f"{self.db_path} was written by a newer lab4 (schema {version}; this lab4 knows "
                              f"{SCHEMA_VERSION}): it is read, never written; upgrade lab4 to save runs there")
            return
        if version == SCHEMA_VERSION:
            return
        try:
            db.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer
        except sqlite3.OperationalError:
            pass  # some network file systems: the default journal still works
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            created = version == 0
            for migrate in MIGRATIONS[version:]:
                migrate(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            if created:
                self._import_old_json(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _fall_back_to_memory(self, why: str) -> None:
        """A directory that refuses writes: the old JSON runs (if any) listed from memory,
        every save refused with ``why``."""
        self._ready = True
        self.read_only = f"{why}; runs are shown but not saved"
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        for migrate in MIGRATIONS:
            migrate(db)
        self._import_old_json(db)
        self._memory = db

    def _import_old_json(self, db: sqlite3.Connection) -> None:
        """lab4 0.1's runs/*.json, once: each readable file becomes a row; the files stay."""
        if not self.runs_dir.is_dir():
            return
        count = 0
        for path in sorted(self.runs_dir.glob("*.json")):
            try:
                result = Result.from_json(json.loads(path.read_text(encoding="utf-8")))
                if not result.id:
                    result.id = path.stem
            except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
                self._notices.append(f"not imported: {path}: {str(exc)[:120]}")
                continue
            self._insert(db, result, replace=False)
            count += 1
        db.execute("INSERT OR REPLACE INTO meta VALUES ('imported_json', ?)",
                   (json.dumps({"count": count, "from": str(self.runs_dir)}),))
        if count:
            self._notices.append(f"imported {count} run(s) from {self.runs_dir} (the files are left as they are)")

    # ---- writing runs

    def _check_writable(self) -> None:
        self._ensure()
        if self.read_only:
            raise StoreError(self.read_only)

    def save_run(self, result: Result) -> Path:
        """Save (or replace) a run in one transaction; return the database's path."""
        self.save_runs([result])
        return self.db_path

    def save_runs(self, results: Sequence[Result], replace: bool = True) -> list[str]:
        """Save several runs in one transaction (all or none); return the ids written
        (with ``replace=False`` a run whose id is already saved is left as it is)."""
        self._check_writable()
        encoded = [(_run_record(r), _series_rows(r)) for r in results]  # compress before locking
        written = []
        with self._connect() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    for record, rows in encoded:
                        if self._write(db, record, rows, replace=replace):
                            written.append(record["id"])
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                what = f"run {results[0].id}" if len(results) == 1 else f"{len(results)} runs"
                raise StoreError(f"cannot save {what} in {self.db_path}: {exc}") from None
        return written

    @staticmethod
    def _insert(db: sqlite3.Connection, result: Result, replace: bool) -> bool:
        return Store._write(db, _run_record(result), _series_rows(result), replace)

    @staticmethod
    def _write(db: sqlite3.Connection, record: dict[str, Any], rows: list[dict[str, Any]], replace: bool) -> bool:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        run = {k: v for k, v in record.items() if k not in _DETAIL_COLUMNS}
        if replace:
            db.execute("DELETE FROM series WHERE run_id = ?", (record["id"],))
            db.execute("DELETE FROM details WHERE run_id = ?", (record["id"],))
        cursor = db.execute(f"{verb} INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})",
                            tuple(run.values()))
        if cursor.rowcount == 0:
            return False
        db.execute("INSERT INTO details (run_id, versions, observations, tables, artifacts) VALUES (?, ?, ?, ?, ?)",
                   (record["id"], *[record[k] for k in _DETAIL_COLUMNS]))
        db.executemany(
            "INSERT OR REPLACE INTO series (run_id, name, n, x_kind, x0, dx, x, y_kind, y) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(record["id"], r["name"], r["n"], r["x_kind"], r["x0"], r["dx"], r["x"], r["y_kind"], r["y"])
             for r in rows],
        )
        return True

    def set_marked(self, run_ids: Iterable[str], marked: bool = True) -> None:
        self._check_writable()
        with self._connect() as db:
            try:
                db.executemany("UPDATE runs SET marked = ? WHERE id = ?", [(int(marked), i) for i in run_ids])
            except sqlite3.Error as exc:
                raise StoreError(f"cannot mark runs in {self.db_path}: {exc}") from None

    def import_runs(self, paths: Iterable[Path | str]) -> tuple[list[str], list[str]]:
        """Read exported JSON runs back; return (imported ids, warnings). A run whose id is
        already here is skipped."""
        self._check_writable()
        warnings: list[str] = []
        results = []
        for path in paths:
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
                items = data["runs"] if isinstance(data, dict) and "runs" in data and "task" in data else [data]
                for item in items:
                    result = Result.from_json(item)
                    if not result.id:
                        raise ValueError("the run has no id")
                    results.append(result)
            except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
                warnings.append(f"not imported: {path}: {str(exc)[:160]}")
        imported = self.save_runs(results, replace=False)
        warnings += [f"skipped {r.id}: a run with this id is already saved" for r in results if r.id not in imported]
        return imported, warnings

    # ---- reading runs

    def load_run(self, run_id: str) -> Result:
        """A whole run (series included) by id or by a unique prefix of one."""
        columns = ", ".join([*_LIST_COLUMNS, *_DETAIL_COLUMNS])
        full = f"SELECT {columns} FROM runs JOIN details ON details.run_id = runs.id"
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = None
            row = cursor.execute(f"{full} WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                rows = cursor.execute(f"{full} WHERE substr(id, 1, ?) = ? LIMIT 2", (len(run_id), run_id)).fetchall()
                if len(rows) != 1:
                    raise KeyError(f"no run {run_id!r}" if not rows else f"{run_id!r} matches several runs")
                row = rows[0]
            result = _result_from_row(row)
            for s in db.execute("SELECT * FROM series WHERE run_id = ? ORDER BY rowid", (result.id,)):
                result.series[s["name"]] = decode_series(s)
        return result

    def load_runs(self, run_ids: Sequence[str]) -> list[Result]:
        return [self.load_run(i) for i in run_ids]

    def list_runs(
        self,
        task: str | None = None,
        status: str | Sequence[str] | None = None,
        where: Mapping[str, str] | None = None,
        sort: str | None = None,
        descending: bool = False,
        group: str | None = None,
        marked: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> RunList:
        """Saved runs without their series (oldest first unless ``sort``/``descending``).

        ``where`` compares parameter values as the task's spec parses them (``lr=0.01``
        matches 0.010) and also ``status``, ``dtype``, ``device``, ``seed``, ``label``;
        ``sort`` is ``started``, ``duration_s`` or a metric name (runs without it last).
        """
        clauses, args = [], []
        if task is not None:
            clauses.append("task = ?")
            args.append(task)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        if group is not None:
            clauses.append("group_id = ?")
            args.append(group)
        if marked is not None:
            clauses.append("marked = ?")
            args.append(int(marked))
        condition = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT {', '.join(_LIST_COLUMNS)} FROM runs{condition} ORDER BY started{' DESC' * descending}, " \
              f"id{' DESC' * descending}"
        paged = limit is not None and not where and not sort  # the database cuts the page itself
        if paged:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        out = RunList(warnings=self._take_notices())
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = None  # plain tuples: ten thousand rows build twice as fast
            rows = cursor.execute(sql, args).fetchall()
            if paged:
                out.total = cursor.execute(f"SELECT count(*) FROM runs{condition}", args).fetchone()[0]
        runs = _results_from_rows(rows)
        if paged:
            out.runs = runs
        else:
            if where:
                keep = _matcher(where)
                runs = [r for r in runs if keep(r)]
            if sort:
                runs = _sorted(runs, sort, descending)
            out.total = len(runs)
            out.runs = runs[offset: None if limit is None else offset + limit]
        if self.read_only:
            out.warnings.append(self.read_only)
        return out

    def latest(self, task: str, statuses: Sequence[str] = STATUSES) -> Result | None:
        """The most recent run of ``task`` (without series), or None."""
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = None
            row = cursor.execute(
                f"SELECT {', '.join(_LIST_COLUMNS)} FROM runs WHERE task = ? AND status IN "
                f"({', '.join('?' * len(statuses))}) ORDER BY started DESC, id DESC LIMIT 1",
                (task, *statuses)).fetchone()
        return None if row is None else _results_from_rows([row])[0]

    def latest_group(self, task: str) -> str | None:
        """The id of the most recent comparison (runs sharing a group) of ``task``."""
        with self._connect() as db:
            row = db.execute("SELECT group_id FROM runs WHERE task = ? AND group_id != '' "
                             "ORDER BY started DESC, id DESC LIMIT 1", (task,)).fetchone()
        return None if row is None else row[0]

    def count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT count(*) FROM runs").fetchone()[0]

    def _take_notices(self) -> list[str]:
        self._ensure()
        notices, self._notices = self._notices, []
        return notices

    # ---- notes

    def note_path(self, task: str) -> Path:
        return self.notes_dir / f"{task}.md"

    def load_note(self, task: str) -> str:
        try:
            return self.note_path(task).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def save_note(self, task: str, text: str) -> Path:
        path = self.note_path(task)
        atomic_write(path, text)
        return path


# ---- rows <-> results


def _run_record(result: Result) -> dict[str, Any]:
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
        "marked": 0,
    }


def _series_rows(result: Result) -> list[dict[str, Any]]:
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


def _result_from_row(row: Sequence[Any]) -> Result:
    """A whole run from the _LIST_COLUMNS then the _DETAIL_COLUMNS (series apart)."""
    result = _results_from_rows([row])[0]
    versions, observations, tables, artifacts = row[len(_LIST_COLUMNS):]
    result.versions = json.loads(versions)
    result.observations = json.loads(observations)
    result.tables = json.loads(tables)
    result.artifacts = json.loads(zlib.decompress(artifacts).decode("utf-8"))
    return result


def _results_from_rows(rows: Sequence[Sequence[Any]]) -> list[Result]:
    """Listing rows (the _LIST_COLUMNS, in order) as Results without series.

    The JSON columns of all rows are parsed in one call each (ten thousand small
    ``json.loads`` cost three times as much), and the garbage collector waits until the
    objects are built (its passes over the growing heap doubled the time)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        params = json.loads("[" + ",".join(r[11] for r in rows) + "]")
        metrics = json.loads("[" + ",".join(r[12] for r in rows) + "]")
        return [
            Result(id=r[0], task=r[1], status=r[2], message=r[3], step=r[4], device=r[5], dtype=r[6], seed=r[7],
                   started=r[8], ended=r[9], duration_s=r[10], params=p, metrics=m, group=r[13], label=r[14],
                   marked=bool(r[15]))
            for r, p, m in zip(rows, params, metrics)
        ]
    finally:
        if enabled:
            gc.enable()

assert _LIST_COLUMNS[11:16] == ("params", "metrics", "group_id", "label", "marked")


def where_term(text: str) -> tuple[str, str]:
    """One condition of a listing, ``optimizer=momentum`` -> ("optimizer", "momentum") (a dash
    in the name reads as an underscore); ValueError when it is not name=value."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ValueError(f"needs name=value, got {text!r}")
    return name.replace("-", "_"), value


_CONTEXT_FIELDS = {"status": str, "dtype": str, "device": str, "seed": int, "label": str}


def _matcher(where: Mapping[str, str]) -> Callable[[Result], bool]:
    """A test of one run against ``name=value`` conditions, values parsed by each run's spec."""
    from lab4.core.spec import ParamError
    from lab4.tasks import TASKS

    parsed: dict[tuple[str, str], Any] = {}

    def wanted(task: str, name: str) -> Any:
        key = (task, name)
        if key not in parsed:
            spec = TASKS[task].spec if task in TASKS else None
            try:
                parsed[key] = spec[name].parse(where[name]) if spec is not None and name in spec else None
            except ParamError:
                parsed[key] = None
        return parsed[key]

    def keep(result: Result) -> bool:
        for name, text in where.items():
            if name in _CONTEXT_FIELDS:
                try:
                    if getattr(result, name) != _CONTEXT_FIELDS[name](text):
                        return False
                except ValueError:
                    return False
                continue
            spec = TASKS[result.task].spec if result.task in TASKS else None
            if spec is None or name not in spec or name not in result.params:
                return False
            value = wanted(result.task, name)
            try:
                if value is None or spec[name].parse(result.params[name]) != value:
                    return False
            except ParamError:
                return False
        return True

    return keep


def _sorted(runs: list[Result], key: str, descending: bool) -> list[Result]:
    def value(r: Result) -> Any:
        if key in ("started", "ended", "duration_s", "id", "status"):
            return getattr(r, key)
        v = r.metrics.get(key)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None

    present = [r for r in runs if value(r) is not None]
    absent = [r for r in runs if value(r) is None]
    return sorted(present, key=value, reverse=descending) + absent
