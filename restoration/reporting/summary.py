"""The experiment report as typed records, built by `report.build_report`.

Readers use attributes, so a renamed field fails where it is read, not at
the end of an experiment. Undefined numbers (an interval from one seed) are
None. What runs record in free form (scoring conventions, regularizer
settings, cell status, validation summaries) and costs stay plain dicts.
"""

import dataclasses


def _plain(value):
    """Records, and the dicts and lists holding them, as plain JSON values."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return [_plain(item) for item in value] if isinstance(value, (list, tuple)) else value


class Record:
    """A report record; `to_json` gives its fields, in order, as plain values."""

    def to_json(self):
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class Interval(Record):
    """A mean over seeds and its t interval (None from one seed); in curves, lists over steps."""

    mean: float | list
    low: float | list | None
    high: float | list | None


@dataclasses.dataclass(frozen=True)
class SeedGain(Interval):
    """A difference from the baseline paired by seed; `q` (Benjamini-Hochberg over the report's
    family) is None, and left out of `to_json`, outside the family."""

    p: float | None
    per_seed: list
    seeds: list
    q: float | None = None

    def to_json(self):
        return {key: value for key, value in super().to_json().items() if key != "q" or value is not None}


@dataclasses.dataclass(frozen=True)
class Bootstrap(Interval):
    """The paired bootstrap of per-image differences pooled over seeds."""

    p_value: float | None
    pairs: int
    resamples: int


@dataclasses.dataclass(frozen=True)
class Gain(Record):
    """An arm against the baseline on one test set, and the sentence that says it."""

    seeds: list
    psnr: SeedGain | None
    ssim: SeedGain | None
    bootstrap: Bootstrap | None
    wilcoxon_p: float | None
    image_pairs: int
    conclusion: str = ""


@dataclasses.dataclass(frozen=True)
class ArmScores(Record):
    """One arm on one test set over its finished seeds (a count)."""

    seeds: int
    psnr: Interval | None
    ssim: Interval | None


@dataclasses.dataclass(frozen=True)
class TestSet(Record):
    """A test set or `<set>/<cell>`: `ArmScores` by arm, `Gain` by arm but the baseline."""

    conventions: dict | None
    arms: dict
    gains: dict


@dataclasses.dataclass(frozen=True)
class ArmSummary(Record):
    """One arm's settings, finished seeds, training steps and mean cost over seeds; `weights`:
    which were scored (`raw`, or `ema` for the moving average)."""

    regularizer: dict | None
    warnings: list
    precision: list
    weights: list
    finished_seeds: list
    steps: int | None
    cost: dict


@dataclasses.dataclass(frozen=True)
class PrimaryArm(Record):
    """A primary arm's per-seed endpoint, interval, p-values (Holm across arms), verdict and
    planned seeds still missing (`interim`)."""

    seeds: list
    per_seed: list
    mean: float | None
    low: float | None
    high: float | None
    t_p: float | None
    sign_flip_p: float | None
    holm_p: float | None
    holm_sign_flip_p: float | None
    verdict: str
    interim: list


@dataclasses.dataclass(frozen=True)
class PrimaryTest(Record):
    """The pre-registered test: the endpoint `record` of `experiment.json` (`checkpoint`, `margin`,
    `entries`, ...) and `PrimaryArm` by arm."""

    record: dict
    level: float
    arms: dict
    planned_seeds: list
    changed_after_look: bool
    registered: dict | None

    def to_json(self):
        return {**self.record, **{key: value for key, value in super().to_json().items() if key != "record"}}


@dataclasses.dataclass(frozen=True)
class SelectedStep(Record):
    """The step of the weights a run's scores come from."""

    arm: str
    seed: int
    checkpoint: str
    step: int | None
    steps: int


@dataclasses.dataclass(frozen=True)
class ValidationRun(Record):
    """A validated run and its `validation` summary from `results.json`."""

    arm: str
    seed: int
    validation: dict

    def to_json(self):
        return {"arm": self.arm, "seed": self.seed, **self.validation}


@dataclasses.dataclass(frozen=True)
class ValidationArm(Record):
    """An arm's means over seeds by `report.VALIDATION_KEYS`, and their `SeedGain`s over the
    baseline (None for the baseline or without a paired seed)."""

    seeds: list
    means: dict
    gains: dict | None

    def to_json(self):
        tree = {"seeds": self.seeds}
        for key, mean in self.means.items():
            tree[key] = _plain(mean)
            if self.gains is not None:
                tree[f"{key}_gain"] = _plain(self.gains[key])
        return tree


@dataclasses.dataclass(frozen=True)
class CurveGain(Record):
    """The validation PSNR gain over the baseline, paired by seed, per step."""

    seeds: list
    steps: list
    mean: list
    low: list
    high: list


@dataclasses.dataclass(frozen=True)
class ValidationCurves(Record):
    """An arm's curves at the steps all its seeds validated at (no gap without training crops)."""

    seeds: list
    steps: list
    psnr: Interval
    gap: Interval | None
    gain: CurveGain | None


@dataclasses.dataclass(frozen=True)
class MissingRun(Record):
    """A planned run without results."""

    arm: str
    seed: int
    path: str


@dataclasses.dataclass(frozen=True)
class DivergedRun(MissingRun):
    """A run stopped by a non-finite loss or weight."""

    step: int | None
    what: str | None


@dataclasses.dataclass(frozen=True)
class Report(Record):
    """The with/without report of an experiment; `to_json` gives `report.json`.

    Args:
        primary: The `PrimaryTest`, None without one.
        family: How many comparisons the q-values are over.
        cells: Grid cell to its status (`in_range`, `why`), as the runs record it.
        arms: `ArmSummary` by arm.
        sets, final_sets: `TestSet` by name, at the selected and (where runs hold them) final weights.
        raw_sets: The same at the final weights not averaged, where runs with EMA scored them too;
            empty otherwise.
        validation_arms, validation_curves: `ValidationArm` and `ValidationCurves` by arm.
        version: The layout version of `report.json`; files written before it had none.
    """

    experiment: str
    baseline: str
    seeds: list
    planned_seeds: list
    added_after_look: list
    level: float
    primary: PrimaryTest | None
    family: int
    cells: dict
    arms: dict
    sets: dict
    final_sets: dict
    selected_steps: list
    validation: list
    validation_arms: dict
    validation_curves: dict
    missing_runs: list
    diverged_runs: list
    raw_sets: dict = dataclasses.field(default_factory=dict)
    version: int = 2
