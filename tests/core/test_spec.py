"""Parameter specs: parsing, bounds, messages; every task's defaults are valid."""

import pytest

from lab4.core.spec import (
    AssignParam,
    BoolParam,
    ChoiceParam,
    ExprParam,
    FloatListParam,
    FloatParam,
    IntListParam,
    IntParam,
    ParamError,
    Spec,
)
from lab4.tasks import TASKS


def test_float_bounds_message_names_param_and_value():
    p = FloatParam("h", 1e-3, gt=0)
    with pytest.raises(ParamError) as info:
        p.parse("-1")
    assert info.value.param == "h"
    assert info.value.message == "h must be > 0, got -1"


@pytest.mark.parametrize("text", ["abc", "", "1e999", "nan", "inf", "-inf", "1,2", "0x10", "1e"])
def test_float_rejects_non_numbers_and_non_finite(text):
    with pytest.raises(ParamError):
        FloatParam("lr", 0.1).parse(text)


def test_float_accepts_scientific_and_typed():
    p = FloatParam("lr", 0.1, gt=0, le=10)
    assert p.parse("1e-3") == 1e-3
    assert p.parse(" 2.5 ") == 2.5
    assert p.parse(3) == 3.0
    with pytest.raises(ParamError, match="lr must be <= 10, got 11"):
        p.parse("11")


@pytest.mark.parametrize("text, value", [("3", 3), ("1e3", 1000), ("4.0", 4)])
def test_int_parses(text, value):
    assert IntParam("dim", 2, ge=1).parse(text) == value


@pytest.mark.parametrize("text", ["2.5", "abc", "", "nan", "inf", "1e400"])
def test_int_rejects(text):
    with pytest.raises(ParamError, match="dim must be a whole number|dim needs a value"):
        IntParam("dim", 2, ge=1).parse(text)


def test_int_bounds():
    with pytest.raises(ParamError, match="dim must be >= 1, got 0"):
        IntParam("dim", 2, ge=1).parse("0")


def test_choice_bool_lists_assignments():
    assert ChoiceParam("optimizer", "gd", choices=("gd", "momentum")).parse(" Momentum ") == "momentum"
    with pytest.raises(ParamError, match="must be one of gd, momentum"):
        ChoiceParam("optimizer", "gd", choices=("gd", "momentum")).parse("adam")
    assert BoolParam("flag", False).parse("yes") is True
    with pytest.raises(ParamError):
        BoolParam("flag", False).parse("maybe")
    assert FloatListParam("scale", "1", gt=0).parse("0.1, 1,10") == (0.1, 1.0, 10.0)
    with pytest.raises(ParamError, match="scale values must be > 0, got 0"):
        FloatListParam("scale", "1", gt=0).parse("1,0")
    assert IntListParam("hidden", "64,64", ge=1).parse("64 32") == (64, 32)
    with pytest.raises(ParamError, match="needs at least 1 value"):
        IntListParam("hidden", "64", ge=1).parse("")
    with pytest.raises(ParamError, match="whole numbers"):
        IntListParam("hidden", "64", ge=1).parse("64,abc")
    assert AssignParam("point", "x=1").parse("x=2, y=-3.5") == {"x": 2.0, "y": -3.5}
    for bad in ("x", "x=abc", "x=1,x=2", "1x=3", "x=nan", ""):
        with pytest.raises(ParamError):
            AssignParam("point", "x=1").parse(bad)


def test_format_round_trips():
    for p, value in [
        (FloatParam("lr", 0.1), 1e-5),
        (IntParam("n", 1), 12),
        (FloatListParam("s", "1"), (0.1, 1.0, 100.0)),
        (AssignParam("point", "x=1"), {"x": 2.0, "y": -3.0}),
        (BoolParam("b", True), False),
    ]:
        assert p.parse(p.format(value)) == value


def test_expr_param_limits_variables():
    p = ExprParam("expr", "sin(x)", variables=("x",))
    assert p.parse("x**2") == "x**2"
    with pytest.raises(ParamError, match="may only use the variable x; found y"):
        p.parse("x*y")


def test_spec_errors_collects_every_field_and_cross_checks():
    spec = Spec(
        (FloatParam("a", 1.0, gt=0), FloatParam("b", 2.0)),
        checks=(lambda v: ("b", "b must exceed a") if v["b"] <= v["a"] else None,),
    )
    assert spec.errors({"a": "-1", "b": "x"}) == {"a": "a must be > 0, got -1", "b": "b must be a number, got 'x'"}
    assert spec.errors({"a": "3", "b": "2"}) == {"b": "b must exceed a"}
    with pytest.raises(ParamError, match="unknown parameter"):
        spec.parse({"c": 1})


@pytest.mark.parametrize("task_id", list(TASKS))
def test_every_task_default_is_valid_and_json_ready(task_id):
    spec = TASKS[task_id].spec
    values = spec.defaults()
    spec.check(values)
    assert set(spec.to_json(values)) == set(spec.names)
    # formatted text parses back to the same values (forms and CLI show formatted text)
    assert spec.parse(spec.format(values)) == values


def test_one_integer_rule_for_numbers_and_lists():
    from lab4.core.spec import IntListParam, IntParam

    single, many = IntParam("steps", 1, ge=1), IntListParam("hidden", "8", ge=1)
    for text, value in (("1e3", 1000), ("4.0", 4), (" 7 ", 7), (12.0, 12)):
        assert single.parse(text) == value and many.parse(text) == (value,), text
    for text in ("4.5", "1e400", "nan", "abc", "0x10", True, "1_000", "\uff11\uff10"):
        with pytest.raises(ParamError):
            single.parse(text)
        with pytest.raises(ParamError):
            many.parse(text)
