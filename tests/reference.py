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


# --- distributional -------------------------------------------------------


# --- value transforms -------------------------------------------------------


# --- replay model -------------------------------------------------------------
