"""Shared test settings: the paper's Figure-1 parameters, from the library's one definition."""
from __future__ import annotations

import os
import shutil

import pytest

from symsig.core.architecture import FIGURE1

#: Figure-1 weight variances and residual strengths (docs/theory.md §12), as keyword arguments.
FIG1: dict[str, float] = {k: FIGURE1[k] for k in ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp")}


def require_tool(command: str) -> str:
    """Path of a system tool the test needs; skip (with the reason) when it is missing,
    or fail when ``SYMSIG_REQUIRE_TOOLS=1`` (CI installs the tools and must prove these tests)."""
    path = shutil.which(command)
    if path is None:
        message = f"{command} is not installed (CI installs it; set SYMSIG_REQUIRE_TOOLS=1 to make this a failure)"
        if os.environ.get("SYMSIG_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
