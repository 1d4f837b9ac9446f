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
    calibrated = ZONE_DEFINITIONS["calibrated"]
    assert DEFAULT_ZONES == "calibrated" and thresholds_from(None) == calibrated == DEFAULT_THRESHOLDS
    assert thresholds_from("collapse") == {"rank": 0.01, "entropy": 0.1}
    assert thresholds_from({"entropy": 0.2}) == calibrated | {"entropy": 0.2}      # a partial mapping updates
    assert thresholds_from({"rank": 0.01, "entropy": 0.1}) == ZONE_DEFINITIONS["collapse"]   # a whole one replaces
    thr = thresholds_from("collapse")
    thr["rank"] = 0.5  # a copy: the definitions are not changed through it
    assert ZONE_DEFINITIONS["collapse"]["rank"] == 0.01
    assert [definition_of(thresholds_from(n)) for n in ZONE_DEFINITIONS] == list(ZONE_DEFINITIONS)
    assert definition_of({"rank": 0.5, "entropy": 0.1}) == "custom"
    assert definition_of({"rank": calibrated["rank"], "entropy": calibrated["entropy"]}) == "custom"  # no rescue
    assert definition_of(calibrated | {"gradient": 0.1}) == "calibrated"        # the optional zone does not rename
    assert set(ZONE_DESCRIPTIONS) == set(ZONE_DEFINITIONS) | {"custom"}
    with pytest.raises(InputError, match="unknown zone definition 'colapse'.*did you mean 'collapse'"):
        thresholds_from("colapse")
    with pytest.raises(InputError, match="rescue .* must be above the rank threshold"):
        thresholds_from({"rescue": calibrated["rank"]})
    with pytest.raises(InputError, match="unknown threshold 'resuce'"):
        thresholds_from({"resuce": 0.9})


def test_calibrated_zones_rank_entropy_and_rescue() -> None:
    """At rho0 = 0.3 (1 - rho0 = 0.7), calibrated: rank below 40% kept, entropy above IPR 0.1 unless
    88% is kept. rho_L = 0.35 keeps 93%, 0.4 keeps 86%, 0.65 keeps 50%, 0.75 keeps 36%."""
    assert ZONE_DEFINITIONS["calibrated"] == {"rank": 0.4, "entropy": 0.1, "rescue": 0.88}
    rho_l = np.array([0.35, 0.35, 0.4, 0.4, 0.65, 0.65, 0.75, 0.75])
    y2 = np.array([0.0, 0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.2])
    assert classify(rho_l, y2, 0.3, thresholds_from(None)).tolist() == [
        "trainable", "trainable", "trainable", "entropy", "trainable", "entropy", "rank", "entropy"]  # 93% rescues
    assert classify(rho_l, y2, 0.3, thresholds_from("collapse")).tolist() == [
        "trainable", "entropy", "trainable", "entropy", "trainable", "entropy", "trainable", "entropy"]
    # the rescue edge: exactly the rescue fraction kept is rescued (g_rescue >= 0)
    edge = 1 - ZONE_DEFINITIONS["calibrated"]["rescue"] * 0.5
    assert classify(np.array([edge - 1e-9, edge + 1e-9]), np.array([0.5, 0.5]), 0.5,
                    thresholds_from(None)).tolist() == ["trainable", "entropy"]


@pytest.mark.parametrize("command", [
    ["diagram", "--depth", "6", "--beta", "0.5:3:4", "--alpha-sa", "0:3:4"],
    ["boundary", "--depth", "6", "--beta", "0.5", "--digits", "8"],
    ["prescribe", "--depth", "6"],
])
def test_cli_zone_definition_equals_its_thresholds(command, capsys) -> None:
    """--zones NAME is NAME's thresholds; the threshold options override them one by one (collapse
    with the calibrated rank and rescue is the calibrated definition), and the output says which."""
    calibrated = ZONE_DEFINITIONS["calibrated"]
    outputs = []
    for extra in (["--zones", "collapse"], ["--zones", "collapse", "--rank-threshold", str(calibrated["rank"]),
                                            "--rescue-threshold", str(calibrated["rescue"])], []):
        assert main([*command, *extra, "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[1] == outputs[2] != outputs[0]
    assert outputs[0]["thresholds"] == {"rank": 0.01, "entropy": 0.1}
    assert outputs[2]["thresholds"] == calibrated
    assert main([*command]) == 0
    assert "calibrated zones" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:       # a rescue below the rank threshold: one line, exit 2
        main([*command, "--rescue-threshold", "0.3"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "must be above the rank threshold" in err


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
