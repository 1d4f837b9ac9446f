"""Derive once: a memory + disk cache for slow symbolic derivations.

Some derivations (a SymPy integral, a solve, a limit) take seconds. ``@derived``
runs a derivation once per machine and pickles its result under ``$SYMSIG_CACHE``
(default ``~/.cache/symsig``). The key covers everything a derivation can depend on:
the function's qualified name and arguments, the SymPy version, and a hash of the
source of every module of :mod:`symsig.theory` and :mod:`symsig.core` (the only
code a derivation may call). Editing any layer map, block or kernel therefore
invalidates every cached derivation; a stale symbolic result cannot be returned.
Corrupt or unreadable entries are re-derived; a read-only cache directory is tolerated.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sympy as sp

F = TypeVar("F", bound=Callable[..., Any])

#: The packages whose sources key the cache (everything a derivation may import).
_KEYED = ("theory", "core")


def cache_dir() -> Path:
    """Directory of the on-disk derivation cache."""
    return Path(os.environ.get("SYMSIG_CACHE", Path.home() / ".cache" / "symsig"))


@functools.cache
def sources_digest() -> str:
    """SHA-256 over the sources of symsig.theory and symsig.core (file names and contents)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(sp.__version__.encode())
    for package in _KEYED:
        for path in sorted((root / package).glob("*.py")):
            digest.update(f"{package}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def derived(fn: F) -> F:
    """Cache ``fn``'s SymPy result in memory and on disk (see module docstring)."""

    @functools.cache
    def wrapper(*args: Any) -> Any:
        key = hashlib.sha256(repr((fn.__module__, fn.__qualname__, args, sources_digest())).encode()).hexdigest()[:24]
        path = cache_dir() / f"{fn.__qualname__}-{key}.pickle"
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # absent or corrupt: derive again
            pass
        result = fn(*args)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(result, fh)
            os.replace(tmp, path)
        except OSError:
            pass
        return result

    wrapper.uncached = fn  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
