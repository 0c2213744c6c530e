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
