"""The one progress helper: a tqdm bar on stderr, silent when stderr is not a terminal."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Progress:
    """Count ``total`` steps of a long job: ``with Progress(n, "simulate") as bar: bar.step()``.

    ``enabled=None`` shows the bar only on a terminal (logs stay free of ``\\r``
    junk); ``False`` never shows it; ``True`` always does.
    """

    def __init__(self, total: int, desc: str, enabled: bool | None = None) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=desc, disable=None if enabled is None else not enabled,
                         leave=False, dynamic_ncols=True)

    def step(self, what: str | None = None, n: int = 1) -> None:
        if what is not None:
            self._bar.set_postfix_str(what, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def track(items: Iterable[T], desc: str, total: int | None = None, enabled: bool | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar (see :class:`Progress`)."""
    items = list(items) if total is None else items
    with Progress(len(items) if total is None else total, desc, enabled) as bar:  # type: ignore[arg-type]
        for item in items:
            yield item
            bar.step()
