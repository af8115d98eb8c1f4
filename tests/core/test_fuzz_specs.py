"""Property-based: any text into any parameter of any task gives a value or a ParamError."""

import pytest
from hypothesis import given

from lab4.core.spec import ParamError
from lab4.tasks import TASKS
from tests.strategies import NASTY_TEXT, nasty_values

PARAMS = [(t.id, p) for t in TASKS.values() for p in t.spec]


@pytest.mark.parametrize("task_id, param", PARAMS, ids=[f"{t}.{p.name}" for t, p in PARAMS])
@given(text=nasty_values)
def test_parse_gives_value_or_message(task_id, param, text):
    try:
        value = param.parse(text)
    except ParamError as exc:
        assert exc.param == param.name
        assert exc.message.startswith(param.name)
        assert len(exc.message) < 400
        return
    # an accepted value prints back to text that parses to the same value
    assert param.parse(param.format(value)) == value


@pytest.mark.parametrize("task_id", list(TASKS))
def test_every_field_at_once_never_crashes(task_id):
    spec = TASKS[task_id].spec
    for text in NASTY_TEXT:
        problems = spec.errors({p.name: text for p in spec})
        assert all(isinstance(m, str) and m for m in problems.values())
