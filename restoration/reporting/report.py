"""With/without report of an experiment: every gain with its uncertainty.

An experiment directory `runs/<experiment>/` holds `experiment.json` and one
`<arm>/seed<N>/results.json` per finished run. The report compares every arm
with the baseline arm on every test set: the PSNR gain paired by seed with a
Student's t interval over seeds (training noise), and per-image paired tests
pooled over seeds (consistency across images). It aggregates whatever has
finished and lists the runs still missing; `report.py` is its command line.
"""

import dataclasses
import math
from pathlib import Path

from restoration import runs
from restoration.reporting import statistics
from restoration.reporting import summary
from restoration.reporting.formatting import COST_KEYS
from restoration.reporting.formatting import describe_gain
from restoration.reporting.formatting import format_markdown
from restoration.reporting.plots import FIGURES
from restoration.reporting.plots import figures
from restoration.reporting.records import read_results


@dataclasses.dataclass(frozen=True)
class ExperimentResults:
    """The finished runs of one experiment.

    Args:
        name: experiment name.
        directory: the experiment directory.
        arms: arm names, in config order.
        seeds: the seeds every arm is meant to run.
        baseline: the arm the others are compared with.
        runs: dict from `(arm, seed)` to the run's `RunResults`.
        missing: `(arm, seed)` pairs without `results.json` that have not diverged.
        diverged: dict from `(arm, seed)` to the parsed `diverged.json` of runs
            stopped by a non-finite loss or weight; they are listed, never scored.
        manifest: the checked `experiment.json` (`runs.read_experiment_file`):
            planned seeds, seeds added after a look, the primary endpoint.
    """

    name: str
    directory: Path
    arms: tuple
    seeds: tuple
    baseline: str
    runs: dict
    missing: tuple
    diverged: dict
    manifest: dict = dataclasses.field(default_factory=dict)

    def scores(self, arm, test_set, checkpoint="selected"):
        """A dict from seed to the scores of `arm` on `test_set` at `checkpoint` (`RunResults.scores`)."""
        return {
            seed: run.scores(checkpoint)[test_set]
            for (run_arm, seed), run in self.runs.items()
            if run_arm == arm and test_set in run.scores(checkpoint)
        }


def collect_runs(experiment_dir):
    """Reads `experiment.json` and every finished run's `results.json`.

    Args:
        experiment_dir: path of `runs/<experiment>`.

    Returns:
        An `ExperimentResults`.
    """
    directory = Path(experiment_dir)
    manifest = runs.read_experiment_file(directory)
    arms, baseline = tuple(manifest["arms"]), manifest["baseline"]
    finished = {}
    for arm in arms:
        paths = (directory / arm).glob(f"seed*/{runs.RESULTS_FILE}")
        for results in sorted(map(read_results, (path.parent for path in paths)),
                              key=lambda results: results.seed):
            finished[(arm, results.seed)] = results
    seeds = tuple(manifest["seeds"])
    planned = [(arm, seed) for arm in arms for seed in seeds]
    records = {run: runs.read_json(runs.run_directory(directory.parent, directory.name, *run)
                                   / runs.DIVERGED_FILE) for run in planned}
    diverged = {run: record for run, record in records.items() if record is not None and run not in finished}
    missing = tuple(run for run in planned if run not in finished and run not in diverged)
    return ExperimentResults(manifest["name"], directory, arms, seeds, baseline, finished, missing,
                             diverged, manifest)


def _number(value):
    """Maps nan and missing values to None so that the report is strict JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _interval(values, level):
    """The mean of `values` and its t interval, or None when a value (or every one) is missing."""
    if not values or None in values:
        return None
    mean, low, high = statistics.mean_confidence_interval(values, level)
    return summary.Interval(mean, _number(low), _number(high))


def _arm_scores(scores, level):
    return summary.ArmScores(len(scores), _interval([score["psnr"] for score in scores.values()], level),
                             _interval([score.get("ssim") for score in scores.values()], level))


def _paired(baseline, arm, key, seeds, level):
    values = [scores[seed].get(key) for scores in (baseline, arm) for seed in seeds]
    if not seeds or None in values:
        return None
    gain = statistics.paired_gain(
        {seed: baseline[seed][key] for seed in seeds},
        {seed: arm[seed][key] for seed in seeds},
        level,
    )
    # One seed gives a nan p-value, recorded as None.
    p = _number(statistics.paired_t_p(gain.differences))
    return summary.SeedGain(gain.mean, _number(gain.low), _number(gain.high), p,
                            list(gain.differences), list(seeds))


def _image_differences(baseline, arm, seeds):
    """Per-image PSNR differences, paired by image name within each seed."""
    differences = []
    for seed in seeds:
        reference = {image["name"]: image["psnr"] for image in baseline[seed].get("per_image", [])}
        differences += [image["psnr"] - reference[image["name"]] for image in arm[seed].get("per_image", [])
                        if image["name"] in reference]
    return [difference for difference in differences if math.isfinite(difference)]


def _gain(baseline, arm, level, resamples):
    seeds = sorted(set(baseline) & set(arm))
    differences = _image_differences(baseline, arm, seeds)
    bootstrap = None
    if len(differences) >= statistics.MIN_BOOTSTRAP_PAIRS:
        mean, low, high, p_value = statistics.paired_bootstrap(
            differences, resamples=resamples, level=level
        )
        bootstrap = summary.Bootstrap(mean, _number(low), _number(high), _number(p_value),
                                      len(differences), resamples)
    wilcoxon_p = statistics.wilcoxon_signed_rank(differences) if differences else None
    return summary.Gain(seeds, _paired(baseline, arm, "psnr", seeds, level),
                        _paired(baseline, arm, "ssim", seeds, level), bootstrap, wilcoxon_p,
                        len(differences))


def _set_report(results, test_set, level, resamples, checkpoint="selected"):
    scores = {arm: results.scores(arm, test_set, checkpoint) for arm in results.arms}
    baseline = results.baseline
    gains = {arm: _gain(scores[baseline], scores[arm], level, resamples)
             for arm in results.arms if arm != baseline}
    # The scoring conventions the first of the set's runs recorded.
    conventions = next((score.get("conventions") for by_seed in scores.values()
                        for score in by_seed.values()), None)
    return summary.TestSet(conventions, {arm: _arm_scores(scores[arm], level) for arm in results.arms}, gains)


def _control_false_discoveries(sets, baseline, level):
    """Benjamini-Hochberg q-values over the whole family (every arm x set x cell with an interval),
    then each gain's sentence, which says whether it survives them.

    Returns:
        The sets with q-values and sentences, and the size of the family.
    """
    family = [(name, arm) for name, entry in sets.items() for arm, gain in entry.gains.items()
              if gain.psnr is not None and gain.psnr.p is not None]
    q_values = statistics.benjamini_hochberg([sets[name].gains[arm].psnr.p for name, arm in family])
    q_values = dict(zip(family, q_values, strict=True))
    controlled = {}
    for name, entry in sets.items():
        gains = {}
        for arm, gain in entry.gains.items():
            if (name, arm) in q_values:
                gain = dataclasses.replace(gain, psnr=dataclasses.replace(gain.psnr,
                                                                          q=q_values[name, arm]))
            gains[arm] = dataclasses.replace(
                gain, conclusion=describe_gain(arm, baseline, name, gain, level, len(family)))
        controlled[name] = dataclasses.replace(entry, gains=gains)
    return controlled, len(family)


def _primary_endpoint(results, arm, record, level):
    """One primary arm: the per-seed endpoint (mean gain over the declared entries), its t
    interval, t and sign-flip p-values, as `PrimaryArm` fields."""
    pairs = [(results.scores(results.baseline, name, record["checkpoint"]),
              results.scores(arm, name, record["checkpoint"])) for name in record["entries"]]
    seeds = sorted(seed for seed in results.seeds if all(seed in base and seed in other
                                                         for base, other in pairs))
    differences = [sum(other[seed]["psnr"] - base[seed]["psnr"] for base, other in pairs) / len(pairs)
                   for seed in seeds]
    entry = {"seeds": seeds, "per_seed": differences, "mean": None, "low": None, "high": None,
             "t_p": None, "sign_flip_p": None}
    if differences:
        mean, low, high = statistics.mean_confidence_interval(differences, level)
        entry.update(mean=mean, low=_number(low), high=_number(high),
                     t_p=_number(statistics.paired_t_p(differences)),
                     sign_flip_p=statistics.sign_flip_p(differences))
    return entry


def _primary(results, level):
    """The pre-registered primary test, per arm with Holm across the arms, or None."""
    record = results.manifest.get("primary")
    if not record:
        return None
    endpoints = [_primary_endpoint(results, arm, record, level) for arm in record["arms"]]
    alpha = 1.0 - level
    holm_t = statistics.holm([entry["t_p"] for entry in endpoints])
    holm_flip = statistics.holm([entry["sign_flip_p"] for entry in endpoints])
    planned = results.manifest.get("planned_seeds") or list(results.seeds)
    arms = {}
    for arm, entry, t_p, flip_p in zip(record["arms"], endpoints, holm_t, holm_flip, strict=True):
        verdict = statistics.INCONCLUSIVE if entry["mean"] is None else statistics.verdict(
            entry["mean"], entry["low"], entry["high"], record["margin"], t_p, alpha)
        arms[arm] = summary.PrimaryArm(**entry, holm_p=t_p, holm_sign_flip_p=flip_p, verdict=verdict,
                                       interim=sorted(set(planned) - set(entry["seeds"])))
    return summary.PrimaryTest(record, level, arms, planned,
                               results.manifest.get("primary_changed_after_look", False),
                               results.manifest.get("registered_primary"))


VALIDATION_KEYS = ("best_psnr", "late_psnr", "final_psnr", "gap")


def _validation_summary(results, level):
    """Per arm: the mean over seeds of the validation peak, the last validation and the gap, and
    each one's difference from the baseline, paired by seed, with its interval."""
    by_arm = {arm: {seed: run.validation for (run_arm, seed), run in results.runs.items()
                    if run_arm == arm and run.validation.get("best_step") is not None}
              for arm in results.arms}
    baseline = by_arm.get(results.baseline, {})
    entries = {}
    for arm, by_seed in by_arm.items():
        if not by_seed:
            continue
        means = {key: _interval([run.get(key) for run in by_seed.values()], level)
                 for key in VALIDATION_KEYS}
        seeds = sorted(set(baseline) & set(by_seed))
        gains = ({key: _paired(baseline, by_seed, key, seeds, level) for key in VALIDATION_KEYS}
                 if arm != results.baseline and seeds else None)
        entries[arm] = summary.ValidationArm(sorted(by_seed), means, gains)
    return entries


def _band(rows, level):
    """An `Interval` of lists: per row of values over seeds, the mean and its t interval."""
    bands = [_interval(list(values), level) for values in rows]
    return summary.Interval([band.mean for band in bands], [band.low for band in bands],
                            [band.high for band in bands])


def _validation_curves(results, level):
    """Per arm, over the steps every one of its seeds validated at: the validation PSNR, the
    overfitting gap and (other arms) the PSNR gain over the baseline paired by seed, each as a
    mean over seeds with its interval per step."""
    histories = {}
    for (arm, seed), run in sorted(results.runs.items()):
        history = run.validation.get("history") or []
        if len(history) >= 2:
            histories.setdefault(arm, {})[seed] = {entry["step"]: entry for entry in history}
    baseline = histories.get(results.baseline, {})
    curves = {}
    for arm, by_seed in histories.items():
        steps = sorted(set.intersection(*(set(history) for history in by_seed.values())))
        psnr = _band([[by_seed[seed][step]["psnr"] for seed in by_seed] for step in steps], level)
        points = [[by_seed[seed][step] for seed in by_seed] for step in steps]
        gap = gain = None
        if all(point["train_crops_psnr"] is not None for row in points for point in row):
            gap = _band([[point["train_crops_psnr"] - point["psnr"] for point in row]
                         for row in points], level)
        seeds = sorted(set(baseline) & set(by_seed))
        if arm != results.baseline and seeds:
            shared = sorted(set.intersection(*(set(by_seed[seed]) & set(baseline[seed])
                                               for seed in seeds)))
            band = _band([[by_seed[seed][step]["psnr"] - baseline[seed][step]["psnr"]
                           for seed in seeds] for step in shared], level)
            gain = summary.CurveGain(seeds, shared, band.mean, band.low, band.high)
        curves[arm] = summary.ValidationCurves(sorted(by_seed), steps, psnr, gap, gain)
    return curves


def _arm_summary(results, arm):
    runs = [run for (run_arm, _), run in results.runs.items() if run_arm == arm]
    costs = {key: [run.cost[key] for run in runs if run.cost.get(key) is not None] for key in COST_KEYS}
    cost = {key: sum(values) / len(values) if values else None for key, values in costs.items()}
    return summary.ArmSummary(
        regularizer=runs[0].regularizer if runs else None,
        warnings=sorted({warning for run in runs for warning in run.warnings}),
        precision=sorted({run.precision for run in runs}),
        weights=sorted({run.weights for run in runs}),
        finished_seeds=[seed for (run_arm, seed) in results.runs if run_arm == arm],
        steps=max((run.steps for run in runs), default=None),
        cost=cost,
    )


def build_report(experiment_dir, level=0.95, resamples=10000):
    """Aggregates the finished runs of an experiment into a `Report`.

    Args:
        experiment_dir: path of `runs/<experiment>`.
        level: confidence level of every interval.
        resamples: bootstrap resamples of the per-image test.

    Returns:
        The `restoration.reporting.summary.Report`.
    """
    results = collect_runs(experiment_dir)
    test_sets = list(dict.fromkeys(name for run in results.runs.values() for name in run.test))

    def checkpoint_sets(checkpoint):
        """Every test set at `checkpoint`, with q-values over that checkpoint's family."""
        sets = {name: _set_report(results, name, level, resamples, checkpoint) for name in test_sets}
        return _control_false_discoveries(sets, results.baseline, level)

    sets, family = checkpoint_sets("selected")
    # The final and raw weights only where some run scored them.
    final_sets, raw_sets = (checkpoint_sets(checkpoint)[0]
                            if any(run.scores(checkpoint) for run in results.runs.values()) else {}
                            for checkpoint in ("final", "raw"))
    cells = {}
    for _, run in sorted(results.runs.items(), key=lambda item: item[0][0] != results.baseline):
        for cell, status in run.cells.items():
            cells.setdefault(cell, status)
    finished = sorted(results.runs.items())
    return summary.Report(
        experiment=results.name,
        baseline=results.baseline,
        seeds=list(results.seeds),
        planned_seeds=results.manifest.get("planned_seeds", list(results.seeds)),
        added_after_look=results.manifest.get("added_after_look", []),
        level=level,
        primary=_primary(results, level),
        family=family,
        cells=cells,
        arms={arm: _arm_summary(results, arm) for arm in results.arms},
        sets=sets,
        final_sets=final_sets,
        raw_sets=raw_sets,
        selected_steps=[summary.SelectedStep(arm, seed, run.checkpoint, run.selected_step, run.steps)
                        for (arm, seed), run in finished],
        validation=[summary.ValidationRun(arm, seed, run.validation) for (arm, seed), run in finished
                    if run.validation.get("best_step") is not None],
        validation_arms=_validation_summary(results, level),
        validation_curves=_validation_curves(results, level),
        missing_runs=[summary.MissingRun(arm, seed, str(results.directory / arm / f"seed{seed}"))
                      for arm, seed in results.missing],
        diverged_runs=[summary.DivergedRun(arm, seed, str(results.directory / arm / f"seed{seed}"),
                                           record.get("step"), record.get("what"))
                       for (arm, seed), record in results.diverged.items()],
    )


def write_report(experiment_dir, level=0.95, resamples=10000):
    """Writes `report.md`, `report.json`, `gain.png`, `grid.png` (grid cells), `validation.png` (curves).

    Each file is written to a temporary name and renamed, so a reader never
    sees half a report.

    Args:
        experiment_dir: path of `runs/<experiment>`.
        level: confidence level of every interval.
        resamples: bootstrap resamples of the per-image test.

    Returns:
        The `Report` of `build_report`.
    """
    directory = Path(experiment_dir)
    report = build_report(directory, level, resamples)
    runs.write_json_atomically(directory / runs.REPORT_JSON, report.to_json(), allow_nan=False)
    runs.write_text_atomically(directory / runs.REPORT_MARKDOWN, format_markdown(report))
    drawn = figures(report)
    for _, name in FIGURES:
        if name in drawn:
            runs.write_bytes_atomically(directory / name, drawn[name])
        else:  # A plot of an earlier report that this one does not have.
            (directory / name).unlink(missing_ok=True)
    return report
