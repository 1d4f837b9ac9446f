"""Direct float evaluation of the finite-T moments and the overlap (docs/theory.md §4.1, §4.2).

    E[Y_k]   = n/(k-1)! int du A_k(u) L(u)^(n-1)
    E[Y_2^2] = E[Y_4] + n(n-1)/3! int du A_2(u)^2 L(u)^(n-2)
    X        = n int du du' B(u, u') L2(u, u')^(n-1)

with the one-state expectations of :mod:`.gauss`. L^(n-1) is exp((n-1) log L), log L from
log1p(-(1-L)) near L = 1, so n up to 2^60 and beyond costs nothing extra; n may be any
real >= 2 here (the tables interpolate in log n). The outer integrals are trapezoid rules
(spectrally accurate: analytic integrands, negligible at both ends) on the u-range where
v = (n-1)(-log L) runs from e^-36 (e^-30 for X) to 45.

Accuracy: about 1e-12 relative for E[Y_k], E[Y_2^2] (tests: mpmath at dps 15) and 1e-12
relative to E[Y2] for X (tests: refined grids, mpmath); cost ~1 ms per moment point
(chunks of 64) and 2-90 ms per X point (grows with sigma and log n).
"""
from __future__ import annotations

import math

import numpy as np

from ...core.validate import InputError, limited
from .gauss import inner_1d, inner_np, log_l, u_range

S_LO, S_HI = -36.0, math.log(45.0)   #: outer range in s = log((n-1)(-log L))
N_U = 160                # outer trapezoid nodes (h_s <= 0.25 where ds/du <= 1)
N_UX = 110               #: overlap: outer trapezoid nodes per axis
S_LO_X = -30.0           #: overlap: outer range starts at s = -30 (tail e^-30)
LOG_EPS = 40.0           #: overlap: c-step for trapezoid error ~e^-40 (:func:`c_step`)
Z_TAIL = 30.0            #: overlap: |z| <= sqrt(2 (log n + 30)) + shift
RIDGE = 0.5              #: overlap: outer step <= 0.5 sqrt(1 + sigma_perp^2)
MAX_GRID = 10_000        #: overlap: nodes per axis beyond which the (u, u') and c grids outgrow memory (0.8 GB per matrix)
_CHUNK = 64              # points per vectorised chunk (memory: chunk * N_U * N_X doubles)


def moment_integrals(s2: np.ndarray, n: np.ndarray, ks: tuple[int, ...], pair: bool = False) -> dict:
    """{k: E[Y_k]} and, with ``pair``, 'pair': n(n-1)/6 int du A_2(u)^2 L(u)^(n-2) (so that
    E[Y_2^2] = E[Y_4] + pair), for flat arrays, s2 > 0, real n >= 2."""
    out = {key: np.empty(s2.size) for key in (*ks, *(("pair",) if pair else ()))}
    inner_ks = tuple(sorted(set(ks) | ({2} if pair else set())))
    for lo in range(0, s2.size, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        sig = np.sqrt(s2[sl])[:, None]
        nn = n[sl]
        u_lo, u_hi = u_range(sig, nn, S_LO, S_HI)
        u = u_lo[:, None] + (u_hi - u_lo)[:, None] * np.linspace(0.0, 1.0, N_U)
        h = (u_hi - u_lo) / (N_U - 1)
        inner = inner_np(u, sig, inner_ks)
        ll = log_l(inner)
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in ks:
                f = np.exp(np.log(nn)[:, None] + np.log(inner[k]) + (nn - 1.0)[:, None] * ll - math.lgamma(k))
                out[k][sl] = h * np.nan_to_num(f).sum(axis=1)
            if pair:
                g = np.exp(np.log(nn * (nn - 1.0))[:, None] + 2.0 * np.log(inner[2])
                           + (nn - 2.0)[:, None] * ll - math.log(6.0))
                out["pair"][sl] = h * np.nan_to_num(g).sum(axis=1)
    return out


def moments_direct(s2: np.ndarray, n: np.ndarray, k: int, squared: bool) -> np.ndarray:
    """E[Y_k] (squared=False) or E[Y_2^2] = E[Y_4] + pair (k ignored), see :func:`moment_integrals`."""
    if squared:
        parts = moment_integrals(s2, n, (4,), pair=True)
        return parts[4] + parts["pair"]
    return moment_integrals(s2, n, (k,))[k]


#: Distinct overlap points from which the direct method shows a progress bar (on a terminal).
PROGRESS_FROM = 200


def overlap_direct(s2: np.ndarray, rho: np.ndarray, n: np.ndarray) -> np.ndarray:
    """X for flat arrays with s2 > 0, 0 < |rho| < 1, real n >= 2 (one :func:`overlap_point` per
    distinct (s2, rho, n): on a diagram the first layer's state is one per beta, not per point)."""
    from ...core.progress import track

    points, inverse = np.unique(np.stack([s2, rho, n], axis=1), axis=0, return_inverse=True)
    limited("distinct overlap points by the direct method", len(points), "overlap",
            why="X is tabulated for e^3 <= T <= e^8 and s2 <= 36 log T; elsewhere each point takes 2-90 ms")
    sig = np.sqrt(points[:, 0])
    u_lo, u_hi = u_range(sig[:, None], points[:, 2], S_LO_X, S_HI)
    show = None if len(points) >= PROGRESS_FROM else False  # 2-90 ms a point: minutes on a grid
    values = np.array([overlap_point(float(sig[i]), float(points[i, 1]), float(points[i, 2]), float(u_lo[i]),
                                     float(u_hi[i]))
                       for i in track(range(len(points)), "finite-T overlap X (direct method)", enabled=show)])
    return values[np.ravel(inverse)]


def one_state(y: np.ndarray, sig: float, ks: tuple[int, ...]) -> dict:
    """{'om': 1 - L, 'L': L, k: A_k} at shifts y for one sigma >= 0 (sigma = 0: exact)."""
    if sig > 0:
        return inner_1d(y, sig, ks)
    ex = np.exp(np.minimum(y, 50.0))
    return {"om": -np.expm1(-ex), "L": np.exp(-ex), **{k: ex**k * np.exp(-ex) for k in ks}}


def c_step(a: float, ar: float, log_eps: float) -> float:
    """Largest trapezoid step in c for phi(c) G(u + a c) G(u' +- a c) to error ~e^-log_eps.

    G is a function of x smoothed by a Gaussian of variance s_i^2 = sigma^2 (1 - |rho|), so
    G(y + i eta) <= e^{eta^2 / (2 s_i^2)} G(y): with phi(c), the integrand grows like
    e^{kappa eta_c^2} in the strip |Im c| <= eta_c, kappa = 1/2 + a^2/s_i^2 = (1 + |rho|) / (2 (1 - |rho|)),
    and the trapezoid error is ~exp(-pi^2 / (kappa h^2)). Independently, g(x) is analytic
    and bounded for |Im x| < pi/2, giving ~exp(-pi^2 / (a h)). Either bound suffices;
    both are capped by the Gaussian alone (kappa = 1/2).
    """
    smooth = math.pi / math.sqrt(log_eps * max(0.5, (1.0 + ar) / (2.0 * max(1.0 - ar, 1e-300))))
    strip = math.pi**2 / (log_eps * a) if a > 0 else math.inf
    return min(max(smooth, strip), math.pi / math.sqrt(0.5 * log_eps))


def grid_error(sig: float, rho: float, nodes: int) -> InputError:
    """The one-line error of an overlap point whose grids would outgrow memory."""
    return InputError(f"the finite-T overlap X at logit variance s2 = {sig * sig:.3g}, rho = {rho:.6g} needs a "
                      f"{nodes}-node grid (> {MAX_GRID}); such a frozen attention is beyond the direct method "
                      "(use a smaller beta or q, or T -> infinity)")


def overlap_point(sig: float, rho: float, n: float, u_lo: float, u_hi: float,
                  n_u: int = N_UX, log_eps: float = LOG_EPS, z_tail: float = Z_TAIL) -> float:
    """X at one point (0 < |rho| < 1, sigma > 0, n >= 2) on the (u, u') grid [u_lo, u_hi]^2.

    Split the correlated logit pair into a common and two independent parts,
    x = u + a c + s_i e, x' = u' +- a c + s_i e' with a = sigma sqrt(|rho|),
    s_i = sigma sqrt(1 - |rho|), c, e, e' iid N(0, 1) (sign of rho). Then every 2-D
    expectation is a 1-D integral over c of products of 1-D functions at variance s_i^2:

        B(u, u')      = E_c[G1(u + a c) G1(u' +- a c)],      G1 = A_1, G0 = L, GO = 1 - L
        1 - L2(u, u') = (1 - L(u)) + E_c[G0(u + a c) GO(u' +- a c)]     (nonnegative terms)
        L2(u, u')     = E_c[G0(u + a c) G0(u' +- a c)]

    On a trapezoid c-grid (:func:`c_step`, |c| <= sqrt(2 (log n + 30)) + shift) the (u, u')
    matrices are BLAS products. The c-step is chosen so that a dc = du / q (integer q): every
    u + a c then lies on one uniform grid of step du / q, G is evaluated once per grid value,
    and the matrices are strided (Toeplitz) views of it. The outer step resolves the ridge of
    the integrand along u = u' (width ~ sqrt(1 + 2 s_i^2)).
    """
    ar = abs(rho)
    a, si = sig * math.sqrt(ar), sig * math.sqrt(1.0 - ar)
    n_u = max(n_u, math.ceil((u_hi - u_lo) / (RIDGE * math.sqrt(1.0 + 2.0 * si * si))) + 1)
    if n_u > MAX_GRID:  # before allocating it (q0 = 2^64 at finite T asked for 1e12 nodes)
        raise grid_error(sig, rho, n_u)
    u = np.linspace(u_lo, u_hi, n_u)
    h = u[1] - u[0]
    hc_max = c_step(a, ar, log_eps)
    # e^{x + x'} ~ e^{2 a c} shifts the weight phi(c) to c ~ 2a until x reaches the cut-off
    # of e^{-e^x}: cover the shift, by at most one more width
    width = math.sqrt(2.0 * (math.log(n) + z_tail))
    cmax = width + min(2.0 * a, width)
    q = math.ceil(h / (a * hc_max))
    m0 = math.ceil(cmax * q * a / h)
    aligned = (n_u - 1) * q + 2 * m0 + 1 <= n_u * (2 * m0 + 1)
    if not aligned:                   # tiny |rho|: evaluate G at every (u, c) node
        m0 = math.ceil(cmax / hc_max)
    if max(n_u, 2 * m0 + 1) > MAX_GRID:  # e.g. beta ~ 1e14: the grids outgrow memory
        raise grid_error(sig, rho, max(n_u, 2 * m0 + 1))
    hc = h / (q * a) if aligned else hc_max
    c = hc * np.arange(-m0, m0 + 1)
    wc = hc * np.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)
    need_l2 = n < 80                  # else L2 <= 1/2 makes L2^(n-1) < 1e-22: no contribution
    ks = (1,)
    if aligned:
        k = np.arange(-m0, (n_u - 1) * q + m0 + 1)
        vals = one_state(u_lo + k * (h / q), si, ks)

        def view(v):
            v = np.ascontiguousarray(v)
            return np.lib.stride_tricks.as_strided(v, (n_u, 2 * m0 + 1), (q * v.strides[0], v.strides[0]))
        left = {key: view(vals[key]) for key in vals}
    else:
        vals = one_state(u[:, None] + a * c, si, ks)
        left = vals
    # rho < 0: x' = u' - a c, i.e. the right factor on the reversed c-grid
    right = left if rho > 0 else {key: v[:, ::-1] for key, v in left.items()}
    b = (left[1] * wc) @ right[1].T
    om2 = inner_1d(u, sig, ())["om"][:, None] + (left["L"] * wc) @ right["om"].T
    with np.errstate(divide="ignore", invalid="ignore"):
        far = om2 >= 0.5
        ll = np.log1p(-np.minimum(om2, 0.5))
        if need_l2 and far.any():
            ll[far] = np.log(np.maximum(((left["L"] * wc) @ right["L"].T)[far], 0.0))
        else:
            ll[far] = -np.inf
        f = np.exp(math.log(n) + np.log(b) + (n - 1.0) * ll)
    return h * h * float(np.nan_to_num(f).sum())
