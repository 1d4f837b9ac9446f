"""Derive once: a memory + disk cache for symbolic derivations.

Some derivations (a SymPy integral, a solve) take seconds. ``@derived`` runs a
zero-argument (or hashable-argument) derivation once per machine: the result is
pickled under ``$SYMSIG_CACHE`` (default ``~/.cache/symsig``) keyed by the
function's qualified name, its arguments, its source code and the SymPy
version, so editing the derivation invalidates its entry. Corrupt or
unreadable entries are re-derived; a read-only cache directory is tolerated.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sympy as sp

F = TypeVar("F", bound=Callable[..., Any])


def cache_dir() -> Path:
    """Directory of the on-disk derivation cache."""
    return Path(os.environ.get("SYMSIG_CACHE", Path.home() / ".cache" / "symsig"))


def derived(fn: F) -> F:
    """Cache ``fn``'s SymPy result in memory and on disk (see module docstring)."""
    source = inspect.getsource(fn)

    @functools.cache
    def wrapper(*args: Any) -> Any:
        key = hashlib.sha256(
            repr((fn.__module__, fn.__qualname__, args, source, sp.__version__)).encode()
        ).hexdigest()[:24]
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
