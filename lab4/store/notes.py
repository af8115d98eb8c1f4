"""Notes written by two apps at once: what changed on disk since an app read the file is
merged with what it typed, never dropped.

A note is Markdown people type line by line.  Both sides' edits of the text they started
from (the *base*) are applied when they touch different lines; text both sides added at
the same place is kept, the other app's first; two different edits of the same lines
cannot be merged: then the file keeps this app's text and the other's goes to a conflict
copy beside it (``<task>.conflict-<time>.md``), and the caller says so."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["merge3", "NoteWrite", "digest"]


def digest(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


@dataclass
class NoteWrite:
    """What a save of a note did: the text now in the file (merged when another app had
    changed it), and the conflict copy written (None when there was none)."""

    path: Path
    text: str
    merged: bool = False
    conflict: Path | None = None


def _edits(base: list[str], other: list[str]) -> list[tuple[int, int, list[str]]]:
    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [(i1, i2, other[j1:j2]) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"]


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """``base`` with the edits of ``ours`` and of ``theirs``, or None when both changed the
    same lines differently.  Insertions at one place keep both (theirs first)."""
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    b = base.splitlines(keepends=True)
    o, t = ours.splitlines(keepends=True), theirs.splitlines(keepends=True)
    # a last line without its newline would glue onto what follows it
    for lines in (b, o, t):
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
    edits = sorted(
        [(*e, 1) for e in _edits(b, t)] + [(*e, 0) for e in _edits(b, o)], key=lambda e: (e[0], e[1] > e[0], e[3] == 0)
    )  # insertions first; theirs first
    out: list[str] = []
    at = 0
    previous: tuple[int, int, list[str]] | None = None
    for i1, i2, lines, _side in edits:
        if previous is not None:
            p1, p2, plines = previous
            if (p1, p2, plines) == (i1, i2, lines):
                continue  # the same edit on both sides
            overlap = i1 < p2 or (i1 == p1 and i2 > i1 and p2 > p1)
            if overlap:
                return None
        if i1 < at:
            return None
        out += b[at:i1] + lines
        at = i2
        previous = (i1, i2, lines)
    out += b[at:]
    text = "".join(out)
    ends = ours.endswith("\n") or theirs.endswith("\n") or not text
    return text if ends else text[:-1]
