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
