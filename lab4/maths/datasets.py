"""Datasets for the training tasks: generated from a seed, shipped, or read from a CSV.

Built in: ``spiral`` (3 classes), ``moons``, ``circles``, ``xor``, ``blobs`` (2-D, so a
decision boundary can be drawn), and ``iris`` (150 rows, 4 features, 3 classes, shipped
as ``lab4/data/iris.csv``).  Any other value is read as a CSV path: one row per sample,
the last column the label (numbers or names), an optional header row.

:func:`prepare` makes a seeded train/test split and standardises the features with the
mean and standard deviation of the train part only.
"""

from __future__ import annotations

import csv
import math
import os
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["BUILTIN", "Dataset", "Split", "check_dataset", "load", "prepare", "DatasetError"]

BUILTIN = ("spiral", "moons", "circles", "xor", "blobs", "iris")
GENERATED = BUILTIN[:-1]
IRIS = Path(__file__).with_name("data") / "iris.csv"
MAX_CSV_BYTES = 50 * 1024 * 1024


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray  # (N, d) float64
    y: np.ndarray  # (N,) int64 in 0..classes-1
    classes: tuple[str, ...]
    features: tuple[str, ...]


@dataclass
class Split:
    """Standardised train/test tensors on a device."""

    name: str
    x_train: object
    y_train: object
    x_test: object
    y_test: object
    classes: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])


def _spiral(n: int, noise: float, rng: np.random.Generator, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    per = max(1, n // classes)
    xs, ys = [], []
    for k in range(classes):
        r = np.linspace(0.05, 1.0, per)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, per) + rng.normal(0, noise, per)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
        ys.append(np.full(per, k))
    return np.concatenate(xs), np.concatenate(ys)


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = n // 2
    b = n - a
    t1 = rng.uniform(0, math.pi, a)
    t2 = rng.uniform(0, math.pi, b)
    upper = np.stack([np.cos(t1), np.sin(t1)], 1)
    lower = np.stack([1 - np.cos(t2), 0.5 - np.sin(t2)], 1)
    x = np.concatenate([upper, lower]) + rng.normal(0, noise, (n, 2))
    return x, np.concatenate([np.zeros(a, int), np.ones(b, int)])


def _circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = n // 2
    t = rng.uniform(0, 2 * math.pi, n)
    radius = np.where(np.arange(n) < a, 1.0, 0.5)
    x = np.stack([radius * np.cos(t), radius * np.sin(t)], 1) + rng.normal(0, noise, (n, 2))
    return x, (np.arange(n) >= a).astype(int)


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, (n, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(int)
    return x + rng.normal(0, noise, (n, 2)), y


def _blobs(n: int, noise: float, rng: np.random.Generator, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    centers = (
        np.array([[math.cos(2 * math.pi * k / classes), math.sin(2 * math.pi * k / classes)] for k in range(classes)])
        * 2
    )
    y = np.arange(n) % classes
    return centers[y] + rng.normal(0, 0.3 + noise, (n, 2)), y


_GENERATORS = {"spiral": _spiral, "moons": _moons, "circles": _circles, "xor": _xor, "blobs": _blobs}


def _generated(name: str, samples: int, noise: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x, y = _GENERATORS[name](samples, noise, rng)
    k = int(y.max()) + 1
    return Dataset(name, x.astype(np.float64), y.astype(np.int64), tuple(str(i) for i in range(k)), ("x1", "x2"))


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value)


@lru_cache(maxsize=16)
def _read_csv(path: str, mtime: float, size: int) -> Dataset:
    name = os.path.basename(path)
    if size > MAX_CSV_BYTES:
        raise DatasetError(f"{name} is too large ({size / 2**20:.0f} MiB; at most {MAX_CSV_BYTES // 2**20} MiB)")
    # one pass over the rows, the features straight into an array of doubles: a 50 MB file
    # (the cap) no longer holds every cell as a Python string at once
    header: list[str] | None = None
    width = 0
    flat = array("d")
    labels: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if not width:
                    width = len(row)
                    if not all(_is_number(c) for c in row[:-1]) or len(row) < 2:
                        header = [c.strip() for c in row]
                        continue
                if len(row) != width:
                    raise DatasetError(
                        f"{name} line {reader.line_num} has {len(row)} columns, expected {width} (ragged row)"
                    )
                try:
                    flat.extend(map(float, row[:-1]))
                except ValueError:
                    bad = next(j for j, c in enumerate(row[:-1]) if not _is_number(c.strip()))
                    raise DatasetError(
                        f"{name} line {reader.line_num}, column {bad + 1}: feature "
                        f"{row[bad].strip()[:20]!r} is not a finite number"
                    ) from None
                labels.append(row[-1].strip())
    except UnicodeDecodeError:
        raise DatasetError(f"{name} is not a text CSV file") from None
    except csv.Error as exc:
        raise DatasetError(f"{name} is not a valid CSV file: {exc}") from None
    if not width:
        raise DatasetError(f"{name} is empty")
    if len(labels) < 4:
        raise DatasetError(f"{name} needs at least 4 data rows, has {len(labels)}")
    if width < 2:
        raise DatasetError(f"{name} needs at least one feature column and a label column")
    features = np.frombuffer(flat, dtype=np.float64).reshape(len(labels), width - 1).copy()
    finite = np.isfinite(features)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        raise DatasetError(
            f"{name} row {i + 1 + (header is not None)}, column {j + 1}: feature "
            f"{features[i, j]!r} is not a finite number"
        )
    names = sorted(set(labels), key=lambda s: (not _is_number(s), float(s) if _is_number(s) else 0.0, s))
    if len(names) < 2:
        raise DatasetError(f"{name} has a single class ({names[0]!r}); classification needs at least 2")
    if len(names) > 1000:
        raise DatasetError(f"{name} has {len(names)} distinct labels; is the last column really the class?")
    index = {label: k for k, label in enumerate(names)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    feat_names = tuple(header[:-1]) if header else tuple(f"x{j + 1}" for j in range(width - 1))
    return Dataset(name, features, y, tuple(names), feat_names)


def _load_csv(path: str) -> Dataset:
    try:
        p = Path(path).expanduser()
    except RuntimeError:  # "~nosuchuser/x.csv"
        p = Path(path)
    if not p.exists():
        raise DatasetError(f"no such file: {path} (built-in datasets: {', '.join(BUILTIN)})")
    if not p.is_file():
        raise DatasetError(f"{path} is not a file")
    try:
        st = p.stat()
        return _read_csv(str(p.resolve()), st.st_mtime, st.st_size)
    except PermissionError:
        raise DatasetError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None


def check_dataset(value: str) -> str:
    """The spec's check: a built-in name, or a CSV that loads (raises DatasetError)."""
    if value.lower() in BUILTIN:
        return value.lower()
    _load_csv(value)
    return value


def load(name: str, samples: int = 600, noise: float = 0.2, seed: int = 0) -> Dataset:
    key = name.lower()
    if key in GENERATED:
        return _generated(key, samples, noise, seed)
    if key == "iris":
        data = _read_csv(str(IRIS), 0.0, IRIS.stat().st_size)
        return Dataset("iris", data.x, data.y, data.classes, data.features)
    return _load_csv(name)


def prepare(data: Dataset, test_fraction: float, seed: int, device: object, dtype: object) -> Split:
    """Seeded shuffle and split; standardise with the train part's statistics."""
    import torch

    n = len(data.y)
    rng = np.random.default_rng(seed + 7919)
    order = rng.permutation(n)
    n_test = int(round(n * test_fraction))
    if n_test and n - n_test < 2:
        n_test = max(0, n - 2)
    test, train = order[:n_test], order[n_test:]
    mean = data.x[train].mean(0)
    std = data.x[train].std(0)
    std = np.where(std > 1e-12, std, 1.0)

    def tensor(a: np.ndarray, floating: bool = True) -> object:
        return torch.as_tensor(a, dtype=dtype if floating else torch.long, device=device)

    return Split(
        data.name,
        tensor((data.x[train] - mean) / std),
        tensor(data.y[train], False),
        tensor((data.x[test] - mean) / std),
        tensor(data.y[test], False),
        data.classes,
        mean,
        std,
    )
