"""With/without report of an experiment: every gain with its uncertainty.

An experiment directory `runs/<experiment>/` holds `experiment.json` and one
`<arm>/seed<N>/results.json` per finished run. The report compares every arm
with the baseline arm on every test set: the PSNR gain paired by seed with a
Student's t interval over seeds (training noise), and per-image paired tests
pooled over seeds (consistency across images). It aggregates whatever has
finished and lists the runs still missing.

Usage:
    python -m restoration.report runs/<experiment>
"""

import argparse
import dataclasses
import io
import json
import math
import os
import tempfile
from pathlib import Path

from restoration import statistics

COST_KEYS = ("parameters", "train_step_seconds", "inference_seconds_per_image")


@dataclasses.dataclass(frozen=True)
class ExperimentResults:
    """The finished runs of one experiment.

    Args:
        name: experiment name.
        directory: the experiment directory.
        arms: arm names, in config order.
        seeds: the seeds every arm is meant to run.
        baseline: the arm the others are compared with.
        runs: dict from `(arm, seed)` to the parsed `results.json`.
        missing: `(arm, seed)` pairs without `results.json`.
    """

    name: str
    directory: Path
    arms: tuple
    seeds: tuple
    baseline: str
    runs: dict
    missing: tuple

    def scores(self, arm, test_set):
        """Returns a dict from seed to the `test[test_set]` entry of `arm`."""
        return {
            seed: run["test"][test_set]
            for (run_arm, seed), run in self.runs.items()
            if run_arm == arm and test_set in run.get("test", {})
        }


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Cannot parse {path}. Expected a JSON file written by train.py. Received: {error}"
        ) from error


def collect_runs(experiment_dir):
    """Reads `experiment.json` and every finished run's `results.json`.

    Args:
        experiment_dir: path of `runs/<experiment>`.

    Returns:
        An `ExperimentResults`.
    """
    directory = Path(experiment_dir)
    manifest_path = directory / "experiment.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"No experiment.json in {directory}. Expected an experiment directory written "
            f"by train.py, such as runs/<experiment>. Received: experiment_dir={experiment_dir}"
        )
    manifest = _read_json(manifest_path)
    arms = tuple(manifest.get("arms") or ())
    if not arms:
        raise ValueError(
            f"{manifest_path} lists no arms. Expected a non-empty list such as "
            f'["baseline", "dropblock"]. Received: arms={manifest.get("arms")}'
        )
    baseline = manifest.get("baseline") or ("baseline" if "baseline" in arms else arms[0])
    if baseline not in arms:
        raise ValueError(
            f"The baseline arm of {manifest_path} is not one of its arms. Expected one of "
            f"{list(arms)}. Received: baseline={baseline}"
        )
    runs = {}
    for arm in arms:
        arm_runs = [_read_json(path) for path in (directory / arm).glob("seed*/results.json")]
        for results in sorted(arm_runs, key=lambda results: int(results["seed"])):
            runs[(arm, int(results["seed"]))] = results
    seeds = tuple(int(seed) for seed in manifest["seeds"])
    missing = tuple((arm, seed) for arm in arms for seed in seeds if (arm, seed) not in runs)
    name = manifest.get("name", directory.name)
    return ExperimentResults(name, directory, arms, seeds, baseline, runs, missing)


def _number(value):
    """Maps nan and missing values to None so that the report is strict JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _interval(values, level):
    if not values:
        return None
    mean, low, high = statistics.mean_confidence_interval(values, level)
    return {"mean": mean, "low": _number(low), "high": _number(high)}


def _arm_scores(scores, level):
    ssims = [score.get("ssim") for score in scores.values()]
    return {
        "seeds": len(scores),
        "psnr": _interval([score["psnr"] for score in scores.values()], level),
        "ssim": _interval(ssims, level) if None not in ssims else None,
    }


def _paired(baseline, arm, key, seeds, level):
    values = [scores[seed].get(key) for scores in (baseline, arm) for seed in seeds]
    if None in values:
        return None
    gain = statistics.paired_gain(
        {seed: baseline[seed][key] for seed in seeds},
        {seed: arm[seed][key] for seed in seeds},
        level,
    )
    return {
        "mean": gain.mean,
        "low": _number(gain.low),
        "high": _number(gain.high),
        "per_seed": list(gain.differences),
    }


def _image_differences(baseline, arm, seeds):
    """Per-image PSNR differences, paired by image name within each seed."""
    differences = []
    for seed in seeds:
        reference = {image["name"]: image["psnr"] for image in baseline[seed].get("per_image", [])}
        for image in arm[seed].get("per_image", []):
            if image["name"] in reference:
                difference = image["psnr"] - reference[image["name"]]
                if math.isfinite(difference):
                    differences.append(difference)
    return differences


def _gain(baseline, arm, level, resamples):
    seeds = sorted(set(baseline) & set(arm))
    entry = {"seeds": seeds, "psnr": None, "ssim": None, "bootstrap": None, "wilcoxon_p": None}
    if not seeds:
        return entry
    entry["psnr"] = _paired(baseline, arm, "psnr", seeds, level)
    entry["ssim"] = _paired(baseline, arm, "ssim", seeds, level)
    differences = _image_differences(baseline, arm, seeds)
    if differences:
        mean, low, high, p_value = statistics.paired_bootstrap(
            differences, resamples=resamples, level=level
        )
        entry["bootstrap"] = {
            "mean": mean,
            "low": _number(low),
            "high": _number(high),
            "p_value": _number(p_value),
            "pairs": len(differences),
            "resamples": resamples,
        }
        entry["wilcoxon_p"] = statistics.wilcoxon_signed_rank(differences)
    return entry


def _signed(value, digits=3):
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _p(value):
    return "n/a" if value is None else f"{value:.3g}"


def _bootstrap_p(bootstrap):
    """A p-value at the bootstrap's floor is shown as a bound, not as a value."""
    if not bootstrap or bootstrap["p_value"] is None:
        return "n/a"
    floor = 1.0 / bootstrap["resamples"]
    return f"<= {floor:.3g}" if bootstrap["p_value"] <= floor else _p(bootstrap["p_value"])


def _interval_text(entry, digits, signed=False):
    """Formats `{"mean", "low", "high"}` as "mean [low, high]", or "mean (1 seed)"."""
    if entry is None:
        return "n/a"
    number = (
        (lambda value: _signed(value, digits)) if signed else (lambda value: f"{value:.{digits}f}")
    )
    if entry["low"] is None:
        return f"{number(entry['mean'])} (1 seed)"
    return f"{number(entry['mean'])} [{number(entry['low'])}, {number(entry['high'])}]"


def describe_gain(arm, baseline, test_set, gain, level=0.95):
    """One sentence stating the sign of a gain and whether its interval excludes 0.

    Args:
        arm: name of the compared arm.
        baseline: name of the baseline arm.
        test_set: name of the test set.
        gain: a gain entry of `build_report`.
        level: confidence level of the interval.

    Returns:
        The sentence, a string.
    """
    subject = f"{arm} vs {baseline} on {test_set}"
    psnr = gain["psnr"]
    if psnr is None:
        return f"{subject}: no seed finished by both arms yet."
    seeds = len(gain["seeds"])
    sentence = f"{subject}: {_signed(psnr['mean'])} dB"
    if psnr["low"] is None:
        sentence += f" over {seeds} seed: interval n/a ({seeds} seed), no conclusion over seeds"
    else:
        sentence += (
            f", {level * 100:g} % CI [{_signed(psnr['low'])}, {_signed(psnr['high'])}]"
            f" over {seeds} seeds: "
        )
        if psnr["low"] > 0:
            sentence += "higher than the baseline (the interval excludes zero)"
        elif psnr["high"] < 0:
            sentence += "lower than the baseline (the interval excludes zero)"
        else:
            sentence += "not distinguishable from zero"
    return sentence + _image_level_text(gain) + "."


def _image_level_text(gain):
    bootstrap = gain["bootstrap"]
    if bootstrap is None:
        return ""
    bootstrap_p = _bootstrap_p(bootstrap)
    relation = "" if bootstrap_p.startswith("<=") else "= "
    return (
        f"; per image, paired bootstrap p {relation}{bootstrap_p} and Wilcoxon "
        f"p = {_p(gain['wilcoxon_p'])} over {bootstrap['pairs']} image pairs"
    )


def _set_report(results, test_set, level, resamples):
    scores = {arm: results.scores(arm, test_set) for arm in results.arms}
    baseline = results.baseline
    gains = {}
    for arm in results.arms:
        if arm != baseline:
            gains[arm] = _gain(scores[baseline], scores[arm], level, resamples)
            gains[arm]["conclusion"] = describe_gain(arm, baseline, test_set, gains[arm], level)
    conventions = [
        score.get("conventions") for by_seed in scores.values() for score in by_seed.values()
    ]
    return {
        "conventions": conventions[0] if conventions else None,
        "arms": {arm: _arm_scores(scores[arm], level) for arm in results.arms},
        "gains": gains,
    }


def _arm_summary(results, arm):
    runs = [run for (run_arm, _), run in results.runs.items() if run_arm == arm]
    cost = {}
    for key in COST_KEYS:
        values = [run.get("cost", {}).get(key) for run in runs]
        values = [value for value in values if value is not None]
        cost[key] = sum(values) / len(values) if values else None
    return {
        "regularizer": runs[0].get("regularizer") if runs else None,
        "finished_seeds": [seed for (run_arm, seed) in results.runs if run_arm == arm],
        "cost": cost,
    }


def build_report(experiment_dir, level=0.95, resamples=10000):
    """Aggregates the finished runs of an experiment into a report dict.

    Args:
        experiment_dir: path of `runs/<experiment>`.
        level: confidence level of every interval.
        resamples: bootstrap resamples of the per-image test.

    Returns:
        A JSON-serialisable dict: `experiment`, `baseline`, `seeds`, `level`,
        `arms` (regularizer, finished seeds and mean cost per arm), `sets`
        (per test set: scoring conventions, per-arm mean PSNR and SSIM with
        intervals, per-arm gains over the baseline with seed intervals,
        image-level bootstrap and Wilcoxon p) and `missing_runs`. Undefined
        numbers (an interval from one seed) are `None`.
    """
    results = collect_runs(experiment_dir)
    test_sets = []
    for run in results.runs.values():
        test_sets += [name for name in run.get("test", {}) if name not in test_sets]
    return {
        "experiment": results.name,
        "baseline": results.baseline,
        "seeds": list(results.seeds),
        "level": level,
        "arms": {arm: _arm_summary(results, arm) for arm in results.arms},
        "sets": {name: _set_report(results, name, level, resamples) for name in test_sets},
        "missing_runs": [
            {"arm": arm, "seed": seed, "path": str(results.directory / arm / f"seed{seed}")}
            for arm, seed in results.missing
        ],
    }


def _write_atomically(path, data):
    """Writes bytes to `path` through a temporary file, so readers never see half a file."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        # mkstemp creates the file readable by its owner only; a report is for everyone.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _cost_text(cost):
    parameters, step, inference = (cost[key] for key in COST_KEYS)
    return [
        "n/a" if parameters is None else f"{parameters:,.0f}",
        "n/a" if step is None else f"{step:.3f}",
        "n/a" if inference is None else f"{inference:.3f}",
    ]


def _table_rows(report, test_set):
    """Rows of the per-set table: arm, seeds, PSNR, SSIM, gain, p-values, costs."""
    rows = []
    for arm, scores in report["sets"][test_set]["arms"].items():
        gain = report["sets"][test_set]["gains"].get(arm)
        bootstrap = (gain or {}).get("bootstrap")
        rows.append(
            [arm, str(scores["seeds"])]
            + [_interval_text(scores["psnr"], 3), _interval_text(scores["ssim"], 4)]
            + ["baseline" if gain is None else _interval_text(gain["psnr"], 3, signed=True)]
            + [_bootstrap_p(bootstrap), _p((gain or {}).get("wilcoxon_p"))]
            + _cost_text(report["arms"][arm]["cost"])
        )
    return rows


def _regularizer_text(regularizer):
    if not regularizer:
        return "no regularizer"
    settings = ", ".join(f"{key}={value}" for key, value in regularizer.items() if key != "name")
    return f"{regularizer.get('name')} ({settings})" if settings else str(regularizer.get("name"))


def format_markdown(report):
    """Formats a report dict as markdown: one table and one sentence per gain for each set.

    Args:
        report: the dict of `build_report`.

    Returns:
        The markdown text.
    """
    level = f"{report['level'] * 100:g} %"
    header = ["arm", "seeds", f"PSNR (dB) [{level} CI]", "SSIM", f"gain (dB) [{level} CI]"]
    header += ["bootstrap p", "Wilcoxon p", "params", "step time (s)", "inference (s/image)"]
    lines = [f"# {report['experiment']}: with/without report", ""]
    lines += [
        f"- `{arm}`: {_regularizer_text(summary['regularizer'])}"
        for arm, summary in report["arms"].items()
    ]
    lines += [
        "",
        f"Gains are arm minus `{report['baseline']}` in PSNR, paired by seed; the interval is a "
        f"{level} Student's t interval over seeds and is what a conclusion should rest on. The "
        "bootstrap and Wilcoxon p-values test per-image differences pooled over seeds (same "
        "image, same seed): they tell whether a difference is consistent across images for "
        "these trained models, not whether it survives retraining. Costs are means over seeds.",
    ]
    for test_set, entry in report["sets"].items():
        lines += ["", f"## {test_set}", ""]
        if entry["conventions"]:
            lines += [entry["conventions"].get("description", ""), ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in _table_rows(report, test_set)]
        lines += [""] + [f"- {gain['conclusion']}" for gain in entry["gains"].values()]
    lines += ["", "## Missing runs", ""]
    lines += [
        f"- `{run['arm']}` seed {run['seed']}: no results.json in {run['path']}"
        for run in report["missing_runs"]
    ] or ["None: every run has finished."]
    return "\n".join(lines) + "\n"


def format_gain_table(report):
    """Formats the scores and gains of a report as a compact plain-text table.

    Args:
        report: the dict of `build_report`.

    Returns:
        The table, a string with one line per test set and arm.
    """
    level = f"{report['level'] * 100:g} %"
    rows = [["set", "arm", "seeds", "PSNR (dB)", "SSIM", f"gain (dB) [{level} CI]"]]
    rows[0] += ["bootstrap p", "Wilcoxon p"]
    for test_set in report["sets"]:
        rows += [[test_set] + row[:7] for row in _table_rows(report, test_set)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    if report["missing_runs"]:
        lines.append(f"{len(report['missing_runs'])} run(s) missing; see report.md.")
    return "\n".join(line.rstrip() for line in lines)


def _plot_arm(axes, report, arm, index, offset):
    """Draws one arm's gains: a dot with error bars, or a cross where one seed gives no interval."""
    label = arm
    for position, test_set in enumerate(report["sets"]):
        psnr = report["sets"][test_set]["gains"][arm]["psnr"]
        if psnr is None:
            continue
        error = None
        if psnr["low"] is not None:
            error = [[psnr["mean"] - psnr["low"]], [psnr["high"] - psnr["mean"]]]
        marker = "x" if error is None else "o"
        axes.errorbar(position + offset, psnr["mean"], yerr=error, fmt=marker, capsize=4,
                      color=f"C{index}", label=label)  # fmt: skip
        label = None


def plot_gains(report):
    """Draws the PSNR gain of each arm per test set with its interval over seeds.

    Args:
        report: the dict of `build_report`.

    Returns:
        The PNG image, as bytes.
    """
    # The object-oriented API with the Agg canvas leaves pyplot's global backend alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    test_sets = list(report["sets"])
    arms = [arm for arm in report["arms"] if arm != report["baseline"]]
    figure = Figure(figsize=(max(4.0, 1.4 * len(test_sets) + 2.0), 3.6), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.axhline(0.0, color="black", linewidth=0.8)
    for index, arm in enumerate(arms):
        _plot_arm(axes, report, arm, index, offset=(index - (len(arms) - 1) / 2) * 0.8 / len(arms))
    axes.set_xticks(range(len(test_sets)), test_sets)
    axes.set_xlim(-0.6, len(test_sets) - 0.4)
    axes.set_xlabel("test set")
    axes.set_ylabel(f"PSNR gain over {report['baseline']} (dB)")
    level = f"{report['level'] * 100:g} %"
    axes.set_title(
        f"{report['experiment']}: {level} t interval over seeds (x: one seed)", fontsize=9
    )
    if arms:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_report(experiment_dir, level=0.95, resamples=10000):
    """Writes `report.md`, `report.json` and `gain.png` into the experiment directory.

    Each file is written to a temporary name and renamed, so a reader never
    sees half a report.

    Args:
        experiment_dir: path of `runs/<experiment>`.
        level: confidence level of every interval.
        resamples: bootstrap resamples of the per-image test.

    Returns:
        The report dict of `build_report`.
    """
    directory = Path(experiment_dir)
    report = build_report(directory, level, resamples)
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    _write_atomically(directory / "report.json", text.encode())
    _write_atomically(directory / "report.md", format_markdown(report).encode())
    _write_atomically(directory / "gain.png", plot_gains(report))
    return report


def main(argv=None):
    """Writes the report of an experiment directory and prints its gain table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("experiment_dir", help="the experiment directory, runs/<experiment>")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level")
    parser.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples")
    parser.add_argument(
        "--no-tensorboard",
        action="store_true",
        help="skip the TensorBoard summary in <experiment_dir>/summary",
    )
    arguments = parser.parse_args(argv)
    report = write_report(arguments.experiment_dir, arguments.level, arguments.resamples)
    if not arguments.no_tensorboard:
        # Imported only here: TensorFlow takes seconds to load and the files above do not need it.
        from restoration.tensorboard_summaries import write_experiment_summary

        write_experiment_summary(arguments.experiment_dir, report)
    print(format_gain_table(report))
    print(f"Report written to {Path(arguments.experiment_dir) / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
