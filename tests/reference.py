"""Independent slow numpy references: plain loops, float64, written from the papers.

Each section belongs to one topic; tests compare rlblocks against these on random
inputs. Nothing here imports rlblocks.
"""


# --- value learning ---------------------------------------------------------


# --- multistep returns ------------------------------------------------------


# --- policy gradients and exploration --------------------------------------


# --- distributional -------------------------------------------------------


# --- value transforms -------------------------------------------------------


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
