"""The examples' `main(config)` run with tiny budgets."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

# The agent needs the replay package (merged separately from the runtime).
pytest.importorskip("rlblocks.replay")


EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


TINY = {
    "steps": 400,
    "learning_starts": 100,
    "batch_size": 8,
    "hidden": 16,
    "eval_episodes": 2,
    "num_envs": 2,
    "replay_capacity": 1000,
}


def test_dqn_cartpole_main_tiny_budget():
    example = _load("dqn_cartpole")
    config = example.parse(["--steps=400", "--learning_rate=0.002"], example.Config())
    assert (config.steps, config.learning_rate) == (400, 0.002)
    out = example.main(example.Config(**TINY))
    # CartPole returns are in [8, 500] (at least 8 steps before the pole falls).
    assert 8 <= out["eval_mean"] <= 500 and out["episodes"] > 0
    assert all(
        np.isfinite(x).all() for x in __import__("jax").tree.leaves(out["params"])
    )


@pytest.mark.mpi
def test_dqn_mpi_main_one_rank_world():
    pytest.importorskip("rlblocks.distributed")
    example = _load("dqn_mpi")
    out = example.main(example.Config(**TINY))
    assert out["ranks"] == 1 and 8 <= out["eval_mean"] <= 500
