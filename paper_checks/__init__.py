"""The paper's published constants (constants.toml) and the checker behind ``symsig check``.

Installed as :mod:`symsig.paper_checks` (pyproject maps this directory into the package),
so ``symsig check`` works from any directory, not only in a source checkout.
"""
