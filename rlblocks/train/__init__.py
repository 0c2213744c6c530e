"""Host-side training runtime: vector envs, the training loop, checkpoints, logs,
plots and the `rlblocks` command line."""
