"""What a resumed run must restore besides the weights: random generators and the best score.

A `.keras` checkpoint holds the weights, the optimizer state and its step,
but not the state of the layers' random generators (`keras.random.SeedGenerator`):
a loaded DropBlock layer would start a new mask sequence, and the resumed run
would not be the run it claims to be. `state.json` therefore keeps, for the
last three checkpoint steps, every generator's state and the best validation
score at that step. The record of a step is written *before* the checkpoint
of that step, so whichever `latest.keras` survives an interruption, its
record is there.
"""

import keras
import numpy as np

from restoration import runs

# Records kept: the checkpoint being written, latest.keras and previous.keras
# (the two it may resume from while the new one is being written).
_RECORDS = 3


class RunState:
    """Validation so far (the best score and every validation, the curve) and the step time."""

    def __init__(self, best_psnr=None, best_step=None, step_seconds=None, history=None):
        self.best_psnr = best_psnr
        self.best_step = best_step
        self.step_seconds = step_seconds
        # Every validation so far: [step, validation PSNR, training crops' PSNR or None].
        self.history = [list(entry) for entry in history or []]

    def add_validation(self, step, psnr, train_psnr=None):
        """Records one validation (a repeated step replaces the earlier entry)."""
        self.history = [entry for entry in self.history if entry[0] != step]
        self.history.append([step, psnr, train_psnr])

    @property
    def final_step(self):
        """Step of the latest validation, or None."""
        return self.history[-1][0] if self.history else None

    @property
    def final_psnr(self):
        """PSNR of the latest validation, or None."""
        return self.history[-1][1] if self.history else None

    @property
    def train_psnr(self):
        """PSNR of the fixed training crops at the latest validation, or None."""
        return self.history[-1][2] if self.history else None

    def record(self):
        """The scores as a dict, the form `from_record` reads."""
        return {"best_psnr": self.best_psnr, "best_step": self.best_step,
                "step_seconds": self.step_seconds,
                "history": [list(entry) for entry in self.history]}

    @classmethod
    def from_record(cls, record):
        """A state from `record()`'s dict; keys an older record lacks stay None.

        A record written before the curve was kept has only the latest
        validation, which becomes a one-entry history.
        """
        history = record.get("history")
        if history is None and record.get("final_step") is not None:
            history = [[record["final_step"], record.get("final_psnr"), record.get("train_psnr")]]
        return cls(record.get("best_psnr"), record.get("best_step"), record.get("step_seconds"),
                   history)


def seed_generators(model):
    """Every `SeedGenerator` of the model's layers, in layer order (nested layers included)."""
    generators = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for name in sorted(vars(layer)):
            if isinstance(getattr(layer, name), keras.random.SeedGenerator):
                generators.append((f"{layer.name}.{name}", getattr(layer, name)))
    return generators


def save_state(run_dir, model, state, step):
    """Adds the record of checkpoint `step` to `state.json` (call before saving the checkpoint)."""
    path = run_dir / runs.STATE_FILE
    records = [record for record in _records(path) if record["step"] != step]
    generators = {name: keras.ops.convert_to_numpy(generator.state).tolist()
                  for name, generator in seed_generators(model)}
    records.append({"step": step, **state.record(), "seed_generators": generators})
    runs.write_json_atomically(path, {"checkpoints": records[-_RECORDS:]})


# The checkpoints need their records to resume exactly: without the file the run starts over.
_DAMAGED = "The run cannot resume exactly: delete the run directory to start it over."


def restore_state(run_dir, model, step):
    """Restores the generators of a loaded checkpoint at `step`; returns its `RunState`."""
    path = run_dir / runs.STATE_FILE
    legacy = runs.read_json(path, default={}, remedy=_DAMAGED)
    if isinstance(legacy, dict) and legacy.get("step") == step and "checkpoints" not in legacy:
        # Written before generator states were kept: resumable, but not exactly.
        print(f"warning: {path} holds no random-generator states; {run_dir} resumes with new "
              "random streams", flush=True)
        return RunState.from_record(legacy)
    record = next((record for record in _records(path) if record["step"] == step), None)
    if record is None:
        raise runs.RunError(
            f"{path} has no record of step {step}, the step of the checkpoint it resumes from. "
            + _DAMAGED
        )
    saved = record["seed_generators"]
    generators = dict(seed_generators(model))
    if set(saved) != set(generators):
        raise runs.RunError(
            f"{path}: the random generators of step {step} ({sorted(saved)}) are not those of "
            f"the checkpoint ({sorted(generators)}). Delete the run directory to start it over."
        )
    for name, generator in generators.items():
        generator.state.assign(np.asarray(saved[name], dtype=generator.state.dtype))
    return RunState.from_record(record)


def _records(path):
    state = runs.read_json(path, default={"checkpoints": []}, remedy=_DAMAGED)
    return list(state.get("checkpoints", [])) if isinstance(state, dict) else []
