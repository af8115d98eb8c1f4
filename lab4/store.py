"""Where runs and notes live, written so that a kill at any moment loses nothing.

Layout under the data directory (platformdirs' user data dir for ``lab4-tui``, or
``--data-dir``, or ``$LAB4_DATA_DIR``)::

    runs/<run id>.json     one finished, diverged, cancelled or failed run
    notes/<task id>.md     the user's notes for a task

Every file is written to a temporary file in the same directory, flushed to disk, then
renamed over the target: a reader sees the old file or the new one, never a torn one.  A
file that cannot be read is skipped with a warning naming it, and never deleted.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lab4.events import Result

__all__ = ["Store", "default_data_dir", "atomic_write", "RunList"]

ENV = "LAB4_DATA_DIR"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]+\Z")


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


@dataclass
class RunList:
    runs: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Store:
    def __init__(self, root: Path | str | None = None):
        self.root = _expand(Path(root)) if root else default_data_dir()

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def notes_dir(self) -> Path:
        return self.root / "notes"

    def save_run(self, result: Result) -> Path:
        path = self.runs_dir / f"{result.id}.json"
        atomic_write(path, json.dumps(result.to_json(), allow_nan=False))
        return path

    def load_run(self, run_id: str) -> Result:
        if not _SAFE_ID.match(run_id):
            raise KeyError(f"no run {run_id!r}")
        path = self.runs_dir / f"{run_id}.json"
        if not path.exists():
            matches = sorted(self.runs_dir.glob(f"{run_id}*.json")) if self.runs_dir.exists() else []
            if len(matches) != 1:
                raise KeyError(f"no run {run_id!r}" if not matches else f"{run_id!r} matches {len(matches)} runs")
            path = matches[0]
        return self._read(path)

    @staticmethod
    def _read(path: Path) -> Result:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Result.from_json(data)

    def list_runs(self, task: str | None = None) -> RunList:
        """Saved runs, oldest first; unreadable files become warnings."""
        out = RunList()
        if not self.runs_dir.is_dir():
            return out
        for path in sorted(self.runs_dir.glob("*.json")):
            try:
                result = self._read(path)
            except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
                out.warnings.append(f"skipped {path}: {str(exc)[:120]}")
                continue
            if task is None or result.task == task:
                out.runs.append(result)
        out.runs.sort(key=lambda r: (r.started, r.id))
        return out

    def latest(self, task: str) -> Result | None:
        runs = self.list_runs(task).runs
        return runs[-1] if runs else None

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
