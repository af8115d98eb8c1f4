"""Property-based: any value for any option is accepted or a usage error (exit 2), never a crash."""

import click
import pytest
from hypothesis import HealthCheck, given, settings

from lab4.cli.main import _make_run_command, _make_sweep_command
from lab4.tasks import TASKS
from tests.strategies import nasty_values

OPTIONS = [(t.id, p.option) for t in TASKS.values() for p in t.spec] + [
    (t, o) for t in TASKS for o in ("--dtype", "--seed", "--device")
]
EXAMPLES = 60


@pytest.mark.parametrize("task_id, option", OPTIONS, ids=[f"{t}{o}" for t, o in OPTIONS])
@pytest.mark.parametrize("factory", [_make_run_command, _make_sweep_command], ids=["run", "sweep"])
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
@given(text=nasty_values)
def test_option_parses_or_is_a_usage_error(task_id, option, factory, text):
    if "\x00" in text:
        text = text.replace("\x00", "")
    command = factory(TASKS[task_id])
    try:
        command.make_context(task_id, [f"{option}={text}"])
    except click.UsageError as exc:  # BadParameter is a UsageError: exit status 2
        assert exc.exit_code == 2
        assert exc.format_message()
