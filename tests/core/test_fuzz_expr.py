"""The expression parser under attack: everything is refused quickly or evaluates safely."""

import builtins

import torch
from hypothesis import given
from hypothesis import strategies as st

from lab4.core.expr import ExprError, parse_expression
from lab4.maths.expr import compile_expression
from tests.strategies import expression_soup


def _check(text):
    try:
        expr = parse_expression(text)
    except ExprError as exc:
        assert str(exc)
        return False
    fn = compile_expression(expr)
    env = {v: torch.tensor(0.7, dtype=torch.float64) for v in expr.variables}
    out = fn(**env)
    assert isinstance(out, (torch.Tensor, float))
    return True


@given(text=expression_soup)
def test_token_soup(text):
    _check(text)


@given(text=st.text(max_size=80))
def test_arbitrary_text(text):
    _check(text)


def test_nothing_is_imported_or_called(monkeypatch):
    """Even hostile text that parses as Python never reaches import, eval or getattr."""
    calls = []
    real_import = builtins.__import__

    def spy_import(name, *args, **kwargs):
        calls.append(name)
        return real_import(name, *args, **kwargs)

    hostile = [
        "__import__('os').system('touch /tmp/pwned')",
        "eval('1')",
        "exec('1')",
        "getattr(x, 'y')",
        "open('/etc/passwd')",
        "().__class__.__base__.__subclasses__()",
        "[c for c in ()]",
        "(lambda: 1)()",
        "globals()",
        "breakpoint()",
        "x.__dict__",
        "sin.__globals__",
    ]
    monkeypatch.setattr(builtins, "__import__", spy_import)
    for text in hostile:
        try:
            parse_expression(text)
        except ExprError:
            continue
        raise AssertionError(f"accepted {text!r}")
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert "os" not in calls


def test_deep_and_long_inputs_are_refused():
    for text in [
        "(" * 1000 + "x" + ")" * 1000,
        "x" + "+x" * 5000,
        "-" * 100_000 + "x",
        "9" * 100_000,
        "sin(" * 60 + "x" + ")" * 60,
        "x**" * 100 + "x",
    ]:
        try:
            parse_expression(text)
        except ExprError:
            continue
        raise AssertionError(f"accepted {text[:40]!r}...")
