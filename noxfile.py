"""One session per supported Python: install the project with a CPU torch, run the quick tier.

    nox                  # every supported Python found on this machine
    nox -s tests-3.10    # one
    nox -s tests-3.12 -- -m ""    # the whole suite on one Python (arguments go to pytest)

A CPU build of torch goes in first, so the project's loose ``torch`` range installs nothing
bigger: torch 2.13.0 (a wheel this project's machines keep locally) where there is one for
that Python, else what the package index offers (2.14.1 on the lab machines).
"""

from __future__ import annotations

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: the torch the lab machines keep a CPU wheel of (for 3.11); other Pythons take the index's
PINNED_TORCH = {"3.11": "torch==2.13.0"}

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False  # a Python this machine lacks is skipped, and said so


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The quick tier (-m 'not slow') on this Python, in a random order (the seed is printed), in
    parallel (-n auto from pyproject.toml), hypothesis's dev profile unless HYPOTHESIS_PROFILE says."""
    torch = PINNED_TORCH.get(session.python, "torch")
    session.install(torch)
    session.install("-e", ".[test]")
    args = session.posargs or ["-m", "not slow"]
    # not -q: the header says the random seed; --randomly-seed=N replays that order
    session.run("python", "-m", "pytest", "--durations=15", *args)
