"""Agents composed from rlblocks primitives, replay buffers and flax networks."""
