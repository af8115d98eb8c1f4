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
import os
import sqlite3
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

from lab4.core.events import STATUSES, Result
from lab4.core.spec import Spec
from lab4.store.codec import decode_series
from lab4.store.files import ENV, atomic_write, default_data_dir, expand, safe_name
from lab4.store.filters import matcher, sort_runs
from lab4.store.notes import NoteWrite, merge3
from lab4.store.schema import (
    APPLICATION_ID,
    DB_NAME,
    DETAIL_COLUMNS,
    LIST_COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    result_from_row,
    results_from_rows,
    run_record,
    series_rows,
)
from lab4.store.validate import check_run

__all__ = ["Store", "StoreError", "RunList"]

BUSY_TIMEOUT_S = 30.0

#: the largest file ``import_runs`` reads (a 1,000,000-step run exports to about 60 MB of
#: JSON): a bigger one, or anything but a regular file (``/dev/zero``), is refused unread
IMPORT_MAX_BYTES = 256 * 1024 * 1024


class StoreError(Exception):
    """The database cannot be used as asked; the message names the file and what to do."""


class _Unwritable(StoreError):
    """The directory or the file refuses writes (read-only mount, permissions)."""


def _refuses_writes(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("unable to open", "readonly", "read-only", "permission denied"))


def _disk_full(exc: Exception) -> bool:
    return "disk is full" in str(exc).lower() or getattr(exc, "errno", None) == 28


@dataclass
class RunList:
    """Runs of a listing (without series, tables, artifacts), warnings, and how many matched
    before ``limit``/``offset`` cut the page."""

    runs: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total: int = 0


def _read_limited(path: Path) -> str:
    """A JSON file's text, refused unread when it is not a regular file or is larger than
    IMPORT_MAX_BYTES (never more than that is read)."""
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file (a device, a pipe or a directory): nothing was read")
        if st.st_size > IMPORT_MAX_BYTES:
            raise OSError(
                f"{st.st_size / 2**20:.0f} MB is more than the {IMPORT_MAX_BYTES // 2**20} MB "
                f"lab4 imports from one file"
            )
        data = fh.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        raise OSError(f"more than the {IMPORT_MAX_BYTES // 2**20} MB lab4 imports from one file")
    return data.decode("utf-8")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed) while the block runs; no
    lock where the system has none (the write is still atomic)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class Store:
    """The data directory: runs in a SQLite database, notes in Markdown files.

    Thread-safe and process-safe: every call opens its own connection (cheap), writes are
    ``BEGIN IMMEDIATE`` transactions that wait for each other up to ``BUSY_TIMEOUT_S``.
    """

    def __init__(self, root: Path | str | None = None, specs: Mapping[str, Spec] | None = None):
        self.root = expand(Path(root)) if root else default_data_dir()
        #: task id -> its spec, for ``where`` conditions parsed as the task parses its values
        #: (the store knows no tasks: the CLI and the app pass them)
        self.specs = dict(specs or {})
        #: why this store cannot be written ("" when it can): a newer schema, a read-only
        #: directory (then the old JSON runs, if any, are listed from memory)
        self.read_only = ""
        self._ready = False
        self._lock = threading.Lock()
        self._memory: sqlite3.Connection | None = None
        self._notices: list[str] = []
        #: the read-only URI the database is opened with when its directory refuses writes
        self._read_only_uri = ""

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
        except sqlite3.DatabaseError as exc:
            # a page damaged in the middle of the file shows only when it is read
            raise self._error(exc) from None
        finally:
            db.close()

    def _error(self, exc: Exception, doing: str = "") -> StoreError:
        """An error of SQLite as the StoreError a person can act on."""
        if isinstance(exc, StoreError):
            return exc
        if _disk_full(exc) or (
            isinstance(exc, sqlite3.OperationalError)
            and "i/o error" in str(exc).lower()
            and self._free_bytes() < 1 << 20
        ):  # WAL's -shm cannot grow: a full disk too
            return StoreError(
                f"disk full: cannot write {self.db_path}{' (' + doing + ')' if doing else ''}; "
                f"free some space there (what was saved before is intact)"
            )
        if _refuses_writes(exc):
            return _Unwritable(f"cannot write {self.db_path}: {exc}")
        text = str(exc).lower()
        if "i/o error" in text:
            return StoreError(f"cannot read or write {self.db_path} (the disk or the file system failed): {exc}")
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return StoreError(f"{self.db_path} is busy (another lab4 has held it for {BUSY_TIMEOUT_S:.0f} s): {exc}")
        if type(exc) is sqlite3.DatabaseError or any(w in text for w in ("malformed", "not a database", "corrupt")):
            return self._damaged(exc)
        return StoreError(f"{self.db_path}: {exc}")

    def _free_bytes(self) -> int:
        import shutil

        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return 1 << 62

    def _open(self) -> sqlite3.Connection:
        try:
            if self._read_only_uri:
                db = sqlite3.connect(
                    self._read_only_uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
            else:
                db = sqlite3.connect(
                    self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
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
            raise self._error(exc, "opening it") from None
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
                if not self._open_read_only(str(exc)):
                    self._fall_back_to_memory(str(exc))
                return
            try:
                self._prepare(db)
            except sqlite3.DatabaseError as exc:
                if _disk_full(exc):
                    raise self._error(exc, "creating the database") from None
                if not _refuses_writes(exc):
                    raise self._error(exc) from None
                db.close()
                if not self._open_read_only(f"cannot write {self.db_path}: {exc}"):
                    self._fall_back_to_memory(f"cannot write {self.db_path}: {exc}")
                return
            finally:
                db.close()
            self._ready = True

    def _open_read_only(self, why: str) -> bool:
        """A database that exists in a directory that refuses writes (a read-only mount, another
        user's files): open it read-only, so that its runs are listed and shown. ``mode=ro``
        first; ``immutable=1`` when even that needs to write (WAL's ``-shm`` beside it)."""
        if not self.db_path.is_file():
            return False
        base = "file:" + quote(str(self.db_path.absolute()))
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            self._read_only_uri = base + query
            try:
                db = self._open()
            except StoreError:
                continue
            try:
                app_id = db.execute("PRAGMA application_id").fetchone()[0]
                version = db.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError:
                db.close()
                continue
            db.close()
            if app_id != APPLICATION_ID or not 1 <= version:
                break
            self._ready = True
            self.read_only = f"{why}; runs are shown (read-only) but not saved"
            return True
        self._read_only_uri = ""
        return False

    def _damaged(self, exc: Exception) -> StoreError:
        return StoreError(
            f"{self.db_path} is damaged or is not a lab4 database ({exc}). It was left untouched: "
            f"'lab4 check --salvage DIR' exports every run that still reads; then move it "
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
            self.read_only = (
                f"{self.db_path} was written by a newer lab4 (schema {version}; this lab4 knows "
                f"{SCHEMA_VERSION}): it is read, never written; upgrade lab4 to save runs there"
            )
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
                data = json.loads(_read_limited(path))
                if isinstance(data, dict) and not data.get("id"):
                    data["id"] = safe_name(path.stem)
                result = check_run(data)
            except (OSError, ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
                self._notices.append(f"not imported: {path}: {str(exc)[:120]}")
                continue
            self._insert(db, result, replace=False)
            count += 1
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('imported_json', ?)",
            (json.dumps({"count": count, "from": str(self.runs_dir)}),),
        )
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
        encoded = [(run_record(r), series_rows(r)) for r in results]  # compress before locking
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
                    # SQLite may have rolled back itself (a full disk): a second ROLLBACK
                    # would hide the real error behind "no transaction is active"
                    if db.in_transaction:
                        try:
                            db.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                    raise
            except sqlite3.Error as exc:
                what = f"run {results[0].id}" if len(results) == 1 else f"{len(results)} runs"
                error = self._error(exc, f"saving {what}")
                if _disk_full(exc) or isinstance(error, _Unwritable):
                    raise error from None
                raise StoreError(f"cannot save {what} in {self.db_path}: {exc}") from None
        return written

    @staticmethod
    def _insert(db: sqlite3.Connection, result: Result, replace: bool) -> bool:
        return Store._write(db, run_record(result), series_rows(result), replace)

    @staticmethod
    def _write(db: sqlite3.Connection, record: dict[str, Any], rows: list[dict[str, Any]], replace: bool) -> bool:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        run = {k: v for k, v in record.items() if k not in DETAIL_COLUMNS}
        if replace:
            db.execute("DELETE FROM series WHERE run_id = ?", (record["id"],))
            db.execute("DELETE FROM details WHERE run_id = ?", (record["id"],))
        cursor = db.execute(
            f"{verb} INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})", tuple(run.values())
        )
        if cursor.rowcount == 0:
            return False
        db.execute(
            "INSERT INTO details (run_id, versions, observations, tables, artifacts) VALUES (?, ?, ?, ?, ?)",
            (record["id"], *[record[k] for k in DETAIL_COLUMNS]),
        )
        db.executemany(
            "INSERT OR REPLACE INTO series (run_id, name, n, x_kind, x0, dx, x, y_kind, y) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (record["id"], r["name"], r["n"], r["x_kind"], r["x0"], r["dx"], r["x"], r["y_kind"], r["y"])
                for r in rows
            ],
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
        results: dict[str, Result] = {}
        for path in paths:
            try:
                data = json.loads(_read_limited(Path(path)))
            except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
                warnings.append(f"not imported: {path}: {str(exc)[:160]}")
                continue
            many = isinstance(data, dict) and isinstance(data.get("runs"), list) and "task" in data
            items = data["runs"] if many else [data]
            for i, item in enumerate(items):
                where = f"{path}" + (f" (run {i + 1} of {len(items)})" if many else "")
                try:
                    result = check_run(item, self.specs.keys())
                except (ValueError, TypeError, RecursionError) as exc:
                    warnings.append(f"not imported: {where}: {str(exc)[:200]}")
                    continue
                if result.id in results:
                    warnings.append(f"skipped {result.id} in {where}: the same id came earlier in this import")
                    continue
                results[result.id] = result
        imported = self.save_runs(list(results.values()), replace=False)
        warnings += [f"skipped {i}: a run with this id is already saved" for i in results if i not in imported]
        return imported, warnings

    # ---- reading runs

    def load_run(self, run_id: str) -> Result:
        """A whole run (series included) by id or by a unique prefix of one."""
        columns = ", ".join([*LIST_COLUMNS, *DETAIL_COLUMNS])
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
            result = result_from_row(row)
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
        sql = (
            f"SELECT {', '.join(LIST_COLUMNS)} FROM runs{condition} ORDER BY started{' DESC' * descending}, "
            f"id{' DESC' * descending}"
        )
        paged = limit is not None and not where and not sort  # the database cuts the page itself
        if paged:
            sql += f" LIMIT {min(int(limit), 2**62)} OFFSET {min(int(offset), 2**62)}"
        out = RunList(warnings=self._take_notices())
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = None  # plain tuples: ten thousand rows build twice as fast
            rows = cursor.execute(sql, args).fetchall()
            if paged:
                out.total = cursor.execute(f"SELECT count(*) FROM runs{condition}", args).fetchone()[0]
        runs = results_from_rows(rows)
        if paged:
            out.runs = runs
        else:
            if where:
                keep = matcher(where, self.specs)
                runs = [r for r in runs if keep(r)]
            if sort:
                runs = sort_runs(runs, sort, descending)
            out.total = len(runs)
            out.runs = runs[offset : None if limit is None else offset + limit]
        if self.read_only:
            out.warnings.append(self.read_only)
        return out

    def latest(self, task: str, statuses: Sequence[str] = STATUSES) -> Result | None:
        """The most recent run of ``task`` (without series), or None."""
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = None
            row = cursor.execute(
                f"SELECT {', '.join(LIST_COLUMNS)} FROM runs WHERE task = ? AND status IN "
                f"({', '.join('?' * len(statuses))}) ORDER BY started DESC, id DESC LIMIT 1",
                (task, *statuses),
            ).fetchone()
        return None if row is None else results_from_rows([row])[0]

    def latest_group(self, task: str) -> str | None:
        """The id of the most recent comparison (runs sharing a group) of ``task``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT group_id FROM runs WHERE task = ? AND group_id != '' ORDER BY started DESC, id DESC LIMIT 1",
                (task,),
            ).fetchone()
        return None if row is None else row[0]

    def count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT count(*) FROM runs").fetchone()[0]

    def check(self) -> tuple[list[str], list[str], list[str]]:
        """The database checked page by page (``PRAGMA integrity_check``), and each run read
        whole: (integrity problems, ids that read, ids that do not).  Works on a damaged file
        (it never writes, and reads the ids row by row past the damage it can skip)."""
        problems: list[str] = []
        uri = "file:" + quote(str(self.db_path.absolute())) + "?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            return [f"cannot open {self.db_path}: {exc}"], [], []
        try:
            try:
                problems = [r[0] for r in db.execute("PRAGMA integrity_check(100)")]
                problems = [] if problems == ["ok"] else problems
            except sqlite3.DatabaseError as exc:
                problems = [str(exc)]
            ids: list[str] = []
            for sql in (
                "SELECT id FROM runs ORDER BY started, id",
                "SELECT id FROM runs",
                "SELECT run_id FROM details",
                "SELECT DISTINCT run_id FROM series",
            ):
                try:
                    for (run_id,) in db.execute(sql):
                        if run_id not in ids:
                            ids.append(run_id)
                except sqlite3.DatabaseError as exc:
                    if not problems:
                        problems.append(str(exc))
        finally:
            db.close()
        good, bad = [], []
        for run_id in ids:
            try:
                self.load_run(run_id)
                good.append(run_id)
            except Exception:  # noqa: BLE001 - whatever the damage, the run is one that does not read
                bad.append(run_id)
        return problems, good, bad

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

    def save_note(self, task: str, text: str, base: str | None = None) -> Path:
        """Write a task's notes.  With ``base`` (the text this writer read, or last wrote),
        another writer's changes made since are merged in, never overwritten: see
        :meth:`write_note`."""
        if base is None:
            path = self.note_path(task)
            atomic_write(path, text)
            return path
        return self.write_note(task, text, base).path

    def write_note(self, task: str, text: str, base: str) -> NoteWrite:
        """Write ``text`` as the notes of ``task``, ``base`` being what this writer read.

        When the file no longer holds ``base`` (another app, an editor wrote it), both sides'
        changes are merged (:func:`lab4.store.notes.merge3`); when they cannot be, the file
        gets ``text`` and the other text is kept in ``<task>.conflict-<time>.md`` beside it.
        Writers of one data directory take turns (an advisory lock on the notes folder)."""
        path = self.note_path(task)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path.parent / f".{safe_name(task)}.lock"):
            try:
                theirs = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                theirs = ""
            if theirs == base or theirs == text:
                atomic_write(path, text)
                return NoteWrite(path, text)
            merged = merge3(base, text, theirs)
            if merged is not None:
                atomic_write(path, merged)
                return NoteWrite(path, merged, merged=True)
            from datetime import datetime

            stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
            copy = path.with_name(f"{path.stem}.conflict-{stamp}.md")
            n = 1
            while copy.exists():
                n += 1
                copy = path.with_name(f"{path.stem}.conflict-{stamp}-{n}.md")
            atomic_write(copy, theirs)
            atomic_write(path, text)
            return NoteWrite(path, text, conflict=copy)
