"""Files of the data directory: where it is, and writes that never leave half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["ENV", "default_data_dir", "expand", "atomic_write"]

ENV = "LAB4_DATA_DIR"


def default_data_dir() -> Path:
    env = os.environ.get(ENV)
    if env:
        return expand(Path(env))
    import platformdirs

    return Path(platformdirs.user_data_dir("lab4-tui", appauthor=False))


def expand(path: Path) -> Path:
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
