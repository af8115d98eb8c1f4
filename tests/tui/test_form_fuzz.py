"""Hostile values typed into every field of every task screen: marked at the field, run refused."""

import pytest
from textual.widgets import Input, Static

from lab4.core.spec import ParamError
from lab4.tasks import TASKS

SIZE = (100, 30)
#: a cross-section of the corpus (the full one runs through the spec and the CLI)
TYPED = ["", " ", "-1", "0", "1e308", "1e309", "nan", "-inf", "abc", "1,,2", "x=", "64,0", "1" * 600,
         "__import__('os')", "0.5"]
CASES = {"count": 0}


@pytest.mark.parametrize("task_id", list(TASKS))
async def test_every_text_field_marks_bad_values_and_refuses_to_run(app_factory, task_id):
    app = app_factory(task=task_id)
    spec = TASKS[task_id].spec
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for param in spec:
            widget = screen.query_one(f"#in-{param.name}")
            if not isinstance(widget, Input):
                continue  # selects and switches only offer valid values
            default = widget.value
            field = screen.query_one(f"#field-{param.name}")
            pressed = False
            for text in TYPED:
                widget.value = text
                await pilot.pause()
                try:
                    param.parse(text)
                    valid = True
                except ParamError as exc:
                    valid = False
                    message = exc.message
                assert field.has_class("-invalid") is (not valid), (param.name, text)
                if not valid:
                    assert str(field.query_one(".field-error", Static).render()) == message
                    if not pressed:  # the refusal does not depend on which value is bad
                        pressed = True
                        await pilot.press("ctrl+r")
                        assert screen.session is None and not screen.shown, (param.name, text)
                CASES["count"] += 1
            widget.value = default
            await pilot.pause()
            assert not field.has_class("-invalid")
        assert isinstance(app.screen, type(screen))  # still up, same screen
