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


# --- value transforms -------------------------------------------------------


# --- replay model -------------------------------------------------------------
