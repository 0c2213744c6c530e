"""Replay buffers: uniform, prioritized, n-step and sequence, in jit and on the host.

Every buffer is a factory returning a NamedTuple of pure functions over a NamedTuple
state of arrays (`init`, `add`, `sample`, `can_sample`, and `update_priorities` for
prioritized replay). The `host_*` variants hold numpy arrays written in place.
"""

from rlblocks.replay._common import Buffer as Buffer
from rlblocks.replay._common import PrioritizedBuffer as PrioritizedBuffer
from rlblocks.replay._common import ReplaySample as ReplaySample
from rlblocks.replay.frames import FrameState as FrameState
from rlblocks.replay.frames import frame_sharing_buffer as frame_sharing_buffer
from rlblocks.replay.host import host_uniform_buffer as host_uniform_buffer
from rlblocks.replay.host_prioritized import (
    HostPrioritizedState as HostPrioritizedState,
)
from rlblocks.replay.host_prioritized import (
    host_prioritized_buffer as host_prioritized_buffer,
)
from rlblocks.replay.io import from_bytes as from_bytes
from rlblocks.replay.io import load as load
from rlblocks.replay.io import save as save
from rlblocks.replay.io import to_bytes as to_bytes
from rlblocks.replay.n_step import NStep as NStep
from rlblocks.replay.n_step import NStepState as NStepState
from rlblocks.replay.n_step import Transition as Transition
from rlblocks.replay.n_step import host_n_step_transitions as host_n_step_transitions
from rlblocks.replay.n_step import n_step_transitions as n_step_transitions
from rlblocks.replay.prioritized import PrioritizedState as PrioritizedState
from rlblocks.replay.prioritized import prioritized_buffer as prioritized_buffer
from rlblocks.replay.sequence import host_sequence_buffer as host_sequence_buffer
from rlblocks.replay.sequence import sequence_buffer as sequence_buffer
from rlblocks.replay.uniform import BufferState as BufferState
from rlblocks.replay.uniform import uniform_buffer as uniform_buffer

__all__ = [
    "Buffer",
    "BufferState",
    "FrameState",
    "HostPrioritizedState",
    "NStep",
    "NStepState",
    "PrioritizedBuffer",
    "PrioritizedState",
    "ReplaySample",
    "Transition",
    "frame_sharing_buffer",
    "from_bytes",
    "host_n_step_transitions",
    "host_prioritized_buffer",
    "host_sequence_buffer",
    "host_uniform_buffer",
    "load",
    "n_step_transitions",
    "prioritized_buffer",
    "save",
    "sequence_buffer",
    "to_bytes",
    "uniform_buffer",
]
