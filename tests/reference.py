"""Independent slow numpy references: plain loops, float64, written from the papers.

Each section belongs to one topic; tests compare rlblocks against these on random
inputs. Nothing here imports rlblocks.
"""

import math

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


def forward_lambda_returns(r_t, discount_t, v_t, lambda_, horizon=None):
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


def forward_n_step_returns(r_t, discount_t, v_t, n, lambda_=1.0):
    """n-step (λ-mixed) return, horizon truncated at the end of the data."""
    return forward_lambda_returns(r_t, discount_t, v_t, lambda_, horizon=n)


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
    return forward_lambda_returns(r_t, discount_t, q_t.max(-1), lambda_ * greedy)


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


def _np_log_softmax(x):
    import numpy as np

    x = np.asarray(x, np.float64)
    m = x.max()
    return x - m - np.log(np.sum(np.exp(x - m)))


def np_entropy(logits):
    """Entropy (nats, positive) of softmax(logits) for one [A] vector."""
    import numpy as np

    logp = _np_log_softmax(logits)
    return float(-np.sum(np.exp(logp) * logp))


def np_policy_gradient_loss(logits_t, a_t, adv_t, w_t):
    """-(1/T) sum_t w_t adv_t log pi(a_t), plain loop."""
    total = 0.0
    for t in range(len(a_t)):
        total += -_np_log_softmax(logits_t[t])[int(a_t[t])] * adv_t[t] * w_t[t]
    return total / len(a_t)


def np_clipped_surrogate_loss(ratios, adv, epsilon):
    total = 0.0
    for r, a in zip(ratios, adv, strict=True):
        clipped = min(max(r, 1.0 - epsilon), 1.0 + epsilon)
        total += min(r * a, clipped * a)
    return -total / len(ratios)


def np_all_action_losses(logits_t, q_t):
    """(qpg, rm, rpg) losses of one [T, A] sequence, plain loops."""
    import numpy as np

    qpg = rm = rpg = 0.0
    for logits, q in zip(logits_t, q_t, strict=True):
        pi = np.exp(_np_log_softmax(logits))
        baseline = sum(p * v for p, v in zip(pi, q, strict=True))
        for p, v in zip(pi, q, strict=True):
            adv = v - baseline
            qpg += -p * adv
            rm += -p * max(adv, 0.0)
            rpg += max(adv, 0.0)
    n = len(logits_t)
    return qpg / n, rm / n, rpg / n


def np_sequence_a2c(
    logits,
    values,
    actions,
    rewards,
    pcontinues,
    bootstrap,
    lam,
    entropy_cost,
    baseline_cost,
    normalise,
):
    """Per-sequence parts of the advantage actor-critic loss, from the formulas.

    Returns dict of [B] arrays (pg, baseline, entropy, entropy_loss) and [T, B]
    arrays (returns, advantages).
    """
    import numpy as np

    t_len, batch = len(rewards), len(rewards[0])
    lam = np.broadcast_to(np.asarray(lam, np.float64), (t_len, batch))
    out = {k: np.zeros(batch) for k in ("pg", "baseline", "entropy", "entropy_loss")}
    returns = np.zeros((t_len, batch))
    for b in range(batch):
        g = bootstrap[b]
        for t in reversed(range(t_len)):
            v_next = values[t + 1][b] if t + 1 < t_len else bootstrap[b]
            g = rewards[t][b] + pcontinues[t][b] * (
                (1 - lam[t, b]) * v_next + lam[t, b] * g
            )
            returns[t, b] = g
        for t in range(t_len):
            adv = returns[t, b] - values[t][b]
            out["pg"][b] += -_np_log_softmax(logits[t][b])[int(actions[t][b])] * adv
            out["baseline"][b] += baseline_cost * 0.5 * adv**2
            out["entropy"][b] += np_entropy(logits[t][b])
        scale = np.log(len(logits[0][0])) if normalise else 1.0
        out["entropy_loss"][b] = -entropy_cost * out["entropy"][b] / scale
    out["returns"] = returns
    out["advantages"] = returns - np.asarray(values, np.float64)
    return out


# --- distributional -------------------------------------------------------


def c51_project(z_p, probs, v_min, v_max, num_atoms):
    """C51 projection (Bellemare et al. 2017, Algorithm 1) onto a uniform support.

    Every source atom z_p[j] (already r + γ z) is clipped to [v_min, v_max]; its
    mass is split between the neighbouring atoms l = floor(b) and u = ceil(b) of
    b = (z - v_min) / Δz. When b lands exactly on an atom (l == u) all the mass
    goes there (the algorithm as printed would drop it).
    """
    delta_z = (v_max - v_min) / (num_atoms - 1)
    m = [0.0] * num_atoms
    for z, p in zip(z_p, probs, strict=True):
        tz = min(max(float(z), v_min), v_max)
        b = (tz - v_min) / delta_z
        lo, up = math.floor(b), math.ceil(b)
        lo, up = min(max(lo, 0), num_atoms - 1), min(max(up, 0), num_atoms - 1)
        if lo == up:
            m[lo] += float(p)
        else:
            m[lo] += float(p) * (up - b)
            m[up] += float(p) * (b - lo)
    return np.array(m, dtype=np.float64)


def l2_project(z_p, probs, z_q):
    """Projection onto an arbitrary increasing support: linear interpolation of
    each (clipped) source atom between the two target atoms bracketing it."""
    z_q = [float(z) for z in z_q]
    m = [0.0] * len(z_q)
    for z, p in zip(z_p, probs, strict=True):
        z = min(max(float(z), z_q[0]), z_q[-1])
        i = 0
        while i + 1 < len(z_q) and z_q[i + 1] <= z:
            i += 1
        if i + 1 == len(z_q) or z == z_q[i]:
            m[i] += float(p)
            continue
        frac = (z - z_q[i]) / (z_q[i + 1] - z_q[i])
        m[i] += float(p) * (1.0 - frac)
        m[i + 1] += float(p) * frac
    return np.array(m, dtype=np.float64)


def softmax(logits):
    """Softmax of a 1-d list of logits, float64."""
    top = max(float(x) for x in logits)
    e = [math.exp(float(x) - top) for x in logits]
    return np.array([v / sum(e) for v in e], dtype=np.float64)


def cross_entropy(labels, logits):
    """−Σᵢ pᵢ log softmax(logits)ᵢ."""
    q = softmax(logits)
    return -sum(float(p) * math.log(qi) for p, qi in zip(labels, q, strict=True))


def categorical_q_learning(
    atoms_tm1, logits_tm1, a_tm1, r_t, discount_t, atoms_t, logits_t, selector=None
):
    """C51 loss for one transition; greedy action from `selector` [A] if given,
    else from the means of the time-t distributions."""
    probs_t = [softmax(row) for row in logits_t]
    if selector is None:
        selector = [
            sum(p * z for p, z in zip(row, atoms_t, strict=True)) for row in probs_t
        ]
    a_star = max(range(len(selector)), key=lambda a: (selector[a], -a))
    z = [float(r_t) + float(discount_t) * float(x) for x in atoms_t]
    target = l2_project(z, probs_t[a_star], atoms_tm1)
    return cross_entropy(target, logits_tm1[int(a_tm1)]), target, a_star


def huber(x, kappa):
    """½x² for |x| ≤ κ, κ(|x| − ½κ) beyond."""
    x = abs(x)
    return 0.5 * x * x if x <= kappa else kappa * (x - 0.5 * kappa)


def quantile_huber_loss(dist_src, tau, dist_target, kappa):
    """Σᵢ (1/M) Σⱼ |τᵢ − 𝟙{yⱼ − θᵢ < 0}| ℓ_κ(yⱼ − θᵢ), ℓ₀ = |·| (Dabney et al. 2018)."""
    total = 0.0
    for theta, t in zip(dist_src, tau, strict=True):
        row = 0.0
        for y in dist_target:
            u = float(y) - float(theta)
            penalty = abs(u) if kappa == 0 else huber(u, kappa)
            row += abs(float(t) - (1.0 if u < 0 else 0.0)) * penalty
        total += row / len(dist_target)
    return total


# --- value transforms -------------------------------------------------------


def h(x, eps=1e-3):
    """R2D2 rescaling h(x) = sign(x)(√(|x|+1) − 1) + εx, textbook form, float64."""
    return math.copysign(math.sqrt(abs(x) + 1.0) - 1.0, x) + eps * x


def h_inv(y, eps=1e-3):
    """h⁻¹(y) = sign(y)[((√(1 + 4ε(|y| + 1 + ε)) − 1) / 2ε)² − 1] (Pohlen et al.)."""
    z = (math.sqrt(1.0 + 4.0 * eps * (abs(y) + 1.0 + eps)) - 1.0) / (2.0 * eps)
    return math.copysign(z * z - 1.0, y)


def lambda_returns(r, discount, v, lam):
    """Gₜ = rₜ₊₁ + γₜ₊₁((1 − λₜ₊₁)vₜ₊₁ + λₜ₊₁Gₜ₊₁), G at the end bootstraps on v."""
    n = len(r)
    lam = [float(lam)] * n if np.ndim(lam) == 0 else [float(x) for x in lam]
    g = [0.0] * n
    nxt = float(v[-1])
    for t in reversed(range(n)):
        nxt = r[t] + discount[t] * ((1 - lam[t]) * v[t] + lam[t] * nxt)
        g[t] = nxt
    return np.array(g, dtype=np.float64)


def lambda_returns_mixture(r, discount, v, lam):
    """Constant-λ return as the explicit mixture of k-step returns:
    G^λₜ = (1 − λ) Σ_{k<K} λ^{k−1} G⁽ᵏ⁾ₜ + λ^{K−1} G⁽ᴷ⁾ₜ, K = T − t."""
    n = len(r)
    out = []
    for t in range(n):
        horizon = n - t
        k_step = [n_step_return(r, discount, v, t, k) for k in range(1, horizon + 1)]
        g = sum((1 - lam) * lam ** (k - 1) * k_step[k - 1] for k in range(1, horizon))
        out.append(g + lam ** (horizon - 1) * k_step[-1])
    return np.array(out, dtype=np.float64)


def n_step_return(r, discount, v, t, k):
    """rₜ₊₁ + γₜ₊₁rₜ₊₂ + … + (γₜ₊₁⋯γₜ₊ₖ)vₜ₊ₖ (k rewards, then the value)."""
    g, scale = 0.0, 1.0
    for i in range(t, t + k):
        g += scale * r[i]
        scale *= discount[i]
    return g + scale * v[t + k - 1]


def n_step_returns(r, discount, v, n, lam=1.0):
    """For each t, the λ-recursion over the window t … min(t+n, T) − 1, bootstrapping
    on the last value of the window (fewer than n rewards near the end)."""
    size = len(r)
    lam = [float(lam)] * size if np.ndim(lam) == 0 else [float(x) for x in lam]
    out = []
    for t in range(size):
        end = min(t + n, size)
        g = float(v[end - 1])
        for i in reversed(range(t, end)):
            g = r[i] + discount[i] * ((1 - lam[i]) * v[i] + lam[i] * g)
        out.append(g)
    return np.array(out, dtype=np.float64)


def off_policy_returns(q, a, r, discount, c, pi):
    """Munos et al. 2016: Gₜ = rₜ₊₁ + γₜ₊₁(Σₐπ(a)q(a) − cₜ₊₁q(aₜ₊₁) + cₜ₊₁Gₜ₊₁),
    with the last step G = r + γ Σₐπ(a)q(a)."""
    size = len(r)
    g = [0.0] * size
    for t in reversed(range(size)):
        expected = sum(float(p) * float(x) for p, x in zip(pi[t], q[t], strict=True))
        g[t] = r[t] + discount[t] * expected
        if t + 1 < size:
            corr = c[t] * (g[t + 1] - q[t][a[t]])
            g[t] = r[t] + discount[t] * (expected + corr)
    return np.array(g, dtype=np.float64)


# --- replay model -------------------------------------------------------------


class ReplayModel:
    """Plain-Python model of a circular replay buffer of `capacity` slots.

    Items are appended one at a time in order; the oldest is overwritten when full.
    `slots[i]` is what slot i holds; every held slot may be sampled.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        self.slots = [None] * capacity
        self.insert_pos = 0
        self.size = 0
        self.count = 0

    def add(self, items, mask=None):
        """Append items (a list) one by one, skipping those whose mask is False."""
        for k, item in enumerate(items):
            if mask is not None and not mask[k]:
                continue
            self.slots[self.insert_pos] = item
            self.insert_pos = (self.insert_pos + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
            self.count += 1

    def sampleable(self):
        """Slots that sampling may return."""
        return set(range(self.size))

    def oldest_first(self):
        """Held items from oldest to newest."""
        start = (self.insert_pos - self.size) % self.capacity
        return [self.slots[(start + k) % self.capacity] for k in range(self.size)]


class PrioritizedModel(ReplayModel):
    """ReplayModel plus a priority per slot (proportional prioritization).

    New items get the largest p + epsilon seen so far (1 at the start); slot i is
    sampled with probability (p_i + eps)^alpha / sum_k (p_k + eps)^alpha.
    """

    def __init__(self, capacity, alpha, epsilon):
        super().__init__(capacity)
        self.alpha, self.epsilon = alpha, epsilon
        self.priority = [0.0] * capacity  # p + epsilon per slot
        self.max_priority = 1.0

    def add(self, items, mask=None):
        for k, item in enumerate(items):
            if mask is None or mask[k]:
                self.priority[self.insert_pos] = self.max_priority
                super().add([item])

    def update(self, indices, priorities):
        for i, p in zip(indices, priorities, strict=True):
            self.priority[int(i)] = float(p) + self.epsilon
            self.max_priority = max(self.max_priority, float(p) + self.epsilon)

    def probabilities(self):
        """[capacity] float64 sampling probabilities (plain loop)."""
        mass = [0.0] * self.capacity
        for i in range(self.size):
            mass[i] = self.priority[i] ** self.alpha
        total = sum(mass)
        return [m / total for m in mass]

    def weights(self, indices, beta):
        """w_i = (N P(i))^-beta / max_j (N P(j))^-beta over held slots j."""
        probs = self.probabilities()
        n = self.size
        w_max = max((n * probs[j]) ** -beta for j in range(n) if probs[j] > 0)
        return [(n * probs[int(i)]) ** -beta / w_max for i in indices]


def n_step_model(steps, n, gamma):
    """Plain-Python n-step transitions of parallel envs.

    Args:
      steps: list over time of lists over envs of
        (obs, action, reward, terminated, truncated, next_obs, valid).
      n: steps summed; gamma: discount.

    Returns:
      list over time of the emitted (env, obs, action, G, discount, next_obs),
      env by env, oldest first.
    """
    pending = None
    out = []
    for step in steps:
        pending = pending or [[] for _ in step]
        emitted = []
        for e, (obs, action, reward, term, trunc, next_obs, valid) in enumerate(step):
            if not valid:
                continue
            pending[e].append((obs, action, reward))
            if term or trunc:
                starts = range(len(pending[e]))
            elif len(pending[e]) == n:
                starts = [0]
            else:
                continue
            for j in starts:
                rest = pending[e][j:]
                ret = sum(gamma**k * r for k, (_, _, r) in enumerate(rest))
                disc = 0.0 if term else gamma ** len(rest)
                emitted.append((e, rest[0][0], rest[0][1], ret, disc, next_obs))
            pending[e] = [] if (term or trunc) else pending[e][1:]
        out.append(emitted)
    return out


class SequenceModel(ReplayModel):
    """ReplayModel that also remembers every item in time order (`history`).

    A window may start at time k if k % period == 0 and [k, k + T) is held.
    """

    def __init__(self, capacity, length, period):
        super().__init__(capacity)
        self.length, self.period = length, period
        self.history = []

    def add(self, items, mask=None):
        for k, item in enumerate(items):
            if mask is None or mask[k]:
                self.history.append(item)
                super().add([item])

    def starts(self):
        """Times k that may start a window."""
        held = range(self.count - self.size, self.count - self.length + 1)
        return [k for k in held if k % self.period == 0]


class FrameModel:
    """Plain-Python frame-sharing buffer: slots of (frame, step or None).

    A transition whose obs_tm1 differs from the last stored frame first stores
    obs_tm1 in a start slot (step None). Slot i's transition may be sampled when it
    holds a step and slot i - 1 is still held (it is not the oldest slot).
    """

    def __init__(self, capacity):
        self.base = ReplayModel(capacity)

    def add(self, transitions):
        """transitions: list of (obs_tm1, step, obs_t) with hashable obs."""
        for obs_tm1, step, obs_t in transitions:
            b = self.base
            last = b.slots[(b.insert_pos - 1) % b.capacity] if b.size else None
            if last is None or last[0] != obs_tm1:
                b.add([(obs_tm1, None)])
            b.add([(obs_t, step)])

    def sampleable(self):
        """{slot: (obs_tm1, step, obs_t)} of the transitions that may be sampled."""
        b = self.base
        oldest = (b.insert_pos - b.size) % b.capacity
        out = {}
        for i in range(b.size):
            frame, step = b.slots[i]
            if step is not None and i != oldest:
                out[i] = (b.slots[(i - 1) % b.capacity][0], step, frame)
        return out
