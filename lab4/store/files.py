"""Files of the data directory: where it is, file names built from run ids, and writes that
never leave half a file, never replace what is not a regular file, and keep the mode of the
file they replace."""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

__all__ = [
    "ENV",
    "default_data_dir",
    "expand",
    "atomic_write",
    "WriteRefused",
    "safe_name",
    "child_path",
    "RUN_ID_RE",
    "valid_run_id",
]

ENV = "LAB4_DATA_DIR"

#: what a run id (or a comparison's group id) may be: lab4 makes ``20240101T120000-task-1a2b3c``
#: (``g`` in front for a group); ids of lab4 0.1's files were their file names.  Letters,
#: digits, ``_ . -``, starting with a letter or a digit: never a path, never hidden.
RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def valid_run_id(run_id: object) -> bool:
    return isinstance(run_id, str) and RUN_ID_RE.fullmatch(run_id) is not None


class WriteRefused(OSError):
    """A write that would replace something that is not a regular file (a device, a FIFO, a
    directory, a socket); its message says what is there."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "write refused"


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


def safe_name(text: str) -> str:
    """``text`` as one file name: every character but letters, digits, ``_ . -`` becomes
    ``_``, no leading dot, never empty."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))[:160].lstrip(".")
    return name or "_"


def child_path(directory: Path, stem: str, suffix: str = "") -> Path:
    """``directory/<safe stem><suffix>``, checked to stay inside ``directory``."""
    path = Path(directory) / (safe_name(stem) + suffix)
    if os.path.dirname(os.path.abspath(path)) != os.path.abspath(directory):
        raise WriteRefused(f"{path} would leave {directory}")  # cannot happen with safe_name; kept as a guard
    return path


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting it (and put it back at once)
    os.umask(mask)
    return mask


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def atomic_write(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename; return the path written.

    A symbolic link is followed: its target is replaced (the link stays a link).  Anything
    but a regular file at the target (a device such as ``/dev/full``, a FIFO, a directory) is
    refused with :class:`WriteRefused`, never replaced.  The new file keeps the permission
    bits of the file it replaces; a new file gets the umask's (0644 under the usual 022)."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st = os.stat(target)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    else:
        if not stat.S_ISREG(st.st_mode):
            raise WriteRefused(f"{path} is {_kind(st.st_mode)}: lab4 writes only regular files (choose a file name)")
        mode = stat.S_IMODE(st.st_mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target
