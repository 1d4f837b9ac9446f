"""The networks' scatter of (q, p) at finite width and its drag on the mean (symsig.analysis.scatter,
docs/finite_width.md §11). The deep-stack Monte Carlo is tests/simulation/test_scatter_stack.py."""
from __future__ import annotations

import numpy as np
import pytest

from symsig.analysis.propagate import propagate
from symsig.analysis.scatter import feature_covariance, gram_covariance
from symsig.core.validate import InputError

FIGURE_1 = dict(block="post-ln", activation="relu", beta=0.5, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4,
                alpha_sa=1.0, alpha_mlp=1.0)


def _readouts(seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    a_q = np.eye(seq_len) / seq_len
    a_p = (np.ones((seq_len, seq_len)) - np.eye(seq_len)) / (seq_len * (seq_len - 1))
    return a_q, a_p


def _equicorrelated(common: float, token: float, seq_len: int) -> np.ndarray:
    return common * np.ones((seq_len, seq_len)) + token * np.eye(seq_len)


@pytest.mark.parametrize("seq_len", [2, 5, 37])
def test_gram_covariance_is_the_trace_of_the_readouts(seq_len: int) -> None:
    """tr(A_i K A_j G) with the explicit T x T matrices (the eigen-decomposition is exact)."""
    k, g = (0.3, 0.9), (-0.05, 1.7)
    big_k, big_g = _equicorrelated(*k, seq_len), _equicorrelated(*g, seq_len)
    reads = _readouts(seq_len)
    want = np.array([[np.trace(ai @ big_k @ aj @ big_g) for aj in reads] for ai in reads])
    assert np.allclose(gram_covariance(k, g, seq_len), want, rtol=1e-12, atol=1e-15)


def test_the_generic_feature_path_reproduces_the_wishart_law() -> None:
    """phi = identity through the conditional moments (Gauss-Hermite, exact for polynomials) equals
    the Wishart closed form 2 C(K, K): the one-sample and U-statistic variances are exact in T."""
    for a, b, seq_len in ((0.3, 0.7, 4), (1.2, 0.1, 256), (0.0, 2.0, 9)):
        generic = feature_covariance(a, b, seq_len, phi=lambda x: x)
        assert np.allclose(generic, feature_covariance(a, b, seq_len), rtol=1e-10, atol=1e-14)


def test_relu_feature_covariance_against_sampled_features() -> None:
    """Per feature i, (mean_a phi(u_ia)^2, mean_{a != b} phi_a phi_b) with u_i ~ N(0, a 11^T + b I):
    their covariance over 4e5 sampled features is the prediction within 4 SE in every entry, while
    the T -> infinity form (the conditional means only) is more than 8 SE off at T = 6."""
    a, b, seq_len, n = 0.4, 0.6, 6, 400_000
    rng = np.random.default_rng(20261202)
    u = np.sqrt(a) * rng.standard_normal((n, 1)) + np.sqrt(b) * rng.standard_normal((n, seq_len))
    phi = np.maximum(u, 0.0)
    s1, s2 = phi.sum(axis=1), (phi**2).sum(axis=1)
    stats = np.stack([s2 / seq_len, (s1**2 - s2) / (seq_len * (seq_len - 1))])
    centred = stats - stats.mean(axis=1, keepdims=True)
    products = np.einsum("in,jn->ijn", centred, centred)
    measured, se = products.mean(axis=2), products.std(axis=2) / np.sqrt(n)
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    predicted = feature_covariance(a, b, seq_len, phi=relu)
    assert np.all(np.abs(measured - predicted) < 4 * se), (measured, predicted, se)
    infinite_t = feature_covariance(a, b, 10**12, phi=relu)
    assert np.max(np.abs(measured - infinite_t) / se) > 8


def test_residual_cross_term_against_drawn_weights() -> None:
    """h = alpha x + W u with x, u fixed (exactly equicorrelated Grams G, G_u) and W drawn N(0, s/d):
    d Cov(q_hat, p_hat) over W is 2 C(K, K) + 4 alpha^2 C(K, G), K = s G_u (what the scatter walk
    injects at a Residual whose branch ends in a weight matrix). 20000 draws; dropping the cross
    term is rejected."""
    d, seq_len, alpha, s, draws = 48, 5, 0.8, 0.5, 20000
    rng = np.random.default_rng(7)

    def tokens(common: float, token: float) -> np.ndarray:
        basis = np.linalg.qr(rng.standard_normal((d, seq_len)))[0].T        # orthonormal rows
        return np.sqrt(d) * np.linalg.cholesky(_equicorrelated(common, token, seq_len)) @ basis

    x, u = tokens(0.3, 0.7), tokens(0.5, 0.5)
    a_q, a_p = _readouts(seq_len)
    stats = np.empty((draws, 2))
    for k in range(draws):
        w = rng.standard_normal((d, d)) * np.sqrt(s / d)
        h = alpha * x + u @ w.T
        gram = h @ h.T / d
        stats[k] = np.trace(a_q @ gram), np.sum(a_p * gram)
    measured = np.cov(stats.T) * d
    k_gram = (s * 0.5, s * 0.5)
    g_gram = (alpha**2 * 0.3, alpha**2 * 0.7)
    with_cross = 2 * gram_covariance(k_gram, k_gram, seq_len) + 4 * gram_covariance(k_gram, g_gram, seq_len)
    without = 2 * gram_covariance(k_gram, k_gram, seq_len)
    rel_se = np.sqrt(2 / draws)           # a Gaussian variance's relative standard error
    assert np.allclose(measured, with_cross, rtol=5 * rel_se), (measured, with_cross)
    assert np.max(np.abs(measured / without - 1)) > 10 * rel_se


def test_scatter_is_first_order_in_one_over_width() -> None:
    """rho's standard deviation over networks scales as d^(-1/2) and the drag as 1/d (up to the O(1/d)
    relative change of the maps they are carried by: 2.4e-4 at d = 4096)."""
    runs = [propagate(**FIGURE_1, seq_len=128, width=w, depth=6, rho0=0.3, scatter=True) for w in (4096, 16384)]
    sd = [np.array(r.rho_sd) for r in runs]
    drag = [np.array(r.rho_drag) for r in runs]
    assert np.allclose(sd[1] / sd[0], 0.5, rtol=2e-3)
    assert np.allclose(drag[1] / drag[0], 0.25, rtol=4e-3)
    assert np.all(drag[0][1:] < 0)          # the block map is concave in rho here: the mean is dragged down


def test_the_input_scatter_is_the_gaussian_tokens_common_part() -> None:
    """Layer 0: tokens sqrt(p) g + sqrt(q - p) z_a with one g per network: d Cov(q_hat, p_hat) is the
    Wishart law of the Gram, here from explicit T x T matrices; rho = p/q to first order. Leading
    order: a network's cosine is about p|g|^2/d / q, standard deviation rho (1 - rho) sqrt(2/d)."""
    d, seq_len, rho = 256, 512, 0.3
    run = propagate(**FIGURE_1, seq_len=seq_len, width=d, depth=0, rho0=rho, scatter=True)
    gram = _equicorrelated(rho, 1 - rho, seq_len)
    reads = _readouts(seq_len)
    cov = 2 / d * np.array([[np.trace(ai @ gram @ aj @ gram) for aj in reads] for ai in reads])
    grad = np.array([-rho, 1.0])
    assert run.rho_sd[0] == pytest.approx(np.sqrt(grad @ cov @ grad), rel=1e-10)
    assert run.rho[0] == pytest.approx(rho + rho * cov[0, 0] - cov[0, 1], rel=1e-12)
    assert run.rho_sd[0] == pytest.approx(rho * (1 - rho) * np.sqrt(2 / d), rel=0.01)


def test_layer_derivatives_against_the_closed_form() -> None:
    """LayerNorm's (1, p/q): J = (0, 0; -p/q^2, 1/q), H_pp-row: (2p/q^3, -1/q^2; -1/q^2, 0), to 1e-6."""
    from symsig.analysis.scatter import LayerMaps
    from symsig.theory.layers import LayerNorm
    from symsig.theory.symbols import PARAMS

    maps = LayerMaps(dict(zip(PARAMS, (0.5, 0.2, 0.2, 4e-4, 1.0, 1.0, 64))), 64, 64)
    qv, pv = 1.7, 0.6
    f0, jac, hess, _ = maps.derivatives(LayerNorm(), np.array([qv, pv]), np.array([True, True]))
    assert np.allclose(f0, [1.0, pv / qv], rtol=1e-14)
    assert np.allclose(jac, [[0, 0], [-pv / qv**2, 1 / qv]], rtol=1e-6, atol=1e-9)
    assert np.allclose(hess[1], [[2 * pv / qv**3, -1 / qv**2], [-1 / qv**2, 0]], rtol=1e-6, atol=1e-6)


def test_nominal_rho0_hits_a_measured_mean_cosine() -> None:
    """The scatter theory started at nominal_rho0(r) reads r at layer 0 (its mean cosine is rho0 - O(1/d))."""
    from symsig.analysis.scatter import nominal_rho0

    for width, seq_len, target, q0 in ((32, 64, 0.2949, 1.0), (256, 512, 0.61, 1.3)):
        start = nominal_rho0(target, width=width, seq_len=seq_len, q0=q0)
        run = propagate(**FIGURE_1, seq_len=seq_len, width=width, depth=0, rho0=start, q0=q0, scatter=True)
        assert run.rho[0] == pytest.approx(target, rel=1e-13) and start > target


@pytest.mark.parametrize("bad", [dict(width=None), dict(dps=30), dict(causal=True, position=4)])
def test_scatter_needs_an_encoder_at_finite_width_in_floats(bad: dict) -> None:
    kwargs = dict(FIGURE_1, seq_len=64, width=64, depth=2, scatter=True) | bad
    with pytest.raises(InputError, match="scatter|dps"):
        propagate(**kwargs)
