"""The symbolic layer (SymPy only): symbols, the REM saddle point, Gaussian kernels,
layer maps, blocks, closed-form conditions and gradients.

Modules here import nothing numeric from symsig: functions without closed forms
(finite-T moments, quadrature kernels) are *declared* in :mod:`symsig.theory.special`
and given numeric implementations by :mod:`symsig.numerics.special`.
"""
