"""Closed-form critical conditions against brute-force iteration at high precision."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

from symsig.analysis import conditions as C
from symsig.theory import conditions as S
from symsig.core.architecture import Architecture
from symsig.analysis.propagate import propagate
from symsig.theory.symbols import alpha_mlp, alpha_sa, beta, sigma_b2, sigma_v2, sigma_w2
from symsig.core.validate import InputError

FIG1 = {sigma_w2: sp.Rational(1, 5), sigma_v2: sp.Rational(1, 5), sigma_b2: sp.Rational(1, 2500), alpha_sa: 1, alpha_mlp: 1}


def test_rho_c_is_one_minus_two_over_beta2():
    assert sp.simplify(S.rho_c_expr() - (1 - 2 / beta**2)) == 0


def test_chi_post_ln_relu_matches_theory_product():
    chi_att = alpha_sa**2 / (sigma_v2 + sigma_b2 + alpha_sa**2)
    chi_mlp = (sigma_w2**2 / 2 + alpha_mlp**2) / (sigma_w2 * (sigma_w2 + sigma_b2) / 2 + sigma_b2 + alpha_mlp**2)
    assert sp.simplify(S.chi_expr("post-ln", "relu") - chi_att * chi_mlp) == 0
    att, mlp = S.chi_factors("relu")
    assert sp.simplify(att - chi_att) == 0 and sp.simplify(mlp - chi_mlp) == 0


def test_depth_scale_figure1_is_5_46():
    xi = S.depth_scale_expr("post-ln", "relu").xreplace(FIG1)
    assert abs(float(xi) - 5.4619) < 1e-4


@pytest.mark.parametrize("activation", ["relu", "erf", "linear"])
def test_chi_matches_brute_force_slope(activation):
    """(1 - rho_1)/(1 - rho_0) at rho_0 = 1 - 1e-24 (30 digits): chi + O(1e-12) for ReLU."""
    arch = dict(activation=activation, beta=2)
    tr = propagate(depth=1, rho0="0.999999999999999999999999", dps=40, **arch)
    slope = (1 - tr.rho[1]) / mpmath.mpf("1e-24")
    chi = C.evaluate(S.chi_expr("post-ln", activation), Architecture(**arch), 40)
    assert abs(slope - chi) < 1e-10


def test_relu_correction_is_order_eps_three_halves():
    arch = Architecture(beta=2)
    chi = C.evaluate(S.chi_expr("post-ln", "relu"), arch, 30)
    errs = []
    for e in ("1e-8", "1e-10"):
        tr = propagate(depth=1, rho0=str(1 - mpmath.mpf(e)), dps=40, beta=2)
        errs.append(abs((1 - tr.rho[1]) / mpmath.mpf(e) - chi))
    assert 8 < errs[0] / errs[1] < 12  # sqrt(eps) relative correction: factor 10 per 100 in eps


def test_chi_numeric_matches_closed_form_erf():
    chi = C.evaluate(S.chi_expr("post-ln", "erf"), Architecture(activation="erf"), 25)
    assert abs(C.chi_numeric(25, activation="erf") - chi) < mpmath.mpf("1e-20")


def test_xi_controls_exponential_decay():
    tr = propagate(depth=40, rho0="0.999999", dps=30, beta=1)
    rate = mpmath.log((1 - tr.rho[40]) / (1 - tr.rho[20])) / 20
    chi = C.evaluate(S.chi_expr("post-ln", "relu"), Architecture(beta=1), 30)
    assert abs(rate - mpmath.log(chi)) < 1e-4


def test_alpha_linear_matches_theory_form():
    eps, L = S.EPS, S.DEPTH
    _, chi_mlp = S.chi_factors("relu")
    k = eps ** (1 / L) / chi_mlp
    assert sp.simplify(S.alpha_sa_linear_expr("relu") - (sigma_v2 + sigma_b2) * k / (1 - k)) == 0


def test_alpha_exact_equals_linear_near_collapse():
    """Started at 1 - rho0 = 1e-20 the true map is linear to O(1e-10): both alphas agree."""
    a_exact = C.alpha_sa_required(depth=20, eps="0.01", rho0="0." + "9" * 20, dps=30)
    a2 = C.evaluate(S.alpha_sa_linear_expr("relu").xreplace({S.EPS: sp.Rational(1, 100), S.DEPTH: 20}), Architecture(), 30)
    assert abs(a_exact - mpmath.sqrt(a2)) < 1e-9  # linearisation error ~ sqrt(1e-20) relative per layer


def test_alpha_exact_is_a_root_to_claimed_digits():
    a = C.alpha_sa_required(depth=30, eps="0.05", rho0="0.3", dps=15)
    with mpmath.workdps(50):
        for shift, sign in ((-1e-13, -1), (1e-13, 1)):
            rho_l = propagate(alpha_sa=a * (1 + shift), depth=30, rho0="0.3", dps=30).rho[-1]
            assert sign * (mpmath.log((1 - rho_l) / mpmath.mpf("0.7")) - mpmath.log(mpmath.mpf("0.05"))) > 0


def test_exit_layer_is_first_unfrozen_layer():
    arch = dict(beta=3, alpha_sa=1)
    layer = C.exit_layer(rho0="0.1", max_depth=200, **arch)
    tr = propagate(depth=layer, rho0=0.1, **arch)
    rho_c = 1 - 2 / 9
    assert tr.rho[layer] >= rho_c and all(r < rho_c for r in tr.rho[:layer])
    assert C.exit_layer(rho0="0.99", **arch) == 0


def test_preln_power_law_exponent():
    a, b, gamma = S.preln_exponent_expr("relu", "pre-ln")
    assert sp.simplify(b - sigma_w2**2 / 2) == 0
    assert sp.simplify(a - (sigma_v2 + 2 * sigma_b2 + sigma_w2 * (sigma_w2 + sigma_b2) / 2)) == 0

    def local_slopes(activation):
        tr = propagate(block="pre-ln", activation=activation, depth=8000, rho0=0.2, beta=0.1)
        r = 1 - np.array(tr.rho, dtype=float)
        return [-np.log(r[2 * n] / r[n]) / np.log(2) for n in (1000, 2000, 4000)]

    # the local exponent approaches gamma with a correction ~ l^(-gamma) (q_l = A l - O(l^(1-gamma)));
    # one Richardson step with that correction exponent must land on gamma
    for activation, g_expr in (("linear", S.preln_exponent_expr("linear", "pre-ln")[2]), ("relu", gamma)):
        g = float(g_expr.xreplace(FIG1))
        s1, s2, s3 = local_slopes(activation)
        assert abs(s3 - g) < abs(s2 - g) < abs(s1 - g) < 0.03
        assert abs(s3 + (s3 - s2) / (2**g - 1) - g) < 2e-3


def test_conditions_bundle_and_errors():
    res = C.conditions(depth=60, dps=20)
    assert abs(res.xi - mpmath.mpf("5.4619106687")) < 1e-9
    assert res.alpha_sa_exact < res.alpha_sa_linear  # frozen early layers add diversity
    assert set(res.to_dict()) == {"rho_c", "chi", "xi", "alpha_sa_linear", "alpha_sa_exact", "exit_layer", "gamma"}
    with pytest.raises(InputError):
        C.alpha_sa_required(depth=10, eps=2)
    with pytest.raises(InputError):
        C.exit_layer(seq_len=64)
