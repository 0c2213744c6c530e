"""Training runtime: CLI train/eval/plot, checkpoints (atomic, torn never read),
resume after SIGKILL equal to an uninterrupted run, mpirun -n 2 smoke."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

# The agent needs the replay package (merged separately from the runtime).
pytest.importorskip("rlblocks.replay")

from rlblocks.train import checkpoint, cli, loop

# A tiny budget: 2 envs, updates from step 64, small nets, no periodic evals.
TINY = [
    "--num_envs=2",
    "--learning_starts=64",
    "--batch_size=8",
    "--hidden_sizes=16",
    "--eval_episodes=2",
    "--log_every=100",
    "--eval_every=100000",
    "--replay_capacity=2000",
]
BIN = os.path.dirname(sys.executable)


def _train_cmd(run_dir, steps, *extra):
    return [
        "train",
        "dqn",
        "--env",
        "CartPole-v1",
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
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_cli_train_eval_plot(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(_train_cmd(run, 400)) == 0
    out = capsys.readouterr().out
    assert "learning curve:" in out and (run / "learning_curve.png").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env_steps"] == 400 and summary["ranks"] == 1
    # One update per 2 env steps once 64 are collected: at 64, 66, ..., 400 -> 169.
    assert summary["updates"] == (400 - 64) // 2 + 1
    assert 8 <= summary["final_eval_mean"] <= 500
    rows = (run / "train.csv").read_text().splitlines()
    assert rows[0].startswith("env_steps,") and len(rows) == 1 + 4  # 100..400
    assert cli.main(["eval", str(run), "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["returns"]) == 2 and result["eval_mean"] >= 8
    out_png = tmp_path / "both.png"
    assert cli.main(["plot", str(run), str(run), "--out", str(out_png)]) == 0
    assert out_png.stat().st_size > 1000


def test_overrides_parse_types_and_reject_unknown_fields():
    from rlblocks.agents import dqn as dqn_lib
    from rlblocks.train import loop

    run, agent = cli.parse_overrides(
        [
            "--n_step=5",
            "--double=false",
            "--hidden_sizes=32,16",
            "--huber_delta=none",
            "--learning-rate=3e-4",
            "--env_id=Acrobot-v1",
        ],
        loop.RunConfig(),
        dqn_lib.DQNConfig(),
    )
    assert (agent.n_step, agent.double, agent.hidden_sizes) == (5, False, (32, 16))
    assert agent.huber_delta is None and agent.learning_rate == 3e-4
    assert run.env_id == "Acrobot-v1"
    with pytest.raises(ValueError, match="unknown config field 'nope'"):
        cli.parse_overrides(["--nope=1"], loop.RunConfig())
    with pytest.raises(ValueError, match="double must be true or false"):
        cli.parse_overrides(["--double=maybe"], dqn_lib.DQNConfig())
    assert (
        cli.parse_overrides(["--batch_size=1e2"], dqn_lib.DQNConfig())[0].batch_size
        == 100
    )
    with pytest.raises(ValueError, match=r"n_step must be an integer, got '2\.5'"):
        cli.parse_overrides(["--n_step=2.5"], dqn_lib.DQNConfig())
    with pytest.raises(ValueError, match="learning_rate must be float, got 'fast'"):
        cli.parse_overrides(["--learning_rate=fast"], dqn_lib.DQNConfig())


def test_bad_overrides_are_usage_errors(capsys):
    # An out-of-range field (the config's own check) or a malformed value ends
    # `rlblocks train` with argparse's exit status 2 and the message, before any
    # run directory is made.
    for arg, text in [
        ("--gamma=1.5", "DQNConfig.gamma must lie in [0.0, 1.0], got 1.5"),
        ("--n_step=2.5", "n_step must be an integer, got '2.5'"),
    ]:
        with pytest.raises(SystemExit) as exc:
            cli.main(
                ["train", "dqn", "--steps", "10", "--run-dir", "/nonexistent/x", arg]
            )
        assert exc.value.code == 2
        assert text in capsys.readouterr().err


def test_dqn_config_refuses_out_of_range_fields():
    from rlblocks.agents import dqn as dqn_lib

    cases = {
        "gamma": (1.5, r"gamma must lie in \[0.0, 1.0\]"),
        "n_step": (0, "n_step must be >= 1, got 0"),
        "target_tau": (0.0, "target_tau must be > 0"),
        "train_frequency": (0, "train_frequency must be >= 1"),
        "num_atoms": (1, "num_atoms must be >= 2"),
        "epsilon_end": (-0.1, "epsilon_end must lie in"),
        "huber_delta": (0.0, "huber_delta must be > 0 or None"),
        "batch_size": (2.0, "batch_size must be an int"),
        "hidden_sizes": ((64, 0), "hidden_sizes must be ints >= 1"),
    }
    for field, (value, text) in cases.items():
        with pytest.raises(ValueError, match=text):
            dqn_lib.DQNConfig(**{field: value})
    with pytest.raises(ValueError, match="v_min must be < v_max"):
        dqn_lib.DQNConfig(v_min=10.0, v_max=0.0)
    with pytest.raises(ValueError, match="batch_size=64 must be <= replay_capacity=32"):
        dqn_lib.DQNConfig(batch_size=64, replay_capacity=32)
    # The bounds themselves are fine: gamma 1, tau 1 (hard copies), no warm-up.
    dqn_lib.DQNConfig(gamma=1.0, target_tau=1.0, learning_starts=0, n_step=1)


def test_torn_checkpoint_is_never_read(tmp_path):
    d = str(tmp_path)
    checkpoint.save_step(d, 100, {"step": 100})
    path = checkpoint.save_step(d, 200, {"step": 200})
    with open(path, "rb") as f:
        blob = f.read()
    with open(path, "wb") as f:  # a torn write: the tail is missing
        f.write(blob[: len(blob) // 2])
    with open(os.path.join(d, "ckpt-0000000300.pkl.tmp.1"), "wb") as f:
        f.write(b"partial")  # a leftover temp file is not a checkpoint
    with pytest.raises(ValueError, match="torn or corrupted"):
        checkpoint.load(path)
    assert checkpoint.latest(d) == (100, {"step": 100})
    # keep=2: saving 400 and 500 removes 100 and 200.
    checkpoint.save_step(d, 400, {"step": 400})
    checkpoint.save_step(d, 500, {"step": 500})
    assert checkpoint.latest(d) == (500, {"step": 500})
    names = sorted(n for n in os.listdir(d) if n.endswith(".pkl"))
    assert names == ["ckpt-0000000400.pkl", "ckpt-0000000500.pkl"]


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    # Long enough that the kill lands mid-run on a loaded machine (the first
    # checkpoint comes at 200 steps; see the mpirun variant below).
    steps = 4800
    extra = ["--checkpoint_every=200"]
    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "rlblocks.train.cli",
        *_train_cmd(killed, steps, *extra),
    ]
    log = open(tmp_path / "stderr.txt", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    ckpts = killed / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpts.exists() and any(n.endswith(".pkl") for n in os.listdir(ckpts)):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "stderr.txt").read_text()
    step, _ = checkpoint.latest(str(ckpts))
    assert 0 < step < steps
    assert not (killed / "final_params.pkl").exists()
    # Resume in this process, then run the same seed uninterrupted.
    assert cli.main([*_train_cmd(killed, steps, *extra), "--resume"]) == 0
    full = tmp_path / "full"
    assert cli.main(_train_cmd(full, steps, *extra)) == 0
    resumed = checkpoint.load(str(killed / "final_params.pkl"))
    uninterrupted = checkpoint.load(str(full / "final_params.pkl"))
    for a, b in zip(_leaves(resumed), _leaves(uninterrupted), strict=True):
        np.testing.assert_array_equal(a, b)
    rows = (killed / "train.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(100, steps + 1, 100))


def test_sigterm_writes_a_checkpoint_and_exits(tmp_path, capsys):
    run = tmp_path / "term"
    log = run / "train.csv"

    def send_sigterm_once_training():  # the loop has written a row: handler is set
        deadline = time.time() + 120
        while time.time() < deadline:
            if log.exists() and len(log.read_text().splitlines()) > 1:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=send_sigterm_once_training)
    thread.start()
    assert cli.main(_train_cmd(run, 10**6)) == 0
    thread.join()
    assert "interrupted at" in capsys.readouterr().out
    step, saved = checkpoint.latest(str(run / "checkpoints"))
    assert 0 < step < 10**6 and int(saved["state"].env_steps) == step
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


@pytest.mark.mpi
def test_mpirun_two_ranks_smoke(tmp_path):
    pytest.importorskip("rlblocks.distributed")
    run = tmp_path / "mpi"
    cmd = _mpirun_train(run, 300, "--consistency_every=100")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    # Two ranks of 300 steps each; only rank 0 logs and evaluates.
    assert summary["ranks"] == 2 and summary["env_steps"] == 600
    assert out.stdout.count("learning curve:") == 1
    assert sorted(os.listdir(run / "checkpoints")) == ["rank0", "rank1"]


def _descendants(pid):
    """Pids of the live processes below `pid` (read from /proc)."""
    parents = {}
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if name.isdigit() and fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        out += children
        todo += children
    return out


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _mpirun_train(run_dir, steps, *extra):
    return [
        os.path.join(BIN, "mpirun"),
        "--allow-run-as-root",
        "--oversubscribe",
        "-n",
        "2",
        sys.executable,
        "-m",
        "rlblocks.train.cli",
        *_train_cmd(run_dir, steps, *extra),
    ]


def _kill_one_rank_after_checkpoints(cmd, ckpts, tmp_path):
    """Start `cmd` (mpirun), SIGKILL one rank once both ranks checkpointed."""
    log = open(tmp_path / "mpi-stderr.txt", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )
    try:
        deadline = time.time() + 180
        ranks = [ckpts / "rank0", ckpts / "rank1"]
        while time.time() < deadline and proc.poll() is None:
            if all(
                d.exists() and any(n.endswith(".pkl") for n in os.listdir(d))
                for d in ranks
            ):
                break
            time.sleep(0.01)
        assert proc.poll() is None, (tmp_path / "mpi-stderr.txt").read_text()[-3000:]
        victims = [
            p for p in _descendants(proc.pid) if b"rlblocks.train.cli" in _cmdline(p)
        ]
        assert len(victims) == 2, victims
        os.kill(victims[-1], signal.SIGKILL)
        proc.wait(timeout=120)  # mpirun takes the other rank down and fails
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
    assert proc.returncode != 0


@pytest.mark.mpi
def test_mpirun_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    pytest.importorskip("rlblocks.distributed")
    # With 1,200 steps the whole run once ended before this test's polling saw the
    # first checkpoints (2 test workers and 2 ranks on 2 cores): kill mid-run instead.
    steps = 6000
    extra = ["--checkpoint_every=200", "--consistency_every=200"]
    killed = tmp_path / "killed"
    ckpts = killed / "checkpoints"
    cmd = _mpirun_train(killed, steps, *extra)
    _kill_one_rank_after_checkpoints(cmd, ckpts, tmp_path)
    assert not (killed / "final_params.pkl").exists()
    for rank in ("rank0", "rank1"):
        step, _ = checkpoint.latest(str(ckpts / rank))
        assert 0 < step < steps
    out = subprocess.run([*cmd, "--resume"], capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    full = tmp_path / "full"
    out = subprocess.run(
        _mpirun_train(full, steps, *extra), capture_output=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    resumed = checkpoint.load(str(killed / "final_params.pkl"))
    uninterrupted = checkpoint.load(str(full / "final_params.pkl"))
    for a, b in zip(_leaves(resumed), _leaves(uninterrupted), strict=True):
        np.testing.assert_array_equal(a, b)
    # Both ranks end on the same state as in the uninterrupted run.
    for rank in ("rank0", "rank1"):
        _, a = checkpoint.latest(str(ckpts / rank))
        _, b = checkpoint.latest(str(full / "checkpoints" / rank))
        assert int(a["state"].env_steps) == steps
        for x, y in zip(_leaves(a["state"]), _leaves(b["state"]), strict=True):
            np.testing.assert_array_equal(x, y)
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["ranks"] == 2 and summary["env_steps"] == 2 * steps


def test_stale_actions_act_with_parameters_from_before_the_learn_call():
    import jax

    from rlblocks.agents import dqn as dqn_lib
    from rlblocks.train import loop

    config = dqn_lib.DQNConfig(
        learning_starts=2, batch_size=4, hidden_sizes=(8,), n_step=1
    )
    agent = dqn_lib.dqn(config, 2, np.zeros(4, np.float32), 2)
    stale = loop.device_step(agent, stale_actions=True)
    learn, act = jax.jit(agent.learn), jax.jit(agent.act)
    state = agent.init(jax.random.PRNGKey(0))
    ref = jax.tree.map(np.array, state)  # a copy: `stale` donates `state`
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(7)
    for steps in range(2, 12, 2):
        obs = rng.normal(size=(2, 4)).astype(np.float32)
        nxt = rng.normal(size=(2, 4)).astype(np.float32)
        f = np.zeros(2, bool)
        tr = dqn_lib.Transition(
            obs, np.array([0, 1]), np.ones(2, np.float32), f, f, nxt
        )
        state, actions, metrics, new_key = stale(state, tr, nxt, key, steps)
        key, act_key = jax.random.split(key)
        eps = agent.epsilon(steps)
        expected = act(ref.params, act_key, nxt, eps)  # the parameters before learn
        np.testing.assert_array_equal(actions, expected)
        np.testing.assert_array_equal(new_key, key)
        assert float(metrics["epsilon"]) == float(eps)
        ref, _ = learn(ref, tr)
        key = new_key
    # Learning started at 2 env steps, one update per 2: updates at 2, 4, ..., 10.
    assert int(state.updates) == 5
    for x, y in zip(_leaves(state), _leaves(ref), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs",
)
def test_unbound_ranks_pin_to_their_share_and_bound_ones_stay(monkeypatch):
    before = os.sched_getaffinity(0)
    cpus = sorted(before)
    monkeypatch.setattr(os, "cpu_count", lambda: len(cpus))
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1")
    try:
        # Rank 1 of 2 on n CPUs gets cpus[n // 2 : n]; e.g. {1} of {0, 1}.
        want = cpus[len(cpus) // 2 :]
        assert loop.pin_to_local_share() == want
        assert os.sched_getaffinity(0) == set(want)
        # Now bound (to fewer CPUs than the machine has): left as it is.
        assert loop.pin_to_local_share() is None
        assert os.sched_getaffinity(0) == set(want)
        os.sched_setaffinity(0, before)
        monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", str(len(cpus) + 1))
        assert loop.pin_to_local_share() is None  # more local ranks than CPUs
    finally:
        loop.pin_threads(before)
