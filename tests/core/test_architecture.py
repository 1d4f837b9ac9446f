"""Architecture(width=...): validation and the unchanged d -> infinity face (docs/finite_width.md §7)."""
from __future__ import annotations

import pytest

from symsig.core.architecture import Architecture
from symsig.core.validate import InputError


def test_width_none_keeps_the_papers_dict_and_parameters() -> None:
    arch = Architecture(seq_len=512)
    assert "width" not in arch.to_dict() and len(arch.params()) == 7 and not arch.finite_width
    assert Architecture(**arch.to_dict()) == arch


def test_width_is_validated_like_seq_len() -> None:
    arch = Architecture(seq_len=512, width="256")
    assert arch.width == 256 and arch.params()[-1] == 256 and arch.finite_width
    assert Architecture(**arch.to_dict()) == arch and arch.replace(beta=3).width == 256
    for bad in (1, 0, -4, 2.5, "abc"):
        with pytest.raises(InputError, match="width"):
            Architecture(seq_len=512, width=bad)


def test_width_needs_seq_len() -> None:
    with pytest.raises(InputError, match="width needs seq_len") as info:
        Architecture(width=256)
    assert "\n" not in str(info.value)
