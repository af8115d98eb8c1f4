"""Hostile values typed into every field of every task screen: marked at the field, run refused.

Which values a field takes is decided here independently of ``lab4.core.spec`` (the parser the form
calls): numbers by Python's own number rules and the bounds the parameter states, the other
kinds by the rules their help states, written out for this corpus."""

import math

import pytest
from textual.widgets import Input, Static

from lab4.core.spec import FloatParam, IntParam, ParamError
from lab4.tasks import TASKS

SIZE = (100, 30)
#: a cross-section of the corpus (the full one runs through the spec and the CLI)
TYPED = [
    "",
    " ",
    "-1",
    "0",
    "1e308",
    "1e309",
    "nan",
    "-inf",
    "abc",
    "1,,2",
    "x=",
    "64,0",
    "1" * 600,
    "__import__('os')",
    "0.5",
]
MAX_TEXT = 500  # longer text is refused by every field
NUMBERS = {"-1", "0", "1e308", "1e309", "0.5"}
#: the values of TYPED the other kinds of field take, by the rules of their help
OTHER_KINDS = {
    # f(x, y): any expression, any variable names (nan, inf and abc are names)
    ("autograd", "expr"): NUMBERS | {"nan", "-inf", "abc"},
    # f(x): an expression in x only
    ("derivatives", "expr"): NUMBERS,
    ("derivatives", "derivative"): NUMBERS,
    ("autograd", "point"): set(),  # x=.., y=.. with a value for each variable
    # hidden layer sizes, whole numbers >= 1 ('none' for no hidden layer); no empty items
    **{(t, "hidden"): set() for t in ("mlp", "clipped-ce", "scaled-mse")},
    ("scaled-mse", "scale"): {"0.5"},  # numbers in (0, 1e6], at least one, no empty items
    **{(t, "dataset"): set() for t in ("mlp", "clipped-ce", "scaled-mse")},  # a name, or a file that exists
    ("gated", "gate"): {
        "-1",
        "0",
        "1e308",
        "1e309",
        "nan",
        "-inf",
        "abc",
        "1,,2",
        "x=",
        "64,0",
        "__import__('os')",
        "0.5",
    },  # any text: a path
}


#: fields whose validity depends on other fields (a cross-field check marks them, their own
#: parser cannot): your own function's expr/start/minimum must name the same variables, and a
#: spectrum step must lie within the run's steps. Tested in test_own_function.py and
#: test_spectrum_view.py instead.
CROSS_FIELD = {
    ("minimize", "expr"),
    ("minimize", "start"),
    ("minimize", "minimum"),
    *((t, "spectrum_at") for t in ("mlp", "clipped-ce", "scaled-mse")),
}


def within(param, value: float) -> bool:
    return (
        (param.gt is None or value > param.gt)
        and (param.ge is None or value >= param.ge)
        and (param.lt is None or value < param.lt)
        and (param.le is None or value <= param.le)
    )


def takes(task_id: str, param, text: str) -> bool:
    """Whether the field should take ``text``: not computed by lab4.core.spec."""
    if len(text) > MAX_TEXT:
        return False
    if isinstance(param, (IntParam, FloatParam)):
        try:
            number = float(text)  # Python's float: '1e308', 'nan', '-inf' are numbers; 'abc' is not
        except ValueError:
            return False
        if not math.isfinite(number):
            return False
        if isinstance(param, IntParam) and not number.is_integer():
            return False  # '1e3' is the whole number 1000; '0.5' is not whole
        return within(param, number)
    return text in OTHER_KINDS[task_id, param.name]


@pytest.mark.parametrize("task_id", ["autograd", "gated", *[t for t in TASKS if t not in ("autograd", "gated")]])
@pytest.mark.slow  # test_app's test_bad_value_is_marked_and_run_refused
async def test_every_text_field_marks_bad_values_and_refuses_to_run(app_factory, task_id):
    app = app_factory(task=task_id)
    spec = TASKS[task_id].spec
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for param in spec:
            widget = screen.query_one(f"#in-{param.name}")
            if not isinstance(widget, Input) or (task_id, param.name) in CROSS_FIELD:
                continue  # selects and switches only offer valid values
            default = widget.value
            field = screen.query_one(f"#field-{param.name}")
            pressed = False
            for text in TYPED:
                widget.value = text
                await pilot.pause()
                valid = takes(task_id, param, text)
                assert field.has_class("-invalid") is (not valid), (param.name, text)
                if not valid:
                    shown = str(field.query_one(".field-error", Static).render())
                    assert shown.startswith(param.name), (param.name, text, shown)  # it names the field
                    with pytest.raises(ParamError) as refused:  # the message is the spec's, as the CLI says it
                        param.parse(text)
                    assert shown == refused.value.message
                    if not pressed:  # the refusal does not depend on which value is bad
                        pressed = True
                        await pilot.press("ctrl+r")
                        assert screen.session is None and not screen.shown, (param.name, text)
            widget.value = default
            await pilot.pause()
            assert not field.has_class("-invalid")
        assert isinstance(app.screen, type(screen))  # still up, same screen
