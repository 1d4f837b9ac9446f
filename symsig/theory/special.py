"""Functions without closed forms, declared as SymPy functions (docs/theory.md §4, §5.6).

* ``rem_y2(s2, n)``: E[Y2] of a softmax row of n iid N(0, s2) logits (§4.1);
* ``rem_x(s2, r, n)``: two-query overlap E[sum_s A_s A'_s], logit correlation r (§4.2);
* ``K_qq_<tag>(q)``, ``K_qp_<tag>(q, p)``: Gaussian kernels of activations without a
  closed form (§5.6), with derivative functions ``dK_qq_<tag>``, ``dK_qp_<tag>`` when
  phi' is known (Price's theorem: dK_qp/dp = E[phi'(u) phi'(v)]).

They stay unevaluated in symbolic expressions (and print as such in LaTeX). Each
declared class carries what it stands for (``symsig_kind``, ``source``), from which
:mod:`symsig.numerics.special` builds its numpy and mpmath implementations.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import sympy as sp

from .symbols import T, beta, p, q


class rem_y2(sp.Function):  # noqa: N801 - the printed name
    """E[Y2] = E[sum_s A_s^2] for n states with logit variance s2 (args: s2, n)."""

    nargs = 2
    symsig_kind = "rem_y2"


class rem_x(sp.Function):  # noqa: N801
    """Two-query overlap E[sum_s A_s A'_s] (args: s2, r, n), logit correlation r."""

    nargs = 3
    symsig_kind = "rem_x"


def logit_variance(n_init: sp.Expr = T) -> sp.Expr:
    """s2 = beta^2 log(T) q (q - p): variance of the key-dependent part of the logits (§2)."""
    return beta**2 * sp.log(n_init) * q * (q - p)


def finite_t_y2(n_states: sp.Expr = T) -> sp.Expr:
    """Exact E[Y2] for ``n_states`` keys (the initialisation always scales with log T)."""
    return rem_y2(logit_variance(), n_states)


def finite_t_x(n_states: sp.Expr = T) -> sp.Expr:
    """Exact two-query overlap X for ``n_states`` keys and logit correlation p/q."""
    return rem_x(logit_variance(), p / q, n_states)


_COUNT = [0]


@cache
def kernel_functions(source: Any, derivative: bool = False) -> tuple[type, type]:
    """Declared (K_qq, K_qp) function classes of an activation without a closed form.

    ``source`` is an activation name or a :class:`symsig.core.architecture.UserActivation`;
    with ``derivative`` (phi' known) their partial derivatives are the declared
    functions dK_qq_<tag> (d/dq) and dK_qp_<tag> (d/dp, Price's theorem); otherwise
    SymPy keeps them as unevaluated Derivatives.
    """
    if isinstance(source, str):
        tag = source
    else:
        _COUNT[0] += 1
        tag = f"user{_COUNT[0]}_" + "".join(ch if ch.isalnum() else "_" for ch in source.label)

    def declare(name: str, nargs: int, partials: dict[int, type] | None = None) -> type:
        attrs: dict[str, Any] = {"nargs": nargs, "symsig_kind": name, "source": source}
        if partials:
            def fdiff(self, argindex=1):
                if argindex in partials:
                    return partials[argindex](*self.args)
                return sp.Function.fdiff(self, argindex)

            attrs["fdiff"] = fdiff
        return type(f"{name}_{tag}", (sp.Function,), attrs)

    if not derivative:
        return declare("K_qq", 1), declare("K_qp", 2)
    d_qq, d_qp = declare("dK_qq", 1), declare("dK_qp", 2)
    return declare("K_qq", 1, {1: d_qq}), declare("K_qp", 2, {2: d_qp})


# ----------------------------------------------------------------------------- finite width
# docs/finite_width.md. Declared with symsig_kind "width_*"; numeric twins in
# symsig.numerics.finite_width (float only, about 1e-8 relative).
class rem_y3(sp.Function):  # noqa: N801
    """E[Y3] = E[sum_s A_s^3] for n states with logit variance s2 (args: s2, n)."""

    nargs = 2
    symsig_kind = "width_y3"


class rem_y2sq(sp.Function):  # noqa: N801
    """E[Y2^2] for n states with logit variance s2 (args: s2, n)."""

    nargs = 2
    symsig_kind = "width_y2sq"


class rem_pair(sp.Function):  # noqa: N801
    """Two softmax rows over n keys, logit variance s2 each, correlation r (args: s2, r, n).

    Subclasses name the moment (``moment``): A2A = E sum_s A_s^2 A'_s, XX = E (sum_s A_s A'_s)^2,
    Y2X = E[Y2 sum_s A_s A'_s], Y2Y2 = E[Y2 Y2'] (the two rows' IPRs), A3A = E sum_s A_s^3 A'_s,
    A2A2 = E sum_s A_s^2 A'_s^2.
    """

    nargs = 3
    symsig_kind = "width_pair"
    moment = ""


class rem_a2a(rem_pair):  # noqa: N801
    moment = "A2A"


class rem_xx(rem_pair):  # noqa: N801
    moment = "XX"


class rem_y2x(rem_pair):  # noqa: N801
    moment = "Y2X"


class rem_y2y2(rem_pair):  # noqa: N801
    moment = "Y2Y2"


class rem_a3a(rem_pair):  # noqa: N801
    moment = "A3A"


class rem_a2a2(rem_pair):  # noqa: N801
    moment = "A2A2"


class rem_smeared(sp.Function):  # noqa: N801
    """E[(1 + delta) M(s2 + xi, n)] for a one-row moment M (args: s2, var, cov, n).

    xi (Var xi = var) is the fluctuation of the row's logit variance, delta a weight correlated
    with it (Cov(delta, xi) = cov; the query norm in the gradient). Subclasses name M (``moment``).
    """

    nargs = 4
    symsig_kind = "width_smeared"
    moment = ""


class rem_y2_smeared(rem_smeared):  # noqa: N801
    moment = "Y2"


class rem_y3_smeared(rem_smeared):  # noqa: N801
    moment = "Y3"


class rem_y2sq_smeared(rem_smeared):  # noqa: N801
    moment = "Y2sq"


class rem_x_smeared(sp.Function):  # noqa: N801
    """E of rem_x(s2 + xi, r + eta, n), (xi, eta) Gaussian (args: s2, r, var_s2, var_r, cov, n)."""

    nargs = 6
    symsig_kind = "width_x_smeared"


class rem_row(sp.Function):  # noqa: N801
    """One row's logit-weighted moments (args: s2, n); eps = logit / sqrt(s2), S = sum_s A_s eps_s.

    Subclasses: S1 = E S, S2 = E S^2, G = E sum_s A_s^2 (eps_s - S)^2, A2E2 = E sum_s A_s^2 eps_s^2,
    K4 (:class:`rem_y2_kurt`).
    """

    nargs = 2
    symsig_kind = "width_row"
    moment = ""


class rem_s1(rem_row):  # noqa: N801
    moment = "S1"


class rem_s2(rem_row):  # noqa: N801
    moment = "S2"


class rem_g(rem_row):  # noqa: N801
    moment = "G"


class rem_a2e2(rem_row):  # noqa: N801
    """A2E2 = E sum_s A_s^2 eps_s^2 = E[Y2] + s2 E[4 Y2 - 10 Y3 + 6 Y4] (Stein; the diagonal of the
    selected-key correction, docs/finite_width.md §6)."""

    moment = "A2E2"


class rem_y2_kurt(rem_row):  # noqa: N801
    """K4 = -(1/4) E[Y2 sum_s He4(eps_s)]: E[Y2] moves by c K4 when each key's logit law is
    phi (1 - c He4 / 4) (LayerNorm-output keys: c = (1 - rho)^2 / d, docs/finite_width.md §6)."""

    moment = "K4"

