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


def as_array(values: Any) -> np.ndarray | None:
    """A rectangular (nested) sequence of numbers as an array: int64, float64 (None as NaN), or an
    object array when it holds mpf values (kept at their precision); None for anything else
    (strings, booleans, ragged or nested containers)."""
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged
        return None
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    if arr.dtype != object or arr.size == 0:
        return None
    flat = arr.ravel()
    if any(isinstance(v, mpmath.mpf) for v in flat):
        ok = all(v is None or isinstance(v, (mpmath.mpf, int, float)) and not isinstance(v, bool) for v in flat)
        return arr if ok else None
    if all(v is None or isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in flat):
        return np.array([np.nan if v is None else float(v) for v in flat]).reshape(arr.shape)
    return None


def mp_round(x: mpmath.mpf, dps: int) -> str:
    """Decimal string of ``x`` rounded to ``dps`` significant digits."""
    return mpmath.nstr(x, dps, strip_zeros=False, min_fixed=-mpmath.inf, max_fixed=mpmath.inf) if x != 0 else "0"


def _summary(x: Any) -> str:
    """A short text for one field: scalars in full (8 digits), arrays as shape and range."""
    if isinstance(x, mpmath.mpf):
        return mpmath.nstr(x, 8)
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.8g}"
    if isinstance(x, (list, tuple, np.ndarray)):
        arr = np.asarray(x, dtype=object)
        try:
            num = np.asarray([float(v) for v in arr.ravel() if v is not None], dtype=float)
        except (TypeError, ValueError):
            num = np.array([])
        if num.size and np.isfinite(num).any():
            return f"[{'x'.join(map(str, arr.shape))}: {np.nanmin(num):.4g} .. {np.nanmax(num):.4g}]"
        return f"[{'x'.join(map(str, arr.shape))}]"
    if isinstance(x, dict):
        return "{" + ", ".join(map(str, x)) + "}" if len(x) <= 6 else f"{{{len(x)} keys}}"
    return repr(x) if not isinstance(x, str) or len(x) <= 60 else repr(x[:57] + "...")


#: Field metadata of an opt-in result field: ``field(default=None, metadata=OPTIONAL)`` is absent from
#: ``to_dict()`` (and the tables) while None, so that the default outputs keep their keys.
OPTIONAL = {"optional": True}


class Result:
    """Mixin for frozen dataclasses whose fields are the JSON keys; ``dps`` is not one.

    Gives every result the same face: ``to_dict()`` (the JSON of the command line), a short
    ``repr`` (arrays summarised by shape and range), ``_repr_html_`` for notebooks, and
    ``to_dataframe()`` for results with per-layer columns (``_per_layer`` names them:
    the dataframe has one row per layer 0..L; a column with one entry fewer, such as the
    attention IPR per block, is aligned to the layer it reads and padded with NaN).
    """

    _per_layer: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # sequences of numbers become numpy arrays: float64, or object arrays of mpf at dps
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, (list, tuple)) and value and not isinstance(value, str):
                array = as_array(value)
                if array is not None:
                    object.__setattr__(self, f.name, array)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # defined on the subclass itself, so that @dataclass keeps it instead of writing its own
        cls.__repr__ = Result.__repr__  # type: ignore[method-assign]

    def _shown(self) -> list[tuple[str, Any]]:
        # a field marked OPTIONAL (an opt-in extra, e.g. a finite-width theory column) is left out while None
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if f.name != "dps" and f.repr and not (f.metadata.get("optional") and getattr(self, f.name) is None)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the command line."""
        dps = getattr(self, "dps", None)
        return {name: jsonable(value, dps) for name, value in self._shown()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={_summary(v)}" for k, v in self._shown()) + ")"

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(_summary(v))}</td></tr>" for k, v in self._shown())
        return f"<table><caption>{html.escape(type(self).__name__)}</caption>{rows}</table>"

    def to_dataframe(self) -> Any:
        """The per-layer columns as a pandas DataFrame indexed by layer (pandas is optional)."""
        if not self._per_layer:
            raise TypeError(f"{type(self).__name__} has no per-layer table")
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - optional dependency
            raise ImportError("to_dataframe needs pandas: pip install pandas") from None
        columns = {name: np.asarray([float(v) if v is not None else np.nan for v in getattr(self, name)])
                   for name in self._per_layer}
        n = max(len(c) for c in columns.values())
        padded = {k: np.concatenate([c, np.full(n - len(c), np.nan)]) for k, c in columns.items()}
        return pd.DataFrame(padded, index=pd.RangeIndex(n, name="layer"))
