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
