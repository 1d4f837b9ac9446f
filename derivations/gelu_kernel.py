"""Derivation: the GELU Gaussian kernel, phi(x) = x Phi(x), by Price's theorem.

Assumptions: pre-activations (u, v) centred jointly Gaussian with covariance
S = [[q, p], [p, q]], q > 0, |p| < q. We want K(q, p) = E[phi(u) phi(v)].

Price's theorem: for phi with phi, phi', phi'' of polynomial growth,
d/dp E[f(u) g(v)] = E[f'(u) g'(v)]. Hence K'' = d^2 K / dp^2 = E[phi''(u) phi''(v)], and at
p = 0 (u, v independent) K = (E phi(u))^2 and dK/dp = (E phi'(u))^2. These two initial
values and K'' determine K.

Steps: (1) phi''(x) = (2 - x^2) phi_N(x) from the registry's phi; (2) E[phi''(u) phi''(v)]
in closed form: phi_N(u) phi_N(v) times the N(0, S) density is (2 pi)^-1 det(I + S)^-1/2
times the N(0, S') density, S' = S (I + S)^-1, and E_S'[(2 - u^2)(2 - v^2)] by Isserlis
(moments from the moment generating function); (3) the boundary values by 1-D Gaussian
integrals; (4) integrate twice in p (first with p = r t / sqrt(1 + t^2), r = 1 + q, which
makes the integrand a polynomial in t); (5) the result equals the library's
:func:`symsig.theory.activations.gelu`, and K_qq = K_qp(p = q). Expressions are compared in the
canonical form of :func:`symsig.theory.activations.tidy` (inverse-trig atoms times single
fractions with one factored square root), where equal algebraic parts become identical.

Run: python derivations/gelu_kernel.py [out.tex]
"""
from __future__ import annotations

import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory import activations
from symsig.theory.activations import tidy
from symsig.theory.symbols import p, q

x = activations.X
phi = activations.phi("gelu")
phi_n = sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)

# (1) phi'' from the one definition of GELU
d2phi = sp.diff(phi, x, 2)
assert sp.simplify(d2phi - (2 - x**2) * phi_n) == 0
print("  [proved] phi''(x) = (2 - x^2) phi_N(x)")

# (2) the Gaussian product lemma, as identities of the exponent and of the normalisation:
# exp(-|x|^2/2) exp(-x'S^-1 x/2) = exp(-x'S'^-1 x/2) with S'^-1 = I + S^-1, and
# (2 pi)^-1 det(S)^-1/2 = (2 pi)^-1 det(I + S)^-1/2 det(S')^-1/2 [times the N(0, S') normaliser].
S = sp.Matrix([[q, p], [p, q]])
I2 = sp.eye(2)
S1 = (S * (I2 + S).inv()).applyfunc(sp.factor)
assert (S1.inv() - (I2 + S.inv())).applyfunc(sp.simplify) == sp.zeros(2)
assert sp.simplify(S1.det() * (I2 + S).det() - S.det()) == 0
print("  [proved] phi_N(u) phi_N(v) N(x; S) = (2 pi)^-1 det(I+S)^-1/2 N(x; S'), S' = S (I+S)^-1")
a, b = S1[0, 0], S1[0, 1]
t1, t2 = sp.symbols("t1 t2", real=True)
mgf = sp.exp((a * t1**2 + 2 * b * t1 * t2 + a * t2**2) / 2)  # E_S' exp(t1 u + t2 v)
at0 = {t1: 0, t2: 0}
e_u2 = sp.diff(mgf, t1, 2).subs(at0)
e_u2v2 = sp.diff(mgf, t1, 2, t2, 2).subs(at0)
assert sp.simplify(e_u2v2 - (a**2 + 2 * b**2)) == 0
print("  [proved] Isserlis: E u^2 = a, E u^2 v^2 = a^2 + 2 b^2 under S' = [[a, b], [b, a]]")
r = 1 + q
D = sp.factor((I2 + S).det())  # (1 + q)^2 - p^2
assert sp.expand(D - (r**2 - p**2)) == 0
k2 = (4 - 2 * e_u2 - 2 * e_u2 + e_u2v2) / (2 * sp.pi * sp.sqrt(D))  # E[(2-u^2)(2-v^2)] with E u^2 = E v^2
# partial fractions in powers of D: K'' = (3 r^2 D^-5/2 + 2 q D^-3/2 + D^-1/2) / (2 pi)
k2_form = (3 * r**2 * D ** sp.Rational(-5, 2) + 2 * q * D ** sp.Rational(-3, 2) + D ** sp.Rational(-1, 2)) / (2 * sp.pi)
prove_equal("K'' = E[phi''(u) phi''(v)] = (3 r^2 D^-5/2 + 2 q D^-3/2 + D^-1/2)/(2 pi)", k2, k2_form)

# (3) boundary values: E phi(u) and E phi'(u) for u ~ N(0, q)
w = sp.Symbol("w", real=True)
density = sp.exp(-(w**2) / (2 * q)) / sp.sqrt(2 * sp.pi * q)
e_phi = sp.simplify(sp.integrate(phi.subs(x, w) * density, (w, -sp.oo, sp.oo)))
e_dphi = sp.simplify(sp.integrate(sp.diff(phi, x).subs(x, w) * density, (w, -sp.oo, sp.oo)))
prove_equal("E phi(u) = q / sqrt(2 pi (1 + q))", e_phi, q / sp.sqrt(2 * sp.pi * (1 + q)))
prove_equal("E phi'(u) = 1/2", e_dphi, sp.Rational(1, 2))

# (4a) K'(p) = (E phi')^2 + int_0^p K''.  With p = r t / sqrt(1 + t^2) (t = tan theta, |p| < r):
# D = r^2/(1 + t^2), dp = r (1 + t^2)^-3/2 dt, and K'' dp is a rational function of t.
t = sp.Symbol("t", real=True)
p_of_t = r * t / sp.sqrt(1 + t**2)
assert sp.simplify(sp.diff(p_of_t, t) - r * (1 + t**2) ** sp.Rational(-3, 2)) == 0
d_t = r**2 / (1 + t**2)
assert sp.simplify(D.subs(p, p_of_t) - d_t) == 0
integrand = sp.cancel(sp.powsimp(k2_form.subs(D, d_t) * r * (1 + t**2) ** sp.Rational(-3, 2), force=True))
dk_t = e_dphi**2 + sp.integrate(sp.apart(integrand, t), (t, 0, t))
# back to p: t = tan(theta) = p / sqrt(D), and atan(t) = theta = asin(p / r) (both odd, equal slopes)
atan_t = sp.atan(p / sp.sqrt(D))
assert atan_t.subs(p, 0) == sp.asin(p / r).subs(p, 0) == 0
assert sp.simplify(sp.diff(atan_t, p) - sp.diff(sp.asin(p / r), p)) == 0
dk = tidy(dk_t.subs(t, p / sp.sqrt(D)).subs(atan_t, sp.asin(p / r)))
print(f"  dK/dp = {dk}")
prove_equal("dK/dp = (E phi')^2 + int_0^p K''", tidy(sp.diff(dk, p)), tidy(k2_form))
prove_equal("dK/dp at p = 0", dk.subs(p, 0), e_dphi**2)

# (4b) K(p) = (E phi)^2 + int_0^p K', term by term
s = sp.Symbol("s", real=True)
k_derived = tidy(e_phi**2 + sum(sp.integrate(term.subs(p, s), (s, 0, p), manual=True)
                            for term in sp.Add.make_args(sp.expand(dk))))
print(f"  K = {k_derived}")
prove_equal("K(p) = (E phi)^2 + int_0^p K'", tidy(sp.diff(k_derived, p)), dk)

# (5) the library's closed form
gelu = activations.gelu()
prove_equal("GELU K_qp (library)", k_derived, tidy(gelu.k_qp))
prove_equal("GELU K_qq = K_qp(p = q) (library)", tidy(k_derived.subs(p, q)), tidy(gelu.k_qq))

if __name__ == "__main__":
    write_latex(
        [
            ("GELU: Price's theorem, second derivative", sp.Eq(sp.Symbol(r"\partial_p^2 K^{\mathrm{GELU}}_{qp}"), k2_form)),
            ("GELU kernel", sp.Eq(sp.Symbol(r"K^{\mathrm{GELU}}_{qp}"), gelu.k_qp)),
            ("GELU K_qq", sp.Eq(sp.Symbol(r"K^{\mathrm{GELU}}_{qq}"), gelu.k_qq)),
        ]
    )
