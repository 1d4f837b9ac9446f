"""Finite-width random transformers: the forward pass, deep stacks, gradients, and
stock Hugging Face models re-initialised with the theory's scalings."""
