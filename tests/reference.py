"""Independent slow numpy references: plain loops, float64, written from the papers.

Each section belongs to one topic; tests compare rlblocks against these on random
inputs. Nothing here imports rlblocks.
"""

import numpy as np

# --- value learning ---------------------------------------------------------


def one_step_td_errors(name, args, action_gap_scale=0.5):
    """Per-example TD errors of a batch for the one-step method `name`, in float64.

    `args` are the batched arguments of the matching rlblocks primitive, in order.
    """
    args = [
        np.asarray(a, dtype=np.float64 if a.dtype.kind == "f" else None) for a in args
    ]
    out = []
    for b in range(args[0].shape[0]):
        ex = [a[b] for a in args]
        out.append(_one_step(name, ex, action_gap_scale))
    return np.array(out)


def _one_step(name, ex, alpha):
    if name in ("td_learning", "qv_max"):
        v_tm1, r, d, nxt = ex
        boot = nxt if name == "td_learning" else max(nxt)
        return r + d * boot - v_tm1
    q_tm1, a, r, d, nxt = ex[:5]
    if name == "q_learning":
        boot = max(nxt)
    elif name == "double_q_learning":
        sel = ex[5]
        best = max(range(len(sel)), key=lambda i: (sel[i], -i))
        boot = nxt[best]
    elif name == "persistent_q_learning":
        boot = (1 - alpha) * max(nxt) + alpha * nxt[a]
    elif name == "sarsa":
        boot = nxt[ex[5]]
    elif name == "expected_sarsa":
        boot = sum(p * q for p, q in zip(ex[5], nxt, strict=True))
    elif name == "qv_learning":
        boot = nxt
    else:
        raise KeyError(name)
    return r + d * boot - q_tm1[a]


# --- multistep returns ------------------------------------------------------
# Forward views (sums over future steps), not the backward recursions the library
# uses. Array index i of r_t, discount_t, v_t is time i+1; outputs are G_0..G_{T-1}.


def _f64(*xs):
    return [np.asarray(x, dtype=np.float64) for x in xs]


def _steps(x, size):
    return np.broadcast_to(np.asarray(x, dtype=np.float64), (size,))


def lambda_returns(r_t, discount_t, v_t, lambda_, horizon=None):
    """λ-return as a mixture of n-step returns (Sutton & Barto 12.1, per-step λ).

    G_i = Σ_n w_n G_i^(n), w_n = λ_i..λ_{i+n-2} (1 - λ_{i+n-1}), the longest
    n-step return (horizon or end of data) taking the remaining weight.
    """
    r_t, discount_t, v_t = _f64(r_t, discount_t, v_t)
    size = len(r_t)
    lam = _steps(lambda_, size)
    out = np.zeros(size)
    for i in range(size):
        steps = size - i if horizon is None else min(horizon, size - i)
        rewards, disc, weight_left, total = 0.0, 1.0, 1.0, 0.0
        for n in range(1, steps + 1):
            k = i + n - 1
            rewards += disc * r_t[k]
            disc *= discount_t[k]
            n_step_return = rewards + disc * v_t[k]
            weight = weight_left if n == steps else weight_left * (1.0 - lam[k])
            total += weight * n_step_return
            weight_left *= lam[k]
        out[i] = total
    return out


def discounted_returns(r_t, discount_t, bootstrap):
    """G_i = Σ_k (Π_{j<k} γ_{i+j}) r_{i+k} + (Π_j γ_{i+j}) v_T."""
    r_t, discount_t = _f64(r_t, discount_t)
    out = np.zeros(len(r_t))
    for i in range(len(r_t)):
        total, disc = 0.0, 1.0
        for k in range(i, len(r_t)):
            total += disc * r_t[k]
            disc *= discount_t[k]
        out[i] = total + disc * float(bootstrap)
    return out


def n_step_returns(r_t, discount_t, v_t, n, lambda_=1.0):
    """n-step (λ-mixed) return, horizon truncated at the end of the data."""
    return lambda_returns(r_t, discount_t, v_t, lambda_, horizon=n)


def _td_errors(r_t, discount_t, values):
    r_t, discount_t, values = _f64(r_t, discount_t, values)
    return r_t + discount_t * values[1:] - values[:-1]


def gae(r_t, discount_t, lambda_, values):
    """Â_i = Σ_k (Π_{j<k} γ_{i+j} λ_{i+j}) δ_{i+k} (Schulman et al. 2016)."""
    delta = _td_errors(r_t, discount_t, values)
    discount_t = np.asarray(discount_t, np.float64)
    lam = _steps(lambda_, len(delta))
    out = np.zeros(len(delta))
    for i in range(len(delta)):
        coef = 1.0
        for k in range(i, len(delta)):
            out[i] += coef * delta[k]
            coef *= discount_t[k] * lam[k]
    return out


def importance_corrected_td_errors(r_t, discount_t, rho_tm1, lambda_, values):
    """e_i = ρ_i Σ_k (Π_{j<k} γ_{i+j} λ_{i+j} ρ_{i+j+1}) δ_{i+k} (Sutton et al. 2014)."""
    delta = _td_errors(r_t, discount_t, values)
    discount_t, rho = _f64(discount_t, rho_tm1)
    lam = _steps(lambda_, len(delta))
    out = np.zeros(len(delta))
    for i in range(len(delta)):
        coef, total = 1.0, 0.0
        for k in range(i, len(delta)):
            total += coef * delta[k]
            if k + 1 < len(delta):
                coef *= discount_t[k] * lam[k] * rho[k + 1]
        out[i] = rho[i] * total
    return out


def off_policy_returns_q_v(q_t, v_t, r_t, discount_t, c_t):
    """Retrace-style forward sum (Munos et al. 2016), with P_k = Π_{j<k} γ c:

    G_i = Σ_{k≥0} P_k (r_{i+k} + γ_{i+k} v_{i+k}) − Σ_{k≥1} P_k q_{i+k-1}.
    """
    q_t, v_t, r_t, discount_t, c_t = _f64(q_t, v_t, r_t, discount_t, c_t)
    size = len(r_t)
    out = np.zeros(size)
    for i in range(size):
        coef = 1.0
        for k in range(i, size):
            if k > i:
                out[i] -= coef * q_t[k - 1]
            out[i] += coef * (r_t[k] + discount_t[k] * v_t[k])
            if k < size - 1:
                coef *= discount_t[k] * c_t[k]
    return out


def off_policy_returns_action_values(q_t, a_t, r_t, discount_t, c_t, pi_t):
    q_t, pi_t = _f64(q_t, pi_t)
    v_t = np.array([pi_t[k] @ q_t[k] for k in range(len(q_t))])
    q_a = np.array([q_t[k, a_t[k]] for k in range(len(q_t))])
    return off_policy_returns_q_v(q_a[:-1], v_t, r_t, discount_t, c_t[:-1])


def watkins_q_lambda_targets(r_t, discount_t, q_t, a_t, lambda_):
    """Watkins' Q(λ): the trace is cut after the first non-greedy action."""
    q_t = np.asarray(q_t, np.float64)
    greedy = np.array([np.argmax(q_t[k]) == a_t[k] for k in range(len(q_t))])
    return lambda_returns(r_t, discount_t, q_t.max(-1), lambda_ * greedy)


def vtrace(
    v_tm1,
    v_t,
    r_t,
    discount_t,
    rho_tm1,
    lambda_=1.0,
    clip_rho=1.0,
    clip_pg_rho=1.0,
    alpha=1.0,
    sample_mask=None,
):
    """V-trace (Espeholt et al. 2018) forward view, leaky with α < 1 (Zahavy 2020).

    v_s - V(x_s) = Σ_t (Π_{i=s}^{t-1} γ_i c_i) ρ̄_t δ_t over learnable steps only.
    Returns (errors, pg_advantage, q_estimate).
    """
    v_tm1, v_t, r_t, discount_t, rho = _f64(v_tm1, v_t, r_t, discount_t, rho_tm1)
    size = len(r_t)
    lam = _steps(lambda_, size)
    mask = np.ones(size, bool) if sample_mask is None else np.asarray(sample_mask)
    c = lam * ((1 - alpha) * rho + alpha * np.minimum(1.0, rho))
    rho_bar = (1 - alpha) * rho + alpha * np.minimum(clip_rho, rho)
    delta = rho_bar * (r_t + discount_t * v_t - v_tm1)
    errors = np.zeros(size)
    for s in range(size):
        coef = 1.0
        for t in range(s, size):
            if mask[t]:
                errors[s] += coef * delta[t]
                coef *= discount_t[t] * c[t]
    vs = v_tm1 + errors
    q = np.zeros(size)
    for s in range(size):
        if s == size - 1:
            q[s] = r_t[s] + discount_t[s] * v_t[s]
        else:
            boot = lam[s] * vs[s + 1] + (1 - lam[s]) * v_tm1[s + 1]
            q[s] = r_t[s] + discount_t[s] * boot
    pg_rho = (1 - alpha) * rho + alpha * np.minimum(clip_pg_rho, rho)
    return errors, pg_rho * (q - v_tm1), q


def penalty(x, huber_delta=None):
    """½x², or Huber(x, δ) when huber_delta is set."""
    x = np.asarray(x, np.float64)
    if huber_delta is None:
        return 0.5 * x**2
    small = np.abs(x) <= huber_delta
    return np.where(small, 0.5 * x**2, huber_delta * (np.abs(x) - 0.5 * huber_delta))


# --- policy gradients and exploration --------------------------------------


# --- distributional -------------------------------------------------------


# --- value transforms -------------------------------------------------------


# --- replay model -------------------------------------------------------------
