"""critical() over arrays equals critical() point by point."""
from __future__ import annotations

import numpy as np
import pytest

import symsig


def test_arrays_match_scalars_point_by_point() -> None:
    beta = np.array([0.5, 1.0, 2.0, 3.0, 8.0])
    rho = np.array([[0.0], [0.5], [1.0]])
    out = symsig.critical(beta=beta, rho=rho)
    assert out.m.shape == (3, 5)
    for i, r in enumerate(rho[:, 0]):
        for j, b in enumerate(beta):
            one = symsig.critical(beta=float(b), rho=float(r))
            assert out.m[i, j] == pytest.approx(one.m, rel=1e-14)
            assert out.Y2[i, j] == pytest.approx(one.Y2, rel=1e-14)
            assert (np.isinf(out.beta_c[i, j]) if one.beta_c is None else out.beta_c[i, j] == pytest.approx(one.beta_c))
            assert (np.isnan(out.rho_c[i, j]) if one.rho_c is None else out.rho_c[i, j] == pytest.approx(one.rho_c))


def test_arrays_at_finite_t_match_scalars() -> None:
    beta = [0.5, 2.0, 4.0]
    out = symsig.critical(beta=beta, rho=0.2, seq_len=64)
    for j, b in enumerate(beta):
        assert out.Y2[j] == pytest.approx(symsig.critical(beta=b, rho=0.2, seq_len=64).Y2, rel=1e-10)


@pytest.mark.parametrize("kwargs", [dict(beta=[1.0, -1.0]), dict(beta=[1.0], rho=[0.5, 1.5]), dict(beta=[1.0, np.nan]),
                                    dict(beta=[1.0], dps=30), dict(beta=[1e160])])
def test_bad_arrays_are_input_errors(kwargs) -> None:
    with pytest.raises(ValueError):
        symsig.critical(**kwargs)
