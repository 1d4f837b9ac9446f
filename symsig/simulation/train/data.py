"""Training data without a network: a story grammar, a sparse Markov chain, a word-level
tokenizer, batches.

* :func:`stories` writes short stories from a small probabilistic grammar with
  long-range agreement: the protagonist's name, kind (boy/girl/...), pronouns
  (he/his, she/her, they/their) and verb number (plays/play) agree across the
  story, and the object found in one sentence is named again sentences later.
  Predicting a masked pronoun or the repeated object needs attention to tokens
  far away; the other words need only their neighbours. Deterministic from a seed.
* :func:`markov_chain` and :func:`markov_sequences`: the second kind of data, a random
  sparse Markov chain on ``states`` tokens in which each token has ``successors``
  possible successors (distinct, drawn uniformly, each taken with probability
  1/successors). Its masked tokens are predicted from their two neighbours alone: a
  task for local attention, with a long-range part only through the chain's memory.
* :class:`Tokenizer`: lower-cased words and punctuation marks, split by
  :data:`WORD` (one regular expression), the vocabulary sorted by frequency then
  alphabetically after the special tokens :data:`SPECIALS`; unknown words map to
  ``[UNK]``. ``decode(encode(text)) == normalise(text)`` for in-vocabulary text.
* :func:`corpus`: train and held-out token streams (documents joined by ``[SEP]``)
  from the grammar, the Markov chain (:data:`DATA`) or from any plain-text file (documents = blank-line separated
  paragraphs, the last ``eval_fraction`` of them held out).
* Batches are windows of ``seq_len`` tokens at random offsets: masked-token
  prediction (each token masked with probability ``mask_prob`` and replaced by
  ``[MASK]``, at least one per window; loss on the masked positions) or next-token
  prediction (causal; windows of seq_len + 1, loss at every position).
* :func:`unigram_loss`: the held-out cross-entropy of the add-one-smoothed
  unigram distribution of the training stream, the level a model reaches
  without using the context.

numpy only (no torch): the arrays are converted by the training loop.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...core import validate
from ...core.validate import InputError

#: Special tokens, ids 0.. in this order.
SPECIALS: tuple[str, ...] = ("[PAD]", "[UNK]", "[MASK]", "[SEP]")
PAD, UNK, MASK, SEP = range(len(SPECIALS))
#: A token: a run of letters, digits and apostrophes, or any other single non-space character.
WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")

# ----------------------------------------------------------------------------- grammar

#: Protagonists: (name, kind, subject pronoun, possessive, number).
_HEROES = (
    [(n, "boy", "he", "his", "s") for n in ("tom", "ben", "sam", "max", "leo", "jack")]
    + [(n, "girl", "she", "her", "s") for n in ("lily", "mia", "anna", "sue", "emma", "zoe")]
    + [(n, k, "they", "their", "p") for n, k in (("the twins", "kids"), ("tim and tom", "brothers"),
                                                 ("ann and sue", "sisters"), ("the pups", "dogs"))]
)
_ADJ = ("little", "happy", "brave", "kind", "small", "funny", "shy", "curious")
_HOME = ("house", "hut", "farm", "town", "tree", "castle")
_PLACE = ("park", "forest", "garden", "river", "beach", "hill", "yard", "lake")
_PET = ("dog", "cat", "fish", "bird", "frog", "pony")
_OBJ = ("ball", "box", "key", "hat", "book", "shell", "stone", "cup", "map", "kite", "coin", "toy")
_RELATIVE = ("mom", "dad", "friend", "sister", "brother", "grandma")
_FEEL = ("happy", "sad", "surprised", "scared", "proud", "excited")
#: Verbs: (singular, plural).
_VERB = (("plays", "play"), ("runs", "run"), ("sings", "sing"), ("reads", "read"), ("walks", "walk"),
         ("jumps", "jump"), ("swims", "swim"), ("draws", "draw"))
_SAYS = {"s": "says", "p": "say"}
_IS = {"s": "is", "p": "are"}
_WAS = {"s": "was", "p": "were"}


def story(rng: np.random.Generator) -> str:
    """One story (a few sentences whose middle part is shuffled, so positions vary)."""
    def pick(options: tuple | list) -> str:
        return options[int(rng.integers(len(options)))]

    name, kind, pron, poss, num = pick(_HEROES)
    pet, obj, rel, place = pick(_PET), pick(_OBJ), pick(_RELATIVE), pick(_PLACE)
    verb = pick(_VERB)[0 if num == "s" else 1]
    article = "a " if num == "s" else ""
    opening = f"once there {_WAS[num]} {article}{pick(_ADJ)} {kind} called {name} ."
    middle = [
        f"{pron} lived in a {pick(_ADJ)} {pick(_HOME)} near the {place} .",
        f"every day {pron} {verb} with {poss} {pet} .",
        f"{name} {_IS[num]} very {pick(_FEEL)} today .",
        f"{poss} {rel} {_SAYS['s']} hello to {name} .",
    ]
    rng.shuffle(middle)
    middle = middle[: 2 + int(rng.integers(3))]
    finding = f"one day {name} found a {obj} in the {pick(_PLACE)} ."
    after = [
        f"{pron} showed the {obj} to {poss} {rel} .",
        f"the {rel} said the {obj} {_IS['s']} for {name} .",
        f"{pron} {_WAS[num]} {pick(_FEEL)} and kept the {obj} .",
    ]
    rng.shuffle(after)
    ending = f"{name} and {poss} {pet} went home . the end ."
    return " ".join([opening, *middle, finding, *after[: 1 + int(rng.integers(3))], ending])


def stories(n: int, seed: int) -> list[str]:
    """``n`` stories, deterministic given ``seed``."""
    n = validate.integer("stories", n, 1)
    rng = np.random.default_rng(validate.integer("data_seed", seed, 0))
    return [story(rng) for _ in range(n)]


# ----------------------------------------------------------------------------- Markov chain

#: The built-in kinds of data (``data=``): the story grammar and the sparse Markov chain.
DATA: tuple[str, ...] = ("stories", "markov")
#: Markov chain defaults: states (the vocabulary without the special tokens), successors per
#: state, tokens per sequence (one document).
MARKOV_STATES, MARKOV_SUCCESSORS, MARKOV_LENGTH = 32, 2, 128


def markov_chain(states: int, successors: int, seed: int) -> np.ndarray:
    """Successor table (states x successors) of a random sparse chain: row s lists the
    ``successors`` distinct tokens that may follow s, each with probability 1/successors."""
    states = validate.integer("markov states (vocab_size)", states, 2)
    k = validate.integer("successors", successors, 1)
    if k > states:
        raise InputError(f"successors ({k}) must be at most the number of states ({states})")
    rng = np.random.default_rng([validate.integer("data_seed", seed, 0), 3])
    return np.argsort(rng.random((states, states)), axis=1)[:, :k]


def markov_sequences(table: np.ndarray, n: int, length: int, seed: int) -> np.ndarray:
    """``n`` sequences (n x length state ids) of the chain ``table``, each started at a uniform
    state; deterministic given ``seed``."""
    rng = np.random.default_rng([seed, 4])
    out = np.empty((n, length), dtype=np.int64)
    out[:, 0] = rng.integers(0, table.shape[0], size=n)
    picks = rng.integers(0, table.shape[1], size=(n, length))
    for t in range(1, length):
        out[:, t] = table[out[:, t - 1], picks[:, t]]
    return out


# ----------------------------------------------------------------------------- tokenizer


def normalise(text: str) -> str:
    """The text as the tokenizer sees it: lower-cased tokens joined by single spaces."""
    return " ".join(WORD.findall(text.lower()))


@dataclass(frozen=True)
class Tokenizer:
    """Word-level tokenizer: ``vocab[i]`` is the token of id i (:data:`SPECIALS` first)."""

    vocab: tuple[str, ...]

    @classmethod
    def fit(cls, texts: list[str], max_size: int | None = None) -> Tokenizer:
        """Vocabulary of ``texts``: specials, then words by decreasing count (ties alphabetical),
        at most ``max_size`` entries in all (the rarest words become ``[UNK]``)."""
        counts = Counter(w for t in texts for w in WORD.findall(t.lower()))
        words = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], w))
        limit = None if max_size is None else max_size - len(SPECIALS)
        if limit is not None and limit < 1:
            raise InputError(f"vocab_size must be > {len(SPECIALS)} (the special tokens), got {max_size}")
        return cls(SPECIALS + tuple(words[:limit]))

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.vocab)}

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int64) of ``text``."""
        idx = self.index
        return np.array([idx.get(w, UNK) for w in WORD.findall(text.lower())], dtype=np.int64)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        """The tokens of ``ids`` joined by spaces."""
        return " ".join(self.vocab[int(i)] for i in ids)


# ----------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Corpus:
    """Train and held-out token streams (``[SEP]`` between documents) and their tokenizer."""

    tokenizer: Tokenizer
    train: np.ndarray
    held_out: np.ndarray
    source: str

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer.vocab)


def _stream(tok: Tokenizer, docs: list[str]) -> np.ndarray:
    parts = []
    for doc in docs:
        parts += [tok.encode(doc), np.array([SEP], dtype=np.int64)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def read_documents(path: str) -> list[str]:
    """Blank-line separated paragraphs of a plain-text file (UTF-8)."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"corpus file not found: {path}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"corpus file is not UTF-8 text: {path}") from None
    docs = [d.strip() for d in re.split(r"\n\s*\n", text) if d.strip()]
    if not docs:
        raise InputError(f"corpus file has no text: {path}")
    return docs


def _split(n_docs: int, eval_fraction: float) -> int:
    """Index of the first held-out document (the last ``eval_fraction``, at least one)."""
    if n_docs < 2:
        raise InputError("the corpus needs at least 2 documents (one held out)")
    return n_docs - max(1, int(round(eval_fraction * n_docs)))


@lru_cache(maxsize=4)
def corpus(*, path: str | None = None, n_stories: int = 4000, data_seed: int = 0,
           vocab_size: int | None = None, eval_fraction: float = 0.1, min_tokens: int = 64,
           data: str = "stories", successors: int = MARKOV_SUCCESSORS) -> Corpus:
    """Tokenized documents: of a text file (``path``), else of the built-in ``data``: the
    grammar's stories or ``n_stories`` Markov sequences of :data:`MARKOV_LENGTH` tokens
    (``vocab_size`` states, default :data:`MARKOV_STATES`; the model's vocabulary adds the
    special tokens).

    The vocabulary is fitted on the training documents only. Cached per process
    (the sweep's runs share it). Both streams must hold at least ``min_tokens`` tokens.
    """
    if path is None and validate.choice("data", data, DATA) == "markov":
        table = markov_chain(MARKOV_STATES if vocab_size is None else vocab_size, successors, data_seed)
        seqs = markov_sequences(table, n_stories, MARKOV_LENGTH, data_seed) + len(SPECIALS)
        tok = Tokenizer(SPECIALS + tuple(f"s{i}" for i in range(table.shape[0])))
        cut = _split(len(seqs), eval_fraction)

        def join(rows: np.ndarray) -> np.ndarray:
            return np.concatenate([rows, np.full((len(rows), 1), SEP)], axis=1).ravel()

        train, held, source = join(seqs[:cut]), join(seqs[cut:]), f"markov({table.shape[0]}, {table.shape[1]})"
    else:
        docs = stories(n_stories, data_seed) if path is None else read_documents(path)
        cut = _split(len(docs), eval_fraction)
        tok = Tokenizer.fit(docs[:cut], vocab_size)
        train, held, source = _stream(tok, docs[:cut]), _stream(tok, docs[cut:]), "grammar" if path is None else str(path)
    for name, arr in (("training", train), ("held-out", held)):
        if arr.size < min_tokens:
            raise InputError(f"the {name} part of the corpus has {arr.size} tokens; need at least {min_tokens} "
                             "(give more text or more stories)")
    return Corpus(tok, train, held, source)


# ----------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Batch:
    """``inputs`` (B, T) token ids, ``targets`` (B, T) ids with -100 where no loss is taken."""

    inputs: np.ndarray
    targets: np.ndarray


IGNORE = -100  # the target id that carries no loss (torch's cross_entropy ignore_index default)


def batch(stream: np.ndarray, rng: np.random.Generator, *, size: int, seq_len: int, causal: bool,
          mask_prob: float) -> Batch:
    """``size`` windows at random offsets: masked-token (encoder) or next-token (causal) prediction."""
    width = seq_len + 1 if causal else seq_len
    if stream.size < width + 1:
        raise InputError(f"a token stream of {stream.size} tokens is too short for seq_len {seq_len}")
    starts = rng.integers(0, stream.size - width + 1, size=size)
    win = stream[starts[:, None] + np.arange(width)[None, :]]
    if causal:
        return Batch(win[:, :-1].copy(), win[:, 1:].copy())
    masked = rng.random(win.shape) < mask_prob
    masked[np.arange(size), rng.integers(0, seq_len, size=size)] = True  # at least one per window
    inputs = np.where(masked, MASK, win)
    return Batch(inputs, np.where(masked, win, IGNORE))


def eval_batches(corp: Corpus, *, count: int, size: int, seq_len: int, causal: bool, mask_prob: float,
                 data_seed: int) -> list[Batch]:
    """Fixed held-out batches (windows and masks from ``data_seed`` only): every run sees the same."""
    rng = np.random.default_rng([data_seed, 1])
    return [batch(corp.held_out, rng, size=size, seq_len=seq_len, causal=causal, mask_prob=mask_prob)
            for _ in range(count)]


def unigram_loss(corp: Corpus, batches: list[Batch]) -> float:
    """Mean -log p(target) over the loss positions of ``batches``, p the add-one-smoothed
    unigram distribution of the training stream (the no-context baseline, nats)."""
    counts = np.bincount(corp.train, minlength=corp.vocab_size).astype(float) + 1.0
    logp = np.log(counts / counts.sum())
    targets = np.concatenate([b.targets[b.targets != IGNORE] for b in batches])
    return float(-logp[targets].mean())
