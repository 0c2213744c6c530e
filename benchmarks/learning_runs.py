"""Learning runs of the DQN family through the `rlblocks train` CLI.

Each run trains for a fixed env-step budget and reports the greedy evaluation of its
final parameters (10 episodes) and the best periodic evaluation, with wall time.
Not part of `make bench` (it takes tens of minutes); results are recorded by hand in
benchmarks/README.md.

    python benchmarks/learning_runs.py --suite cartpole --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite cartpole_mpi --seeds 0 1 2 3 4
    python benchmarks/learning_runs.py --suite acrobot --seeds 0 1 2
    python benchmarks/learning_runs.py --suite variants --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)
MPIRUN = [os.path.join(BIN, "mpirun"), "--allow-run-as-root", "--oversubscribe", "-n"]

# name -> (env, steps per process, ranks, overrides)
SUITES = {
    "cartpole": [("default", "CartPole-v1", 100_000, 1, [])],
    # Two ranks of 100k steps each (the `make demo` command).
    "cartpole_mpi": [("default-mpi2", "CartPole-v1", 100_000, 2, [])],
    # Two ranks of 50k steps: 100k env steps in total, half the updates per rank.
    "cartpole_mpi_50k": [("default-mpi2-50k", "CartPole-v1", 50_000, 2, [])],
    "acrobot": [("default", "Acrobot-v1", 100_000, 1, [])],
    "variants": [
        ("vanilla", "CartPole-v1", 100_000, 1, ["--double=false", "--n_step=1"]),
        ("double", "CartPole-v1", 100_000, 1, ["--n_step=1"]),
        ("dueling", "CartPole-v1", 100_000, 1, ["--dueling=true"]),
        ("n_step3", "CartPole-v1", 100_000, 1, ["--double=false"]),
        ("prioritized", "CartPole-v1", 100_000, 1, ["--prioritized=true"]),
    ],
}


def run_one(name, env, steps, ranks, overrides, seed, out_dir):
    """Train one seed; return its summary with wall time."""
    run_dir = os.path.join(out_dir, f"{name}-{env}-s{seed}")
    # `python -m` rather than the `rlblocks` script, so PYTHONPATH picks the code.
    cmd = [
        sys.executable,
        "-m",
        "rlblocks.train.cli",
        "train",
        "dqn",
        "--env",
        env,
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--run-dir",
        run_dir,
        *overrides,
    ]
    if ranks > 1:
        cmd = [*MPIRUN, str(ranks), *cmd]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    wall = time.perf_counter() - start
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    return {
        "suite": name,
        "env": env,
        "seed": seed,
        "ranks": ranks,
        "env_steps": summary["env_steps"],
        "final_eval_mean": summary["final_eval_mean"],
        "best_eval_mean": summary["best_eval_mean"],
        "wall_s": round(wall, 1),
        "train_wall_s": summary["wall_time_s"],
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "run_dir": run_dir,
        "overrides": overrides,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", choices=sorted(SUITES), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="*", default=None, help="run names to keep")
    parser.add_argument(
        "--out", default=os.path.join(tempfile.gettempdir(), "rlb-runs")
    )
    ns = parser.parse_args()
    for name, env, steps, ranks, overrides in SUITES[ns.suite]:
        if ns.only and name not in ns.only:
            continue
        for seed in ns.seeds:
            record = run_one(name, env, steps, ranks, overrides, seed, ns.out)
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
