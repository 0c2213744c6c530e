"""The public surface: docstrings, sorted exports, no MPI on import."""

import inspect
import subprocess
import sys

import rlblocks as rlb


def test_all_is_sorted_and_unique():
    assert list(rlb.__all__) == sorted(set(rlb.__all__))


def test_every_public_name_exists_and_has_a_docstring():
    missing = [n for n in rlb.__all__ if not inspect.getdoc(getattr(rlb, n))]
    assert missing == []


def test_import_does_not_start_mpi():
    code = "import sys, rlblocks as rlb; rlb.__all__;print('mpi4py' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_agents_modules_load_on_first_use():
    code = (
        "import sys, rlblocks.agents as a; name = 'rlblocks.agents.dqn_jit'; "
        "before = name in sys.modules; m = a.dqn_jit; "
        "print(before, name in sys.modules, m.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True", "rlblocks.agents.dqn_jit"]
    import rlblocks.agents

    try:
        rlblocks.agents.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("no AttributeError")
