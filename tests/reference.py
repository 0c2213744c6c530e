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


# --- policy gradients and exploration --------------------------------------


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
