"""Shared fixtures: `variant` runs a function eagerly or under `jax.jit`."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import jax
import pytest


@pytest.fixture(params=["eager", "jit"])
def variant(request):
    """Return `wrap(fn, **jit_kwargs)`: `fn` itself, or `jax.jit(fn, **jit_kwargs)`."""

    def wrap(fn, **jit_kwargs):
        return fn if request.param == "eager" else jax.jit(fn, **jit_kwargs)

    wrap.mode = request.param
    return wrap
