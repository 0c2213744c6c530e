"""Pure-JAX ports of gymnasium's classic-control environments, and rollouts.

`cartpole()`, `acrobot()` and `pendulum()` return an `Env(reset, step, spec,
observe)` of pure functions over one environment's state (vmap for batches);
each matches gymnasium's numpy CartPole-v1, Acrobot-v1 and Pendulum-v1 step for
step. `step_autoreset` (one env) and `step_autoreset_batch` (N envs) reset
finished environments within the step and return the final observation;
`rollout` runs N environments for T steps in one scan.
"""

from rlblocks.envs.acrobot import AcrobotState as AcrobotState
from rlblocks.envs.acrobot import acrobot as acrobot
from rlblocks.envs.base import AutoResetStep as AutoResetStep
from rlblocks.envs.base import Env as Env
from rlblocks.envs.base import EnvSpec as EnvSpec
from rlblocks.envs.base import reset_batch as reset_batch
from rlblocks.envs.base import step_autoreset as step_autoreset
from rlblocks.envs.base import step_autoreset_batch as step_autoreset_batch
from rlblocks.envs.cartpole import CartPoleState as CartPoleState
from rlblocks.envs.cartpole import cartpole as cartpole
from rlblocks.envs.pendulum import PendulumState as PendulumState
from rlblocks.envs.pendulum import pendulum as pendulum
from rlblocks.envs.rollout import Trajectory as Trajectory
from rlblocks.envs.rollout import rollout as rollout

__all__ = [
    "AcrobotState",
    "AutoResetStep",
    "CartPoleState",
    "Env",
    "EnvSpec",
    "PendulumState",
    "Trajectory",
    "acrobot",
    "cartpole",
    "pendulum",
    "reset_batch",
    "rollout",
    "step_autoreset",
    "step_autoreset_batch",
]
