"""Input validation: one clear line per mistake (the command line prints it and exits 2).

Every comparison is exact: an input is read as the rational number its decimal spelling
denotes (a float as its shortest decimal repr, the convention of the mpmath evaluators),
so ``rho = "1.0000000000000001"`` is rejected as > 1 even though the nearest double is 1.
Validators return the value as a float for the double-precision paths; the caller keeps
the original object for the high-precision paths.

Size guards (:data:`LIMITS`) stop inputs that would run for hours or exhaust memory
before any work starts; :func:`no_limits` (``--no-limits`` on the command line) lifts them.
"""
from __future__ import annotations

import contextlib
import decimal
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad user input; the message is one line meant for the user."""


#: Guards against inputs that would hang or exhaust memory (lifted by :func:`no_limits`).
LIMITS: dict[str, int] = {
    "depth": 100_000,        # layers of one trajectory
    "dps": 1_000,            # decimal digits of an mpmath evaluation
    "digits": 1_000,         # correct digits asked of a root (boundaries)
    "grid": 4_000_000,       # points of a diagram grid
    "seq_len": 2**200,       # sequence length (the finite-T moments are exact up to here)
    "width": 16_384,         # width of a simulated network
    "seeds": 10_000,         # simulated networks
    "cells": 200_000_000,    # values held by one simulated network (1.6 GB in float64)
    "nodes": 20_000,         # trapezoid nodes of one mpmath finite-T moment (~2 ms each at 20 digits)
    "overlap": 2_000,        # distinct finite-T overlaps X in one layer by the direct method (2-90 ms each)
    "finite_width": 20_000,  # grid points x layers of a finite-width theory (float moments, ~20 ms each)
}
_LIFTED = [False]
#: Largest decimal exponent accepted in a number (keeps exact arithmetic finite).
_MAX_EXPONENT = 10_000


@contextlib.contextmanager
def no_limits() -> Iterator[None]:
    """Lift the size guards of :data:`LIMITS` inside the ``with`` block."""
    before = _LIFTED[0]
    _LIFTED[0] = True
    try:
        yield
    finally:
        _LIFTED[0] = before


def limited(name: str, value: int, key: str | None = None, why: str = "it would run for very long or exhaust memory") -> int:
    """``value`` unless it exceeds ``LIMITS[key]`` (and the guards are not lifted)."""
    limit = LIMITS[key or name]
    if value > limit and not _LIFTED[0]:
        shown = str(value) if value < 10**20 else f"{str(value)[:6]}... ({len(str(value))} digits)"
        raise InputError(f"{name} = {shown} exceeds the guard {limit} ({why}); pass --no-limits "
                         "(Python: symsig.core.validate.no_limits()) to run it anyway")
    return value


def exact(name: str, x: Any) -> Fraction:
    """The exact rational value of a user number (int, float, decimal string, Fraction, mpf, ...)."""
    if isinstance(x, bool) or x is None:
        raise InputError(f"{name} must be a number, got {x!r}")
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int) or type(x).__name__ in ("int64", "int32", "integer"):
        return Fraction(int(x))
    if isinstance(x, float) or type(x).__name__ in ("float64", "float32", "floating"):
        value = float(x)
        if not math.isfinite(value):
            raise InputError(f"{name} must be finite, got {x!r}")
        return Fraction(repr(value))
    if type(x).__name__ == "mpf":  # mpmath: sign * man * 2**exp, exactly
        import mpmath

        if not mpmath.isfinite(x):
            raise InputError(f"{name} must be finite, got {x!r}")
        man, exp = x.man_exp  # unsigned mantissa
        if abs(exp) > 4 * _MAX_EXPONENT:
            raise InputError(f"{name} is out of range, got {x!r}")
        value = Fraction(man) * Fraction(2) ** exp
        return -value if x < 0 else value
    text = str(x).strip()
    try:
        dec = decimal.Decimal(text)
    except (decimal.InvalidOperation, ValueError):
        raise InputError(f"{name} must be a number, got {x!r}") from None
    if not dec.is_finite():
        raise InputError(f"{name} must be finite, got {x!r}")
    if dec and abs(dec.adjusted()) > _MAX_EXPONENT:
        raise InputError(f"{name} is out of range (|exponent| > {_MAX_EXPONENT}), got {text}")
    return Fraction(dec)


def number(name: str, x: Any) -> float:
    """``x`` as a finite float (strings such as '1e-3' allowed); the exact value must fit a double."""
    value = exact(name, x)
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise InputError(f"{name} is too large for double precision, got {x}")
    return out


#: Magnitudes a double-precision evaluation accepts: beyond them squares, exponentials and
#: quotients of the maps overflow or lose every digit (e.g. beta^2 at beta = 1e160).
DOUBLE_RANGE = (1e-100, 1e100)


def double(name: str, x: Any, *, divisor: bool = False) -> None:
    """Reject |x| above :data:`DOUBLE_RANGE` in a float evaluation, and a nonzero |x| below it when
    the maps divide by x (``divisor``); mpmath (``dps``) has no such limit, so the message points there."""
    lo, hi = DOUBLE_RANGE
    magnitude = abs(exact(name, x))
    if magnitude > hi or (divisor and 0 < magnitude < lo):
        raise InputError(f"{name} = {x} is outside {lo:g} <= |{name}| <= {hi:g}, where double precision "
                         "overflows or underflows; pass dps (--dps N) to evaluate it with mpmath")


def positive(name: str, x: Any) -> float:
    if not exact(name, x) > 0:
        raise InputError(f"{name} must be > 0, got {x}")
    return number(name, x)


def nonnegative(name: str, x: Any) -> float:
    if not exact(name, x) >= 0:
        raise InputError(f"{name} must be >= 0 (it is a variance or a strength), got {x}")
    return number(name, x)


def correlation(name: str, x: Any) -> float:
    if not -1 <= exact(name, x) <= 1:
        raise InputError(f"{name} must lie in [-1, 1], got {x}")
    return number(name, x)


def interval(name: str, x: Any, lo: Any, hi: Any, *, closed: tuple[bool, bool] = (True, True)) -> float:
    """``x`` in [lo, hi] (ends open where ``closed`` says so); None means unbounded."""
    value = exact(name, x)
    ok_lo = lo is None or (value >= exact("lo", lo) if closed[0] else value > exact("lo", lo))
    ok_hi = hi is None or (value <= exact("hi", hi) if closed[1] else value < exact("hi", hi))
    if not (ok_lo and ok_hi):
        left, right = ("[" if closed[0] else "(") if lo is not None else "(", ("]" if closed[1] else ")") if hi is not None else ")"
        raise InputError(f"{name} must lie in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}, got {x}")
    return number(name, x)


def integer(name: str, x: Any, minimum: int, limit: str | None = None) -> int:
    """An integer >= ``minimum`` (integral strings such as '1e3' allowed), guarded by ``LIMITS[limit]``
    (by default ``LIMITS[name]`` when there is one)."""
    limit = limit or (name if name in LIMITS else None)
    try:
        value = exact(name, x)
    except InputError:
        raise InputError(f"{name} must be an integer, got {x!r}") from None
    if value.denominator != 1:
        raise InputError(f"{name} must be an integer, got {x}")
    if value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {x}")
    return limited(name, int(value), limit) if limit else int(value)


def width(x: Any, seq_len: Any, dps: Any = None) -> int | None:
    """The theory's width d (None: d -> infinity): an integer >= 2 (guarded like a simulated width) that
    needs ``seq_len`` (the 1/d correction is derived at exact finite T, docs/finite_width.md) and
    float evaluation (``dps`` None: the finite-width moments have no mpmath twin)."""
    if x is None:
        return None
    d = integer("width", x, 2)
    if seq_len is None:
        raise InputError("width needs seq_len: the 1/d correction is derived at exact finite T (docs/finite_width.md)")
    if dps is not None:
        raise InputError("width is evaluated in double precision only (the finite-width moments have no mpmath "
                         "twin, about 1e-8 relative): omit dps (--dps)")
    return d


def overlap(q: Any, p: Any) -> None:
    """|p| <= q: the Gram matrix of a token simplex has |overlap| <= norm."""
    if abs(exact("p", p)) > exact("q", q):
        raise InputError(f"need |p| <= q, got q = {q}, p = {p}")


def dps(x: Any) -> int | None:
    """Decimal digits of precision (None means float)."""
    return None if x is None else integer("dps", x, 1, limit="dps")


def output(name: str, path: Any, *, suffixes: tuple[str, ...] = (), directory: bool = False) -> Path:
    """An output path that can be written, checked *before* any work (nothing half-written).

    The check creates and removes a probe file where the output will go: permission bits
    do not tell (root ignores them; /proc refuses files whatever they say).
    """
    target = Path(str(path)).expanduser()
    if not str(path):
        raise InputError(f"{name} must be a path, got an empty string")
    if suffixes and target.suffix.lower() not in suffixes:
        raise InputError(f"{name} must end in {', '.join(suffixes)}, got {target.name}")
    if directory and target.exists() and not target.is_dir():
        raise InputError(f"{name} {target} exists and is not a directory")
    if not directory and target.is_dir():
        raise InputError(f"{name} {target} is a directory, expected a file")
    where = target if directory and target.is_dir() else target.parent
    if not where.is_dir():
        if directory and where.parent.is_dir():  # the directory itself will be created
            where = where.parent
        else:
            raise InputError(f"{name}: directory {where} does not exist")
    probe = where / f".symsig-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{name}: cannot write in {where} ({exc.strerror or exc})") from None
    return target


def choice(name: str, x: Any, options: tuple[str, ...]) -> str:
    if not isinstance(x, str) or x not in options:
        close = _closest(str(x), options)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise InputError(f"unknown {name} {x!r}{hint}; choose from {', '.join(options)}")
    return x


def keywords(function: str, given: Any, allowed: Any) -> None:
    """Reject unknown keyword arguments with a "did you mean" hint (one line)."""
    for key in given:
        if key not in allowed:
            close = _closest(key, tuple(allowed))
            hint = f"; did you mean {close!r}?" if close else ""
            raise InputError(f"{function}: unknown keyword {key!r}{hint}")


def _closest(word: str, options: tuple[str, ...]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None
