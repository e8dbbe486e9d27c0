"""Training runs: `train_run` trains (or resumes) one arm and seed of an experiment.

`build` turns a `RunConfig` into the model, optimizer and data, `callbacks`
log, validate and checkpoint during `fit`, `schedules` holds the
learning-rate schedule saved with the optimizer, and `run` reads top to
bottom through one run.
"""

from restoration.training.run import train_run

__all__ = ["train_run"]
