"""DQN agent: transitions into replay (termination vs truncation, n-step), acting,
target updates, networks."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# The agent needs the replay package (merged separately from the runtime).
pytest.importorskip("rlblocks.replay")

from rlblocks.agents import dqn as dqn_lib
from rlblocks.agents import networks
from rlblocks.train import envs

GAMMA = 0.9


def _transition(r, term, trunc, obs_tm1=None, obs_t=None, a=None):
    e = len(r)
    obs_tm1 = np.arange(e, dtype=np.float32)[:, None] if obs_tm1 is None else obs_tm1
    obs_t = obs_tm1 + 100 if obs_t is None else obs_t
    a = np.zeros(e, np.int32) if a is None else a
    return dqn_lib.Transition(
        jnp.asarray(obs_tm1),
        jnp.asarray(a),
        jnp.asarray(r, jnp.float32),
        jnp.asarray(term),
        jnp.asarray(trunc),
        jnp.asarray(obs_t),
    )


def test_one_step_bootstraps_on_truncation_not_on_termination():
    config = dqn_lib.DQNConfig(gamma=GAMMA, n_step=1)
    # env 0 continues, env 1 terminated, env 2 truncated (time limit).
    tr = _transition([1.0, 2.0, 3.0], [False, True, False], [False, False, True])
    items, window = dqn_lib.to_replay_items(config, None, tr)
    assert window is None
    # discount = γ(1 − terminated): 0.9, 0, 0.9 (truncation still bootstraps).
    np.testing.assert_allclose(items.discount_t, [0.9, 0.0, 0.9])
    np.testing.assert_allclose(items.r_t, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(items.obs_t[:, 0], [100.0, 101.0, 102.0])


def _window(n, e):
    row = _transition(np.zeros(e), np.zeros(e, bool), np.zeros(e, bool))
    return jax.tree.map(lambda x: jnp.stack([x] * n), row)


def test_n_step_returns_stop_at_episode_ends():
    config = dqn_lib.DQNConfig(gamma=GAMMA, n_step=3)
    window = _window(3, 3)
    # Three steps for three envs; obs_t of step k is 10k + env index.
    steps = [
        ([1.0, 1.0, 1.0], [False, False, False], [False, False, False]),
        ([2.0, 2.0, 2.0], [False, True, False], [False, False, True]),
        ([4.0, 4.0, 4.0], [False, False, False], [False, False, False]),
    ]
    for k, (r, term, trunc) in enumerate(steps):
        obs_t = (10.0 * (k + 1) + np.arange(3, dtype=np.float32))[:, None]
        obs_tm1 = obs_t - 10.0
        tr = _transition(r, term, trunc, obs_tm1=obs_tm1, obs_t=obs_t, a=[k] * 3)
        items, window = dqn_lib.to_replay_items(config, window, tr)
    # Oldest step is k=0 (a=0, obs 0+i).
    # env 0: R = 1 + .9*2 + .81*4 = 6.04, discount .9³ = .729, bootstrap obs 30.
    # env 1: terminated at k=1: R = 1 + .9*2 = 2.8, discount 0, obs 21.
    # env 2: truncated at k=1: R = 2.8, discount .9² = .81, obs 22 (final obs).
    np.testing.assert_allclose(items.r_t, [6.04, 2.8, 2.8], rtol=1e-6)
    np.testing.assert_allclose(items.discount_t, [0.729, 0.0, 0.81], rtol=1e-6)
    np.testing.assert_array_equal(items.obs_t[:, 0], [30.0, 21.0, 22.0])
    np.testing.assert_array_equal(items.obs_tm1[:, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(items.a_tm1, [0, 0, 0])


def test_true_next_obs_takes_final_obs_of_ended_episodes():
    next_obs = np.array([[1.0], [2.0], [3.0]])  # env 1 was reset: 2.0 is a reset obs
    info = {
        "final_obs": np.array([None, np.array([7.0]), None], dtype=object),
        "_final_obs": np.array([False, True, False]),
    }
    out = envs.true_next_obs(next_obs, info)
    np.testing.assert_array_equal(out, [[1.0], [7.0], [3.0]])
    np.testing.assert_array_equal(next_obs, [[1.0], [2.0], [3.0]])  # unchanged
    assert envs.true_next_obs(next_obs, {}) is next_obs


def test_vector_env_same_step_reset_is_not_a_transition():
    env = envs.make_vector_env("CartPole-v1", 2)
    _obs, _ = env.reset(seed=0)
    for _ in range(200):
        nxt, _, term, trunc, info = env.step(np.zeros(2, np.int64))
        if (term | trunc).any():
            break
    i = int(np.flatnonzero(term | trunc)[0])
    # Pushing left always tips the pole: the stored next obs is past a threshold
    # (|x| > 2.4 or |θ| > 0.2095), the returned one is a fresh reset (|·| ≤ 0.05).
    final = envs.true_next_obs(nxt, info)[i]
    assert abs(final[0]) > 2.4 or abs(final[2]) > 0.2095
    assert np.all(np.abs(nxt[i]) <= 0.05)


def _agent(**kw):
    config = dqn_lib.DQNConfig(
        batch_size=4,
        replay_capacity=64,
        learning_starts=8,
        train_frequency=2,
        hidden_sizes=(8,),
        **kw,
    )
    return config, dqn_lib.dqn(config, 3, np.zeros(2, np.float32), num_envs=2)


def test_act_with_zero_epsilon_is_greedy():
    _, agent = _agent()
    state = agent.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (2, 2))
    actions = agent.act(state.params, jax.random.PRNGKey(2), obs, 0.0)
    q = agent.q_values(state.params, obs)
    np.testing.assert_array_equal(actions, np.argmax(np.asarray(q), -1))


PERIODIC = {"target_update_period": 3, "target_tau": 1.0}


@pytest.mark.parametrize(
    "kw",
    [
        PERIODIC,
        {
            **PERIODIC,
            "double": False,
            "dueling": True,
            "n_step": 2,
            "prioritized": True,
        },
        {"target_update_period": 3, "target_tau": 0.25},  # Polyak: period unused
    ],
)
def test_step_updates_when_due_and_copies_target_periodically(kw):
    _, agent = _agent(**kw)
    tau = kw["target_tau"]
    step = jax.jit(agent.step, donate_argnums=0)
    state = agent.init(jax.random.PRNGKey(0))

    def copy(tree):  # the step donates its state: keep host copies
        return jax.tree.map(np.array, tree)

    init_params, init_target = copy(state.params), copy(state.target_params)
    params, target = init_params, init_target
    obs = np.zeros((2, 2), np.float32)
    updated_at, copied_at = [], []
    for k in range(10):
        nxt = np.full((2, 2), k + 1.0, np.float32)
        tr = dqn_lib.Transition(
            obs,
            np.array([0, 1], np.int32),
            np.ones(2, np.float32),
            np.array([False, k == 5]),
            np.zeros(2, bool),
            nxt,
        )
        before = int(state.updates)
        prev_params, prev_target = params, target
        state, actions, metrics = step(state, tr, nxt)
        params, target = copy(state.params), copy(state.target_params)
        obs = nxt
        assert actions.shape == (2,)
        u = int(state.updates)
        if u == before:  # no update: neither network moves
            jax.tree.map(np.testing.assert_array_equal, params, prev_params)
            jax.tree.map(np.testing.assert_array_equal, target, prev_target)
            continue
        assert u == before + 1
        updated_at.append(int(state.env_steps))
        if tau < 1.0:  # θ⁻ ← τ θ + (1 − τ) θ⁻ after every update
            want = jax.tree.map(
                lambda o, t: tau * o + (1 - tau) * t, params, prev_target
            )
            jax.tree.map(
                lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                target,
                want,
            )
        elif u % 3 == 0:  # period 3: θ⁻ ← θ at updates 3, 6
            copied_at.append(u)
            jax.tree.map(np.testing.assert_array_equal, target, params)
        else:
            jax.tree.map(np.testing.assert_array_equal, target, prev_target)
    # 20 env steps (2 per call), learning starts at 8, one update per 2 steps:
    # updates at env steps 8, 10, ..., 20 -> 7.
    assert updated_at == [8, 10, 12, 14, 16, 18, 20]
    assert int(state.env_steps) == 20
    assert int(state.updates) == 7
    assert copied_at == ([] if tau < 1.0 else [3, 6])
    assert np.isfinite(float(metrics["loss"]))

    def moved(a, b):
        return jax.tree.leaves(jax.tree.map(lambda x, y: not np.allclose(x, y), a, b))

    assert all(moved(params, init_params))
    assert all(moved(target, init_target))
    # Periodic: copied at update 6, online moved at update 7; Polyak: τ < 1 lags.
    assert any(moved(params, target))


def test_dueling_head_centres_advantages():
    net = networks.QNetwork(3, hidden_sizes=(4,), dueling=True)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 2))
    q = net.apply(params, obs)
    h = networks.MLPTorso((4,)).apply({"params": params["params"]["MLPTorso_0"]}, obs)
    value = (
        h @ params["params"]["Dense_0"]["kernel"] + params["params"]["Dense_0"]["bias"]
    )
    # q − mean_a q = a − mean_a a, and mean_a q = v (advantages are centred).
    np.testing.assert_allclose(q.mean(-1, keepdims=True), value, rtol=1e-5, atol=1e-6)


def test_nature_torso_shapes_and_bad_torso():
    net = networks.QNetwork(4, torso="nature")
    x = jax.ShapeDtypeStruct((2, 84, 84, 4), jnp.uint8)
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
    # 84 -> 21 (stride 4) -> 11 (stride 2) -> 11, SAME padding: 11*11*64 into 512.
    assert params["params"]["NatureTorso_0"]["Dense_0"]["kernel"].shape == (7744, 512)
    assert jax.eval_shape(net.apply, params, x).shape == (2, 4)
    with pytest.raises(ValueError, match="torso"):
        networks.QNetwork(2, torso="rnn").init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))


# Distributional variants (C51, QR-DQN): heads, Q-values, one update, CLI.


@pytest.mark.parametrize("dueling", [False, True])
def test_distributional_head_shapes(dueling):
    net = networks.QNetwork(3, hidden_sizes=(4,), dueling=dueling, num_atoms=5)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    assert net.apply(params, jnp.zeros((7, 2))).shape == (7, 3, 5)
    for dist, n in (("c51", {"num_atoms": 5}), ("qr", {"num_quantiles": 4})):
        _, agent = _agent(distributional=dist, dueling=dueling, **n)
        state = jax.eval_shape(agent.init, jax.random.PRNGKey(0))
        head = state.params["params"]["Dense_1" if dueling else "Dense_0"]
        assert head["kernel"].shape == (8, 3 * next(iter(n.values())))  # [8, A·N]
        q = jax.eval_shape(agent.q_values, state.params, jnp.zeros((6, 2)))
        assert q.shape == (6, 3)


def test_bad_distributional_name_raises():
    with pytest.raises(ValueError, match="distributional"):
        _agent(distributional="iqn")


def test_c51_q_values_are_expectations_by_hand():
    _, agent = _agent(distributional="c51", num_atoms=3, v_min=-1.0, v_max=1.0)
    state = agent.init(jax.random.PRNGKey(0))
    # Zero the torso's output layer weights; the head bias alone sets the logits.
    logits = np.array([[0.0, 0.0, 0.0], [0.0, np.log(3.0), 0.0], [np.log(4), 0, 0]])
    params = jax.tree.map(np.zeros_like, state.params)
    params["params"]["Dense_0"]["bias"] = jnp.asarray(logits.reshape(-1), jnp.float32)
    q = agent.q_values(params, jnp.ones((1, 2)))
    # Atoms z = (-1, 0, 1). a0: p = (1/3, 1/3, 1/3): q = 0.
    # a1: p = (1/5, 3/5, 1/5): q = -1/5 + 0 + 1/5 = 0.
    # a2: p = (4/6, 1/6, 1/6): q = -4/6 + 0 + 1/6 = -0.5.
    np.testing.assert_allclose(q, [[0.0, 0.0, -0.5]], atol=1e-6)


def test_qr_q_values_are_quantile_means():
    _, agent = _agent(distributional="qr", num_quantiles=2)
    state = agent.init(jax.random.PRNGKey(0))
    params = jax.tree.map(np.zeros_like, state.params)
    # Head outputs per action (θ₁, θ₂): (1, 3), (−2, 0), (5, 5) -> means 2, −1, 5.
    bias = jnp.asarray([1.0, 3.0, -2.0, 0.0, 5.0, 5.0])
    params["params"]["Dense_0"]["bias"] = bias
    q = agent.q_values(params, jnp.ones((1, 2)))
    np.testing.assert_allclose(q, [[2.0, -1.0, 5.0]])


@pytest.mark.parametrize("dist, double", [("c51", False), ("c51", True), ("qr", True)])
def test_one_update_reduces_the_loss_on_a_fixed_batch(dist, double):
    _, agent = _agent(distributional=dist, double=double, n_step=1, prioritized=True)
    state = agent.init(jax.random.PRNGKey(0))
    # Replay holds 4 copies of one transition, so any sample is the fixed batch.
    tr = _transition([1.0, 1.0], [False, False], [False, False], a=[2, 2])
    tr = tr._replace(obs_tm1=jnp.ones((2, 2)), obs_t=jnp.full((2, 2), 0.5))
    state = agent.observe(agent.observe(state, tr), tr)
    batch = dqn_lib.Stored(
        jnp.ones((4, 2)), jnp.full(4, 2), jnp.ones(4), jnp.full(4, 0.99),
        jnp.full((4, 2), 0.5),
    )  # fmt: skip

    loss_fn = jax.jit(agent.loss)
    before, (td_error, _) = loss_fn(
        state.params, state.target_params, batch, jnp.ones(4)
    )
    new_state, metrics = jax.jit(agent.update)(state)
    after = loss_fn(new_state.params, new_state.target_params, batch, jnp.ones(4))[0]
    np.testing.assert_allclose(metrics["loss"], before, rtol=1e-5)
    assert after < before
    # The update's own sample (same key): 4 equal leaves, 4 strata of the mass, so
    # each stratum draws its own slot; its TD errors are those of the fixed batch.
    _, _, extras = jax.jit(agent.grads)(state)
    assert sorted(np.asarray(extras.indices).tolist()) == [0, 1, 2, 3]
    np.testing.assert_allclose(extras.td_error, td_error, rtol=1e-5)
    # Priorities were rewritten from |δ|: leaf i of the sum tree (node L + i, L = 64
    # for capacity 64) holds (|δ_i| + ε)^α, ε = 1e-6, α = 0.6; slots 4..63 are empty.
    td = np.abs(np.asarray(extras.td_error, np.float64))
    assert not np.allclose(td, 1.0)  # differs from the prior max priority 1
    leaves = np.zeros(64)
    leaves[np.asarray(extras.indices)] = (td + 1e-6) ** 0.6
    tree = np.asarray(new_state.replay.sum_tree)
    assert tree.shape == (128,)
    np.testing.assert_allclose(tree[64:], leaves, rtol=1e-5)
    np.testing.assert_allclose(tree[1], leaves.sum(), rtol=1e-5)  # the root
    # max_priority, given to new items, is max(1, max |δ| + ε) (before the α power).
    want_max = max(1.0, td.max() + 1e-6)
    np.testing.assert_allclose(new_state.replay.max_priority, want_max, rtol=1e-5)


@pytest.mark.parametrize("agent_name", ["c51", "qr_dqn"])
def test_cli_trains_distributional_agents(tmp_path, capsys, agent_name):
    from rlblocks.train import cli

    run = tmp_path / agent_name
    argv = ["train", agent_name, "--steps", "100", "--run-dir", str(run)]
    tiny = ["--num_envs=2", "--learning_starts=80", "--batch_size=8"]
    tiny += ["--hidden_sizes=8", "--eval_episodes=1", "--eval_every=100000"]
    tiny += ["--log_every=100", "--num_atoms=5", "--num_quantiles=5"]
    assert cli.main(argv + tiny) == 0
    assert "greedy eval" in capsys.readouterr().out
    saved = json.loads((run / "config.json").read_text())["agent"]
    assert saved["distributional"] == {"c51": "c51", "qr_dqn": "qr"}[agent_name]
    assert cli.main(["eval", str(run), "--episodes", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["eval_mean"] >= 8


def _np_mlp(params, x):
    """Numpy forward of QNetwork(hidden_sizes=(8,)): relu(x W0 + b0) W1 + b1."""
    p = jax.tree.map(np.asarray, params)["params"]
    torso, head = p["MLPTorso_0"]["Dense_0"], p["Dense_0"]
    h = np.maximum(x @ torso["kernel"] + torso["bias"], 0.0)
    return h @ head["kernel"] + head["bias"]


def test_double_loss_and_gradient_match_a_numpy_reference():
    _, agent = _agent(n_step=1)  # double by default
    state = agent.init(jax.random.PRNGKey(0))
    target = jax.tree.map(lambda x: x + 0.05, state.params)
    rng = np.random.default_rng(0)
    s, s2 = (rng.normal(size=(4, 2)).astype(np.float32) for _ in range(2))
    a = np.array([0, 1, 2, 1], np.int32)
    r = np.array([1.0, 0.0, -1.0, 0.5], np.float32)
    d = np.array([0.9, 0.0, 0.9, 0.9], np.float32)
    batch = dqn_lib.Stored(s, a, r, d, s2)
    w = np.array([1.0, 0.5, 2.0, 1.0], np.float32)
    # δ = r + d q_target(s', argmax_a q_online(s', a)) − q_online(s, a);
    # loss = mean_b w_b ½ δ_b² (squared loss, huber_delta None).
    best = _np_mlp(state.params, s2).argmax(-1)
    boot = _np_mlp(target, s2)[np.arange(4), best]
    delta = r + d * boot - _np_mlp(state.params, s)[np.arange(4), a]
    expected = np.mean(w * 0.5 * delta**2)
    grad_fn = jax.jit(jax.value_and_grad(agent.loss, has_aux=True))
    (loss, (td_error, _)), grads = grad_fn(state.params, target, batch, w)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(td_error, delta, rtol=1e-5, atol=1e-6)
    # The gradient flows only through q_online(s, a): dL/db1[k] = mean_b w_b δ_b
    # (−1 if a_b = k), the head bias's gradient.
    onehot = np.eye(3, dtype=np.float32)[a]
    expected_b1 = -(w * delta) @ onehot / 4
    got_b1 = np.asarray(grads["params"]["Dense_0"]["bias"])
    np.testing.assert_allclose(got_b1, expected_b1, rtol=1e-5, atol=1e-6)
