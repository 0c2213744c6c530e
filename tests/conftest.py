"""Shared fixtures (`variant` runs a function eagerly or under `jax.jit`) and the
test processes' XLA settings."""

import os
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
# A persistent compilation cache shared by the test processes and the training runs
# they launch (resume tests compile the same program up to three times). Set here,
# before jax is imported, so the subprocesses inherit it.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), "rlblocks-tests-jax-cache"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")

import jax
import pytest


@pytest.fixture(params=["eager", "jit"])
def variant(request):
    """Return `wrap(fn, **jit_kwargs)`: `fn` itself, or `jax.jit(fn, **jit_kwargs)`."""

    def wrap(fn, **jit_kwargs):
        return fn if request.param == "eager" else jax.jit(fn, **jit_kwargs)

    wrap.mode = request.param
    return wrap
