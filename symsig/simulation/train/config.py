"""The configuration of one training run (torch-free, so that the sweep validates without torch)."""
from __future__ import annotations

from dataclasses import dataclass

from ...core.architecture import Architecture
from . import data
from .data import MARKOV_SUCCESSORS


@dataclass(frozen=True)
class RunConfig:
    """Everything one run depends on (the JSON ``config`` of its result)."""

    block: str
    activation: str
    beta: float
    sigma_w2: float
    sigma_v2: float
    sigma_b2: float
    alpha_sa: float
    alpha_mlp: float
    depth: int
    width: int
    heads: int
    mlp_width: int | None
    seq_len: int
    causal: bool
    out_proj: bool
    rho0: float
    q0: float
    token_share: float
    corpus: str | None
    stories: int
    vocab_size: int | None
    data_seed: int
    mask_prob: float
    steps: int
    batch_size: int
    lr: float
    warmup: int
    weight_decay: float
    clip: float
    eval_every: int
    eval_batches: int
    log_every: int
    seed: int
    device: str
    dtype: str
    threads: int
    label: str = "grid"
    data: str = "stories"
    successors: int = MARKOV_SUCCESSORS

    def architecture(self) -> Architecture:
        return Architecture(block=self.block, activation=self.activation, beta=self.beta, sigma_w2=self.sigma_w2,
                            sigma_v2=self.sigma_v2, sigma_b2=self.sigma_b2, alpha_sa=self.alpha_sa,
                            alpha_mlp=self.alpha_mlp, seq_len=self.seq_len)

    def load_corpus(self) -> data.Corpus:
        return data.corpus(path=self.corpus, n_stories=self.stories, data_seed=self.data_seed,
                           vocab_size=self.vocab_size, data=self.data, successors=self.successors)

    def held_out(self, corp: data.Corpus) -> list[data.Batch]:
        return data.eval_batches(corp, count=self.eval_batches, size=self.batch_size, seq_len=self.seq_len,
                                 causal=self.causal, mask_prob=self.mask_prob, data_seed=self.data_seed)
