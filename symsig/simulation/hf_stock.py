"""Stock Hugging Face models at their own initialisation: the measurement ``symsig inspect`` predicts.

Unlike :mod:`symsig.simulation.hf` (weights re-drawn with the theory's scalings, inputs through
``inputs_embeds``), nothing is re-drawn here: the model is instantiated from its config with the
library's own ``_init_weights`` (seeded by ``torch.manual_seed``) and fed random token ids through
its embeddings, exactly as a practitioner's fresh model. Measured per layer (:func:`hf.measure`):
rho and q of the tokens of the window and the attention IPR Y2 of its queries; the window is all
tokens for encoders and the last quarter for decoders (:mod:`symsig.app.stock`'s trajectory).

Precision: float64 forward (the model is cast after initialisation), eval mode, eager attention.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core.architecture import late_window
from .hf import measure

#: model_type of the encoders (everything else is measured as a decoder).
ENCODERS = ("bert", "roberta")


def build(config: dict[str, Any], seed: int) -> Any:
    """A fresh model of ``config`` (a config.json dict) with the library's initialisation under ``seed``:
    float64, eval mode, eager attention."""
    import torch
    from transformers import AutoConfig, AutoModel

    kw = {k: v for k, v in config.items() if k != "model_type"}
    cfg = AutoConfig.for_model(config["model_type"], **kw)
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    net = AutoModel.from_config(cfg, attn_implementation="eager")
    return net.to(torch.float64).eval()


def measure_stock(config: dict[str, Any], *, seq_len: int, seeds: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-seed q, p, rho (L + 1 layers) and Y2 (L attentions) of fresh stock models, each fed one
    sequence of ``seq_len`` token ids drawn uniformly from the vocabulary; arrays (seeds, ...)."""
    import torch

    torch.set_num_threads(1)
    window = slice(0, seq_len) if config["model_type"] in ENCODERS else late_window(seq_len)
    runs = []
    for i in range(seeds):
        net = build(config, seed + i)
        ids = torch.from_numpy(np.random.default_rng(seed + i).integers(0, net.config.vocab_size, seq_len))[None]
        with torch.no_grad():
            out = net(input_ids=ids, output_hidden_states=True, output_attentions=True)
        hidden = [h[0].numpy() for h in out.hidden_states]
        attns = [a[0].numpy() for a in out.attentions]
        runs.append(measure(hidden, attns, window, [1.0] * len(hidden)))
    return {k: np.stack([r[k] for r in runs]) for k in runs[0]}


__all__ = ["ENCODERS", "build", "measure_stock"]
