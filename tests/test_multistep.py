"""Multistep returns, TD(λ)-family errors, V-trace and sequence losses.

Random-input checks compare against the float64 forward-view loops in
tests/reference.py; hand-computed cases carry their arithmetic in comments.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlblocks as rlb
from tests import reference as ref

A = 3  # actions
SEEDS = 3
LENGTHS = (1, 2, 7, 50)


# --- random trajectories -------------------------------------------------------


def make_data(seed: int, size: int, seeds: int = SEEDS) -> dict[str, np.ndarray]:
    """Float64 inputs for `seeds` trajectories of length `size`, stacked on axis 0."""
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return rng.normal(size=(seeds, *shape))

    discount = rng.uniform(0.8, 1.0, (seeds, size)) * (rng.random((seeds, size)) > 0.25)
    if size >= 2:
        discount[0, size // 2] = 0.0  # an episode ends inside the first trajectory
    q_t = normal(size, A)
    a_t = rng.integers(0, A, (seeds, size))
    logits = normal(size, A)
    pi_t = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    data = {
        "r_t": normal(size),
        "discount_t": discount,
        "v_t": normal(size),
        "v_tm1": normal(size),
        "v_last": normal(),
        "values": normal(size + 1),
        "lam": rng.uniform(0.0, 1.0, (seeds, size)),
        "rho": np.exp(0.7 * normal(size)),
        "q_tm1": normal(size, A),
        "q_t": q_t,
        "a_tm1": rng.integers(0, A, (seeds, size)),
        "a_t": a_t,
        "pi_t": pi_t,
        "mu_t": rng.uniform(0.1, 1.0, (seeds, size)),
        "c_t": rng.uniform(0.0, 1.0, (seeds, size)),
        "q_k": normal(size - 1),
        "c_k": rng.uniform(0.0, 1.0, (seeds, size - 1)),
        "log_rhos": 0.7 * normal(size - 1),
        "lam_k": rng.uniform(0.0, 1.0, (seeds, size - 1)),
        "mask": rng.random((seeds, size)) > 0.3,
        "watkins": 0.6 * (a_t == q_t.argmax(-1)),
        "log_pi": -np.abs(normal(size)),
        "log_mu": -np.abs(normal(size)),
    }
    return data


def to_jax(data):
    return {
        k: jnp.asarray(v, jnp.float32 if v.dtype == np.float64 else None)
        for k, v in data.items()
    }


def _stack_out(out):
    if isinstance(out, rlb.VTraceOutput):
        return jnp.stack([out.errors, out.q_estimate, out.pg_advantage])
    return out


def _ref_vt(d, **kw):
    errors, adv, q = ref.vtrace(
        d["v_tm1"], d["v_t"], d["r_t"], d["discount_t"], d["rho"], d["lam"], **kw
    )
    return np.stack([errors, q, adv])


@dataclasses.dataclass(frozen=True)
class Case:
    """One function under test: argument name -> data key, fixed kwargs, reference."""

    name: str
    fn: Callable
    args: dict
    ref: Callable  # (per-trajectory data dict) -> float64 output
    static: dict = dataclasses.field(default_factory=dict)
    prediction: Callable | None = None  # data -> the part not stopped, or None

    def call(self, data, **kw):
        kwargs = {arg: data[key] for arg, key in self.args.items()}
        return _stack_out(self.fn(**kwargs, **self.static, **kw))

    def __repr__(self):
        return self.name


def _pick(q, a):
    return np.take_along_axis(q, a[:, None], -1)[:, 0]


def _vt_pred(d):
    zeros = np.zeros_like(d["v_tm1"])
    return np.stack([d["v_tm1"], zeros, zeros])


_R = {"r_t": "r_t", "discount_t": "discount_t"}
_VT = {
    "v_tm1": "v_tm1",
    "v_t": "v_t",
    **_R,
    "rho_tm1": "rho",
    "lambda_": "lam",
}
_Q = {"q_tm1": "q_tm1", "a_tm1": "a_tm1", **_R, "q_t": "q_t"}

CASES = [
    Case(
        "lambda_returns_scalar",
        rlb.lambda_returns,
        {**_R, "v_t": "v_t"},
        lambda d: ref.forward_lambda_returns(d["r_t"], d["discount_t"], d["v_t"], 0.7),
        {"lambda_": 0.7},
    ),
    Case(
        "lambda_returns_per_step",
        rlb.lambda_returns,
        {**_R, "v_t": "v_t", "lambda_": "lam"},
        lambda d: ref.forward_lambda_returns(
            d["r_t"], d["discount_t"], d["v_t"], d["lam"]
        ),
    ),
    Case(
        "discounted_returns",
        rlb.discounted_returns,
        {**_R, "v_t": "v_t"},
        lambda d: ref.discounted_returns(d["r_t"], d["discount_t"], d["v_t"][-1]),
    ),
    Case(
        "discounted_returns_scalar_v",
        rlb.discounted_returns,
        {**_R, "v_t": "v_last"},
        lambda d: ref.discounted_returns(d["r_t"], d["discount_t"], d["v_last"]),
    ),
    Case(
        "n_step_1",
        rlb.n_step_bootstrapped_returns,
        {**_R, "v_t": "v_t"},
        lambda d: ref.forward_n_step_returns(d["r_t"], d["discount_t"], d["v_t"], 1),
        {"n": 1},
    ),
    Case(
        "n_step_3_per_step_lambda",
        rlb.n_step_bootstrapped_returns,
        {**_R, "v_t": "v_t", "lambda_t": "lam"},
        lambda d: ref.forward_n_step_returns(
            d["r_t"], d["discount_t"], d["v_t"], 3, d["lam"]
        ),
        {"n": 3},
    ),
    Case(
        "n_step_60_longer_than_T",
        rlb.n_step_bootstrapped_returns,
        {**_R, "v_t": "v_t"},
        lambda d: ref.forward_n_step_returns(d["r_t"], d["discount_t"], d["v_t"], 60),
        {"n": 60},
    ),
    Case(
        "gae_per_step",
        rlb.truncated_generalized_advantage_estimation,
        {**_R, "lambda_": "lam", "values": "values"},
        lambda d: ref.gae(d["r_t"], d["discount_t"], d["lam"], d["values"]),
    ),
    Case(
        "gae_scalar",
        rlb.truncated_generalized_advantage_estimation,
        {**_R, "values": "values"},
        lambda d: ref.gae(d["r_t"], d["discount_t"], 0.9, d["values"]),
        {"lambda_": 0.9},
    ),
    Case(
        "importance_corrected_td_errors",
        rlb.importance_corrected_td_errors,
        {**_R, "rho_tm1": "rho", "lambda_": "lam", "values": "values"},
        lambda d: ref.importance_corrected_td_errors(
            d["r_t"], d["discount_t"], d["rho"], d["lam"], d["values"]
        ),
        prediction=lambda d: d["values"][:-1],
    ),
    Case(
        "general_off_policy_q_and_v",
        rlb.general_off_policy_returns_from_q_and_v,
        {"q_t": "q_k", "v_t": "v_t", **_R, "c_t": "c_k"},
        lambda d: ref.off_policy_returns_q_v(
            d["q_k"], d["v_t"], d["r_t"], d["discount_t"], d["c_k"]
        ),
    ),
    Case(
        "general_off_policy_action_values",
        rlb.general_off_policy_returns_from_action_values,
        {"q_t": "q_t", "a_t": "a_t", **_R, "c_t": "c_t", "pi_t": "pi_t"},
        lambda d: ref.off_policy_returns_action_values(
            d["q_t"], d["a_t"], d["r_t"], d["discount_t"], d["c_t"], d["pi_t"]
        ),
    ),
    Case(
        "td_lambda",
        rlb.td_lambda,
        {"v_tm1": "v_tm1", **_R, "v_t": "v_t", "lambda_": "lam"},
        lambda d: (
            ref.forward_lambda_returns(d["r_t"], d["discount_t"], d["v_t"], d["lam"])
            - d["v_tm1"]
        ),
        prediction=lambda d: d["v_tm1"],
    ),
    Case(
        "sarsa_lambda",
        rlb.sarsa_lambda,
        {**_Q, "a_t": "a_t"},
        lambda d: (
            ref.forward_lambda_returns(
                d["r_t"], d["discount_t"], _pick(d["q_t"], d["a_t"]), 0.6
            )
            - _pick(d["q_tm1"], d["a_tm1"])
        ),
        {"lambda_": 0.6},
        prediction=lambda d: _pick(d["q_tm1"], d["a_tm1"]),
    ),
    Case(
        "q_lambda_peng",
        rlb.q_lambda,
        _Q,
        lambda d: (
            ref.forward_lambda_returns(d["r_t"], d["discount_t"], d["q_t"].max(-1), 0.6)
            - _pick(d["q_tm1"], d["a_tm1"])
        ),
        {"lambda_": 0.6},
        prediction=lambda d: _pick(d["q_tm1"], d["a_tm1"]),
    ),
    Case(
        "q_lambda_watkins",
        rlb.q_lambda,
        {**_Q, "lambda_": "watkins"},
        lambda d: (
            ref.watkins_q_lambda_targets(
                d["r_t"], d["discount_t"], d["q_t"], d["a_t"], 0.6
            )
            - _pick(d["q_tm1"], d["a_tm1"])
        ),
        prediction=lambda d: _pick(d["q_tm1"], d["a_tm1"]),
    ),
    Case(
        "retrace",
        rlb.retrace,
        {**_Q, "a_t": "a_t", "pi_t": "pi_t", "mu_t": "mu_t"},
        lambda d: (
            ref.off_policy_returns_action_values(
                d["q_t"],
                d["a_t"],
                d["r_t"],
                d["discount_t"],
                0.9 * np.minimum(1.0, _pick(d["pi_t"], d["a_t"]) / d["mu_t"]),
                d["pi_t"],
            )
            - _pick(d["q_tm1"], d["a_tm1"])
        ),
        {"lambda_": 0.9, "eps": 0.0},
        prediction=lambda d: _pick(d["q_tm1"], d["a_tm1"]),
    ),
    Case(
        "retrace_continuous",
        rlb.retrace_continuous,
        {
            "q_tm1": "v_tm1",
            "q_t": "q_k",
            "v_t": "v_t",
            **_R,
            "log_rhos": "log_rhos",
            "lambda_": "lam_k",
        },
        lambda d: (
            ref.off_policy_returns_q_v(
                d["q_k"],
                d["v_t"],
                d["r_t"],
                d["discount_t"],
                d["lam_k"] * np.minimum(1.0, np.exp(d["log_rhos"])),
            )
            - d["v_tm1"]
        ),
        prediction=lambda d: d["v_tm1"],
    ),
    Case(
        "vtrace",
        rlb.vtrace,
        _VT,
        lambda d: _ref_vt(d, clip_rho=1.2)[0],
        {"clip_rho_threshold": 1.2},
        prediction=lambda d: d["v_tm1"],
    ),
    Case(
        "vtrace_sample_mask",
        rlb.vtrace,
        {**_VT, "sample_mask": "mask"},
        lambda d: _ref_vt(d, clip_rho=1.2, sample_mask=d["mask"])[0],
        {"clip_rho_threshold": 1.2},
        prediction=lambda d: d["v_tm1"],
    ),
    Case(
        "vtrace_td_error_and_advantage",
        rlb.vtrace_td_error_and_advantage,
        {**_VT, "sample_mask": "mask"},
        lambda d: _ref_vt(d, clip_rho=1.2, clip_pg_rho=0.9, sample_mask=d["mask"]),
        {"clip_rho_threshold": 1.2, "clip_pg_rho_threshold": 0.9},
        prediction=_vt_pred,
    ),
    Case(
        "leaky_vtrace",
        rlb.leaky_vtrace,
        {**_VT, "sample_mask": "mask"},
        lambda d: _ref_vt(d, clip_rho=1.2, alpha=0.4, sample_mask=d["mask"])[0],
        {"alpha_": 0.4, "clip_rho_threshold": 1.2},
        prediction=lambda d: d["v_tm1"],
    ),
    Case(
        "leaky_vtrace_td_error_and_advantage",
        rlb.leaky_vtrace_td_error_and_advantage,
        _VT,
        lambda d: _ref_vt(d, clip_rho=1.2, clip_pg_rho=0.9, alpha=0.4),
        {"alpha": 0.4, "clip_rho_threshold": 1.2, "clip_pg_rho_threshold": 0.9},
        prediction=_vt_pred,
    ),
]


def _seed(data, s):
    return {k: v[s] for k, v in data.items()}


def _tol(expected):
    return {"rtol": 1e-4, "atol": 1e-4 * (1.0 + np.max(np.abs(expected), initial=0))}


# --- every function against the float64 reference ----------------------------


# Compiling every case in one jitted function per shape is ~2.5x cheaper than one
# compilation per case; results are cached and each case's test reads its own.
# (Eager execution of every function is covered by the hand-computed tests.)


@functools.cache
def _all_cases_batched(size: int):
    data = make_data(size, size)
    run = jax.vmap(lambda d: [case.call(d) for case in CASES])  # all seeds at once
    return data, jax.jit(run)(to_jax(data))


@functools.cache
def _all_cases_looped(size: int):
    one = jax.jit(lambda d: [case.call(d) for case in CASES])
    data = to_jax(make_data(size, size))
    return [one(_seed(data, s)) for s in range(SEEDS)]


def _check_reference(case, size):
    data, outs = _all_cases_batched(size)
    got = outs[CASES.index(case)]
    for s in range(SEEDS):
        expected = case.ref(_seed(data, s))
        np.testing.assert_allclose(got[s], expected, **_tol(expected))
    return got


@pytest.mark.parametrize("size", LENGTHS)
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_matches_reference_jit(case, size):
    batched = _check_reference(case, size)
    if size == 7:  # vmap equals a loop over single trajectories
        looped = [out[CASES.index(case)] for out in _all_cases_looped(size)]
        np.testing.assert_allclose(batched, np.stack(looped), rtol=1e-6, atol=1e-6)


# --- stop-gradient: both settings --------------------------------------------


def _numeric_grad(fn, data, keys, h=1e-6):
    grads = {}
    for key in keys:
        x = np.array(data[key], dtype=np.float64)
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            up, down = dict(data), dict(data)
            up[key], down[key] = x.copy(), x.copy()
            up[key][idx] += h
            down[key][idx] -= h
            g[idx] = (fn(up) - fn(down)) / (2 * h)
        grads[key] = g
    return grads


def _grad_keys(case, data):
    floats = (k for k in case.args.values() if data[k].dtype == np.float64)
    return [k for k in floats if k != "watkins"]  # λ here is data-dependent


def _grad_weights(case, data):
    weights = np.random.default_rng(0).normal(size=np.shape(case.ref(data)))
    if weights.ndim == 2:
        weights[2] = 0.0  # pg_advantage is differentiable through ρ in both modes
    return weights


@functools.cache
def _all_gradients():
    """Gradients of Σ w·out for every case, one compilation (the flag is traced)."""
    data = _seed(make_data(2, 7), 0)
    jdata = to_jax(data)

    def grads(jdata, flag):
        out = []
        for case in CASES:
            keys, weights = _grad_keys(case, data), _grad_weights(case, data)

            def total(floats, stop, case=case, weights=weights):
                kw = {**jdata, **floats}
                return jnp.sum(case.call(kw, stop_target_gradients=stop) * weights)

            floats = {k: jdata[k] for k in keys}
            out.append({"traced": jax.grad(total)(floats, flag)})
            for stop in (True, False):  # the usual Python-bool path
                out[-1][str(stop)] = jax.grad(total)(floats, stop)
        return out

    fn = jax.jit(grads)
    return data, {stop: fn(jdata, jnp.asarray(stop)) for stop in (True, False)}


@pytest.mark.parametrize("stop", [True, False])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_gradients_follow_stop_target_gradients(case, stop):
    data, all_grads = _all_gradients()
    got = all_grads[stop][CASES.index(case)]
    for key, value in got[str(stop)].items():  # Python bool and traced flag agree
        np.testing.assert_allclose(value, got["traced"][key], rtol=1e-6, atol=1e-6)
    got = got[str(stop)]
    keys, weights = _grad_keys(case, data), _grad_weights(case, data)
    if stop:  # only the prediction carries gradient: d(−w·pred)
        pred = case.prediction or (lambda d: 0.0 * case.ref(d))
        expected = _numeric_grad(lambda d: -np.sum(weights * pred(d)), data, keys)
    else:
        expected = _numeric_grad(lambda d: np.sum(weights * case.ref(d)), data, keys)
        # the bootstrap side really carries gradient when not stopped
        assert any(np.abs(expected[k]).max() > 1e-3 for k in keys if k != "r_t")
    for key in keys:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-3, atol=1e-3)


def test_default_stops_target_gradients_everywhere():
    # One documented default across rlblocks (rlax is inconsistent here).
    for fn in {case.fn for case in CASES}:
        default = inspect.signature(fn).parameters["stop_target_gradients"].default
        assert default is True, fn.__name__


def test_traced_stop_flag():
    r, d, v = jnp.ones(3), jnp.full(3, 0.5), jnp.ones(3)

    def total(v, flag):
        return jnp.sum(rlb.lambda_returns(r, d, v, 0.5, flag))

    grad = jax.jit(jax.grad(total))
    np.testing.assert_allclose(grad(v, jnp.array(True)), 0.0)
    assert np.abs(grad(v, jnp.array(False))).sum() > 0


# --- hand-computed values --------------------------------------------------------

# Shared small trajectory: r = [1, 2], γ = [0.5, 0.5], v_t = [10, 20], λ = 0.5.
#   G₁ = r₁ + γ₁ v₁ = 2 + 0.5·20 = 12
#   G₀ = r₀ + γ₀ ((1 − λ) v₀ + λ G₁) = 1 + 0.5·(0.5·10 + 0.5·12) = 6.5
R2, D2, V2 = [1.0, 2.0], [0.5, 0.5], [10.0, 20.0]
Q_TM1, A_TM1 = [[1.0, 2.0], [3.0, 4.0]], [1, 0]  # picked: q_tm1[a_tm1] = [2, 3]


def _f(x):
    return jnp.asarray(x, jnp.float32)


def _i(x):
    return jnp.asarray(x, jnp.int32)


def test_hand_lambda_returns(variant):
    got = variant(rlb.lambda_returns)(_f(R2), _f(D2), _f(V2), 0.5)
    np.testing.assert_allclose(got, [6.5, 12.0])
    # Episode end after the first step: G₀ = 1 + 0·(…) = 1.
    got = variant(rlb.lambda_returns)(_f(R2), _f([0.0, 0.5]), _f(V2), 0.5)
    np.testing.assert_allclose(got, [1.0, 12.0])


def test_hand_discounted_returns(variant):
    # G₂ = 3 + 0.5·4 = 5; G₁ = 2 + 0·5 = 2; G₀ = 1 + 0.5·2 = 2.
    got = variant(rlb.discounted_returns)(_f([1, 2, 3]), _f([0.5, 0, 0.5]), _f(4.0))
    np.testing.assert_allclose(got, [2.0, 2.0, 5.0])


def test_hand_n_step_bootstrapped_returns(variant):
    # n = 2, γ = 0.5, r = [1, 2, 3], v = [10, 20, 30]:
    # G₀ = 1 + 0.5·2 + 0.25·20 = 7; G₁ = 2 + 0.5·3 + 0.25·30 = 11;
    # G₂ = 3 + 0.5·30 = 18 (the horizon shrinks at the end).
    fn = variant(rlb.n_step_bootstrapped_returns, static_argnums=3)
    got = fn(_f([1, 2, 3]), _f([0.5] * 3), _f([10, 20, 30]), 2)
    np.testing.assert_allclose(got, [7.0, 11.0, 18.0])


def test_hand_gae(variant):
    # values = [1, 2, 4]: δ₀ = 1 + 0.5·2 − 1 = 1, δ₁ = 1 + 0.5·4 − 2 = 1;
    # Â₁ = 1, Â₀ = δ₀ + γλ Â₁ = 1 + 0.5·0.5·1 = 1.25.
    fn = variant(rlb.truncated_generalized_advantage_estimation)
    got = fn(_f([1, 1]), _f([0.5, 0.5]), 0.5, _f([1, 2, 4]))
    np.testing.assert_allclose(got, [1.25, 1.0])


def test_hand_importance_corrected_td_errors(variant):
    # δ = [1, 1] as above, ρ = [2, 0.5], λ = 1:
    # δ₁(ρ,λ) = 1; δ₀(ρ,λ) = 1 + γ₀ λ ρ₁ δ₁ = 1 + 0.5·0.5 = 1.25;
    # e = ρ ⊙ δ(ρ,λ) = [2·1.25, 0.5·1] = [2.5, 0.5].
    fn = variant(rlb.importance_corrected_td_errors)
    got = fn(_f([1, 1]), _f([0.5, 0.5]), _f([2, 0.5]), 1.0, _f([1, 2, 4]))
    np.testing.assert_allclose(got, [2.5, 0.5])


def test_hand_general_off_policy_returns(variant):
    # q_and_v: q = [1], v = [2, 4], r = [1, 1], γ = 0.5, c = [0.5]:
    # G₁ = 1 + 0.5·4 = 3; G₀ = 1 + 0.5·(2 − 0.5·1 + 0.5·3) = 2.5.
    fn = variant(rlb.general_off_policy_returns_from_q_and_v)
    got = fn(_f([1]), _f([2, 4]), _f([1, 1]), _f([0.5, 0.5]), _f([0.5]))
    np.testing.assert_allclose(got, [2.5, 3.0])
    # action values: q_t = [[1, 3], [2, 6]], π = [[.5, .5], [.25, .75]] gives
    # v = [2, 5]; q_t[0, a₀=0] = 1; c = [0.5, (unused)]:
    # G₁ = 1 + 0.5·5 = 3.5; G₀ = 1 + 0.5·(2 − 0.5·1 + 0.5·3.5) = 2.625.
    fn = variant(rlb.general_off_policy_returns_from_action_values)
    got = fn(
        _f([[1, 3], [2, 6]]),
        _i([0, 1]),
        _f([1, 1]),
        _f([0.5, 0.5]),
        _f([0.5, 0.9]),
        _f([[0.5, 0.5], [0.25, 0.75]]),
    )
    np.testing.assert_allclose(got, [2.625, 3.5])


def test_hand_td_lambda(variant):
    # Targets [6.5, 12] (shared case) minus v_tm1 = [1, 2].
    got = variant(rlb.td_lambda)(_f([1, 2]), _f(R2), _f(D2), _f(V2), 0.5)
    np.testing.assert_allclose(got, [5.5, 10.0])


def test_hand_sarsa_lambda(variant):
    # q_t[a_t] = [10, 20] -> targets [6.5, 12]; minus q_tm1[a_tm1] = [2, 3].
    q_t, a_t = _f([[10, 0], [0, 20]]), _i([0, 1])
    fn = variant(rlb.sarsa_lambda)
    got = fn(_f(Q_TM1), _i(A_TM1), _f(R2), _f(D2), q_t, a_t, 0.5)
    np.testing.assert_allclose(got, [4.5, 9.0])


def test_hand_q_lambda_peng_and_watkins(variant):
    # max q_t = [10, 20] -> Peng's targets [6.5, 12]; errors [4.5, 9].
    q_t = _f([[10, 4], [0, 20]])
    fn = variant(rlb.q_lambda)
    got = fn(_f(Q_TM1), _i(A_TM1), _f(R2), _f(D2), q_t, 0.5)
    np.testing.assert_allclose(got, [4.5, 9.0])
    # Watkins: a_t = [1, 1]; a_t[0] is not greedy (argmax q_t[0] = 0) so λ₀ = 0:
    # G₀ = 1 + 0.5·(1·10) = 6 -> errors [6 − 2, 12 − 3] = [4, 9].
    a_t = jnp.array([1, 1])
    watkins = 0.5 * (a_t == jnp.argmax(q_t, -1))
    got = fn(_f(Q_TM1), _i(A_TM1), _f(R2), _f(D2), q_t, watkins)
    np.testing.assert_allclose(got, [4.0, 9.0])


def test_hand_retrace(variant):
    # q_t = [[1, 3], [2, 6]], a_t = [0, 1], π as above, μ = [1, 0.5], λ = 1:
    # c = min(1, π(a_t)/μ) = [min(1, .5/1), min(1, .75/.5)] = [0.5, 1];
    # targets [2.625, 3.5] (general case above); minus q_tm1[a_tm1] = [2, 3].
    fn = variant(rlb.retrace)
    got = fn(
        _f(Q_TM1),
        _f([[1, 3], [2, 6]]),
        _i(A_TM1),
        _i([0, 1]),
        _f([1, 1]),
        _f([0.5, 0.5]),
        _f([[0.5, 0.5], [0.25, 0.75]]),
        _f([1.0, 0.5]),
        1.0,
        0.0,
    )
    np.testing.assert_allclose(got, [0.625, 0.5])


def test_hand_retrace_continuous(variant):
    # c = λ min(1, exp(log 0.5)) = 0.5; targets [2.5, 3] (q_and_v case above);
    # minus q_tm1 = [2, 3].
    fn = variant(rlb.retrace_continuous)
    got = fn(
        _f([2, 3]), _f([1]), _f([2, 4]), _f([1, 1]), _f([0.5, 0.5]),
        _f([np.log(0.5)]), 1.0,
    )  # fmt: skip
    np.testing.assert_allclose(got, [0.5, 0.0], atol=1e-6)


# V-trace case: v_tm1 = [1, 2], v_t = [2, 4], r = [1, 1], γ = 0.5, ρ = [2, 0.5].
VT = ([1.0, 2.0], [2.0, 4.0], [1.0, 1.0], [0.5, 0.5], [2.0, 0.5])


def test_hand_vtrace(variant):
    # c = min(1, ρ) = [1, .5]; ρ̄ = [1, .5]; ρ̄δ = [1·(1 + 1 − 1), .5·(1 + 2 − 2)]
    # = [1, 0.5]; e₁ = 0.5; e₀ = 1 + γ₀ c₀ e₁ = 1 + 0.5·1·0.5 = 1.25.
    got = variant(rlb.vtrace)(*map(_f, VT))
    np.testing.assert_allclose(got, [1.25, 0.5])
    # Step 0 not learnable: it is skipped, e₀ = e₁ = 0.5.
    got = variant(rlb.vtrace)(*map(_f, VT), sample_mask=jnp.array([False, True]))
    np.testing.assert_allclose(got, [0.5, 0.5])


def test_hand_vtrace_td_error_and_advantage(variant):
    # vs = v_tm1 + e = [2.25, 2.5]; q₀ = 1 + 0.5·vs₁ = 2.25; q₁ = 1 + 0.5·4 = 3;
    # A = min(1, ρ)(q − v_tm1) = [1·1.25, 0.5·1] = [1.25, 0.5].
    out = variant(rlb.vtrace_td_error_and_advantage)(*map(_f, VT))
    np.testing.assert_allclose(out.errors, [1.25, 0.5])
    np.testing.assert_allclose(out.q_estimate, [2.25, 3.0])
    np.testing.assert_allclose(out.pg_advantage, [1.25, 0.5])


def test_hand_leaky_vtrace(variant):
    # α = 0.5: c = ρ̄ = 0.5ρ + 0.5 min(1, ρ) = [1.5, 0.5]; ρ̄δ = [1.5, 0.5];
    # e₁ = 0.5; e₀ = 1.5 + 0.5·1.5·0.5 = 1.875.
    got = variant(rlb.leaky_vtrace)(*map(_f, VT), 0.5)
    np.testing.assert_allclose(got, [1.875, 0.5])
    # vs₁ = 2.5 -> q = [2.25, 3]; A = [1.5·(2.25 − 1), 0.5·(3 − 2)] = [1.875, 0.5].
    out = variant(rlb.leaky_vtrace_td_error_and_advantage)(*map(_f, VT), 0.5)
    np.testing.assert_allclose(out.errors, [1.875, 0.5])
    np.testing.assert_allclose(out.pg_advantage, [1.875, 0.5])


# --- bad shapes ---------------------------------------------------------------


def _corruptions(case, data):
    """(argument, bad value) pairs: one extra rank, then one step too few."""
    for arg, key in case.args.items():
        x = data[key]
        if x.ndim == 0:
            continue
        yield arg, "rank", x[None]
        yield arg, "length", x[:-1] if len(x) > 1 else x[:0]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_shapes_raise_value_error_naming_argument(case):
    data = to_jax(_seed(make_data(3, 4), 0))
    for arg, kind, bad in _corruptions(case, data):
        kwargs = {a: data[k] for a, k in case.args.items()}
        kwargs[arg] = bad
        with pytest.raises(ValueError, match=rf"\b{arg}\b") as info:
            case.fn(**kwargs, **case.static)
        assert (
            kind == "length" or "rank" in str(info.value) or "shape" in str(info.value)
        )


def test_bad_hyperparameters_raise():
    r = jnp.ones(3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        rlb.n_step_bootstrapped_returns(r, r, r, 0)
    with pytest.raises(ValueError, match="lambda_"):
        rlb.lambda_returns(r, r, r, jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="v_t must have a floating-point dtype"):
        rlb.lambda_returns(r, r, jnp.ones(3, jnp.int32))
    with pytest.raises(ValueError, match="a_tm1 must have an integer dtype"):
        rlb.q_lambda(jnp.ones((3, 2)), r, r, r, jnp.ones((3, 2)), 0.5)


def test_integer_rewards_and_discounts_are_accepted():
    # Rewards and discounts may be any number (docs/conventions.md): r = [1, 2],
    # γ = [1, 0], v = [10, 20], λ = 0 -> G = [1 + 1·10, 2 + 0·20] = [11, 2].
    got = rlb.lambda_returns(jnp.array([1, 2]), jnp.array([1, 0]), _f(V2), 0.0)
    np.testing.assert_allclose(got, [11.0, 2.0])


# --- batched sequence losses -------------------------------------------------------

CASE = {case.name: case for case in CASES}


@dataclasses.dataclass(frozen=True)
class LossCase:
    """A sequence loss, its arguments (name -> data key) and per-sequence reference."""

    name: str
    fn: Callable
    args: dict
    ref: Callable  # truncated single-trajectory data -> per-sequence loss
    static: dict = dataclasses.field(default_factory=dict)

    def call(self, data, **kw):
        kwargs = {arg: data[key] for arg, key in self.args.items()}
        return self.fn(**kwargs, **self.static, **kw)

    def __repr__(self):
        return self.name


def _td_ref(name, huber_delta=None):
    return lambda d: np.sum(ref.penalty(CASE[name].ref(d), huber_delta))


def _vtrace_loss_ref(d, cost=0.5):
    rho = np.exp(d["log_pi"] - d["log_mu"])
    errors, adv, _ = ref.vtrace(
        d["v_tm1"], d["v_t"], d["r_t"], d["discount_t"], rho, d["lam"], 1.2, 0.9
    )
    return -np.sum(adv * d["log_pi"]) + cost * np.sum(ref.penalty(errors))


LOSS_CASES = [
    LossCase(
        "td_lambda_loss",
        rlb.td_lambda_loss,
        CASE["td_lambda"].args,
        _td_ref("td_lambda"),
    ),
    LossCase(
        "td_lambda_loss_huber",
        rlb.td_lambda_loss,
        CASE["td_lambda"].args,
        _td_ref("td_lambda", 0.5),
        {"huber_delta": 0.5},
    ),
    LossCase(
        "sarsa_lambda_loss",
        rlb.sarsa_lambda_loss,
        CASE["sarsa_lambda"].args,
        _td_ref("sarsa_lambda"),
        {"lambda_": 0.6},
    ),
    LossCase(
        "q_lambda_loss_peng",
        rlb.q_lambda_loss,
        CASE["q_lambda_peng"].args,
        _td_ref("q_lambda_peng"),
        {"lambda_": 0.6},
    ),
    LossCase(
        "q_lambda_loss_watkins",
        rlb.q_lambda_loss,
        CASE["q_lambda_watkins"].args,
        _td_ref("q_lambda_watkins"),
    ),
    LossCase(
        "retrace_loss",
        rlb.retrace_loss,
        CASE["retrace"].args,
        _td_ref("retrace"),
        {"lambda_": 0.9, "eps": 0.0},
    ),
    LossCase(
        "vtrace_loss",
        rlb.vtrace_loss,
        {
            "v_tm1": "v_tm1",
            "v_t": "v_t",
            "r_t": "r_t",
            "discount_t": "discount_t",
            "log_pi_a_tm1": "log_pi",
            "log_mu_a_tm1": "log_mu",
            "lambda_": "lam",
        },
        _vtrace_loss_ref,
        {"clip_rho_threshold": 1.2, "clip_pg_rho_threshold": 0.9, "baseline_cost": 0.5},
    ),
]

BATCH = 5


def _time_major(data):
    """[B, T, ...] trajectories -> time-major [T, B, ...] (scalars dropped)."""
    size = data["r_t"].shape[1]
    return {
        k: np.swapaxes(v, 0, 1)
        for k, v in data.items()
        if v.ndim >= 2 and v.shape[1] == size
    }


def _loss_data(size, seed=0):
    data = make_data(seed, size, seeds=BATCH)
    lengths = np.array([size, 0, 1, size // 2, max(size - 1, 0)])
    weights = np.random.default_rng(seed).uniform(0.5, 2.0, BATCH)
    return data, lengths, weights


def _ref_loss(case, data, lengths, weights):
    per_sequence = []
    for b, length in enumerate(lengths):
        d = {k: v[b][:length] for k, v in data.items() if v.ndim >= 2}
        per_sequence.append(case.ref(d) if length else 0.0)
    return np.mean(weights * np.array(per_sequence))


@functools.cache
def _all_losses(size: int):
    data, lengths, weights = _loss_data(size)

    def run(d):
        kw = {"sequence_lengths": jnp.asarray(lengths), "weights": weights}
        return [case.call(d, **kw) for case in LOSS_CASES]

    weights = jnp.asarray(weights, jnp.float32)
    return data, lengths, np.asarray(weights), jax.jit(run)(to_jax(_time_major(data)))


@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("case", LOSS_CASES, ids=repr)
def test_loss_matches_reference(case, size):
    data, lengths, weights, outs = _all_losses(size)
    loss, extras = outs[LOSS_CASES.index(case)]
    expected = _ref_loss(case, data, lengths, weights)
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-4)
    valid = np.arange(size)[:, None] < lengths[None]
    np.testing.assert_array_equal(extras.mask, valid)
    assert np.all(np.asarray(extras.td_error)[~valid] == 0)
    assert np.all(np.asarray(extras.target)[~valid] == 0)


def test_loss_without_lengths_equals_full_lengths():
    case = LOSS_CASES[0]
    data = to_jax(_time_major(_loss_data(7)[0]))
    full, _ = case.call(data)
    same, _ = case.call(data, sequence_lengths=jnp.full(BATCH, 7))
    np.testing.assert_allclose(full, same, rtol=1e-6)


def _with_padding(data, valid, fill_float, fill_int):
    out = {}
    for k, v in data.items():
        shape = valid.shape + (1,) * (v.ndim - 2)
        fill = fill_float if v.dtype.kind == "f" else fill_int
        out[k] = np.where(valid.reshape(shape), v, fill).astype(v.dtype)
    return out


@functools.cache
def _padded_loss_grads():
    """(valid, [(loss, grads) per case] with zero padding, same with NaN padding)."""
    size = 7
    data, lengths, _ = _loss_data(size, seed=1)
    tm = _time_major(data)
    valid = np.arange(size)[:, None] < lengths[None]
    floats = [k for k, v in tm.items() if v.dtype.kind == "f"]

    def run(padded):
        def loss(fl, case):
            kw = {**padded, **fl}
            return case.call(kw, sequence_lengths=jnp.asarray(lengths))[0]

        fl = {k: padded[k] for k in floats}
        return [jax.value_and_grad(loss)(fl, case) for case in LOSS_CASES]

    run = jax.jit(run)
    results = [
        run(to_jax(_with_padding(tm, valid, fill_float, fill_int)))
        for fill_float, fill_int in [(0.0, 0), (np.nan, 10**6)]
    ]
    return valid, *results


@pytest.mark.parametrize("case", LOSS_CASES, ids=repr)
def test_padding_contributes_zero_loss_and_zero_gradient(case):
    valid, clean, nan = _padded_loss_grads()
    (clean_loss, clean_grads) = clean[LOSS_CASES.index(case)]
    (nan_loss, nan_grads) = nan[LOSS_CASES.index(case)]
    assert np.isfinite(nan_loss)
    np.testing.assert_allclose(nan_loss, clean_loss, rtol=1e-6)
    keys = [k for k in case.args.values() if k in nan_grads]
    for k in keys:
        grad = np.asarray(nan_grads[k])
        assert np.all(np.isfinite(grad)), k
        assert np.all(grad[~valid] == 0.0), k  # exactly zero on padded steps
        np.testing.assert_allclose(grad, clean_grads[k], rtol=1e-6, atol=1e-7)
    # the valid steps do carry gradient into the predictions
    assert np.abs(np.asarray(nan_grads[keys[0]])[valid]).max() > 0


def test_hand_sequence_losses():
    # td_lambda_loss, B = 2, both columns hold the shared case (v_tm1 = [1, 2]):
    #   length 2: errors [5.5, 10] -> ½(30.25 + 100) = 65.125
    #   length 1: G₀ = 1 + 0.5·10 = 6, error 5 -> ½·25 = 12.5
    #   weights [1, 2]: (65.125 + 2·12.5) / 2 = 45.0625
    col = np.array([[1.0, 1.0], [2.0, 2.0]])
    loss, extras = jax.jit(rlb.td_lambda_loss)(
        _f(col),
        _f(np.tile(np.array(R2)[:, None], 2)),
        _f(np.tile(np.array(D2)[:, None], 2)),
        _f(np.tile(np.array(V2)[:, None], 2)),
        0.5,
        sequence_lengths=jnp.array([2, 1]),
        weights=_f([1.0, 2.0]),
    )
    np.testing.assert_allclose(loss, 45.0625)
    np.testing.assert_allclose(extras.td_error, [[5.5, 5.0], [10.0, 0.0]])
    np.testing.assert_allclose(extras.target, [[6.5, 6.0], [12.0, 0.0]])
    # Sarsa(λ) and Q(λ) cases above have errors [4.5, 9]: ½(20.25 + 81) = 50.625.
    q_tm1, a_tm1 = _f(Q_TM1)[:, None], _i(A_TM1)[:, None]
    r, d = _f(R2)[:, None], _f(D2)[:, None]
    sarsa, _ = jax.jit(rlb.sarsa_lambda_loss)(
        q_tm1, a_tm1, r, d, _f([[10, 0], [0, 20]])[:, None], _i([[0], [1]]), 0.5
    )
    q_loss, _ = jax.jit(rlb.q_lambda_loss)(
        q_tm1, a_tm1, r, d, _f([[10, 4], [0, 20]])[:, None], 0.5
    )
    np.testing.assert_allclose([sarsa, q_loss], [50.625, 50.625])
    # Retrace case errors [0.625, 0.5]: ½(0.390625 + 0.25) = 0.3203125.
    retrace, _ = jax.jit(rlb.retrace_loss)(
        q_tm1,
        _f([[1, 3], [2, 6]])[:, None],
        a_tm1,
        _i([[0], [1]]),
        _f([[1], [1]]),
        d,
        _f([[0.5, 0.5], [0.25, 0.75]])[:, None],
        _f([[1.0], [0.5]]),
        1.0,
        eps=0.0,
    )
    np.testing.assert_allclose(retrace, 0.3203125)


def test_hand_vtrace_loss():
    # The V-trace case with π(a) = [0.8, 0.25], μ(a) = [0.4, 0.5] (ρ = [2, 0.5]):
    # errors [1.25, 0.5] -> value ½(1.5625 + 0.25) = 0.90625;
    # A = [1.25, 0.5] -> policy −(1.25 log 0.8 + 0.5 log 0.25) ≈ 0.97208.
    v_tm1, v_t, r, d, _ = (_f(x)[:, None] for x in VT)
    log_pi, log_mu = _f(np.log([[0.8], [0.25]])), _f(np.log([[0.4], [0.5]]))
    loss, extras = jax.jit(rlb.vtrace_loss)(v_tm1, v_t, r, d, log_pi, log_mu)
    policy = -(1.25 * np.log(0.8) + 0.5 * np.log(0.25))
    np.testing.assert_allclose(extras.value_loss, 0.90625, rtol=1e-6)
    np.testing.assert_allclose(extras.policy_loss, policy, rtol=1e-6)
    np.testing.assert_allclose(loss, policy + 0.90625, rtol=1e-6)
    np.testing.assert_allclose(extras.vs[:, 0], [2.25, 2.5])
    np.testing.assert_allclose(extras.pg_advantages[:, 0], [1.25, 0.5])
    np.testing.assert_allclose(extras.rho[:, 0], [2.0, 0.5], rtol=1e-6)
    # The value part reaches v_tm1 only; the policy part reaches log π only.
    grad_fn = jax.grad(
        lambda v, lp: rlb.vtrace_loss(v, v_t, r, d, lp, log_mu)[0], (0, 1)
    )
    grads = jax.jit(grad_fn)(v_tm1, log_pi)
    np.testing.assert_allclose(grads[0][:, 0], [-1.25, -0.5])  # −errors
    np.testing.assert_allclose(grads[1][:, 0], [-1.25, -0.5])  # −A


def test_loss_bad_shapes_raise():
    data = to_jax(_time_major(_loss_data(4)[0]))
    case = LOSS_CASES[0]
    with pytest.raises(ValueError, match=r"\bsequence_lengths\b"):
        case.call(data, sequence_lengths=jnp.ones((BATCH, 1), jnp.int32))
    with pytest.raises(ValueError, match=r"\bsequence_lengths\b"):
        case.call(data, sequence_lengths=jnp.full(BATCH, 5))  # longer than T
    with pytest.raises(ValueError, match=r"\bweights\b"):
        case.call(data, weights=jnp.ones(BATCH + 1))
    with pytest.raises(ValueError, match=r"\blambda_\b"):
        rlb.td_lambda_loss(
            data["v_tm1"], data["r_t"], data["discount_t"], data["v_t"], jnp.ones(4)
        )
    with pytest.raises(ValueError, match=r"\bv_t\b"):
        rlb.td_lambda_loss(
            data["v_tm1"], data["r_t"], data["discount_t"], data["v_t"][:, :-1], 0.5
        )
    with pytest.raises(ValueError, match=r"\bq_t\b"):
        rlb.q_lambda_loss(
            data["q_tm1"],
            data["a_tm1"],
            data["r_t"],
            data["discount_t"],
            data["q_t"][:-1],
            0.5,
        )


def test_integer_rewards_and_discounts_equal_their_float_values():
    # docs/conventions.md: rewards and discounts may be any number. Integer r = 1
    # and discount = 1 give the same returns and losses as the floats 1.0.
    ones, ones_i = jnp.ones(4), jnp.ones(4, jnp.int32)
    v, v5 = jnp.arange(4.0), jnp.arange(5.0)
    tx = rlb.SIGNED_HYPERBOLIC_PAIR
    q, a = jnp.ones((4, 2, 3)), jnp.zeros((4, 2), jnp.int32)
    pi, mu = jnp.full((4, 2, 3), 1 / 3), jnp.full((4, 2), 0.5)
    calls = {
        "discounted_returns": lambda r, d: rlb.discounted_returns(r, d, v),
        "gae": lambda r, d: rlb.truncated_generalized_advantage_estimation(
            r, d, 0.9, v5
        ),
        "transformed_lambda_returns": lambda r, d: rlb.transformed_lambda_returns(
            tx, r, d, v
        ),
        "transformed_n_step_returns": lambda r, d: rlb.transformed_n_step_returns(
            tx, r, d, v, 2
        ),
        "q_lambda_loss": lambda r, d: rlb.q_lambda_loss(
            q, a, r[:, None] * jnp.ones(2, r.dtype), d[:, None] * jnp.ones(2, d.dtype),
            q, 0.9,
        )[0],
        "retrace_loss": lambda r, d: rlb.retrace_loss(
            q, q, a, a, r[:, None] * jnp.ones(2, r.dtype),
            d[:, None] * jnp.ones(2, d.dtype), pi, mu, 0.9,
        )[0],
    }  # fmt: skip
    for name, fn in calls.items():
        want = fn(ones, ones)
        got = fn(ones_i, ones_i)
        assert jnp.result_type(got) == jnp.float32, name
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), err_msg=name)


def test_lambda_outside_the_unit_interval_is_refused():
    # A trace decay λ outside [0, 1] makes the returns diverge or alternate sign:
    # refused by name whenever it is concrete (scalar or per step); a traced λ is
    # the caller's business.
    r, d, v, v5 = jnp.ones(4), jnp.full(4, 0.9), jnp.arange(4.0), jnp.arange(5.0)
    q, a = jnp.ones((4, 3)), jnp.zeros(4, jnp.int32)
    calls = {
        "lambda_returns": lambda lam: rlb.lambda_returns(r, d, v, lam),
        "gae": lambda lam: rlb.truncated_generalized_advantage_estimation(
            r, d, lam, v5
        ),
        "td_lambda": lambda lam: rlb.td_lambda(v, r, d, v, lam),
        "retrace": lambda lam: rlb.retrace(q, q, a, a, r, d, q / 3, jnp.ones(4), lam),
        "transformed_retrace": lambda lam: rlb.transformed_retrace(
            q, q, a, a, r, d, q / 3, jnp.ones(4), lam
        ),
    }
    for name, fn in calls.items():
        for bad in (1.5, -0.5, jnp.array([0.5, 0.5, 2.0, 0.5])):
            with pytest.raises(ValueError, match=r"lambda_ must lie in \[0.0, 1.0\]"):
                fn(bad)
        for ok in (1.0, jnp.full(4, 0.5)):  # the bound and a per-step λ are fine
            assert np.all(np.isfinite(np.asarray(fn(ok)))), name
    traced = jax.jit(lambda lam: rlb.lambda_returns(r, d, v, lam))
    assert traced(0.5).shape == (4,)
