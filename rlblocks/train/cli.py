"""The `rlblocks` command line: train, eval and plot.

    rlblocks train dqn --env CartPole-v1 --steps 100000 --seed 0 [--field=value ...]
    rlblocks train c51 ...     (dqn --distributional=c51 --replay_capacity=100000;
                                qr_dqn: dqn --distributional=qr)
    rlblocks train ppo --env CartPole-v1 --steps 200000 --seed 0  (or Pendulum-v1)
    rlblocks train a2c ...     (PPO with one epoch of one minibatch, see ppo_setup)
    rlblocks eval RUN_DIR [--episodes 10] [--which final|best]
    rlblocks plot RUN_DIR [RUN_DIR ...] [--out curve.png]

`--field=value` overrides any field of `RunConfig` or `DQNConfig` (e.g.
`--double=false --n_step=3 --hidden_sizes=64,64`); for ppo and a2c, of
`PPORunConfig` or `PPOConfig` (e.g. `--num_envs=16 --update_epochs=10`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing

from rlblocks.agents import dqn as dqn_lib
from rlblocks.train import checkpoint, envs, loop, plot, ppo_loop, ppo_setup


def parse_overrides(args: list[str], *configs) -> list:
    """Apply `--field=value` strings to frozen dataclasses, by field name.

    Args:
      args: strings like `--n_step=3` (dashes in names may be underscores).
      *configs: dataclass instances; each field name must belong to one of them.

    Returns:
      The configs with the overrides applied, in the same order.
    """
    configs = list(configs)
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ValueError(f"override must look like --field=value, got {arg!r}")
        name, text = arg[2:].split("=", 1)
        name = name.replace("-", "_")
        for i, cfg in enumerate(configs):
            types = typing.get_type_hints(type(cfg))
            if name in types:
                value = _convert(text, types[name], name)
                configs[i] = dataclasses.replace(cfg, **{name: value})
                break
        else:
            raise ValueError(f"unknown config field {name!r} in {arg!r}")
    return configs


def _convert(text, hint, name):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if text.lower() == "none" and type(None) in typing.get_args(hint):
        return None
    base = args[0] if args and typing.get_origin(hint) is not tuple else hint
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        return tuple(_scalar(x, item, name) for x in text.split(",") if x)
    if base is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{name} must be true or false, got {text!r}")
        return text.lower() in ("true", "1")
    return _scalar(text, base, name)


def _scalar(text: str, kind, name: str):
    """`text` as an int (1e5 allowed, 2.5 refused), a float or a string."""
    if kind not in (int, float):
        return kind(text)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be {kind.__name__}, got {text!r}") from None
    if kind is int:
        if not value.is_integer():
            raise ValueError(f"{name} must be an integer, got {text!r}")
        return int(value)
    return value


# Agent names of `rlblocks train`: DQN variants as DQNConfig presets.
AGENTS = {
    "dqn": dqn_lib.DQNConfig(),
    # replay as large as a 100k-step run: with 50k, a seed forgot its early failures
    # and collapsed at the end (final greedy 152 after 500s; benchmarks/README.md)
    "c51": dqn_lib.DQNConfig(distributional="c51", replay_capacity=100_000),
    "qr_dqn": dqn_lib.DQNConfig(distributional="qr"),
}
# Policy-gradient agents of `rlblocks train`, run by `ppo_loop` (presets per env).
PPO_AGENTS = ("a2c", "ppo")


def _configs(ns, extra):
    """The (run, agent) configs of `rlblocks train` with the overrides applied."""
    ppo = ns.agent in PPO_AGENTS
    make_run = ppo_loop.PPORunConfig if ppo else loop.RunConfig
    run = make_run(env_id=ns.env, steps=ns.steps, seed=ns.seed)
    if ns.run_dir:
        run = dataclasses.replace(run, run_dir=ns.run_dir)
    agent = ppo_setup.preset(ns.agent, ns.env) if ppo else AGENTS[ns.agent]
    return parse_overrides(extra, run, agent)


def _train(ns, extra, parser):
    try:  # a bad override or an out-of-range field: a usage error, no traceback
        run, agent = _configs(ns, extra)
    except ValueError as exc:
        parser.error(str(exc))
    if ns.agent in PPO_AGENTS:
        summary = ppo_loop.train(run, agent, resume=ns.resume, agent_name=ns.agent)
    else:
        summary = loop.train(run, agent, resume=ns.resume)
    return _report(summary)


def _report(summary):
    run_env = summary.get("env_id")
    if "final_eval_mean" in summary:
        print(
            f"{run_env} seed {summary['seed']}: {summary['env_steps']} env steps "
            f"({summary['ranks']} rank(s)) in {summary['wall_time_s']:.1f} s; greedy "
            f"eval {summary['final_eval_mean']:.1f} ± {summary['final_eval_std']:.1f}"
            f" (best {summary['best_eval_mean']:.1f})\n"
            f"learning curve: {summary['plot']}"
        )
    elif summary.get("interrupted") and loop.World().root:
        print(
            f"interrupted at {summary['env_steps']} steps; checkpoint saved in "
            f"{summary['run_dir']}; continue with --resume"
        )
    return 0


def _eval_returns(ns):
    with open(os.path.join(ns.run_dir, "config.json")) as f:
        saved = json.load(f)
    if saved.get("algo") == "ppo":
        return ppo_loop.evaluate_run(ns.run_dir, ns.which, ns.episodes, ns.seed)
    run = loop.RunConfig(**saved["run"])
    fields = saved["agent"]
    fields["hidden_sizes"] = tuple(fields["hidden_sizes"])
    agent_config = dqn_lib.DQNConfig(**fields)
    env = envs.make_vector_env(run.env_id, 1)
    agent = dqn_lib.dqn(
        agent_config,
        int(env.single_action_space.n),
        env.single_observation_space.sample(),
        1,
    )
    params = checkpoint.load(os.path.join(ns.run_dir, f"{ns.which}_params.pkl"))
    return envs.evaluate(
        run.env_id, loop.greedy_policy(agent, params), ns.episodes, seed=ns.seed
    )


def _eval(ns):
    returns = _eval_returns(ns)
    print(
        json.dumps(
            {
                "run_dir": ns.run_dir,
                "which": ns.which,
                "episodes": ns.episodes,
                "eval_mean": float(returns.mean()),
                "eval_std": float(returns.std()),
                "returns": [float(r) for r in returns],
            }
        )
    )
    return 0


def _plot(ns):
    out = ns.out or os.path.join(ns.run_dirs[0], "curves.png")
    print(plot.plot(ns.run_dirs, out, ns.title))
    return 0


# Small networks run fastest with single-threaded XLA kernels on a busy CPU (the cost
# is per call, not per FLOP); set XLA_FLAGS yourself to override.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rlblocks` command."""
    os.environ.setdefault("XLA_FLAGS", SINGLE_THREAD_XLA)
    parser = argparse.ArgumentParser(
        prog="rlblocks",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train an agent (extra --field=value overrides)")
    p.add_argument("agent", choices=sorted([*AGENTS, *PPO_AGENTS]))
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", default="")
    p.add_argument("--resume", action="store_true")
    p = sub.add_parser("eval", help="greedy (deterministic) evaluation of a run")
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=123_456)
    p.add_argument("--which", choices=["final", "best"], default="final")
    p = sub.add_parser("plot", help="learning curves (mean and spread over runs)")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default="")
    p.add_argument("--title", default="")
    ns, extra = parser.parse_known_args(argv)
    if ns.command == "train":
        return _train(ns, extra, parser)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return _eval(ns) if ns.command == "eval" else _plot(ns)


if __name__ == "__main__":
    sys.exit(main())
