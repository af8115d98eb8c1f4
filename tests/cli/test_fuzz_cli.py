"""Property-based: any value for any option is accepted or a usage error that names the option
(exit 2), never a crash."""

import click
import pytest
from hypothesis import given

from lab4.cli.main import _make_run_command, _make_sweep_command
from lab4.tasks import TASKS
from tests.strategies import nasty_values

OPTIONS = [(t.id, p.option) for t in TASKS.values() for p in t.spec] + [
    (t, o) for t in TASKS for o in ("--dtype", "--seed", "--device")
]


@pytest.mark.parametrize("task_id, option", OPTIONS, ids=[f"{t}{o}" for t, o in OPTIONS])
@pytest.mark.parametrize("factory", [_make_run_command, _make_sweep_command], ids=["run", "sweep"])
@given(text=nasty_values)
def test_option_parses_or_is_a_usage_error(task_id, option, factory, text):
    if "\x00" in text:
        text = text.replace("\x00", "")
    command = factory(TASKS[task_id])
    try:
        command.make_context(task_id, [f"{option}={text}"])
    except click.BadParameter as exc:  # a usage error: exit status 2
        # the message says which option was refused, and why, in the parameter's own words
        message = exc.format_message()
        assert message.startswith(f"Invalid value for '{option}': "), message
        name = option[2:].replace("-", "_")
        assert name in message[len(f"Invalid value for '{option}': ") :], message
