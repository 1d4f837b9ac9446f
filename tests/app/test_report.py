"""symsig report: writes a self-contained page that renders in headless Chromium."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from symsig.app.cli import main
from tests.helpers import require_tool

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
]


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> tuple:
    out = tmp_path_factory.mktemp("report")
    code = main(["report", "--out", str(out), "--depth", "8", "--seq-len", "64", "--width", "64", "--seeds", "2"])
    return code, out


def test_report_files(small_report) -> None:
    code, out = small_report
    assert code == 0
    page = (out / "index.html").read_text()
    for heading in ("Critical values", "Trajectories", "Trainability diagram", "Prescription",
                    "Critical conditions", "Formulas used"):
        assert heading in page
    assert page.count("data:image/png;base64,") >= 3  # self-contained: images embedded
    assert not re.search(r"""(src|href)=['"](http|//)""", page)  # no external resources
    assert "1.690308509457033155019236654731890585261571780227" in page  # beta_c(rho0 = 0.3), 50 digits


def test_report_formulas_are_mathml(small_report) -> None:
    """The page is well-formed (HTML and XML parsers); every formula is a <math> element with its
    LaTeX kept (annotation and a collapsed <details>); Piecewise prints as cases, not as text."""
    import xml.etree.ElementTree as ET
    from html.parser import HTMLParser

    from symsig.app.latex import formulas

    _, out = small_report
    page = (out / "index.html").read_text()
    HTMLParser().feed(page)
    root = ET.fromstring(page.removeprefix("<!DOCTYPE html>"))
    m = "{http://www.w3.org/1998/Math/MathML}"
    boxes = [div for div in root.iter("div") if div.get("class") == "formula"]
    shown = [f for f in formulas() if f.section in ("REM", "Layer maps") or f.label.startswith("post-ln")]
    assert len(boxes) == len(shown) >= 15
    for box, f in zip(boxes, shown):
        (math,) = list(box)
        assert math.tag == m + "math" and math.find(f"{m}semantics/{m}annotation").text == f.tex()
    assert len([d for d in root.iter("details") if d.findtext("pre") in {f.tex() for f in shown}]) == len(shown)
    assert "piecewise(" not in page.lower()
    cases = [t for t in root.iter(m + "mtable")]
    assert len(cases) >= 2  # free energy and Parisi m
    assert all(t.text == "otherwise" for t in root.iter(m + "mtext") if t.text.startswith("other"))
    assert "overflow-x:auto" in page  # wide formulas scroll inside their box


def test_report_renders_in_headless_chromium(small_report, tmp_path) -> None:
    _, out = small_report
    browser = require_tool("chromium")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
         f"--screenshot={shot}", (out / "index.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console_errors = [l for l in proc.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l or "Failed to load" in l]
    assert not console_errors, console_errors
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 1500 and pixels.shape[1] >= 1100
    # a rendered page, not a blank one: many distinct colours (text, plots, zone colours)
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200
    # the trainability diagram's zone colours are on screen (green trainable, red rank collapse)
    assert any(np.allclose(c, [0x7C, 0xC4, 0x7C], atol=3) for c in colours)
    assert any(np.allclose(c, [0xD9, 0x53, 0x4F], atol=3) for c in colours)


def test_report_bad_input_exit_2(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "symsig", "report", "--out", str(tmp_path / "r"), "--depth", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
