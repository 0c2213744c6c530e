"""The documentation stays true: code blocks run, the API reference is complete,
and the site builds with `mkdocs build --strict`.

A line in a doc's code block may end with ``# in tests: EXPR``; the test runs it
with EXPR as the right-hand side, so a tutorial can show a real training budget
while the suite runs a tiny one.
"""

import importlib
import os
import pathlib
import re
import subprocess
import sys

import pytest

import rlblocks as rlb

ROOT = pathlib.Path(__file__).resolve().parents[1]
# README.md is run by tests/test_readme.py, which also checks its printed output.
DOC_FILES = sorted(
    p for p in [ROOT / "examples" / "README.md", *ROOT.glob("docs/*.md")] if p.exists()
)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
IN_TESTS = re.compile(r"^(\s*[\w.\[\]\"']+\s*=\s*).*#\s*in tests:\s*(.+)$", re.M)


def python_blocks(path: pathlib.Path) -> list[str]:
    """Return the ```python blocks of a markdown file, test budgets substituted."""
    return [IN_TESTS.sub(r"\1\2", b) for b in BLOCK.findall(path.read_text())]


def test_in_tests_substitution():
    text = "steps = 100_000  # in tests: 200\nx = 1\n"
    assert IN_TESTS.sub(r"\1\2", text) == "steps = 200\nx = 1\n"


# Only the docs that have python blocks (the others would be skipped every run).
RUNNABLE = [p for p in DOC_FILES if python_blocks(p)]


def test_some_docs_have_runnable_blocks():
    assert len(RUNNABLE) >= 3, [str(p.relative_to(ROOT)) for p in RUNNABLE]


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_code_blocks_run(path, tmp_path, monkeypatch):
    blocks = python_blocks(path)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_test__"}
    for i, block in enumerate(blocks):
        code = compile(block, f"{path.name}[block {i}]", "exec")
        exec(code, namespace)


def _load_gen_api():
    spec = importlib.util.spec_from_file_location(
        "gen_api", ROOT / "docs" / "gen_api.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_pages_are_current():
    assert _load_gen_api().main(["--check"]) == 0, "run: python docs/gen_api.py"


def test_every_public_name_is_in_the_api_reference():
    text = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    documented = set(re.findall(r"^::: rlblocks\.(\w+)$", text, re.M))
    assert set(rlb.__all__) <= documented
    for sub in _load_gen_api().SUBPACKAGES:
        try:
            module = importlib.import_module(f"rlblocks.{sub}")
        except ImportError:
            continue
        for name in getattr(module, "__all__", []):
            assert f"::: rlblocks.{sub}.{name}\n" in text, f"rlblocks.{sub}.{name}"


def test_mkdocs_builds_strict(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stderr, out.stderr
    page = (tmp_path / "site" / "api" / "value_learning" / "index.html").read_text()
    # q_learning's equation line is typeset; NamedTuple field accessors are hidden
    assert 'alttext="δ = rₜ + γₜ maxₐ q(sₜ, a) − q(sₜ₋₁, aₜ₋₁)"' in page
    assert "Alias for field number" not in page
    # the agents' modules are rendered whole: their factories have entries
    agents = (tmp_path / "site" / "api" / "agents" / "index.html").read_text()
    for name in (
        "dqn.dqn",
        "dqn_jit.dqn_jit",
        "ppo.ppo",
        "data_parallel.data_parallel",
    ):
        assert f'id="rlblocks.agents.{name}"' in agents, name


def _load_equations():
    spec = importlib.util.spec_from_file_location(
        "equations", ROOT / "docs" / "equations.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_equation_line_becomes_mathml():
    eq = _load_equations()
    got = eq.to_mathml("δ = rₜ₊₁ + γ_b x² if x ≤ `k`")
    row = (
        "<mi>δ</mi><mo>=</mo>"
        "<msub><mi>r</mi><mrow><mi>t</mi><mo>+</mo><mn>1</mn></mrow></msub><mo>+</mo>"
        "<msub><mi>γ</mi><mrow><mi>b</mi></mrow></msub>"
        '<mspace width="0.25em"></mspace>'  # a space between two factors
        "<msup><mi>x</mi><mrow><mn>2</mn></mrow></msup>"
        "<mtext>\u00a0if\u00a0</mtext><mi>x</mi><mo>≤</mo>"
        '<mtext mathvariant="monospace">k</mtext>'
    )
    alt = "δ = rₜ₊₁ + γ_b x² if x ≤ `k`"
    assert got == f'<math display="block" alttext="{alt}"><mrow>{row}</mrow></math>'


@pytest.mark.parametrize(
    ("paragraph", "math", "prose"),
    [
        (
            "ḡ = (1/N) Σᵣ gᵣ. With identical parameters.",
            "ḡ = (1/N) Σᵣ gᵣ",
            "With identical parameters.",
        ),
        ("r = 1; t = |x| > 2.4.", "r = 1; t = |x| > 2.4", ""),
        ("h = f(a, b); the ranks compare it", "h = f(a, b)", "The ranks compare it"),
        ("b = npz{k: v}", "b = npz{k: v}", ""),  # no split inside brackets
        ("Args:\n  x: y = 1", "", "Args:\n  x: y = 1"),
        ("Prose without a relation.", "", "Prose without a relation."),
    ],
)
def test_split_equation(paragraph, math, prose):
    assert _load_equations().split_equation(paragraph) == (math, prose)
