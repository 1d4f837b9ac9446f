"""Finite-width corrections of one attention layer (docs/finite_width.md §1-4; derivation:
``derivations/finite_width_attention.py``) and of a LayerNorm reading a residual sum (§8,
:func:`layernorm_width_cosine`; derivation: ``derivations/finite_width_layernorm.py``).

Model: keys x_s = sqrt(p) g + sqrt(q - p) z_s with g, z_s iid N(0, I_d) (Gaussian tokens), W_Q,
W_K entries N(0, sigma_a/d), sigma_a = beta sqrt(log T), W_V entries N(0, sigma_v2/d), bias
N(0, sigma_b2); the state (q, p) is the empirical one of the layer input. Row t attends with
logits a_ts = x_s . w_t, w_t = W_K W_Q^T x_t / sqrt(d). Conditionally on w_t the centred keys
split into their component along w_t (one Gaussian per key: the logit) and an orthogonal part
independent of the logits. This is exact for Gaussian keys, and it gives, to first order in 1/d
with T fixed (T/d is not assumed small):

    q_S = sigma_v2 [p + (q - p)(Y2_d + Dq / d)] + sigma_b2,
    p_S = sigma_v2 [p + (q - p)(X_d + Dp / d)] + sigma_b2,

    Dq = s2 (1 - Y2 - 6 Y3 + 6 E[Y2^2])                     (the selected keys are longer),
    Dp = s2 [rho (1 - 2 Y2 + E[Y2 Y2'] + X + E[X^2] - 2 E[sum A^2 A'])
             - 4 (E[sum A^2 A'] - E[Y2 X])]                  (two rows, same plane),

with s2 = beta^2 log T q (q - p), rho = p / q, the exact finite-T moments of
:mod:`symsig.theory.special` (two-row moments at correlation rho), and Y2_d, X_d the moments
averaged over the O(1/sqrt d) fluctuations of the row's logit covariance (three Wishart stages:
token Gram, W_Q, W_K). As beta -> 0, Dq / d over Y2 - X tends to T / d: the factor 1 + T/d.

Keys that are LayerNorm outputs (``tokens="normalized"``: |x_s|^2 = d, a common part of cosine rho) change
three things at the same order (docs/finite_width.md §6): the smearing, the logit law of one key
(:func:`key_law_weight`, in Y2_d) and the selected-key corrections Dq, Dp (:func:`delta_q_expr`,
:func:`delta_p_expr`; derivations/finite_width_layernorm_dq.py, _dp.py). The law's effect on X is not derived.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from . import gradient, special
from .symbols import T, beta, d, n, p, q, sigma_b2, sigma_v2

#: Logit variance s2 and logit correlation r (= p/q, may be negative) of the finite-width expressions.
s2 = sp.Symbol("s2", nonnegative=True)
r = sp.Symbol("r", real=True)

#: Entries of a row pair's logit covariance: C11, C22 (the two variances), C12 (covariance).
ENTRIES = ((0, 0), (1, 1), (0, 1))

#: Token models: how the token Gram of a query pair fluctuates around the state (q, p).
TOKENS = ("gaussian", "normalized")


def wishart_cov(sigma: sp.Matrix, ab: tuple[int, int], cd: tuple[int, int]) -> sp.Expr:
    """d Cov(W_ab, W_cd) of a sample covariance W = (1/d) sum_i v_i v_i^T, v_i ~ N(0, sigma).

    Isserlis: sigma_ac sigma_bd + sigma_ad sigma_bc.
    """
    (a, b), (c_, e) = ab, cd
    return sigma[a, c_] * sigma[b, e] + sigma[a, e] * sigma[b, c_]


def token_stage_cov(tokens: str, ab: tuple[int, int], cd: tuple[int, int]) -> sp.Expr:
    """d Cov of the query pair's token Gram entries (units q^2) given the common component.

    ``gaussian``: x = sqrt(p) g + sqrt(q - p) z with g fixed by the state, i.e. the Wishart
    covariance of [[1, rho], [rho, 1]] minus that of the common part (2 rho^2 in every entry).
    ``normalized`` (LayerNorm output): the norms are fixed and only the cosine
    C12 / sqrt(C11 C22) of the Gaussian stage fluctuates (delta method).
    """
    if tokens not in TOKENS:
        raise ValueError(f"tokens must be one of {TOKENS}, got {tokens!r}")
    if tokens == "gaussian":
        return wishart_cov(sp.Matrix([[1, r], [r, 1]]), ab, cd) - 2 * r**2
    if not ab == cd == (0, 1):
        return sp.Integer(0)
    c11, c22, c12 = sp.symbols("c11 c22 c12", positive=True)
    grad = [sp.diff(c12 / sp.sqrt(c11 * c22), x).subs({c11: 1, c22: 1, c12: r}) for x in (c11, c22, c12)]
    return sp.factor(sum(grad[i] * grad[j] * token_stage_cov("gaussian", ENTRIES[i], ENTRIES[j])
                         for i in range(3) for j in range(3)))


@cache
def logit_cov_fluctuation(tokens: str = "gaussian") -> dict[tuple, sp.Expr]:
    """d Cov(C_ab, C_cd) / s2^2 of a query pair's logit covariance C, mean s2 [[1, r], [r, 1]].

    C = (q - p) Gram(w_t, w_t') is built in three independent stages (token Gram, then W_Q,
    then W_K), each multiplying the previous one by an independent normalised Wishart matrix
    with d degrees of freedom; to first order in 1/d the stage covariances add.
    """
    rho_mat = sp.Matrix([[1, r], [r, 1]])
    return {(ab, cd): sp.expand(2 * wishart_cov(rho_mat, ab, cd) + token_stage_cov(tokens, ab, cd))
            for ab in ENTRIES for cd in ENTRIES}


@cache
def smearing_covariance(tokens: str = "gaussian") -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """(Var C11, Var s2bar, Var r_w, Cov(s2bar, r_w)) times d, in units of s2^2, s2^2, 1, s2.

    s2bar = (C11 + C22)/2 and r_w = C12 / sqrt(C11 C22) are the pair's mean logit variance and
    logit correlation (delta method on :func:`logit_cov_fluctuation`); Var C11 smears Y2.
    """
    k = logit_cov_fluctuation(tokens)
    c11, c22, c12 = sp.symbols("c11 c22 c12", positive=True)
    mean = {c11: 1, c22: 1, c12: r}
    funcs = ((c11 + c22) / 2, c12 / sp.sqrt(c11 * c22))
    grads = [[sp.diff(f, x).subs(mean) for x in (c11, c22, c12)] for f in funcs]
    cov = [[sp.factor(sum(ga[i] * gb[j] * k[(ENTRIES[i], ENTRIES[j])] for i in range(3) for j in range(3)))
            for gb in grads] for ga in grads]
    return k[((0, 0), (0, 0))], cov[0][0], cov[1][1], cov[0][1]


def _moments(keys: sp.Expr = n) -> dict[str, sp.Expr]:
    """The finite-T moments at logit variance s2, correlation r, ``keys`` keys (declared functions)."""
    return {
        "Y2": special.rem_y2(s2, keys), "Y3": special.rem_y3(s2, keys), "Y2sq": special.rem_y2sq(s2, keys),
        "X": special.rem_x(s2, r, keys), "A2A": special.rem_a2a(s2, r, keys), "XX": special.rem_xx(s2, r, keys),
        "Y2X": special.rem_y2x(s2, r, keys), "Y2Y2": special.rem_y2y2(s2, r, keys),
        "A3A": special.rem_a3a(s2, r, keys), "A2A2": special.rem_a2a2(s2, r, keys), "A2E2": special.rem_a2e2(s2, keys),
    }


def _empirical_p_weight(keys: sp.Expr) -> sp.Expr:
    """rho (2 - rho)/n + 1/(n (n - 1)): how the empirical key cosine, a pair average over n LayerNorm
    keys, correlates with the weights (derivations/finite_width_layernorm_dq.py step 4)."""
    return r * (2 - r) / keys + 1 / (keys * (keys - 1))


def delta_q_expr(keys: sp.Expr = n, tokens: str = "gaussian") -> sp.Expr:
    """The selected-key correction Dq of one row, q_S = ... (Y2 + Dq / d) (Stein identities).

    ``gaussian`` keys: Dq = E[(sum_s A_s eps_s)^2] - E[Y2] = s2 (1 - Y2 - 6 Y3 + 6 E[Y2^2]).
    ``normalized`` (LayerNorm output of Gaussian tokens with a common part, cosine rho = r; n keys):
    |x_s|^2 = d exactly, so the diagonal no longer grows with the logit (minus A2E2 - Y2), and the
    norms, correlated with the common part, enter the weights and the pair cosines:

        Dq_LN = Dq - (A2E2 - Y2) - rho (2 - rho) [s2 (1 - 3 Y2 + 2 Y3) - A2E2 + Y2]
                - s2 (2 Y2 - 8 Y3 + 6 E[Y2^2]) (rho (2 - rho) / n + 1 / (n (n - 1))),

    A2E2 = E sum_s A_s^2 eps_s^2 (derivations/finite_width_layernorm_dq.py; docs/finite_width.md §6).
    """
    if tokens not in TOKENS:
        raise ValueError(f"tokens must be one of {TOKENS}, got {tokens!r}")
    m = _moments(keys)
    dq = s2 * (1 - m["Y2"] - 6 * m["Y3"] + 6 * m["Y2sq"])
    if tokens == "gaussian":
        return dq
    q_poly = 2 * m["Y2"] - 8 * m["Y3"] + 6 * m["Y2sq"]
    return (dq - (m["A2E2"] - m["Y2"]) - r * (2 - r) * (s2 * (1 - 3 * m["Y2"] + 2 * m["Y3"]) - m["A2E2"] + m["Y2"])
            - s2 * q_poly * _empirical_p_weight(keys))


def delta_p_expr(keys: sp.Expr = n, tokens: str = "gaussian") -> sp.Expr:
    """The selected-key correction Dp of a row pair, p_S = ... (X + Dp / d) (Stein identities, equal variances).

    ``gaussian``: Dp = E[S.S'] - 2 X for two rows in the plane of (w_t, w_t').
    ``normalized`` (LayerNorm keys, cosine rho = r; derivations/finite_width_layernorm_dp.py):

        Dp_LN = Dp - s2 Diag - s2 rho (2 - rho) Pi / 2 - s2 Xi (rho (2 - rho)/n + 1/(n (n - 1))),
        Diag = 2 (X - 3 A2A + 2 A3A) + 2 r (X - 2 A2A + A2A2),
        Pi = 2 - 6 Y2 - 4 X + 4 Y3 + 12 A2A - 8 A3A - 4 r (X - 2 A2A + A2A2),
        Xi = 4 Y2X - 4 A2A + 2 r (X - 2 A2A + XX);

    at r = 1 (one row twice) it is :func:`delta_q_expr` of the same keys.
    """
    if tokens not in TOKENS:
        raise ValueError(f"tokens must be one of {TOKENS}, got {tokens!r}")
    m = _moments(keys)
    dp = s2 * (r * (1 - 2 * m["Y2"] + m["Y2Y2"] + m["X"] + m["XX"] - 2 * m["A2A"]) - 4 * (m["A2A"] - m["Y2X"]))
    if tokens == "gaussian":
        return dp
    same_key = m["X"] - 2 * m["A2A"] + m["A2A2"]        # E sum_s A_s (1 - A_s) A'_s (1 - A'_s)
    diag = 2 * (m["X"] - 3 * m["A2A"] + 2 * m["A3A"]) + 2 * r * same_key
    pi = 2 - 6 * m["Y2"] - 4 * m["X"] + 4 * m["Y3"] + 12 * m["A2A"] - 8 * m["A3A"] - 4 * r * same_key
    xi = 4 * m["Y2X"] - 4 * m["A2A"] + 2 * r * (m["X"] - 2 * m["A2A"] + m["XX"])
    return dp - s2 * (diag + r * (2 - r) * pi / 2 + xi * _empirical_p_weight(keys))


def key_law_weight(tokens: str = "gaussian") -> sp.Expr:
    """c in the first-order logit law phi(eps) (1 - c He4(eps) / 4) of one key given the query direction.

    Gaussian keys: c = 0. LayerNorm output of Gaussian tokens with a common part (cosine rho = r):
    the key is a Gaussian vector divided by its own norm, which is correlated with its projection
    on the query; to first order in 1/d the law of the standardised logit is the Gaussian times
    1 - (1 - rho)^2 He4 / (4 d) (excess kurtosis -6 (1 - rho)^2 / d; derivations/finite_width_layernorm_keys.py).
    """
    if tokens not in TOKENS:
        raise ValueError(f"tokens must be one of {TOKENS}, got {tokens!r}")
    return sp.Integer(0) if tokens == "gaussian" else (1 - r) ** 2 / d


def y2_width_expr(keys: sp.Expr = n, tokens: str = "gaussian") -> sp.Expr:
    """Y2 averaged over the row's logit-variance fluctuation, rem_y2_smeared(s2, s2^2 V11 / d, n), plus
    the first-order effect of the keys' logit law: c K4 with c = :func:`key_law_weight`."""
    v11 = smearing_covariance(tokens)[0]
    return special.rem_y2_smeared(s2, s2**2 * v11 / d, 0, keys) + key_law_weight(tokens) * special.rem_y2_kurt(s2, keys)


def x_width_expr(keys: sp.Expr = n, tokens: str = "gaussian") -> sp.Expr:
    """X averaged over the pair's fluctuating (mean variance, correlation): rem_x_smeared(...)."""
    _, vs, vr, cv = smearing_covariance(tokens)
    return special.rem_x_smeared(s2, r, s2**2 * vs / d, vr / d, s2 * cv / d, keys)


def state_substitution(q_: sp.Expr = q, p_: sp.Expr = p, inverse_temperature: sp.Expr = beta,
                       seq_len: sp.Expr = T) -> dict[sp.Symbol, sp.Expr]:
    """s2 -> beta^2 log T q (q - p), r -> p / q (the state of the layer input)."""
    return {s2: special.logit_variance(seq_len).xreplace({q: q_, p: p_, beta: inverse_temperature}), r: p_ / q_}


def attention_width_moments(q_: sp.Expr = q, p_: sp.Expr = p, *, inverse_temperature: sp.Expr = beta,
                            seq_len: sp.Expr = T, width: sp.Expr = d,
                            tokens: str = "gaussian", keys: sp.Expr | None = None) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(Y2_eff, X_eff, Y2_d) of one attention layer at finite width.

    q_S = sigma_v2 [p + (q - p) Y2_eff] + sigma_b2 and p_S = sigma_v2 [p + (q - p) X_eff] + sigma_b2,
    with Y2_eff = Y2_d + Dq / d and X_eff = X_d + Dp / d; Y2_d is the measured IPR. ``keys`` (default
    ``seq_len``): the number n of keys a row sees (causal: its position), while s2 keeps log T; the
    conditioning and the Stein identities are per row with any n, the 1/d smearing does not depend on n.
    """
    sub = state_substitution(q_, p_, inverse_temperature, seq_len)
    keys = {n: seq_len if keys is None else keys, d: width}
    y2_d = y2_width_expr(n, tokens).xreplace(keys).xreplace(sub)
    x_d = x_width_expr(n, tokens).xreplace(keys).xreplace(sub)
    dq = delta_q_expr(n, tokens).xreplace(keys).xreplace(sub)
    dp = delta_p_expr(n, tokens).xreplace(keys).xreplace(sub)
    return y2_d + dq / width, x_d + dp / width, y2_d


@cache
def grad_wq_width_expr(tokens: str = "gaussian") -> sp.Expr:
    """Scaled E||dL/dW_Q||_F^2 (Result 2, docs/theory.md §9) to first order in 1/d at fixed T.

    beta sigma_v2 q (q - p)^2 [(1 - 1/d) <tr J^2>_d + (E(1 - Y2)^2 + 2 G) / d]: the attention-weighted
    key covariance M_t = sum_s A_s (x_s - xbar_A)(x_s - xbar_A)^T has E tr M_t^2 / (q - p)^2 =
    (d^2 - d) tr J^2 + (d - 1)(tr J)^2 + 2 (d - 1) G + O(1) (Isserlis over the keys' components
    orthogonal to the query direction), tr J = 1 - Y2; <tr J^2>_d is smeared over the row's
    logit-variance fluctuation and its covariance with the query norm.
    """
    v11 = smearing_covariance(tokens)[0]
    vx = token_stage_cov(tokens, (0, 0), (0, 0))
    var, cov = s2**2 * v11 / d, s2 * vx / d
    smeared = {gradient.Y2: special.rem_y2_smeared(s2, var, cov, n), gradient.Y3: special.rem_y3_smeared(s2, var, cov, n),
               gradient.Y2SQ: special.rem_y2sq_smeared(s2, var, cov, n)}
    m = _moments(n)
    # E(1 - Y2)^2: the square of the row's IPR is the moment E[Y2^2]
    one_minus_y2_sq = sp.expand((1 - gradient.Y2) ** 2).xreplace({gradient.Y2**2: gradient.Y2SQ})
    plain = {gradient.Y2: m["Y2"], gradient.Y2SQ: m["Y2sq"]}
    bracket = ((1 - 1 / d) * gradient.bracket_expr().xreplace(smeared)
               + (one_minus_y2_sq.xreplace(plain) + 2 * special.rem_g(s2, n)) / d)
    expr = gradient.prefactor_expr() * bracket
    return expr.xreplace({n: T}).xreplace(state_substitution())

@cache
def critical_width_exprs(tokens: str = "gaussian") -> tuple[sp.Expr, sp.Expr]:
    """(<Y2>_d, <Y3>_d) of one attention row at finite width, args (beta, q, p, T, d): the exact finite-T
    moments averaged over the fluctuation of the row's logit variance, Var = s2^2 V11 / d (§3)."""
    v11 = smearing_covariance(tokens)[0]
    y3 = special.rem_y3_smeared(s2, s2**2 * v11 / d, 0, n)
    return tuple(x.xreplace({n: T}).xreplace(state_substitution()) for x in (y2_width_expr(n, tokens), y3))


def attention_width_map(tokens: str = "gaussian") -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(q_S, p_S, Y2) of one attention layer at finite width d in the canonical symbols."""
    y2_eff, x_eff, y2_d = attention_width_moments(tokens=tokens)
    return (sigma_v2 * (p + (q - p) * y2_eff) + sigma_b2, sigma_v2 * (p + (q - p) * x_eff) + sigma_b2, y2_d)


# ----------------------------------------------------------------------------- LayerNorm at finite width
# docs/finite_width.md §8; derivation: derivations/finite_width_layernorm.py.

#: How the tokens that a LayerNorm reads are modelled (docs/finite_width.md §8):
#: "normalized": residual sum alpha x + f with x a LayerNorm output (fixed norm, zero mean);
#: "gaussian": residual sum with x Gaussian tokens (only their common part is fixed);
#: "stream": the input itself as Gaussian tokens (pre-LN stream; a model, not derived).
SKIP_TOKENS = ("normalized", "gaussian", "stream")

#: Mean norm Q and inner product R of a pair before LayerNorm, the covariance (v, c, e) =
#: (Var N_a, Cov(N_a, N_b), Cov(P, N_a)) of its Gram entries and the shift (dN, dP) of their mean.
cos_q, cos_r = sp.symbols("Q R", positive=True)
cov_v, cov_c, cov_e, shift_n, shift_p = sp.symbols("v c e dN dP", real=True)


@cache
def cosine_delta_method() -> sp.Expr:
    """E[P / sqrt(N_a N_b)] to second order in the fluctuations of (N_a, N_b, P) around (Q, Q, R):
    rho + (3 rho v / 4 + rho c / 4 - e) / Q^2 + (dP - rho dN) / Q with rho = R/Q (Var P drops out: the cosine
    is linear in P)."""
    na, nb, pp = sp.symbols("N_a N_b P", positive=True)
    cos = pp / sp.sqrt(na * nb)
    at = {na: cos_q, nb: cos_q, pp: cos_r}
    x = (na, nb, pp)
    cov = {(0, 0): cov_v, (1, 1): cov_v, (0, 1): cov_c, (0, 2): cov_e, (1, 2): cov_e, (2, 2): sp.Symbol("w")}
    hess = sum((1 if i == j else 2) * sp.diff(cos, x[i], x[j]).subs(at) * cv for (i, j), cv in cov.items()) / 2
    grad = sum(sp.diff(cos, xi).subs(at) * s for xi, s in zip(x, (shift_n, shift_n, shift_p)))
    return sp.simplify(cos.subs(at) + hess + grad)


def layernorm_width_cosine(state_q: sp.Expr, state_p: sp.Expr, skip_q: sp.Expr, skip_p: sp.Expr, width: sp.Expr,
                           skip_tokens: str, branch_cov: tuple[sp.Expr, sp.Expr, sp.Expr] = (0, 0, 0)) -> sp.Expr:
    """E cos(h_a, h_b) after LayerNorm (empirical mean and norm over d features) at first order in 1/d.

    h = x + f, (Q, R) = (state_q, state_p) the mean pair Gram of h, (skip_q, skip_p) that of x. Given the
    branch input, f has d iid Gaussian coordinates, so d Cov(M_ab, M_ce) = S_ac S_be + S_ae S_bc -
    F_ac F_be - F_ae F_bc (Isserlis; S = E M, F = Gram of the fixed part), plus ``branch_cov`` at O(1);
    the mean subtraction shifts M by -(S - F_c)/d (F_c: the already-centred part). "normalized":
    F = F_c = skip Gram; "gaussian": F = (skip_p, skip_p), F_c = 0; "stream": F = (p, p) of the state, F_c = 0.
    """
    if skip_tokens not in SKIP_TOKENS:
        raise ValueError(f"skip_tokens must be one of {SKIP_TOKENS}, got {skip_tokens!r}")
    if skip_tokens == "stream":
        skip_q, skip_p = state_q, state_p
    fq, fp = (skip_q, skip_p) if skip_tokens == "normalized" else (skip_p, skip_p)
    cq, cp = (skip_q, skip_p) if skip_tokens == "normalized" else (0, 0)
    gram_s, gram_f = sp.Matrix([[state_q, state_p], [state_p, state_q]]), sp.Matrix([[fq, fp], [fp, fq]])

    def cov(i: tuple[int, int], j: tuple[int, int]) -> sp.Expr:  # d Cov(M_i, M_j): Wishart of S minus F's
        return (wishart_cov(gram_s, i, j) - wishart_cov(gram_f, i, j)) / width

    v, c, e = branch_cov
    sub = {cos_q: state_q, cos_r: state_p, cov_v: cov((0, 0), (0, 0)) + v, cov_c: cov((0, 0), (1, 1)) + c,
           cov_e: cov((0, 1), (0, 0)) + e, shift_n: -(state_q - cq) / width, shift_p: -(state_p - cp) / width}
    return cosine_delta_method().xreplace(sub)


def overlap_moments(q_: sp.Expr = q, p_: sp.Expr = p, *, inverse_temperature: sp.Expr = beta, seq_len: sp.Expr = T,
                    keys: sp.Expr | None = None) -> dict[str, sp.Expr]:
    """The exact finite-T one- and two-row moments (keys of :func:`_moments`) at the input state (q, p),
    ``keys`` keys per row (default ``seq_len``) and logit variance s2 = beta^2 log T q (q - p)."""
    return {k: x.xreplace({n: seq_len if keys is None else keys}).xreplace(
        state_substitution(q_, p_, inverse_temperature, seq_len)) for k, x in _moments(n).items()}


def overlap_covariances(q_: sp.Expr = q, p_: sp.Expr = p, *, inverse_temperature: sp.Expr = beta,
                        seq_len: sp.Expr = T, keys: sp.Expr | None = None) -> dict[str, sp.Expr]:
    """The one- and two-row covariances of the overlap array X_ab (X_aa = Y2_a) over the logits:
    V1 = Var Y2_a = E Y2^2 - Y2^2, C2 = Cov(Y2_a, Y2_b) = E Y2 Y2' - Y2^2, E2 = Cov(Y2_a, X_ab) =
    E Y2 X - Y2 X, W2 = Var X_ab = E X^2 - X^2 (:func:`overlap_moments`; names of
    :data:`symsig.theory.finite_width_gc.PATTERNS`)."""
    m = overlap_moments(q_, p_, inverse_temperature=inverse_temperature, seq_len=seq_len, keys=keys)
    return {"V1": m["Y2sq"] - m["Y2"] ** 2, "C2": m["Y2Y2"] - m["Y2"] ** 2, "E2": m["Y2X"] - m["Y2"] * m["X"],
            "W2": m["XX"] - m["X"] ** 2}


def attention_branch_cov(q_: sp.Expr = q, p_: sp.Expr = p, *, inverse_temperature: sp.Expr = beta,
                         seq_len: sp.Expr = T, value: sp.Expr = sigma_v2,
                         keys: sp.Expr | None = None) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """O(1) covariance of an attention output's pair Gram over its logits (finite T, d -> infinity).

    Row a's output has |m_a|^2/d = p + (q - p) Y2_a and m_a.m_b/d = p + (q - p) X_ab, so with
    v = sigma_v2 (q - p): Var N_a = v^2 (E Y2^2 - Y2^2), Cov(N_a, N_b) = v^2 (E Y2 Y2' - Y2^2),
    Cov(P, N_a) = v^2 (E Y2 X - Y2 X): the exact finite-T one- and two-row moments at the input state,
    with ``keys`` keys per row (default ``seq_len``; causal: both rows of the pair see n keys).
    """
    c = overlap_covariances(q_, p_, inverse_temperature=inverse_temperature, seq_len=seq_len, keys=keys)
    v2 = (value * (q_ - p_)) ** 2
    return v2 * c["V1"], v2 * c["C2"], v2 * c["E2"]


__all__ = ["SKIP_TOKENS", "cosine_delta_method", "layernorm_width_cosine", "attention_branch_cov",
           "s2", "r", "wishart_cov", "token_stage_cov", "logit_cov_fluctuation", "smearing_covariance",
           "delta_q_expr", "delta_p_expr", "key_law_weight", "y2_width_expr", "x_width_expr", "state_substitution",
           "attention_width_moments", "attention_width_map", "overlap_moments", "overlap_covariances", "grad_wq_width_expr", "critical_width_exprs", "TOKENS"]
