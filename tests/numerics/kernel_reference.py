"""Independent references for the Gaussian kernels (shared by the kernel tests).

K_qp by 1-D mpmath quadrature at the caller's precision, with the inner Gaussian expectation
E_w[phi(a + b w)], w ~ N(0, 1), b > 0, in closed form (standard 1-D Gaussian identities,
transcribed here independently of symsig):

* relu:   a Phi(a/b) + b phi_N(a/b);
* erf:    erf(a / sqrt(1 + 2 b^2));
* linear: a;
* gelu (x Phi(x)): a Phi(a/r) + (b^2/r) phi_N(a/r), r = sqrt(1 + b^2) (Stein's lemma).
"""
from __future__ import annotations

from typing import Any

import mpmath as mp

INNER = {
    "relu": lambda a, b: a * mp.ncdf(a / b) + b * mp.npdf(a / b),
    "erf": lambda a, b: mp.erf(a / mp.sqrt(1 + 2 * b * b)),
    "linear": lambda a, b: a,
    "gelu": lambda a, b: a * mp.ncdf(a / mp.sqrt(1 + b * b)) + b * b * mp.npdf(a / mp.sqrt(1 + b * b)) / mp.sqrt(1 + b * b),
}
OUTER = {"relu": lambda z: max(z, 0), "erf": mp.erf, "linear": lambda z: z, "gelu": lambda z: z * mp.ncdf(z)}


def reference_kernel(name: str, q: Any, c: Any) -> tuple[Any, Any]:
    """(K_qq, K_qp) at correlation c by mp.quad over z1 (u = sqrt(q) z1); breakpoints resolve the
    scale-s layer of relu near z1 = 0 as c -> 1 (s = sqrt(1 - c^2))."""
    sg, s = mp.sqrt(q), mp.sqrt((1 - c) * (1 + c))
    outer = OUTER[name]
    pts = [-mp.inf, 0, mp.inf]
    if name == "relu":
        pts = [0] + [s * 10**k for k in range(8) if 0 < s * 10**k < 1] + [1, mp.inf]
    k_qq = mp.quad(lambda z: mp.npdf(z) * outer(sg * z) ** 2, [-mp.inf, 0, mp.inf] if name != "relu" else [0, mp.inf])
    if s == 0:
        return k_qq, k_qq
    k_qp = mp.quad(lambda z: mp.npdf(z) * outer(sg * z) * INNER[name](sg * c * z, sg * s), pts)
    return k_qq, k_qp
