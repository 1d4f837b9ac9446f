"""The numeric layer: compiled evaluators (numpy, mpmath, arb), the one depth iteration,
root finding, the exact finite-T moments and Gaussian-kernel quadrature.

Everything numeric comes from a symbolic expression of :mod:`symsig.theory`
(compiled once, cached) or from the one numeric twin registered for a declared
function (:mod:`symsig.numerics.special`).
"""
