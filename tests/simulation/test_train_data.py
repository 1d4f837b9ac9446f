"""The training data: story grammar, Markov chain, tokenizer, batches, unigram baseline (numpy only)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symsig.core.validate import InputError
from symsig.simulation.train import data as D


def test_stories_are_deterministic_and_seeded() -> None:
    assert D.stories(20, 3) == D.stories(20, 3)
    assert D.stories(20, 3) != D.stories(20, 4)
    assert D.stories(5, 3) == D.stories(20, 3)[:5]  # a prefix does not depend on how many follow


@pytest.mark.parametrize("seed", range(5))
def test_story_agreement_is_long_range(seed: int) -> None:
    """The grammar's promise: pronouns and kind agree with the protagonist, the object is named twice."""
    heroes = {"he": ("boy",), "she": ("girl",), "they": ("kids", "brothers", "sisters", "dogs")}
    for text in D.stories(30, seed):
        words = text.split()
        prons = {w for w in words if w in heroes}
        assert len(prons) == 1, text  # one protagonist, one pronoun
        (pron,) = prons
        assert any(k in words for k in heroes[pron]), text
        found = words.index("found")
        obj = words[found + 2]
        assert words[found + 3:].count(obj) >= 1, text  # named again later


def test_corpus_is_deterministic_and_split() -> None:
    a = D.corpus(n_stories=300, data_seed=1)
    D.corpus.cache_clear()
    b = D.corpus(n_stories=300, data_seed=1)
    assert a.tokenizer == b.tokenizer
    assert np.array_equal(a.train, b.train) and np.array_equal(a.held_out, b.held_out)
    assert a.tokenizer.vocab[: len(D.SPECIALS)] == D.SPECIALS
    # 10% of the documents held out, [SEP] after each document
    assert (a.train == D.SEP).sum() == 270 and (a.held_out == D.SEP).sum() == 30
    c = D.corpus(n_stories=300, data_seed=2)
    assert not np.array_equal(a.train[:200], c.train[:200])


WORDS = st.lists(st.sampled_from(D.Tokenizer.fit(D.stories(50, 0)).vocab[len(D.SPECIALS):]), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(words=WORDS, upper=st.booleans(), gaps=st.sampled_from([" ", "  ", "\n", "\t "]))
def test_tokenizer_round_trip(words: list[str], upper: bool, gaps: str) -> None:
    tok = D.Tokenizer.fit(D.stories(50, 0))
    text = gaps.join(w.upper() if upper else w for w in words)
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and (ids >= len(D.SPECIALS)).all()  # in-vocabulary words only
    assert tok.decode(ids) == D.normalise(text) == " ".join(words)


def test_tokenizer_vocabulary_order_and_unknown_words() -> None:
    tok = D.Tokenizer.fit(["b a b c", "c b"], max_size=6)
    assert tok.vocab == D.SPECIALS + ("b", "c")  # by count, then alphabetical; 'a' cut
    assert tok.encode("a b zzz").tolist() == [D.UNK, 4, D.UNK]
    assert tok.encode("Hello, world!").tolist() == [D.UNK] * 4  # punctuation marks are tokens
    with pytest.raises(InputError):
        D.Tokenizer.fit(["a"], max_size=4)


def test_file_corpus(tmp_path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("\n\n".join(D.stories(40, 0)) + "\n")
    corp = D.corpus(path=str(path))
    assert corp.source == str(path) and (corp.held_out == D.SEP).sum() == 4
    with pytest.raises(InputError, match="not found"):
        D.corpus(path=str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(InputError, match="no text"):
        D.corpus(path=str(tmp_path / "empty.txt"))
    (tmp_path / "short.txt").write_text("one two\n\nthree")
    with pytest.raises(InputError, match="tokens"):
        D.corpus(path=str(tmp_path / "short.txt"))


@pytest.mark.parametrize("causal", [False, True])
def test_batches(causal: bool) -> None:
    corp = D.corpus(n_stories=300, data_seed=1)
    b = D.batch(corp.train, np.random.default_rng(0), size=16, seq_len=12, causal=causal, mask_prob=0.15)
    assert b.inputs.shape == b.targets.shape == (16, 12)
    if causal:  # next token: targets are the inputs shifted by one
        assert np.array_equal(b.inputs[:, 1:], b.targets[:, :-1]) and (b.targets != D.IGNORE).all()
    else:  # loss exactly at the [MASK] positions, at least one per window
        masked = b.inputs == D.MASK
        assert np.array_equal(masked, b.targets != D.IGNORE) and masked.any(axis=1).all()
        assert (b.targets[masked] != D.MASK).all()
    ev1 = D.eval_batches(corp, count=2, size=4, seq_len=12, causal=causal, mask_prob=0.15, data_seed=1)
    ev2 = D.eval_batches(corp, count=2, size=4, seq_len=12, causal=causal, mask_prob=0.15, data_seed=1)
    assert all(np.array_equal(x.inputs, y.inputs) and np.array_equal(x.targets, y.targets) for x, y in zip(ev1, ev2))


def test_unigram_loss_by_hand() -> None:
    corp = D.corpus(n_stories=300, data_seed=1)
    batches = D.eval_batches(corp, count=2, size=8, seq_len=16, causal=False, mask_prob=0.2, data_seed=0)
    counts = {i: 1 + int((corp.train == i).sum()) for i in range(corp.vocab_size)}
    total = sum(counts.values())
    targets = [int(t) for b in batches for t in b.targets.ravel() if t != D.IGNORE]
    want = -sum(math.log(counts[t] / total) for t in targets) / len(targets)
    assert D.unigram_loss(corp, batches) == pytest.approx(want, rel=1e-12)
    assert want < math.log(corp.vocab_size)  # the corpus is not uniform


def test_markov_chain_table() -> None:
    table = D.markov_chain(32, 2, 0)
    assert table.shape == (32, 2) and (table[:, 0] != table[:, 1]).all()
    assert (table >= 0).all() and (table < 32).all()
    assert (table == D.markov_chain(32, 2, 0)).all() and (table != D.markov_chain(32, 2, 1)).any()
    assert sorted(D.markov_chain(5, 5, 3)[0]) == list(range(5))  # every state a successor
    with pytest.raises(InputError, match="at most the number of states"):
        D.markov_chain(4, 5, 0)


def test_markov_corpus_follows_its_chain() -> None:
    """Every transition inside a sequence is one of the table's; each successor is taken with
    frequency 1/K (binomial: the largest of 64 deviations stays within 5 standard errors)."""
    corp = D.corpus(data="markov", n_stories=2000, data_seed=5)
    table = D.markov_chain(D.MARKOV_STATES, D.MARKOV_SUCCESSORS, 5) + len(D.SPECIALS)
    assert corp.vocab_size == len(D.SPECIALS) + D.MARKOV_STATES and corp.source == "markov(32, 2)"
    for stream in (corp.train, corp.held_out):
        rows = stream.reshape(-1, D.MARKOV_LENGTH + 1)
        assert (rows[:, -1] == D.SEP).all() and (rows[:, :-1] >= len(D.SPECIALS)).all()
        prev, nxt = rows[:, :-2].ravel(), rows[:, 1:-1].ravel()
        hit = table[prev - len(D.SPECIALS)] == nxt[:, None]
        assert hit.any(axis=1).all()
    # on the held-out stream (the last checked): ~ 200 x 127 transitions, ~ 800 per state
    n = np.bincount(prev - len(D.SPECIALS), minlength=32)
    first = np.bincount(prev[hit[:, 0]] - len(D.SPECIALS), minlength=32)
    seen = n > 100
    z = (first[seen] - n[seen] / 2) / np.sqrt(n[seen] / 4)
    assert np.abs(z).max() < 5
    # the statistic has power: successors taken 60/40 would be seen
    assert np.abs((0.6 * n[seen] - n[seen] / 2) / np.sqrt(n[seen] / 4)).max() > 5
    assert D.corpus(data="markov", n_stories=2000, data_seed=5, successors=1).train.size == corp.train.size
    with pytest.raises(InputError, match="unknown data"):
        D.corpus(data="poems")
