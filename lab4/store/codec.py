"""Series as compact arrays: values split into byte planes, each compressed when it shrinks."""

from __future__ import annotations

import math
import zlib
from array import array
from typing import Any, Mapping

__all__ = ["encode_series", "decode_series", "FAST_COMPRESS_ABOVE"]

#: arrays longer than this are compressed at zlib's fastest level (a 10,000,000-step run
#: must save in well under 2 s); shorter ones at the default level
FAST_COMPRESS_ABOVE = 200_000
SHUFFLE_PIECE = 1 << 18  # values byte-shuffled at a time (a few ms each)
PLANE_SAMPLE = 1 << 16  # bytes of a byte plane tried first: a plane that does not shrink is stored raw


def _as_float_array(values: Any) -> Any:
    import numpy as np

    if isinstance(values, np.ndarray):
        return values if values.dtype == np.float32 else values.astype(np.float64, copy=False)
    if isinstance(values, array) and values.typecode in ("d", "f"):
        # a view, no copy (a float32 run's values stay 4 bytes): a finished result's arrays no
        # longer grow (a growing array.array refuses to resize while viewed, it does not corrupt)
        return np.frombuffer(values, dtype=np.float64 if values.typecode == "d" else np.float32)
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
    parts = [packer.compress(view[i : i + ZLIB_PIECE]) for i in range(0, len(data), ZLIB_PIECE)]
    return b"".join(parts) + packer.flush()


def _inflate(data: bytes) -> bytes:
    if len(data) <= ZLIB_PIECE:
        return zlib.decompress(data)
    unpacker = zlib.decompressobj()
    parts = []
    view = memoryview(data)
    for i in range(0, len(data), ZLIB_PIECE):
        parts.append(unpacker.decompress(view[i : i + ZLIB_PIECE]))
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
        planes[:, start : start + SHUFFLE_PIECE] = as_bytes[start : start + SHUFFLE_PIECE].T
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
        flag, length = blob[at], int.from_bytes(blob[at + 1 : at + 5], "little")
        data = blob[at + 5 : at + 5 + length]
        planes[k] = np.frombuffer(_inflate(data) if flag else data, dtype=np.uint8)
        at += 5 + length
    values = np.empty((n, size), dtype=np.uint8)
    for start in range(0, n, SHUFFLE_PIECE):  # pieces: a strided copy holds the GIL
        values[start : start + SHUFFLE_PIECE] = planes[:, start : start + SHUFFLE_PIECE].T
    return values.view("<f4" if kind == "f4" else "<f8").reshape(n).astype(np.float64)


def encode_series(x: Any, y: Any, float32: bool) -> dict[str, Any]:
    """One series as a row: x as ``range`` (x0 + i dx) when it is one, else an array; values
    in float32 when the run computed in float32 and every value round-trips exactly."""
    import numpy as np

    counted = getattr(x, "counts_steps", False)  # lab4.core.events.Steps: 0, 1, 2, ... by definition
    xs = None if counted else _as_float_array(x)
    ys = _as_float_array(y)
    n = int(min(len(x) if counted else xs.size, ys.size))
    ys = ys[:n]
    row: dict[str, Any] = {"n": n, "x_kind": "f8", "x0": None, "dx": None, "x": None}
    if counted:
        row.update(x_kind="range", x0=0.0, dx=1.0)
    elif n >= 1:
        xs = xs[:n]
        x0, dx = float(xs[0]), (float(xs[1] - xs[0]) if n > 1 else 1.0)
        whole = x0.is_integer() and dx.is_integer() and abs(x0) + abs(dx) * n < 2**52  # exact sums
        if whole and xs[-1] == x0 + dx * (n - 1) and (n < 3 or bool((np.diff(xs) == dx).all())):
            row.update(x_kind="range", x0=x0, dx=dx)
    if row["x_kind"] != "range":
        row["x"] = _pack(xs, "f8")
    kind = "f8"
    if ys.dtype == np.float32:  # a float32 run's own values: exact in 4 bytes by construction
        kind = "f4"
    elif float32:
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
