"""Finite width as a block parameter (docs/finite_width.md §7): the built-in blocks pass ``width`` to
their attention with the token model of what it reads; blocks not derived at finite width raise."""
from __future__ import annotations

import pytest

from symsig.core.architecture import Architecture
from symsig.core.validate import InputError
from symsig.theory import blocks
from symsig.theory.blocks import architecture_map, block_map, build, register
from symsig.theory.layers import MLP, Attention, LayerNorm
from symsig.theory.symbols import PARAMS, d, p, q


def attentions(layer):
    return [x for x in blocks.sublayers(layer) if isinstance(x, Attention)]


@pytest.mark.parametrize("first, tokens", [(True, "gaussian"), (False, "normalized")])
def test_post_ln_first_block_reads_gaussian_tokens(first: bool, tokens: str) -> None:
    (attn,) = attentions(build("post-ln", finite_t=True, width=d, first=first))
    assert attn.width == d and attn.tokens == tokens and attn.finite_t


@pytest.mark.parametrize("block, first, models", [("post-ln", True, ["gaussian", "normalized"]),
                                                  ("post-ln", False, ["normalized", "normalized"]),
                                                  ("pre-ln", True, ["stream", "stream"])])
def test_layer_norms_get_the_width_and_the_model_of_what_they_read(block: str, first: bool, models: list) -> None:
    norms = [x for x in blocks.sublayers(build(block, finite_t=True, width=d, first=first)) if isinstance(x, LayerNorm)]
    assert [x.skip for x in norms] == models and all(x.width == d for x in norms)
    assert all(x.width is None for x in blocks.sublayers(build(block, finite_t=True)) if isinstance(x, LayerNorm))


@pytest.mark.parametrize("first", [True, False])
def test_pre_ln_attention_always_reads_layer_norm_output(first: bool) -> None:
    (attn,) = attentions(build("pre-ln", finite_t=True, width=d, first=first))
    assert attn.tokens == "normalized"


def test_width_map_takes_d_after_the_parameters() -> None:
    bm = block_map("post-ln", "relu", True, finite_width=True)
    assert bm.args == (q, p, *PARAMS, d) and bm.finite_width
    assert bm.first is not None and bm.first != bm.exprs  # the first block's smearing differs
    assert d in bm.q_next.free_symbols | bm.p_next.free_symbols
    pre = block_map("pre-ln", "relu", True, finite_width=True)
    assert pre.first is None and pre.first_exprs == pre.exprs  # one map for every block


def test_width_none_is_the_cached_finite_t_map() -> None:
    assert block_map("post-ln", "relu", True, finite_width=False) is block_map("post-ln", "relu", True)
    arch = Architecture(seq_len=64)
    assert architecture_map(arch) is block_map("post-ln", "relu", True)
    assert arch.params() == (*Architecture(seq_len=64, width=None).params(),) and len(arch.params()) == len(PARAMS)


def test_width_maps_are_compiled_once_for_every_width() -> None:
    assert architecture_map(Architecture(seq_len=64, width=32)) is architecture_map(Architecture(seq_len=512, width=256))


@pytest.mark.parametrize("block, what", [("llama", "multi-head"), ("llama-qk", "QK-normalised"),
                                         ("pre-ln-published", "published pre-LN")])
def test_blocks_not_derived_at_finite_width_raise(block: str, what: str) -> None:
    with pytest.raises(ValueError, match=what) as info:
        block_map(block, "relu", True, finite_width=True)
    assert "\n" not in str(info.value)


def test_causal_gain_control_and_user_blocks_raise() -> None:
    for block in ("gc-post-ln", "gc-pre-ln"):
        with pytest.raises(ValueError, match="causal gain-controlled"):
            block_map(block, "relu", True, True, finite_width=True)
    register("width-test-user", lambda kernel, **kw: MLP(kernel))
    with pytest.raises(InputError, match="user block"):
        block_map("width-test-user", "relu", True, finite_width=True)


def test_width_needs_finite_t() -> None:
    with pytest.raises(InputError, match="seq_len"):
        block_map("post-ln", "relu", False, finite_width=True)
