"""Trainability diagrams: zones vs independent per-point propagation, boundaries vs brute force."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest

from symsig.analysis.diagram import DEFAULT_THRESHOLDS, boundary_mp, diagram, parse_grid
from symsig.analysis.propagate import propagate
from symsig.core.validate import InputError


def test_zones_agree_with_per_point_propagate():
    """Held-out grid (not the grid the defaults were tuned on), scalar loop per point."""
    betas, alphas = [0.3, 1.7, 2.6, 3.9], [0.2, 1.2, 1.7, 2.9]
    d = diagram(depth=40, beta=betas, alpha_sa=alphas, rho0=0.25, sigma_w2=0.3, sigma_v2=0.25)
    thr = DEFAULT_THRESHOLDS
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            tr = propagate(depth=40, rho0=0.25, beta=b, alpha_sa=a, sigma_w2=0.3, sigma_v2=0.25)
            mean_y2 = np.mean(tr.Y2[:-1])
            zone = "entropy" if mean_y2 > thr["entropy"] else "rank" if 1 - tr.rho[-1] < thr["rank"] * 0.75 else "trainable"
            assert d.zone[i][j] == zone
            assert abs(d.rho_L[i][j] - tr.rho[-1]) < 1e-9 and abs(d.mean_Y2[i][j] - mean_y2) < 1e-12


def test_collapse_thresholds_give_the_three_regions():
    d = diagram(depth=60, beta="0.2:4:12", alpha_sa="0:3:12", thresholds="collapse")
    z = np.array(d.zone, dtype=object)
    assert z[-1, 0] == "trainable"  # small beta, strong residual
    assert z[-1, -1] == "entropy"  # large beta
    assert (z[0, :] == "rank").all()  # weak residual
    assert set(d.to_dict()) >= {"beta", "alpha_sa", "rho_L", "zone", "thresholds"}


def test_boundaries_agree_with_brute_force_bisection():
    digits = 8
    d = diagram(depth=30, beta="0.2:4:10", alpha_sa="0:3:10", boundaries=True, boundary_points=3, digits=digits,
                thresholds="collapse")
    assert d.boundaries["rank"] and d.boundaries["entropy"]
    b, a = d.boundaries["rank"][0]
    # brute force: plain bisection on propagate(dps=30), independent of the Illinois solver
    def g(alpha):
        tr = propagate(depth=30, rho0=0.3, dps=30, beta=repr(b), alpha_sa=alpha)
        return mpmath.log((1 - tr.rho[-1]) / mpmath.mpf("0.7")) - mpmath.log(mpmath.mpf("0.01"))
    with mpmath.workdps(30):
        lo, hi = mpmath.mpf(a) - 1e-3, mpmath.mpf(a) + 1e-3
        assert g(lo) < 0 < g(hi)
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if g(mid) < 0 else (lo, mid)
    assert abs(a - float(lo)) < 10 ** -digits * max(1, a)
    b_e, a_e = d.boundaries["entropy"][0]
    hi_res = boundary_mp("entropy", fixed=repr(a_e), bracket=(b_e - 0.01, b_e + 0.01), depth=30, digits=25,
                         thresholds="collapse")
    assert abs(b_e - float(hi_res)) < 10 ** -digits * max(1, b_e)


def test_grid_parsing_and_errors():
    assert parse_grid("beta", "1:2:3").tolist() == [1, 1.5, 2]
    assert parse_grid("beta", [0.5, 1]).tolist() == [0.5, 1]
    for bad in ("1:2", "a:2:3", "2:1:3"):
        with pytest.raises(InputError):
            parse_grid("beta", bad)
    with pytest.raises(InputError):
        diagram(depth=5, beta=[-1, 1])
    with pytest.raises(InputError):
        diagram(depth=5, thresholds={"bogus": 1})
    with pytest.raises(InputError):
        diagram(depth=0)


def test_plot_writes_png_and_svg(tmp_path):
    from symsig.app.plots import plot_diagram

    d = diagram(depth=20, beta="0.2:4:16", alpha_sa="0:3:16")
    for suffix in (".png", ".svg"):
        fig = plot_diagram(d, tmp_path / f"d{suffix}", point=(1.0, 2.0))
        assert (tmp_path / f"d{suffix}").stat().st_size > 1000 and fig.axes
    from matplotlib.figure import Figure

    ax = Figure().subplots(1, 2)[1]
    assert plot_diagram(d, ax=ax) is ax.figure and ax.collections  # drawn on the given axes, nothing written
    with pytest.raises(InputError):
        plot_diagram(d, tmp_path / "d.jpg")


def test_optional_gradient_zone_marks_small_gradients() -> None:
    """The 'vanishing' zone is exactly where the first-layer scaled gradient is below the threshold."""
    import numpy as np

    from symsig.analysis.diagram import diagram
    from symsig.analysis.gradient import grad_wq_scaled_np

    d = diagram(depth=10, beta="0.2:3:12", alpha_sa="1.5:3:3", thresholds={"gradient": 0.02})
    grad = grad_wq_scaled_np(np.asarray(d.beta), 1.0, 0.3, 0.2)
    for row in d.zone:
        for z, g in zip(row, grad):
            if z in ("trainable", "vanishing"):
                assert (z == "vanishing") == (g < 0.02)
    assert any(z == "vanishing" for row in d.zone for z in row)
    default = diagram(depth=10, beta="0.2:3:12", alpha_sa="1.5:3:3")
    assert all(z != "vanishing" for row in default.zone for z in row)  # off unless asked for


@pytest.mark.parametrize("block,q0", [("post-ln", 2.0), ("post-ln", 1.0), ("pre-ln", 2.0), ("gc-post-ln", 0.5)])
def test_beta_c0_is_where_the_first_attention_freezes(block: str, q0: float) -> None:
    """beta_c of the state the first attention reads: (q0, rho0 q0), or LN(x) = (1, rho0) in pre-LN;
    checked against critical() and, independently, against the switch of the first Y2 of the map."""
    from symsig.analysis.critical import critical

    d = diagram(depth=1, beta="1:2:2", alpha_sa="1:2:2", rho0=0.3, q0=q0, block=block)
    read = 1.0 if block == "pre-ln" else q0
    assert d.beta_c0 == pytest.approx(critical(beta=1, q=read, p=0.3 * read).beta_c, rel=1e-15)
    y2 = lambda b: propagate(block=block, depth=0, rho0=0.3, q0=q0, beta=b).Y2[0]  # noqa: E731
    assert y2(d.beta_c0 * (1 - 1e-9)) == 0 < y2(d.beta_c0 * (1 + 1e-6))
    if (block, q0) == ("post-ln", 2.0):
        assert d.beta_c0 == pytest.approx(0.8451542547285166, rel=1e-15)  # not sqrt(2/0.7) = 1.690


def test_undefined_points_are_rejected_not_nan() -> None:
    with pytest.raises(InputError, match="undefined for every input"):  # LN of a zero-variance stream
        diagram(depth=5, beta="0.5:1:2", alpha_sa=[0.0], sigma_v2=0, sigma_b2=0)
    with pytest.raises(InputError, match="block 1"):  # alpha_SA = 0: uniform attention over p = 0 tokens
        diagram(depth=5, beta="0.2:0.5:2", alpha_sa="0:1:2", sigma_b2=0, rho0=0)
    with pytest.raises(InputError, match="rho0"):  # no T -> infinity token simplex has p < 0
        diagram(depth=5, beta="0.2:0.5:2", alpha_sa="0:1:2", rho0=-0.1)
    with pytest.raises(InputError, match="undefined for every input"):
        boundary_mp("rank", fixed=1, bracket=(0.5, 1), depth=3, sigma_w2=0, sigma_b2=0)
