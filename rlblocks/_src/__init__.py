"""Private implementation modules of rlblocks; public names live in `rlblocks`."""
