"""The package's shape: imports run one way, no cycles, no private names across modules,
small modules, and nothing heavy behind ``import symsig``."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symsig"
#: The layers in import order: a module may import from its own layer and the ones before it.
LAYERS = ("core", "theory", "numerics", "analysis", "simulation", "app")
#: Third-party imports forbidden per layer (core stays light; theory is SymPy only).
FORBIDDEN = {"core": {"sympy", "scipy", "torch", "transformers", "matplotlib"},
             "theory": {"numpy", "scipy", "mpmath", "torch", "transformers", "matplotlib"}}
MAX_LINES = 450
#: Modules still over the limit, each to be split by idea (the list only shrinks).
TO_SPLIT: set[str] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import in the file, nested ones included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            found.append((target, names, node.lineno))
            # "from . import x" imports the submodule x
            found += [(f"{target}.{n}", [], node.lineno) for n in names if f"{target}.{n}" in MODULES]
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "symsig" and parts[1] in LAYERS else None


def test_imports_run_one_way() -> None:
    bad = []
    for name, path in MODULES.items():
        own = _layer(name)
        if own is None:  # symsig/__init__.py and __main__.py: the public face, may import anything
            continue
        for target, _, line in _imports(name, path):
            layer = _layer(target)
            if layer is not None and LAYERS.index(layer) > LAYERS.index(own):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {target} ({layer})")
            top = target.split(".")[0]
            if top in FORBIDDEN.get(own, ()):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {top}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    graph = {name: {t for t, _, _ in _imports(name, path) if t in MODULES and t != name and not name.startswith(t + ".")
                    and t != "symsig"}
             for name, path in MODULES.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [node, nxt]) if nxt in stack else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_no_private_names_across_modules() -> None:
    bad = []
    for name, path in MODULES.items():
        for target, names, line in _imports(name, path):
            if target.startswith("symsig") and target != name:
                bad += [f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}.{n}" for n in names
                        if n.startswith("_") and n != "__version__"]
    assert not bad, "\n".join(bad)


def test_modules_are_small() -> None:
    big = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES and str(p.relative_to(PACKAGE.parent)) not in TO_SPLIT}
    assert not big, f"modules over {MAX_LINES} lines (split them by idea): {big}"


def test_api_names_are_not_modules_and_resolve_every_time() -> None:
    """No module bears an API name, so importing submodules never rebinds ``symsig.<name>``."""
    import importlib

    import symsig

    for name in symsig.__all__:
        assert f"symsig.{name}" not in MODULES, f"module symsig.{name} would shadow the API function"
        first = getattr(symsig, name)
    for module in MODULES:  # import everything, then look again
        if "hf" not in module and not module.endswith("__main__"):
            importlib.import_module(module)
    for name in symsig.__all__:
        assert getattr(symsig, name) is getattr(importlib.import_module(symsig._API[name][0]), symsig._API[name][1])
    assert callable(symsig.critical) and symsig.critical(beta=3, rho=0).rho_c == pytest.approx(7 / 9)


def test_import_symsig_is_light() -> None:
    code = "import sys, symsig; print(sorted(m for m in ('sympy', 'torch', 'scipy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ----------------------------------------------------------------------------- references in the text

ROOT = PACKAGE.parent
#: Tracked text files whose prose may cite documents (code, docs, notebooks, configuration).
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".toml", ".tex", ".txt", ".cfg"}


def _tracked_text() -> dict[str, str]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return {f: (ROOT / f).read_text(encoding="utf-8", errors="replace") for f in files
            if (Path(f).suffix in TEXT_SUFFIXES or Path(f).name == "Makefile") and (ROOT / f).is_file()}


TRACKED = _tracked_text()


def test_no_reference_outside_the_repository() -> None:
    """Nothing cites a document that is not in the repository (the names are built so this file
    does not match itself)."""
    forbidden = ["THEORY" + ".md", "DESIGN" + ".md", "REVIEW" + ".md", "../" + "shared"]
    bad = [f"{f}:{n}: {line.strip()[:100]}" for f, text in TRACKED.items() if f != "tests/test_layout.py"
           for n, line in enumerate(text.splitlines(), 1) if any(name in line for name in forbidden)]
    assert not bad, "references to files outside the repository:\n" + "\n".join(bad)


#: "docs/theory.md §4.1, §4.2", "§7.2-7.3", "§5–§7": the citation and any list or range after it.
_CITATION = re.compile(r"docs/theory\.md\s*(§\d+(?:\.\d+)*(?:\s*(?:,|-|–|and|or)\s*§?\d+(?:\.\d+)*)*)")


def test_theory_citations_name_existing_sections() -> None:
    theory = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#+ §(\d+(?:\.\d+)*)\s", theory, flags=re.MULTILINE))
    assert {"1", "3.2", "5.6.1", "12"} <= sections  # the heading pattern still reads docs/theory.md
    cited = [(f, number) for f, text in TRACKED.items() for match in _CITATION.finditer(text)
             for number in re.findall(r"\d+(?:\.\d+)*", match.group(1))]
    assert len(cited) > 50  # the pattern still finds the citations
    bad = sorted({f"{f}: docs/theory.md §{number}" for f, number in cited if number not in sections})
    assert not bad, "citations of sections that docs/theory.md does not have:\n" + "\n".join(bad)
