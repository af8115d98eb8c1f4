"""A safe parser for functions that users type: ``3*x**3 - y**2``, ``sin(x)*exp(x)``.

The text is parsed with :func:`ast.parse` (which only builds a syntax tree; nothing is
executed) and the tree is checked against a whitelist: numbers, named variables, the
operators ``+ - * / **`` and unary minus, parentheses, and calls of a fixed set of torch
functions by bare name.  Anything else (attributes, subscripts, lambdas, comprehensions,
dunder names, keyword arguments, unknown names, absurd exponents) raises
:class:`ExprError` with a message that names the problem and its column.  The checked
tree is compiled (by :mod:`lab4.maths.expr`) into nested Python closures over torch
operations; Python's ``eval`` is never called on user text.  This module is the language
only: it never imports torch.
"""

from __future__ import annotations

import ast
import math
import warnings
from dataclasses import dataclass

__all__ = ["ExprError", "Expression", "parse_expression", "FUNCTIONS", "CONSTANTS", "ANALYTIC", "KINKED"]

MAX_LENGTH = 500
MAX_NODES = 400
MAX_DEPTH = 40
MAX_EXPONENT = 1024.0

#: function name -> (number of arguments, torch function name)
FUNCTIONS: dict[str, tuple[int, str]] = {
    "sin": (1, "sin"),
    "cos": (1, "cos"),
    "tan": (1, "tan"),
    "asin": (1, "asin"),
    "acos": (1, "acos"),
    "atan": (1, "atan"),
    "sinh": (1, "sinh"),
    "cosh": (1, "cosh"),
    "tanh": (1, "tanh"),
    "exp": (1, "exp"),
    "expm1": (1, "expm1"),
    "log": (1, "log"),
    "log2": (1, "log2"),
    "log10": (1, "log10"),
    "log1p": (1, "log1p"),
    "sqrt": (1, "sqrt"),
    "abs": (1, "abs"),
    "sigmoid": (1, "sigmoid"),
    "relu": (1, "relu"),
    "softplus": (1, "softplus"),
    "erf": (1, "erf"),
    "sign": (1, "sign"),
    "floor": (1, "floor"),
    "ceil": (1, "ceil"),
    "max": (2, "maximum"),
    "min": (2, "minimum"),
    "pow": (2, "pow"),
    "atan2": (2, "atan2"),
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

#: functions whose complex extension is analytic (holomorphic where the real one is defined):
#: the complex-step derivative Im f(x + ih) / h applies to expressions made only of these
ANALYTIC = frozenset(
    {
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "tanh",
        "exp",
        "expm1",
        "log",
        "log2",
        "log10",
        "log1p",
        "sqrt",
        "sigmoid",
        "pow",
    }
)
#: functions with a kink or a jump, and where it is: the argument at 0, at an integer, or
#: (max, min) where the two arguments tie
KINKED = {
    "relu": "zero",
    "abs": "zero",
    "sign": "zero",
    "floor": "integer",
    "ceil": "integer",
    "max": "tie",
    "min": "tie",
}


class ExprError(ValueError):
    """The text is not an expression we accept; ``col`` is the 1-based column, if known."""

    def __init__(self, message: str, col: int | None = None):
        self.col = col
        super().__init__(f"{message} (at column {col})" if col else message)


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}


def _col(node: ast.AST) -> int | None:
    offset = getattr(node, "col_offset", None)
    return None if offset is None else offset + 1


def describe_node(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripts",
        ast.Lambda: "lambdas",
        ast.ListComp: "comprehensions",
        ast.SetComp: "comprehensions",
        ast.DictComp: "comprehensions",
        ast.GeneratorExp: "comprehensions",
        ast.Compare: "comparisons",
        ast.BoolOp: "'and'/'or'",
        ast.IfExp: "'if' expressions",
        ast.List: "lists",
        ast.Tuple: "tuples",
        ast.Dict: "dicts",
        ast.Set: "sets",
        ast.Starred: "'*' unpacking",
        ast.NamedExpr: "':=' assignments",
        ast.JoinedStr: "strings",
        ast.Await: "'await'",
        ast.Yield: "'yield'",
        ast.Slice: "slices",
    }
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    return type(node).__name__


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, variables (in order of first use) and tree."""

    text: str
    variables: tuple[str, ...]
    tree: ast.expr

    @property
    def functions(self) -> set[str]:
        return {node.func.id for node in ast.walk(self.tree) if isinstance(node, ast.Call)}

    def not_analytic(self) -> str:
        """Why the complex-step derivative does not apply ("" when it does): the first
        function used that has no analytic complex extension."""
        for name in sorted(self.functions - ANALYTIC):
            return f"{name}() has no analytic complex extension"
        return ""


def parse_expression(text: str) -> Expression:
    """Check ``text`` and return an :class:`Expression`; raise :class:`ExprError`."""
    if not isinstance(text, str):
        raise ExprError("an expression must be text")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"is too long ({len(text)} characters, at most {MAX_LENGTH})")
    stripped = text.strip()
    if not stripped:
        raise ExprError("is empty")
    if "\n" in stripped or "\r" in stripped:
        raise ExprError("must be one line")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and such: our message says it
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        msg = (exc.msg or "invalid syntax").split("(")[0].strip()
        raise ExprError(f"syntax error: {msg}", exc.offset) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise ExprError(f"cannot be parsed: {str(exc)[:80]}") from None
    variables: list[str] = []
    _check(tree.body, variables, depth=0, count=[0])
    return Expression(stripped, tuple(variables), tree.body)


def _check(node: ast.AST, variables: list[str], depth: int, count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise ExprError(f"is too complex (more than {MAX_NODES} terms)")
    if depth > MAX_DEPTH:
        raise ExprError(f"is nested too deeply (more than {MAX_DEPTH} levels)", _col(node))
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExprError(f"only numbers are allowed, not {type(value).__name__} {str(value)[:20]!r}", _col(node))
        if isinstance(value, int) and abs(value) > 10**15:
            raise ExprError("number is too large", _col(node))
        return
    if isinstance(node, ast.Name):
        name = node.id
        if name.startswith("_"):
            raise ExprError(f"names starting with '_' are not allowed: {name!r}", _col(node))
        if name in FUNCTIONS:
            raise ExprError(f"{name!r} is a function: call it like {name}(x)", _col(node))
        if name not in CONSTANTS and name not in variables:
            if len(name) > 32:
                raise ExprError("variable name is too long", _col(node))
            variables.append(name)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed (use + - * / **)", _col(node))
        _check(node.left, variables, depth + 1, count)
        _check(node.right, variables, depth + 1, count)
        if isinstance(node.op, ast.Pow):
            exponent = _constant_value(node.right)
            if exponent is not None and not (abs(exponent) <= MAX_EXPONENT):
                raise ExprError(f"exponent is too large (|exponent| must be <= {MAX_EXPONENT:g})", _col(node.right))
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed", _col(node))
        _check(node.operand, variables, depth + 1, count)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExprError(
                f"only calls of known functions by name are allowed, not {describe_node(node.func)}", _col(node)
            )
        name = node.func.id
        if name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExprError(f"unknown function {name!r} (known: {known})", _col(node))
        if node.keywords:
            raise ExprError(f"{name}() takes no keyword arguments", _col(node))
        arity = FUNCTIONS[name][0]
        if len(node.args) != arity:
            raise ExprError(
                f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(node.args)}", _col(node)
            )
        for arg in node.args:
            _check(arg, variables, depth + 1, count)
        return
    raise ExprError(f"{describe_node(node)} are not allowed", _col(node))


def _constant_value(node: ast.AST) -> float | None:
    """The value of a variable-free subtree, evaluated in Python floats (None if not constant)."""
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return CONSTANTS.get(node.id)
    if isinstance(node, ast.UnaryOp):
        inner = _constant_value(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = _constant_value(node.left), _constant_value(node.right)
        if left is None or right is None:
            return None
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right if right else math.inf
            if isinstance(node.op, ast.Pow):
                return math.inf if abs(right) > MAX_EXPONENT else math.pow(abs(left), right)
        except (OverflowError, ValueError, ZeroDivisionError):
            return math.inf
    return None
