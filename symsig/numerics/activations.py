"""The activation registry, compiled: phi, phi', closed-form kernels and fixed-point forms.

Nothing here is typed by hand: every numeric function is lambdified once (cached; not via
:mod:`symsig.numerics.compile`, whose declared functions are implemented by this module) from
the one SymPy definition of :mod:`symsig.theory.activations` (phi from
:data:`symsig.core.names.ACTIVATION_PHI`, phi' = sp.diff, the closed-form kernels and
their sp.diff derivatives, phi as a polynomial in (x, tanh(kappa x))).

Before compiling, :func:`stable` rewrites an expression into an equal one that is
accurate in floating point on the whole domain q > 0, |p| <= q:

* arcsin(N/D) -> atan2(N, sqrt((D - N)(D + N))), arccos(N/D) -> atan2(sqrt(...), N) (D > 0):
  arccos(p/q) loses half the digits as p -> q (its slope is infinite there), atan2 of the
  factored root does not (the ReLU, erf and GELU kernels near p = +-q); every radicand is
  factored, e.g. q^2 - p^2 -> -(p - q)(p + q): for |p| <= q each factor has an exact sign,
  so the radicand is >= 0 in floating point too (no clipping needed);
* c + c erf(z) -> 2 c Phi(sqrt(2) z) (scipy ndtr, mpmath ncdf): GELU x (1 + erf(x/sqrt 2))/2
  keeps its relative accuracy for x << 0;
* tanh, sigmoid and swish are compiled from their (x, tanh(kappa x)) polynomial; for floats
  with 1 - tanh^2 -> sech^2 and c +- c tanh(y) -> 2 c expit(+-2y): no exp overflow
  (sigmoid(-1000)), no inf/inf (its derivative) and no cancellation for x << 0.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Union

import mpmath
import numpy as np
import sympy as sp
from scipy import special as sps

from ..core import validate
from ..core.names import ACTIVATIONS
from ..theory import activations as theory
from ..theory.symbols import p, q

ActivationLike = Union[str, Callable[[Any], Any]]

#: Every named activation (:data:`symsig.core.names.ACTIVATIONS`).
NAMES: tuple[str, ...] = ACTIVATIONS
#: Activations whose kernels (and derivatives) are evaluated from exact formulas.
CLOSED_FORMS: frozenset[str] = frozenset(theory.CLOSED_FORMS)

X, T = theory.X, theory.T_TANH


class ConvergenceError(ValueError):
    """The adaptive quadrature for a user activation did not converge (phi not smooth?)."""


def check_name(name: str) -> str:
    """``name`` if it is a registered activation, else a one-line :class:`ValueError`."""
    return validate.choice("activation", name, NAMES)


# --------------------------------------------------------------------- rewriting for floats
def _inverse_trig(kind: type, arg: sp.Expr) -> sp.Expr:
    num, den = sp.fraction(sp.together(arg))
    if not den.is_positive:
        raise ValueError(f"cannot rewrite {kind.__name__}({arg}): denominator not known positive")
    root = sp.sqrt(sp.factor(den**2 - num**2))
    return sp.atan2(num, root) if kind is sp.asin else sp.atan2(root, num)


#: Phi(x) = (1 + erf(x/sqrt 2))/2 kept as one function (scipy ndtr, mpmath ncdf): no cancellation for x << 0.
NDTR = sp.Function("ndtr")
#: expit(x) = (1 + tanh(x/2))/2, scipy's logistic function (floats only): no cancellation for x << 0.
EXPIT = sp.Function("expit")
_MODULES_NP = [{"ndtr": sps.ndtr, "expit": sps.expit}, "scipy", "numpy"]
_MODULES_MP = [{"ndtr": mpmath.ncdf}, "mpmath"]


def _ndtr(add: sp.Expr) -> sp.Expr:
    """c + c erf(z) + rest -> 2 c Phi(sqrt(2) z) + rest, for the first erf term matching the constant."""
    const = add.as_coeff_Add()[0]
    for term in add.args:
        c, f = term.as_coeff_Mul()
        if isinstance(f, sp.erf) and c == const:
            return add - const - term + 2 * c * NDTR(sp.sqrt(2) * f.args[0])
    return add


def _expit(add: sp.Expr) -> sp.Expr:
    """c +- c tanh(y) + rest -> 2 c expit(+-2 y) + rest, for the first tanh term matching the constant."""
    const = add.as_coeff_Add()[0]
    for term in add.args:
        d, f = term.as_coeff_Mul()
        if const != 0 and isinstance(f, sp.tanh) and abs(d) == abs(const):
            return add - const - term + 2 * const * EXPIT(2 * sp.sign(d / const) * f.args[0])
    return add


def stable(expr: sp.Expr, floats: bool = True) -> sp.Expr:
    """``expr`` rewritten for accurate floating point (module docstring); the same function.

    Square-root radicands are factored (q^2 - p^2 -> (q - p)(q + p): no cancellation at p = q).
    With ``floats``, also 1 +- tanh(y) -> 2 expit(+-2y) (mpmath has no expit; at working
    precision the cancellation costs only digits beyond the absolute accuracy needed)."""
    if floats:
        expr = expr.replace(lambda e: e.is_Add and any(isinstance(a.as_coeff_Mul()[1], sp.tanh) for a in e.args),
                            _expit)
    expr = expr.replace(lambda e: isinstance(e, (sp.asin, sp.acos)), lambda e: _inverse_trig(e.func, e.args[0]))
    expr = expr.replace(lambda e: e.is_Pow and e.exp.is_Rational and e.exp.q == 2 and not e.base.is_number,
                        lambda e: sp.Pow(sp.factor(sp.together(e.base)), e.exp))
    return expr.replace(lambda e: e.is_Add and any(isinstance(a.as_coeff_Mul()[1], sp.erf) for a in e.args), _ndtr)


# --------------------------------------------------------------------- phi and phi'
def _float_tanh_form(name: str, derivative: bool) -> sp.Expr:
    """The cheaper (fewer transcendental calls) of two exact float forms of psi(x, t):

    * psi = A (1 - t^2) + B (B of degree <= 1 in t) as A sech^2(kappa x) + B(x, tanh(kappa x)), A, B
      factored: 1 - tanh^2 and 1 + tanh lose their relative accuracy as tanh -> 1, sech^2 and expit
      do not (tanh' = sech^2, sigmoid = expit(x)); cosh overflows only where sech^2 = 0 anyway;
    * psi(x, 2e - 1) with e = expit(2 kappa x), factored: one call (swish' = e (1 + x (1 - e)))."""
    kappa = theory.KAPPA[name]
    psi = theory.tanh_form(name, derivative)
    quotient, remainder = sp.div(sp.Poly(psi, T), sp.Poly(1 - T**2, T))
    tanh = sp.tanh(kappa * X)
    sech2 = 1 / sp.UnevaluatedExpr(sp.cosh(kappa * X) ** 2)  # numpy: 1/c^2 (reciprocal), not c**-2 (pow)
    by_t = stable(sp.factor(quotient.as_expr()).subs(T, tanh) * sech2 + sp.factor(remainder.as_expr()).subs(T, tanh))
    by_e = sp.factor(psi.subs(T, 2 * T - 1)).subs(T, EXPIT(2 * kappa * X))
    return by_e if len(by_e.atoms(sp.Function)) < len(by_t.atoms(sp.Function)) else by_t


def phi_expr(name: str, derivative: bool = False, floats: bool = True) -> sp.Expr:
    """The expression compiled for phi (or phi') of ``name``: :func:`stable` of the registry's,
    through its tanh form where it has one (for floats :func:`_float_tanh_form`)."""
    check_name(name)
    if name in theory.KAPPA and floats:
        expr = _float_tanh_form(name, derivative)
    elif name in theory.KAPPA:
        expr = theory.tanh_form(name, derivative).subs(T, sp.tanh(theory.KAPPA[name] * X))
    else:
        expr = sp.diff(theory.phi(name), X) if derivative else theory.phi(name)
    return stable(expr, floats)


@cache
def activation_np(name: str, derivative: bool = False) -> Callable[[Any], Any]:
    """The vectorised numpy function phi (or phi' if ``derivative``) of a named activation."""
    expr = phi_expr(name, derivative)
    if not expr.has(X):  # linear' = 1: still an array of x's shape
        return lambda x: np.full(np.shape(x), float(expr))
    return sp.lambdify(X, expr, _MODULES_NP, cse=True)


def _hoist(expr: sp.Expr, table: dict[sp.Expr, sp.Symbol]) -> sp.Expr:
    """``expr`` with each constant factor or term (sqrt(2/pi), 8943/200000, ...) a symbol of ``table``."""
    if not expr.args or expr.is_number:
        return expr
    args = expr.args
    if expr.is_Mul or expr.is_Add:
        const, rest = expr.as_independent(X, as_Add=expr.is_Add)
        if not const.is_Integer:
            sym = table.setdefault(const, sp.Dummy(f"c{len(table)}"))
            return expr.func(sym, _hoist(rest, table))
    return expr.func(*[_hoist(a, table) for a in args])


@cache
def activation_mp(name: str, derivative: bool = False) -> Callable[[Any], Any]:
    """The mpmath function phi (or phi' if ``derivative``) of a named activation.

    Its constants are evaluated once per working precision, not at every call (the
    mpmath lattice of the quadrature calls phi n^2 times)."""
    table: dict[sp.Expr, sp.Symbol] = {}
    expr = _hoist(phi_expr(name, derivative, floats=False), table)
    fn = sp.lambdify((X, *table.values()), expr, _MODULES_MP, cse=True)
    constants = sp.lambdify((), list(table), _MODULES_MP)
    by_prec: dict[int, list[Any]] = {}

    def phi(x: Any) -> Any:
        values = by_prec.get(mpmath.mp.prec)
        if values is None:
            values = by_prec[mpmath.mp.prec] = constants()
        return fn(x, *values)

    return phi


# --------------------------------------------------------------------- closed-form kernels
@cache
def closed_exprs(name: str, derivative: bool = False) -> tuple[sp.Expr, sp.Expr]:
    """(K_qq, K_qp) or (dK_qq/dq, dK_qp/dp) of a closed form, rewritten by :func:`stable`."""
    pair = theory.kernel_derivatives(name) if derivative else \
        (theory.CLOSED_FORMS[name]().k_qq, theory.CLOSED_FORMS[name]().k_qp)
    return stable(pair[0]), stable(pair[1])


@cache
def closed_np(name: str, derivative: bool = False) -> Callable[..., Any]:
    """Compiled numpy (q, p) -> [K_qq, K_qp] (or the derivatives) of a closed form (cached)."""
    return sp.lambdify((q, p), closed_exprs(name, derivative), _MODULES_NP, cse=True)


@cache
def closed_mp(name: str, derivative: bool = False) -> Callable[..., Any]:
    """Compiled mpmath (q, p) -> [K_qq, K_qp] (or the derivatives) of a closed form (cached)."""
    return sp.lambdify((q, p), closed_exprs(name, derivative), _MODULES_MP, cse=True)


# --------------------------------------------------------------------- smooth activations
@dataclass(frozen=True)
class Smooth:
    """What the quadrature needs of a named activation without a closed-form kernel."""

    strip: float  # phi analytic for |Im x| < strip (theory.activations.strip)
    parity: int  # -1 odd, +1 even, 0 neither: the lattice sum may use only half the rows
    kappa: float | None  # phi a polynomial in (x, tanh(kappa x)): the fixed-point engine applies


@cache
def smooth(name: str) -> Smooth:
    """:class:`Smooth` of a named activation outside :data:`CLOSED_FORMS`."""
    if check_name(name) in CLOSED_FORMS:
        raise ValueError(f"{name} has a closed-form kernel")
    kappa = theory.KAPPA.get(name)
    return Smooth(float(theory.strip(name)), theory.parity(name), None if kappa is None else float(kappa))


# --------------------------------------------------------------------- fixed point
def _scale(value: Any, c: sp.Rational, shift: int) -> Any:
    """value * c >> shift for c > 0, a single shift when c is a power of two."""
    num, den = int(c.p), int(c.q)
    if num != 1:
        value = value * num
    if den & (den - 1) == 0:
        return value >> (shift + den.bit_length() - 1)
    return (value >> shift) // den if shift else value // den


def _factors(expr: sp.Expr) -> list[sp.Expr]:
    """The factors of a product, integer powers spelled out (t^2 -> t, t)."""
    out: list[sp.Expr] = []
    for f in sp.Mul.make_args(expr):
        if f.is_Pow and f.exp.is_Integer and f.exp > 1:
            out += [f.base] * int(f.exp)
        else:
            out.append(f)
    return out


def _fixed(expr: sp.Expr, syms: tuple[sp.Symbol, ...]) -> Callable[[tuple, int], Any]:
    """Compile a polynomial with rational coefficients into fixed point: a real v is the
    integer round(v 2^bits) (floored); a b -> (A B) >> bits, c A -> (A c.p) // c.q, a shift
    for c = 2^-k folded into the last product's; terms with c < 0 are subtracted."""
    if expr in syms:
        i = syms.index(expr)
        return lambda v, bits: v[i]
    if expr.is_Rational:
        return lambda v, bits: (int(expr.p) << bits) // int(expr.q)
    if expr.could_extract_minus_sign() and not expr.is_Add:
        positive = _fixed(-expr, syms)
        return lambda v, bits: -positive(v, bits)
    if expr.is_Add:
        terms = sorted(((a.could_extract_minus_sign(), _fixed(-a if a.could_extract_minus_sign() else a, syms))
                        for a in expr.args), key=lambda term: term[0])  # a positive term first, if any

        def add(v: tuple, bits: int) -> Any:
            out = None
            for negative, f in terms:
                x = f(v, bits)
                out = (-x if negative else x) if out is None else (out - x if negative else out + x)
            return out

        return add
    c, rest = expr.as_coeff_Mul()
    parts = _factors(rest)
    if not (expr.is_Mul or expr.is_Pow) or not (c.is_Rational and c > 0) or any(f.is_Mul or f.is_Pow for f in parts):
        raise ValueError(f"not a polynomial with rational coefficients: {expr}")
    factors = [_fixed(f, syms) for f in parts]
    if len(factors) == 1:
        one = factors[0]
        return lambda v, bits: _scale(one(v, bits), c, 0)

    def mul(v: tuple, bits: int) -> Any:
        out = factors[0](v, bits)
        for f in factors[1:-1]:
            out = (out * f(v, bits)) >> bits
        return _scale(out * factors[-1](v, bits), c, bits)  # the last shift folds into the coefficient's

    return mul


@cache
def fixed_point(name: str, derivative: bool = False) -> Callable[[Any, Any, int], Any]:
    """phi (or phi') of ``name`` in fixed point: (X, T, bits) -> integers, X = round(x 2^bits) and
    T = round(tanh(kappa x) 2^bits) (arrays of Python ints), from the factored or the Horner form
    of :func:`symsig.theory.activations.tanh_form`, whichever has fewer operations (each one is an
    operation on every lattice point)."""
    psi = theory.tanh_form(name, derivative)
    program = _fixed(min(sp.factor(psi), sp.horner(psi, X, T), key=sp.count_ops), (X, T))
    return lambda x, t, bits: program((x, t), bits)
