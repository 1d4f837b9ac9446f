"""Fixtures shared by the whole suite (the settings themselves live in tests/helpers.py)."""
from __future__ import annotations

import pytest

from tests.helpers import FIG1


@pytest.fixture
def fig1() -> dict[str, float]:
    """The paper's Figure-1 variances and residual strengths (a fresh copy per test)."""
    return dict(FIG1)
