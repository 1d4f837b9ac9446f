"""Critical values of one attention layer: beta_c, m, the IPR moments and rho_c."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable

import mpmath
import numpy as np
import sympy as sp

from ..core import validate
from ..core.results import Result
from ..numerics import compile as numerics
from ..theory import rem
from ..theory.symbols import beta, p, q


@dataclass(frozen=True)
class Critical(Result):
    """REM critical values at (beta, q, p).

    ``beta_c`` = sqrt(2/(q(q-p))) (None, i.e. infinite, at q = p); ``m`` =
    min(1, beta_c/beta); ``Y2``, ``Y3`` = E[sum_s A_ts^k] (Poisson–Dirichlet
    limit, or the exact finite-T values when ``seq_len`` is given, averaged over the
    1/d fluctuation of the logit variance when ``width`` d is given); ``rho_c`` =
    1 - 2/(beta^2 q^2), the cosine similarity below which attention at this beta
    is frozen, None when it is <= 0 (no rho >= 0 is frozen, beta <= sqrt(2)/q).
    """

    beta_c: Any
    m: Any
    Y2: Any
    Y3: Any
    rho_c: Any
    dps: int | None = field(default=None, repr=False)


_ARGS = (beta, q, p)


@cache
def _exprs() -> tuple[sp.Expr, ...]:
    return (rem.beta_c(), rem.parisi_m(), rem.y_moment(2), rem.y_moment(3), rem.rho_c())


def _inputs(rho: Any, q_: Any, p_: Any) -> tuple[Any, Any]:
    if rho is not None and p_ is not None:
        raise validate.InputError("give either rho or p, not both")
    q_ = 1 if q_ is None else q_
    validate.positive("q", q_)
    if rho is not None:
        validate.correlation("rho", rho)
        p_ = numerics.to_mpf(rho) * numerics.to_mpf(q_) if not isinstance(rho, float) else rho * float(q_)
    p_ = 0 if p_ is None else p_
    validate.overlap(q_, p_)
    return q_, p_


def critical(
    *, beta: Any, rho: Any = None, q: Any = None, p: Any = None, seq_len: Any = None, dps: Any = None,
    width: Any = None,
) -> Critical:
    """Critical values of REM attention at inverse temperature ``beta``.

    The token geometry is given by ``rho`` (with q = 1 unless ``q`` is given) or by
    ``q`` and ``p``; the default is q = 1, p = 0. Arrays (any of beta, rho, q, p) are
    evaluated in floats, broadcast together: the fields are then arrays, with inf for an
    infinite beta_c and NaN where rho_c has no value.

    ``width`` d (needs ``seq_len``; floats only): Y2, Y3 are the finite-T moments averaged over
    the row's logit-variance fluctuation (docs/finite_width.md §3), Gaussian tokens at (q, p),
    as the first attention of a post-LN stack reads them; beta_c, m, rho_c are d -> infinity values.
    """
    width = validate.width(width, seq_len, dps)
    if any(np.ndim(x) > 0 for x in (beta, rho, q, p)):
        if dps is not None:
            raise validate.InputError("arrays are evaluated in double precision: give dps=None, or loop over scalars")
        return _critical_np(beta, rho, q, p, seq_len, width)
    validate.positive("beta", beta)
    dps = validate.dps(dps)
    n = None if seq_len is None else validate.integer("seq_len", seq_len, 2)
    with mpmath.workdps((dps or 15) + numerics.GUARD_DIGITS):
        q_, p_ = _inputs(rho, q, p)
    if dps is None:
        for name, x in (("beta", beta), ("q", q_)):
            validate.double(name, x, divisor=True)
        values = [float(x) for x in numerics.eval_np(numerics.compile_np(_ARGS, _exprs()), float(beta), float(q_), float(p_))]
    else:
        values = list(_eval_mp(beta, q_, p_, dps))
    if n is not None:
        if dps is None:
            check_float_moments(beta, q_, p_, n)
        values[2], values[3] = _finite_moments(beta, q_, p_, n, dps) if width is None else \
            (float(x) for x in width_moments_np(float(beta), float(q_), float(p_), n, width))
    beta_c, m, y2, y3, rho_c = values
    at_collapse = float(q_) == float(p_) if dps is None else numerics.to_mpf(q_) == numerics.to_mpf(p_)
    return Critical(
        beta_c=None if at_collapse else beta_c,
        m=m,
        Y2=y2,
        Y3=y3,
        rho_c=rho_c if rho_c > 0 else None,
        dps=dps,
    )


def width_moments_np(beta_: Any, q_: Any, p_: Any, n: int, width: int) -> tuple[Any, Any]:
    """(<Y2>_d, <Y3>_d) in floats (:func:`symsig.theory.finite_width.critical_width_exprs`, ~1e-8 relative)."""
    from ..theory.finite_width import critical_width_exprs
    from ..theory.symbols import T, d

    fn = numerics.compile_np((beta, q, p, T, d), critical_width_exprs())
    return numerics.eval_np(fn, beta_, q_, p_, float(n), float(width))


def _critical_np(beta_: Any, rho: Any, q_: Any, p_: Any, seq_len: Any, width: int | None = None) -> Critical:
    """:func:`critical` over arrays (broadcast together), in floats; "no value" is NaN (inf for beta_c)."""
    if rho is not None and p_ is not None:
        raise validate.InputError("give either rho or p, not both")
    b = _finite_array("beta", beta_)
    qq = _finite_array("q", 1.0 if q_ is None else q_)
    pp = qq * _finite_array("rho", rho) if rho is not None else _finite_array("p", 0.0 if p_ is None else p_)
    for name, bad in (("beta", b <= 0), ("q", qq <= 0), ("|p| <= q (|rho| <= 1)", np.abs(pp) > qq)):
        if np.any(bad):
            raise validate.InputError(f"{name} violated at {int(np.sum(bad))} of the array's points")
    for name, x in (("beta", b), ("q", qq)):
        validate.double(name, float(np.max(x)), divisor=True)
        validate.double(name, float(np.min(x)), divisor=True)
    beta_c, m, y2, y3, rho_c = numerics.eval_np(numerics.compile_np(_ARGS, _exprs()), b, qq, pp)
    if seq_len is not None:
        from ..numerics.finite_t import rem_moments_np

        n = validate.integer("seq_len", seq_len, 2)
        moments = rem_moments_np(b, qq, pp, n) if width is None else None
        y2, y3 = (moments.Y2, moments.Y3) if width is None else width_moments_np(b, qq, pp, n, width)
        shape = np.broadcast_shapes(b.shape, qq.shape, pp.shape)
        y2, y3 = (np.broadcast_to(np.asarray(x, float), shape).copy() for x in (y2, y3))
    return Critical(beta_c=np.where(qq == pp, np.inf, beta_c), m=m, Y2=y2, Y3=y3,
                    rho_c=np.where(rho_c > 0, rho_c, np.nan))


def _finite_array(name: str, x: Any) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
        raise validate.InputError(f"{name} must be numbers, got {x!r}") from None
    if not np.all(np.isfinite(a)):
        raise validate.InputError(f"{name} must be finite")
    return a


def beta_c_np(q_: Any, p_: Any) -> np.ndarray:
    """beta_c(q, p) = sqrt(2/(q (q - p))) in floats, vectorised (compiled once from
    :func:`symsig.theory.rem.beta_c`); inf at q = p."""
    with np.errstate(divide="ignore"):
        return numerics.compile_np((q, p), (rem.beta_c(),))(q_, p_)[0]


def _eval_mp(beta_: Any, q_: Any, p_: Any, dps: int) -> tuple[Any, ...]:
    return numerics.eval_mp(numerics.compile_mp(_ARGS, _exprs()), (beta_, q_, p_), dps)


def check_float_moments(beta_: Any, q_: Any, p_: Any, n: int) -> None:
    """Reject, in float mode, a logit variance s2 = beta^2 log(T) q (q - p) beyond the float finite-T
    moments (:data:`symsig.numerics.finite_t.floats.S2_MAX_DIRECT`): beta = T = 2^64 ran for minutes."""
    from ..numerics.finite_t.floats import S2_MAX_DIRECT
    from ..theory.special import logit_variance
    from ..theory.symbols import T

    (s2,) = numerics.compile_np((beta, q, p, T), (logit_variance(),))(float(beta_), float(q_), float(p_), float(n))
    if s2 > S2_MAX_DIRECT:
        raise validate.InputError(f"logit variance s2 = beta^2 log(T) q (q - p) = {float(s2):.3g} is beyond the float "
                                  f"finite-T moments (s2 <= {S2_MAX_DIRECT:g}); pass dps (--dps N) for mpmath")


def _finite_moments(beta_: Any, q_: Any, p_: Any, n: int, dps: int | None) -> tuple[Any, Any]:
    from ..numerics import finite_t

    moments = finite_t.rem_moments(beta_, q_, p_, n, dps=dps)
    return moments.Y2, moments.Y3
