"""PPO and A2C through the training runtime: CLI train/eval on CartPole and
Pendulum, the A2C update, resume after SIGTERM equal to an uninterrupted run, and
mpirun -n 2 with identical parameters on both ranks."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rlblocks
from rlblocks.agents import ppo as ppo_lib
from rlblocks.train import checkpoint, cli, envs, ppo_loop, ppo_setup

# Tiny budgets: 2 envs x 32 steps per iteration, small nets, no periodic evals.
TINY = [
    "--num_envs=2",
    "--num_steps=32",
    "--update_epochs=2",
    "--num_minibatches=2",
    "--hidden_sizes=16",
    "--eval_episodes=2",
    "--log_every=64",
    "--eval_every=100000",
]
BIN = os.path.dirname(sys.executable)


def _train_cmd(run_dir, steps, env="CartPole-v1", agent="ppo", *extra):
    return [
        "train",
        agent,
        "--env",
        env,
        "--steps",
        str(steps),
        "--seed",
        "3",
        "--run-dir",
        str(run_dir),
        *TINY,
        *extra,
    ]


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def _row_steps(run_dir):
    rows = (run_dir / "train.csv").read_text().splitlines()[1:]
    return [int(r.split(",")[0]) for r in rows]


@pytest.mark.parametrize(
    ("env", "low", "high"),
    # CartPole: at least 8 steps per episode, at most 500. Pendulum: 200 steps of
    # reward in [-(π² + 0.1·8² + 0.001·2²), 0] = [-16.27, 0], so [-3254, 0].
    [("CartPole-v1", 8.0, 500.0), ("Pendulum-v1", -3254.0, 0.0)],
)
def test_cli_train_eval(tmp_path, capsys, env, low, high):
    run = tmp_path / "run"
    assert cli.main(_train_cmd(run, 256, env)) == 0
    out = capsys.readouterr().out
    assert "learning curve:" in out and (run / "learning_curve.png").exists()
    summary = json.loads((run / "summary.json").read_text())
    # 256 steps / (2 envs x 32 steps) = 4 iterations, one log row each (every 64).
    assert summary["env_steps"] == 256 and summary["updates"] == 4
    assert _row_steps(run) == [64, 128, 192, 256]
    assert low <= summary["final_eval_mean"] <= high
    saved = json.loads((run / "config.json").read_text())
    assert saved["algo"] == "ppo" and saved["agent"]["total_steps"] == 256
    assert cli.main(["eval", str(run), "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["returns"]) == 2 and low <= result["eval_mean"] <= high
    params = checkpoint.load(str(run / "final_params.pkl"))
    # Separate actor and critic MLPs (16 units): obs -> 16 -> A and obs -> 16 -> 1.
    num_out = 1 if env == "Pendulum-v1" else 2
    assert params["params"]["log_std"].shape == (num_out,)
    assert params["params"]["Dense_2"]["kernel"].shape == (16, num_out)


def test_a2c_update_is_one_adam_step_on_the_policy_gradient():
    spec = ppo_setup.env_spec("CartPole-v1", envs.make_vector_env("CartPole-v1", 1))
    config = ppo_loop.resolve(ppo_loop.PPORunConfig(steps=160), ppo_setup.A2C)
    parts = ppo_lib.learner(config, spec)
    params, opt_state = parts.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    b = config.num_envs * config.num_steps  # 16 x 5 = 80
    obs = rng.normal(size=(b, 4)).astype(np.float32)
    action = rng.integers(0, 2, b)
    adv = rng.normal(size=b).astype(np.float32)
    target = rng.normal(size=b).astype(np.float32)
    logits, _, _ = parts.apply(params, obs)
    old_logp = jax.nn.log_softmax(logits)[np.arange(b), action]
    data = (obs, action, old_logp, adv, target)
    new, _, _ = parts.update(params, opt_state, jax.random.PRNGKey(1), data)

    def a2c_loss(p):  # −mean(A log π) + c_v mean(½(v − G)²) − c_H mean(H)
        out, _, value = parts.apply(p, obs)
        logp_all = jax.nn.log_softmax(out)
        logp = logp_all[np.arange(b), action]
        entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, -1)
        pg = -jnp.mean(adv * logp)
        v_loss = jnp.mean(0.5 * (value - target) ** 2)
        return pg + 0.5 * v_loss - 0.01 * jnp.mean(entropy)

    # Adam with a constant step 7e-4 after clipping the global norm to 0.5.
    opt = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(7e-4, eps=1e-5))
    grads = jax.grad(a2c_loss)(params)
    updates, _ = opt.update(grads, opt.init(params), params)
    want = optax.apply_updates(params, updates)
    for got, ref in zip(_leaves(new), _leaves(want), strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    assert not np.allclose(_leaves(new)[0], _leaves(params)[0])


def test_cli_a2c_runs(tmp_path, capsys):
    run = tmp_path / "a2c"
    cmd = _train_cmd(run, 160, "CartPole-v1", "a2c")
    cmd = [c for c in cmd if not c.startswith(("--num_steps", "--update_epochs"))]
    cmd = [c for c in cmd if not c.startswith("--num_minibatches")]
    assert cli.main([*cmd, "--num_steps=5", "--log_every=80"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    # 160 steps / (2 envs x 5 steps) = 16 iterations of one update each.
    assert summary["updates"] == 16 and _row_steps(run) == [80, 160]
    saved = json.loads((run / "config.json").read_text())["agent"]
    assert (saved["update_epochs"], saved["num_minibatches"]) == (1, 1)
    assert saved["gae_lambda"] == 1.0 and saved["normalize_advantages"] is False


def test_resume_after_sigterm_matches_uninterrupted_run(tmp_path, capsys):
    steps, extra = 1024, ["--checkpoint_every=128"]
    run = tmp_path / "term"

    def send_sigterm_once_training():  # the loop has written a row: handler is set
        deadline = time.time() + 120
        while time.time() < deadline:
            log = run / "train.csv"
            if log.exists() and len(log.read_text().splitlines()) > 1:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=send_sigterm_once_training)
    thread.start()
    assert cli.main(_train_cmd(run, steps, "Pendulum-v1", "ppo", *extra)) == 0
    thread.join()
    assert "interrupted at" in capsys.readouterr().out
    step, saved = checkpoint.latest(str(run / "checkpoints"))
    assert 0 < step < steps and int(saved["state"].iterations) == step // 64
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert not (run / "final_params.pkl").exists()
    cmd = _train_cmd(run, steps, "Pendulum-v1", "ppo", *extra)
    assert cli.main([*cmd, "--resume"]) == 0
    full = tmp_path / "full"
    assert cli.main(_train_cmd(full, steps, "Pendulum-v1", "ppo", *extra)) == 0
    resumed = checkpoint.load(str(run / "final_params.pkl"))
    uninterrupted = checkpoint.load(str(full / "final_params.pkl"))
    for a, b in zip(_leaves(resumed), _leaves(uninterrupted), strict=True):
        np.testing.assert_array_equal(a, b)
    assert _row_steps(run) == list(range(64, steps + 1, 64))


@pytest.mark.mpi
def test_mpirun_two_ranks_identical_parameters(tmp_path):
    pytest.importorskip("rlblocks.distributed")
    run = tmp_path / "mpi"
    cmd = [
        os.path.join(BIN, "mpirun"),
        "--allow-run-as-root",
        "--oversubscribe",
        "-n",
        "2",
        "-x",
        "PYTHONPATH",
        sys.executable,
        "-m",
        "rlblocks.train.cli",
        *_train_cmd(run, 256, "CartPole-v1", "ppo", "--consistency_every=64"),
    ]
    root = os.path.dirname(os.path.dirname(os.path.abspath(rlblocks.__file__)))
    env = dict(os.environ, PYTHONPATH=root)  # the ranks import this checkout
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    # Two ranks of 256 steps each; only rank 0 logs and evaluates.
    assert summary["ranks"] == 2 and summary["env_steps"] == 512
    assert out.stdout.count("learning curve:") == 1
    shards = [checkpoint.latest(str(run / "checkpoints" / f"rank{r}")) for r in (0, 1)]
    assert [s[0] for s in shards] == [256, 256]
    (_, rank0), (_, rank1) = shards
    params0, params1 = _leaves(rank0["state"].params), _leaves(rank1["state"].params)
    for a, b in zip(params0, params1, strict=True):
        np.testing.assert_array_equal(a, b)
    # ...although the ranks stepped different environments,
    assert not np.array_equal(rank0["loop"]["obs"], rank1["loop"]["obs"])
    # and rank 0 saved them as final; they moved from the shared initial values.
    final = _leaves(checkpoint.load(str(run / "final_params.pkl")))
    for a, b in zip(final, params0, strict=True):
        np.testing.assert_array_equal(a, b)
    fields = json.loads((run / "config.json").read_text())["agent"]
    fields["hidden_sizes"] = tuple(fields["hidden_sizes"])
    spec = ppo_setup.env_spec("CartPole-v1", envs.make_vector_env("CartPole-v1", 1))
    parts = ppo_lib.learner(ppo_lib.PPOConfig(**fields), spec)
    init = _leaves(parts.init(jax.random.PRNGKey(3))[0])
    assert not all(np.array_equal(a, b) for a, b in zip(init, final, strict=True))
