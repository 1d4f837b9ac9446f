"""Every result: JSON via to_dict, a short repr, an HTML repr, a per-layer DataFrame."""
from __future__ import annotations

import json

import numpy as np

import symsig


def test_short_reprs_and_html() -> None:
    diag = symsig.diagram(depth=3, beta="0.5:3:40", alpha_sa="0:2:30")
    text = repr(diag)
    assert len(text) < 600 and "rho_L=[30x40:" in text and "\n" not in text
    html = diag._repr_html_()
    assert html.startswith("<table>") and "rho_L" in html
    assert repr(symsig.critical(beta=3, rho=0)).startswith("Critical(beta_c=1.4142136")


def test_trajectory_dataframe_aligns_layers() -> None:
    traj = symsig.propagate(beta=3, depth=6)
    frame = traj.to_dataframe()
    assert list(frame.columns) == ["q", "p", "rho", "Y2"] and len(frame) == 7
    assert np.allclose(frame["rho"], traj.rho) and frame.index.name == "layer"
    json.dumps(traj.to_dict())
