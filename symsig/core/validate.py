"""Input validation: one clear line per mistake (the CLI prints it and exits 2)."""
from __future__ import annotations

import math
from typing import Any


class InputError(ValueError):
    """Bad user input; the message is one line meant for the user."""


def number(name: str, x: Any) -> float:
    """``x`` as a finite float (strings such as '1e-3' allowed)."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {x!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {x!r}")
    return value


def positive(name: str, x: Any) -> float:
    value = number(name, x)
    if value <= 0:
        raise InputError(f"{name} must be > 0, got {x}")
    return value


def nonnegative(name: str, x: Any) -> float:
    value = number(name, x)
    if value < 0:
        raise InputError(f"{name} must be >= 0 (it is a variance or a strength), got {x}")
    return value


def correlation(name: str, x: Any) -> float:
    value = number(name, x)
    if not -1 <= value <= 1:
        raise InputError(f"{name} must lie in [-1, 1], got {x}")
    return value


def integer(name: str, x: Any, minimum: int) -> int:
    try:
        value = int(x)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer, got {x!r}") from None
    if value != number(name, x) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {x}")
    return value


def overlap(q: Any, p: Any) -> None:
    """|p| <= q: the Gram matrix of a token simplex has |overlap| <= norm."""
    if abs(number("p", p)) > number("q", q):
        raise InputError(f"need |p| <= q, got q = {q}, p = {p}")


def dps(x: Any) -> int | None:
    """Decimal digits of precision (None means float)."""
    return None if x is None else integer("dps", x, 1)


def choice(name: str, x: Any, options: tuple[str, ...]) -> str:
    if x not in options:
        raise InputError(f"unknown {name} {x!r}; choose from {', '.join(options)}")
    return x
