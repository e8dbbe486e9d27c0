"""What a finished run records, `results.json`, as a typed record with a version.

Training writes a `RunResults` (`to_json`) and the report reads it back
(`from_json`): a field that is renamed or missing is an error naming the
file when the report reads it, not a `KeyError` in the middle of a table.
Files written before the version field existed (version 1) are read with
the fields they lacked at their empty values.
"""

import dataclasses
from pathlib import Path

from restoration import runs

# Version 2 added `version` itself and `warnings`, version 3 `weights`, version 4 `test_raw`;
# files without a version (1) may also lack `test_final`, `selected_step`, `cells` and `precision`,
# which came later to the unversioned format.
RESULTS_VERSION = 4


@dataclasses.dataclass(frozen=True)
class RunResults:
    """The results of one finished run (one arm with one seed).

    Args:
        experiment, arm, seed: Which run.
        regularizer: The regularizer section as plain values, None for none.
        warnings: Sentences the regularizer and EMA sections asked the run to record.
        task: The task section as plain values (type, scale, sigma, channels).
        steps: Training steps.
        precision: The dtype policy trained under (`float32`, `mixed_bfloat16`, ...).
        checkpoint: Which weights `test` scores: `"best"` (the best
            validation) or `"final"`.
        weights: `"ema"` when validation, selection and scores used the
            moving average of the weights (`training.ema`), else `"raw"`.
        selected_step: The step of those weights.
        test: Test set (or `<set>/<cell>`) to its scores (`psnr`, `ssim`,
            `images`, per-image lists) with the `checkpoint` weights.
        test_final: The same with the final weights.
        test_raw: The same with the final weights themselves, not averaged,
            where the run scores both (`training.ema.score_raw`); else empty.
        cells: Grid cell to `{"in_range": bool, "why": str}`.
        validation: The validation summary (`best_step`, `best_psnr`,
            `late_psnr`, `history`, ...), empty without validation.
        cost: `parameters`, `train_step_seconds`, `inference_seconds_per_image`.
        version: `RESULTS_VERSION` of the writer.
    """

    experiment: str
    arm: str
    seed: int
    regularizer: dict | None
    task: dict
    steps: int
    checkpoint: str
    test: dict
    cost: dict
    precision: str = "float32"
    validation: dict = dataclasses.field(default_factory=dict)
    warnings: tuple = ()
    selected_step: int | None = None
    test_final: dict = dataclasses.field(default_factory=dict)
    test_raw: dict = dataclasses.field(default_factory=dict)
    cells: dict = dataclasses.field(default_factory=dict)
    weights: str = "raw"
    version: int = RESULTS_VERSION

    def scores(self, checkpoint):
        """The test scores of `"selected"` (the `checkpoint` weights), `"final"` or `"raw"`
        (the final weights not averaged) weights."""
        return {"selected": self.test, "final": self.test_final, "raw": self.test_raw}[checkpoint]

    def to_json(self):
        """The record as plain values for `results.json`."""
        return {**dataclasses.asdict(self), "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, tree, path):
        """Reads a record written by `to_json`, of this version or an earlier one.

        Args:
            tree: The parsed `results.json`.
            path: Its path, for error messages.

        Returns:
            A `RunResults`.

        Raises:
            ValueError: A later version, a missing field or an unknown one,
                naming the file.
        """
        version = tree.get("version", 1) if isinstance(tree, dict) else None
        if not isinstance(version, int) or not 1 <= version <= RESULTS_VERSION:
            raise ValueError(f"{path}: expected results of version 1 to {RESULTS_VERSION}, received "
                             f"version {version!r} (written by a later version of this project?)")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(tree) - set(fields))
        missing = sorted(name for name, field in fields.items() if name not in tree
                         and field.default is field.default_factory is dataclasses.MISSING)
        if unknown or missing:
            raise ValueError(f"{path}: expected the fields of results version {version}, received "
                             f"unknown {unknown} and missing {missing}")
        values = {**tree, "version": version, "warnings": tuple(tree.get("warnings", ()))}
        for name in ("validation", "test_final", "cells"):  # null in some version-1 files
            if values.get(name) is None:
                values.pop(name, None)
        return cls(**values)


def read_results(run_dir):
    """The `RunResults` of a finished run, or None when `run_dir` has no `results.json`."""
    path = Path(run_dir) / runs.RESULTS_FILE
    tree = runs.read_json(path)
    return None if tree is None else RunResults.from_json(tree, path)
