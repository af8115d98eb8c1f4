"""Expressions of the safe language (:mod:`lab4.core.expr`) evaluated with torch: the
checked tree compiled into nested Python closures over torch operations (never ``eval``),
and the kinks a set of points straddles."""

from __future__ import annotations

import ast
import math
from typing import Any, Callable

from lab4.core.expr import CONSTANTS, FUNCTIONS, KINKED, ExprError, Expression, describe_node

__all__ = ["compile_expression", "kinks", "evaluate"]


def compile_expression(expr: Expression) -> Callable[..., Any]:
    """A function of the variables (as keyword tensors) that evaluates ``expr`` with torch."""
    import torch

    return _build(expr.tree, torch)


def evaluate(expr: Expression, **values: Any) -> Any:
    """``expr`` at ``values`` (tensors or numbers of its variables)."""
    missing = [v for v in expr.variables if v not in values]
    if missing:
        raise ExprError(f"no value given for {', '.join(missing)}")
    return compile_expression(expr)(**values)


def kinks(expr: Expression, values: dict[str, Any]) -> list[str]:
    """The kinks of ``expr`` that the points ``values`` (tensors of the variables, one entry per point)
    straddle or touch: "relu(x) has its kink at x = 0", one text per kinked call."""
    import torch

    found = []
    for node in ast.walk(expr.tree):
        if not (isinstance(node, ast.Call) and node.func.id in KINKED):
            continue
        args = [torch.as_tensor(_build(a, torch)(**values)) for a in node.args]
        where = KINKED[node.func.id]
        if where == "tie":
            u = args[0] - args[1]
            hit = bool((u == 0).any()) or bool(u.max() > 0) and bool(u.min() < 0)
            kink = f"{ast.unparse(node.args[0])} = {ast.unparse(node.args[1])}"
        elif where == "zero":
            u = args[0]
            hit = bool((u == 0).any()) or bool(u.max() > 0) and bool(u.min() < 0)
            kink = f"{ast.unparse(node.args[0])} = 0"
        else:
            u = args[0]
            hit = bool((u == torch.round(u)).any()) or bool(torch.floor(u).min() != torch.floor(u).max())
            kink = f"an integer value of {ast.unparse(node.args[0])}"
        if hit:
            found.append(f"{ast.unparse(node)} has its kink at {kink}")
    return found


def _build(node: ast.expr, torch: Any) -> Callable[..., Any]:
    """Compile a checked tree into closures; each takes the variables as keywords."""
    if isinstance(node, ast.Constant):
        value = float(node.value)
        return lambda **env: value
    if isinstance(node, ast.Name):
        name = node.id
        if name in CONSTANTS:
            value = CONSTANTS[name]
            return lambda **env: value
        return lambda **env: env[name]
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, torch)
        if isinstance(node.op, ast.USub):
            return lambda **env: -operand(**env)
        return operand
    if isinstance(node, ast.BinOp):
        left, right = _build(node.left, torch), _build(node.right, torch)
        op = type(node.op)
        if op is ast.Add:
            return lambda **env: left(**env) + right(**env)
        if op is ast.Sub:
            return lambda **env: left(**env) - right(**env)
        if op is ast.Mult:
            return lambda **env: left(**env) * right(**env)
        if op is ast.Div:
            return lambda **env: _div(left(**env), right(**env))
        return lambda **env: _pow(torch, left(**env), right(**env))
    if isinstance(node, ast.Call):
        fname = FUNCTIONS[node.func.id][1]
        args = [_build(a, torch) for a in node.args]
        fn = getattr(torch, fname) if fname not in ("relu", "softplus") else getattr(torch.nn.functional, fname)
        if len(args) == 1:
            (a,) = args
            return lambda **env: fn(_tensor(torch, a(**env), env))
        a, b = args
        return lambda **env: fn(_tensor(torch, a(**env), env), _tensor(torch, b(**env), env))
    raise ExprError(f"{describe_node(node)} are not allowed")  # unreachable after _check


def _tensor(torch: Any, value: Any, env: dict) -> Any:
    """Constants become tensors of the variables' dtype and device (for torch.sin(2))."""
    if isinstance(value, torch.Tensor):
        return value
    like = next((v for v in env.values() if isinstance(v, torch.Tensor)), None)
    if like is None:
        return torch.tensor(value, dtype=torch.get_default_dtype())
    return torch.tensor(value, dtype=like.dtype, device=like.device)


def _div(a: Any, b: Any) -> Any:
    """a / b with IEEE results for plain numbers too (1/0 = inf, 0/0 = nan), as tensors do."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _pow(torch: Any, base: Any, exponent: Any) -> Any:
    if not isinstance(base, torch.Tensor) and not isinstance(exponent, torch.Tensor):
        try:
            return math.pow(base, exponent)
        except (OverflowError, ValueError):
            return math.nan if base < 0 else math.inf
    return base**exponent
