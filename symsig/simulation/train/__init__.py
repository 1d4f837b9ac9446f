"""Training BERT-style and decoder language models across the (beta, alpha_SA) plane.

``data`` (corpus generator, word-level tokenizer, batches), ``model`` (a torch module
composed from the theory's own layer tree, initialised weight for weight like
:func:`symsig.simulation.stack.simulate_stack`), ``loop`` (one training run),
``sweep`` (grids of runs, locally or on dask.distributed: ``symsig.train``),
``results`` (the sweep result and its agreement statistics). docs/training.md has
the setting and the results. torch is imported only by ``model`` and ``loop``.
"""
