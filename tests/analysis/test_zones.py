"""Zone definitions: the calibrated default, the named alternatives, overrides (symsig.analysis.zones)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from symsig.analysis.zones import DEFAULT_THRESHOLDS, classify, definition_of, thresholds_from
from symsig.app.cli import main
from symsig.core.names import DEFAULT_ZONES, ZONE_DEFINITIONS, ZONE_DESCRIPTIONS
from symsig.core.validate import InputError


def test_named_definitions_and_overrides() -> None:
    assert DEFAULT_ZONES == "calibrated" and thresholds_from(None) == ZONE_DEFINITIONS["calibrated"] == DEFAULT_THRESHOLDS
    assert thresholds_from("collapse") == {"rank": 0.01, "entropy": 0.1}
    assert thresholds_from({"entropy": 0.2}) == {"rank": ZONE_DEFINITIONS["calibrated"]["rank"], "entropy": 0.2}
    thr = thresholds_from("collapse")
    thr["rank"] = 0.5  # a copy: the definitions are not changed through it
    assert ZONE_DEFINITIONS["collapse"]["rank"] == 0.01
    assert [definition_of(thresholds_from(n)) for n in ZONE_DEFINITIONS] == list(ZONE_DEFINITIONS)
    assert definition_of({"rank": 0.5, "entropy": 0.1}) == "custom"
    assert set(ZONE_DESCRIPTIONS) == set(ZONE_DEFINITIONS) | {"custom"}
    with pytest.raises(InputError, match="unknown zone definition 'colapse'.*did you mean 'collapse'"):
        thresholds_from("colapse")


def test_calibrated_zones_are_stricter_on_rank_and_looser_on_entropy() -> None:
    """At rho0 = 0.3: rho_L = 0.4 keeps 86% (trainable for both), 0.7 keeps 43% (rank for the
    calibrated zones only); a mean IPR of 0.2 is entropy collapse only for the collapse zones."""
    rho_l, y2 = np.array([0.4, 0.7, 0.4]), np.array([0.0, 0.0, 0.2])
    assert classify(rho_l, y2, 0.3, thresholds_from(None)).tolist() == ["trainable", "rank", "trainable"]
    assert classify(rho_l, y2, 0.3, thresholds_from("collapse")).tolist() == ["trainable", "trainable", "entropy"]


@pytest.mark.parametrize("command", [
    ["diagram", "--depth", "6", "--beta", "0.5:3:4", "--alpha-sa", "0:3:4"],
    ["boundary", "--depth", "6", "--beta", "0.5", "--digits", "8"],
    ["prescribe", "--depth", "6"],
])
def test_cli_zone_definition_equals_its_thresholds(command, capsys) -> None:
    """--zones NAME is the same as giving NAME's thresholds one by one, and the output says which."""
    outputs = []
    for extra in (["--zones", "collapse"], ["--rank-threshold", "0.01", "--entropy-threshold", "0.1"], []):
        assert main([*command, *extra, "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] != outputs[2]
    assert outputs[0]["thresholds"] == {"rank": 0.01, "entropy": 0.1}
    assert outputs[2]["thresholds"] == ZONE_DEFINITIONS["calibrated"]
    assert main([*command]) == 0
    assert "calibrated zones" in capsys.readouterr().out


def test_cli_bad_zone_name_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["prescribe", "--depth", "6", "--zones", "strict"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "invalid choice" in err


def test_prescriptions_say_what_they_were_validated_for() -> None:
    from symsig.analysis.prescribe import prescribe
    from symsig.core.names import ZONE_VALIDATION

    assert set(ZONE_VALIDATION) == set(ZONE_DESCRIPTIONS)
    for zones in ZONE_DEFINITIONS:
        summary = prescribe(depth=6, resolution=16, thresholds=zones).summary
        assert summary.endswith(ZONE_VALIDATION[zones]) and f"{zones} zones" in summary
    assert "1e-3 and 3e-3" in ZONE_VALIDATION["calibrated"]
