"""``symsig inspect --hf-config PATH``: a Hugging Face configuration in, a verdict out (docs/modern_blocks.md §7).

The config (a ``config.json`` or a directory holding one) fixes the width d, the depth L, the
sequence length T (``max_position_embeddings``; ``--seq-len`` overrides), the heads, the MLP width m,
the activation, where the norms sit, QK-norm, and the initialisation the library draws (every weight
N(0, r^2), r = ``initializer_range``, biases 0, norm weights 1; GPT-2 also divides its two output
projections' std by sqrt(2 L)). As a layer tree in symsig's variances (variance x fan-in):

* W_Q, W_K: sigma_a = d r^2, so beta = d r^2 / sqrt(log T) (docs/theory.md §2); with QK-norm the logit
  scale is the norm's gain g = 1 instead: beta_qk = g^2 / sqrt(log T) (docs/modern_blocks.md §4);
* W_V: sigma_v2 = d r^2; output projection: sigma_o2 = (heads d_head) r^2 (GPT-2: / (2 L));
* MLP in: d r^2 (gate and up for gated MLPs); out: m r^2 (GPT-2: / (2 L)); alpha_SA = alpha_MLP = 1;
* input: random tokens. BERT adds word, position and the shared token-type-0 embedding and
  normalises: (q, rho) = (1, 1/3); GPT-2 word + position: (2 r^2, 0); LLaMA word: (r^2, 0).

bert, roberta: post-LN (Algorithm 1 with W_O and unequal MLP variances). gpt2: pre-LN, causal, a
final ln_f (its LayerNorm is RMSNorm(eps) as d -> infinity, derivations/rmsnorm.py). llama, mistral,
qwen2: the llama block (pre-RMSNorm, gated MLP, causal, final norm); qwen3: with QK-norm.

The verdict: the exact finite-T trajectory of rho, q and Y2 over depth (decoders: the causal map at
the harmonic mean of the last quarter's key counts, docs/theory.md §6.4; layer L is after the final norm),
its zone (docs/theory.md §7.2 thresholds), and :func:`symsig.analysis.prescribe.prescribe` for the
same tree (T -> infinity theory; GPT-2's tanh-GELU kernel replaced by the exact GELU's, at most 2.1e-4
of K_qq apart, because the quadrature kernel is too slow on the prescription grid),
translated into the model's knobs. Not modelled: GQA and dropout (they do not enter as d -> infinity
at initialisation) and RoPE (it turns part of the common logit component into key-dependent variance
when rho > 0; measured in docs/modern_blocks.md §7).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from . import zone_options


def inspect(*, hf_config: Any, seq_len: int | None = None, resolution: int | None = None,
            zones: dict[str, Any] | str | None = None) -> Any:
    """Judge the stock initialisation of the Hugging Face config at ``hf_config``: a
    :class:`symsig.app.stock.Verdict` (module docstring; the engine is :func:`symsig.app.stock.verdict`).

    ``seq_len`` overrides the config's context length; ``resolution`` is the prescription grid
    (default: 48 per axis for closed-form kernels; for quadrature kernels, which are slower,
    the largest N with N^2 L <= 8192, at least 8); ``zones``: the zone definition or thresholds
    (default: the calibrated zones, :mod:`symsig.analysis.zones`).
    """
    from .stock import verdict

    return verdict(hf_config=hf_config, seq_len=seq_len, resolution=resolution, zones=zones)


# ----------------------------------------------------------------------------- command line


def run_command(args: argparse.Namespace) -> Any:
    """``symsig inspect``: the summary and a per-layer table, or (``--json``) the Verdict."""
    verdict = inspect(hf_config=args.hf_config, seq_len=args.seq_len, resolution=args.resolution, zones=args.zones)
    if args.json:
        return verdict
    lines = [verdict.summary, ""] + [f"note: {x}" for x in verdict.notes] + ["", "layer       rho         q        Y2"]
    for i, (r, q) in enumerate(zip(verdict.rho, verdict.q)):
        y2 = f"{verdict.Y2[i - 1]:.6g}" if i else "-"
        lines.append(f"{i:5d}  {r:.6g}  {q:.6g}  {y2}")
    lines.append(f"({verdict.seconds:.2f} s)")
    sys.stdout.write("\n".join(lines) + "\n")
    return None


def add_command(command: Callable[[str, str], argparse.ArgumentParser],
                add_common: Callable[..., None]) -> argparse.ArgumentParser:
    """Add ``inspect`` to the parser of :mod:`symsig.app.cli` (``command(name, help)`` makes a subparser)."""
    cmd = command("inspect", "judge a Hugging Face config's stock initialisation: zone, rho/Y2 over depth, prescribed change")
    cmd.add_argument("--hf-config", dest="hf_config", required=True, metavar="PATH",
                     help="config.json of a bert, roberta, gpt2, llama, mistral, qwen2 or qwen3 model, or its directory")
    cmd.add_argument("--seq-len", dest="seq_len", type=int, default=None, metavar="T",
                     help="sequence length T >= 2 (default: the config's max_position_embeddings)")
    cmd.add_argument("--resolution", type=int, default=None, metavar="N",
                     help="prescription grid N x N, N >= 8 (default 48; for quadrature kernels such as SiLU "
                          "the largest N with N^2 L <= 8192)")
    zone_options.add(cmd, float, thresholds=())
    add_common(cmd, dps=False)
    cmd.set_defaults(run=run_command, table=None)
    return cmd


__all__ = ["inspect", "add_command", "run_command"]
