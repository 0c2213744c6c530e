"""Private implementation modules of rlblocks; import the public names from `rlblocks`."""
