#: how long a test waits before it calls a wait a hang: a bound, never a measure of speed (a test
#: passes as soon as the thing it waits for happens; a busy machine only makes it later)
HANG_S = 600


def sampled(values, keep=1, unpack=False):
    """Parameters for ``pytest.mark.parametrize``: the first ``keep`` in the quick tier
    (``-m "not slow"``), the rest marked ``slow``.  A family of cases that runs the same code
    on other inputs (another task's form, another size) is sampled by the quick tier and run
    whole by the full suite.  ``unpack``: each value is a tuple of several arguments."""
    import pytest

    return [
        v if i < keep else pytest.param(*(v if unpack else (v,)), marks=pytest.mark.slow) for i, v in enumerate(values)
    ]
