"""The analyses users run: critical values, trajectories, conditions, diagrams,
certified boundaries, prescriptions, gradients (numbers from :mod:`symsig.numerics`)."""
