"""Result objects: attributes are the JSON keys of the command line, ``to_dict()`` the JSON."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import mpmath
import numpy as np



def jsonable(x: Any, dps: int | None = None) -> Any:
    """Turn numbers, mpf values, arrays and nested containers into JSON values.

    mpf values become JSON numbers, or decimal strings with ``dps`` significant
    digits when ``dps`` > 15 (more than a double carries); NaN and inf become null.
    """
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, mpmath.mpf):
        if dps is not None and dps > 15:
            return mp_round(x, dps)
        x = float(x)
    if isinstance(x, (np.ndarray, list, tuple)):
        return [jsonable(y, dps) for y in x]
    if isinstance(x, dict):
        return {k: jsonable(y, dps) for k, y in x.items()}
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    raise TypeError(f"cannot serialise {type(x).__name__}")


def mp_round(x: mpmath.mpf, dps: int) -> str:
    """Decimal string of ``x`` rounded to ``dps`` significant digits."""
    return mpmath.nstr(x, dps, strip_zeros=False, min_fixed=-mpmath.inf, max_fixed=mpmath.inf) if x != 0 else "0"


class Result:
    """Mixin for frozen dataclasses whose fields are the JSON keys; ``dps`` is not one."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the command line."""
        dps = getattr(self, "dps", None)
        return {
            f.name: jsonable(getattr(self, f.name), dps)
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.name != "dps" and f.repr
        }
