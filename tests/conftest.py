"""What every test process shares: the test task, hypothesis profiles, the tiers' markers.

- ``LAB4_EXTRA_TASKS`` gets ``tests.fake_tasks`` (the ``gated`` task, see that module) before
  anything imports the task registry, and ``PYTHONPATH`` the repository, so the processes a
  test starts (``lab4-tui`` in a pty, ``lab4`` subprocesses, compute workers) know it too.
- Hypothesis profiles, chosen by ``HYPOTHESIS_PROFILE``: ``dev`` (the default: few examples, a
  quick signal while working) and ``ci`` (many examples, what CI runs).  No test hard-codes
  ``max_examples``: the profile decides.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
GATED = "tests.fake_tasks"

_extra = [m for m in os.environ.get("LAB4_EXTRA_TASKS", "").split(",") if m.strip()]
if GATED not in _extra:
    if "lab4.tasks" in sys.modules:  # too late to add a task: the registry was read without it
        raise RuntimeError(
            f"lab4.tasks was imported before tests/conftest.py could add {GATED}; "
            f"set LAB4_EXTRA_TASKS={GATED} in the environment"
        )
    os.environ["LAB4_EXTRA_TASKS"] = ",".join([*_extra, GATED])
for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")
_paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
if str(ROOT) not in _paths:
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *[p for p in _paths if p]])

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=15, **_COMMON)
settings.register_profile("ci", max_examples=100, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def own_data_and_settings(tmp_path_factory, monkeypatch):
    """Every test, in any order and any process, has its own data directory and settings file
    (a test that names its own wins): none reads or writes the user's, or another test's."""
    home = tmp_path_factory.mktemp("lab4-home")
    monkeypatch.setenv("LAB4_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("LAB4_CONFIG", str(home / "config.toml"))
