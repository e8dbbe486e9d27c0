"""Formatting of an experiment report: markdown, a plain-text table and plots.

Everything here reads the dict that `restoration.reporting.report.build_report`
returns; nothing reads run directories or computes statistics.
"""

import io

import numpy as np

from restoration.reporting.statistics import MIN_BOOTSTRAP_PAIRS

COST_KEYS = ("parameters", "train_step_seconds", "inference_seconds_per_image")


def _signed(value, digits=3):
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _number_text(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


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
    """The per-image tests, said with what they can and cannot tell."""
    pairs = gain.get("image_pairs", 0)
    if not pairs:
        return ""
    tests = f"Wilcoxon p = {_p(gain['wilcoxon_p'])}"
    if gain["bootstrap"] is None:
        tests += ", too few pairs for the bootstrap"
    else:
        bootstrap_p = _bootstrap_p(gain["bootstrap"])
        relation = "" if bootstrap_p.startswith("<=") else "= "
        tests = f"paired bootstrap p {relation}{bootstrap_p}, " + tests
    return (f"; per image ({pairs} image pairs of these trained models, pooled over seeds: whether "
            f"the difference is consistent across images, not whether it survives retraining), {tests}")


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


def _validation_arm_lines(report):
    """Per arm: mean peak, last validation and gap, and each one's paired difference from the baseline."""
    arms = report.get("validation_arms") or {}
    if len(arms) < 2:
        return []
    level = f"{report['level'] * 100:g} %"
    lines = ["", f"Per arm, means over seeds; differences from {report['baseline']} paired by seed, "
             f"[{level} interval]. A regularizer that prevents overfitting raises the last "
             "validation and lowers the gap.", "",
             "| arm | seeds | peak PSNR | last PSNR | gap | peak - baseline | last - baseline "
             "| gap - baseline |", "|---|---|---|---|---|---|---|---|"]
    for arm, entry in arms.items():
        means = [_number_text((entry.get(key) or {}).get("mean")) for key in ("best_psnr", "final_psnr")]
        means.append(_signed((entry.get("gap") or {}).get("mean")))
        gains = []
        for key in ("best_psnr", "final_psnr", "gap"):
            gain = entry.get(f"{key}_gain")
            gains.append("" if gain is None else _interval_text(gain, 3, signed=True))
        lines.append("| " + " | ".join([arm, str(len(entry["seeds"])), *means, *gains]) + " |")
    return lines


def verdict_lines(report):
    """The verdict, first in every report: one line per gain, then warnings and missing runs."""
    lines = [f"- {gain['conclusion']}" for entry in report["sets"].values()
             for gain in entry["gains"].values()]
    if not lines:
        lines = ["- No gain yet: no test set has finished runs of the baseline and another arm."]
    for arm, summary in report["arms"].items():
        lines += [f"- Warning, `{arm}`: {warning}." for warning in summary.get("warnings", [])]
    if report["missing_runs"]:
        lines.append(f"- {len(report['missing_runs'])} run(s) missing (listed at the end): the "
                     "verdict covers the finished seeds only.")
    if report.get("diverged_runs"):
        lines.append(f"- {len(report['diverged_runs'])} run(s) diverged and are not scored.")
    return lines


def format_markdown(report):
    """Formats a report dict as markdown: the verdict, then one table and one sentence per gain a set.

    Args:
        report: the dict of `build_report`.

    Returns:
        The markdown text.
    """
    level = f"{report['level'] * 100:g} %"
    header = ["arm", "seeds", f"PSNR (dB) [{level} CI]", "SSIM", f"gain (dB) [{level} CI]"]
    header += ["bootstrap p", "Wilcoxon p", "params", "step time (s)", "inference (s/image)"]
    lines = [f"# {report['experiment']}: with/without report", "", "## Verdict", ""]
    lines += verdict_lines(report)
    lines += ["", "## Arms", ""]
    lines += [
        f"- `{arm}`: {_regularizer_text(summary['regularizer'])}"
        + (f"; {', '.join(summary['precision'])}" if summary.get("precision") else "")
        for arm, summary in report["arms"].items()
    ]
    lines += [
        "",
        f"Gains are arm minus `{report['baseline']}` in PSNR, paired by seed; the interval is a "
        f"{level} Student's t interval over seeds and is what a conclusion should rest on. The "
        "bootstrap and Wilcoxon p-values test per-image differences pooled over seeds (same "
        "image, same seed): they tell whether a difference is consistent across images for "
        "these trained models, not whether it survives retraining; the bootstrap needs at least "
        f"{MIN_BOOTSTRAP_PAIRS} image pairs. Costs are means over seeds.",
    ]
    for test_set, entry in report["sets"].items():
        lines += ["", f"## {test_set}", ""]
        if entry["conventions"]:
            lines += [entry["conventions"].get("description", ""), ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in _table_rows(report, test_set)]
        lines += [""] + [f"- {gain['conclusion']}" for gain in entry["gains"].values()]
    if report.get("validation"):
        lines += ["", "## Validation: peak and overfitting gap", "",
                  "Validation PSNR (dB) at its best and at the last validation, and the gap: PSNR on "
                  "fixed crops of training images, degraded like the validation crops, minus the "
                  "validation PSNR at the last validation. A peak well before the end with a gap "
                  "that keeps growing is overfitting.", "",
                  "| arm | seed | peak step | peak PSNR | last step | last PSNR | training crops PSNR "
                  "| gap |",
                  "|---|---|---|---|---|---|---|---|"]
        for run in report["validation"]:
            cells = [run["arm"], str(run["seed"]), _number_text(run.get("best_step"), 0),
                     _number_text(run.get("best_psnr")), _number_text(run.get("final_step"), 0),
                     _number_text(run.get("final_psnr")), _number_text(run.get("train_crops_psnr")),
                     _signed(run.get("gap"))]
            lines.append("| " + " | ".join(cells) + " |")
        lines += _validation_arm_lines(report)
    lines += ["", "## Missing runs", ""]
    lines += [
        f"- `{run['arm']}` seed {run['seed']}: no results.json in {run['path']}"
        for run in report["missing_runs"]
    ] or ["None: every run has finished."]
    if report.get("diverged_runs"):
        lines += ["", "## Diverged runs (not scored)", ""]
        lines += [
            f"- `{run['arm']}` seed {run['seed']}: not finite at step {run['step']} "
            f"({run['what']}), in {run['path']}"
            for run in report["diverged_runs"]
        ]
    return "\n".join(lines) + "\n"


def format_gain_table(report):
    """Formats the scores and gains of a report as a compact plain-text table.

    Args:
        report: the dict of `build_report`.

    Returns:
        The table, a string with one line per test set and arm.
    """
    level = f"{report['level'] * 100:g} %"
    if not report["sets"]:
        # Every run diverged or is missing: there is nothing to tabulate, only what happened.
        return "\n".join(["No run has test scores yet, so there is no gain to show.",
                          *_unscored_runs(report)])
    rows = [["set", "arm", "seeds", "PSNR (dB)", "SSIM", f"gain (dB) [{level} CI]"]]
    rows[0] += ["bootstrap p", "Wilcoxon p"]
    for test_set in report["sets"]:
        rows += [[test_set] + row[:7] for row in _table_rows(report, test_set)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.append(f"gain: arm minus {report['baseline']}, paired by seed, with its {level} t interval "
                 "over seeds: what a conclusion rests on.")
    lines.append("p: per-image tests over (image, seed) pairs of these trained models, not evidence "
                 "that a gain survives retraining.")
    for arm, summary in report["arms"].items():
        lines += [f"warning: {arm}: {warning}" for warning in summary.get("warnings", [])]
    lines += _unscored_runs(report)
    return "\n".join(line.rstrip() for line in lines)


def _unscored_runs(report):
    """A line each for the missing and the diverged runs of a report, when there are any."""
    lines = []
    if report["missing_runs"]:
        lines.append(f"{len(report['missing_runs'])} run(s) missing; see report.md.")
    if report.get("diverged_runs"):
        lines.append(f"{len(report['diverged_runs'])} run(s) diverged, not scored; see report.md.")
    return lines


def _gain_seeds(report, arm):
    """The most seeds any test set pairs for `arm` (the label of its markers)."""
    return max((len(entry["gains"][arm]["seeds"]) for entry in report["sets"].values()), default=0)


def _plot_arm(axes, report, arm, index, offset):
    """Draws one arm's gains: a dot with its interval and value, or a cross where one seed gives none."""
    seeds = _gain_seeds(report, arm)
    label = f"{arm} ({seeds} seed{'s' if seeds != 1 else ''})"
    for position, test_set in enumerate(report["sets"]):
        psnr = report["sets"][test_set]["gains"][arm]["psnr"]
        if psnr is None:
            continue
        error = None
        if psnr["low"] is not None:
            error = [[psnr["mean"] - psnr["low"]], [psnr["high"] - psnr["mean"]]]
        marker = "x" if error is None else "o"
        axes.errorbar(position + offset, psnr["mean"], yerr=error, fmt=marker, capsize=4,
                      color=f"C{index}", label=label)
        axes.annotate(f"{psnr['mean']:+.3f}", (position + offset, psnr["mean"]), xytext=(5, 0),
                      textcoords="offset points", fontsize=7, va="center", color=f"C{index}")
        label = None


def plot_gains(report):
    """Draws the PSNR gain of each arm per test set with its interval over seeds.

    Every test set and arm, the interval over seeds as error bars (a cross
    where one seed gives none), each mean written beside its marker, the
    zero line, and the seeds per arm in the legend.

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
    figure = Figure(figsize=(max(5.5, 1.3 * len(test_sets) + 2.5), 4.0), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.grid(axis="y", alpha=0.3)
    for index, arm in enumerate(arms):
        _plot_arm(axes, report, arm, index, offset=(index - (len(arms) - 1) / 2) * 0.8 / len(arms))
    axes.set_xticks(range(len(test_sets)), test_sets, rotation=30 if len(test_sets) > 6 else 0,
                    ha="right" if len(test_sets) > 6 else "center", fontsize=8)
    axes.set_xlim(-0.6, len(test_sets) - 0.4)
    axes.set_ylabel(f"PSNR gain over {report['baseline']} (dB)")
    level = f"{report['level'] * 100:g} %"
    axes.set_title(f"{report['experiment']}\nmean gain per test set, {level} t interval over seeds "
                   "(x: one seed, no interval)", fontsize=9)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def grid_cells(report):
    """`{base set: [cell, ...]}` of the report's `<set>/<cell>` entries, in report order."""
    cells = {}
    for name in report["sets"]:
        if "/" in name:
            base, cell = name.split("/", 1)
            cells.setdefault(base, []).append(cell)
    return cells


def plot_grid(report):
    """Heatmap of each arm's mean PSNR gain per grid cell, one panel per test set, intervals printed.

    Args:
        report: the dict of `build_report`, with `<set>/<cell>` entries.

    Returns:
        The PNG image, as bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cells = grid_cells(report)
    arms = [arm for arm in report["arms"] if arm != report["baseline"]]
    widest = max(len(names) for names in cells.values())
    figure = Figure(figsize=(1.15 * widest + 2.5, (0.55 * len(arms) + 1.6) * len(cells)), dpi=120)
    FigureCanvasAgg(figure)
    gains = [report["sets"][f"{base}/{cell}"]["gains"].get(arm, {}).get("psnr")
             for base, names in cells.items() for cell in names for arm in arms]
    means = [entry["mean"] for entry in gains if entry]
    bound = max([abs(value) for value in means] + [0.01])
    for panel, (base, names) in enumerate(cells.items()):
        axes = figure.add_subplot(len(cells), 1, panel + 1)
        values = np.full((len(arms), len(names)), np.nan)
        for row, arm in enumerate(arms):
            for column, cell in enumerate(names):
                psnr = report["sets"][f"{base}/{cell}"]["gains"].get(arm, {}).get("psnr")
                if psnr is None:
                    continue
                values[row, column] = psnr["mean"]
                interval = "" if psnr["low"] is None else f"\n[{psnr['low']:+.2f}, {psnr['high']:+.2f}]"
                colour = "white" if abs(psnr["mean"]) > 0.6 * bound else "black"
                axes.text(column, row, f"{psnr['mean']:+.3f}{interval}", ha="center", va="center",
                          fontsize=6.5, color=colour)
        image = axes.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
        axes.set_yticks(range(len(arms)), arms, fontsize=7)
        axes.set_title(f"{base}: PSNR gain over {report['baseline']} (dB)", fontsize=8)
        figure.colorbar(image, ax=axes, fraction=0.03)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _seed_curves(report):
    """`{arm: [(steps, validation PSNR, gap), ...]}`: the runs with at least two validations."""
    curves = {}
    for run in report.get("validation", []):
        history = run.get("history") or []
        if len(history) < 2:
            continue
        psnr = np.array([entry["psnr"] for entry in history], dtype=float)
        crops = np.array([np.nan if entry["train_crops_psnr"] is None else entry["train_crops_psnr"]
                          for entry in history], dtype=float)
        curves.setdefault(run["arm"], []).append(([entry["step"] for entry in history], psnr, crops - psnr))
    return curves


def _band_line(axes, steps, band, colour, label):
    """A mean curve with its interval as a shaded band (no band where an interval is undefined)."""
    axes.plot(steps, band["mean"], color=colour, linewidth=1.8, label=label)
    if None not in band["low"]:
        axes.fill_between(steps, band["low"], band["high"], color=colour, alpha=0.15, linewidth=0)


def plot_validation(report):
    """Learning curves: validation PSNR, its gain over the baseline, the overfitting gap.

    Each arm's mean over seeds at the steps all its seeds validated at, with
    its t interval over seeds as a band (the gain paired by seed); thin lines
    are single seeds. A validation PSNR that peaks and falls while the gap
    (training crops' PSNR minus validation PSNR) grows is overfitting.

    Args:
        report: the dict of `build_report`, with `validation_curves`.

    Returns:
        The PNG image, as bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves, seed_curves = report["validation_curves"], _seed_curves(report)
    figure = Figure(figsize=(14.0, 3.9), dpi=110)
    FigureCanvasAgg(figure)
    psnr_axes, gain_axes, gap_axes = (figure.add_subplot(1, 3, index) for index in (1, 2, 3))
    gain_axes.axhline(0.0, color="black", linewidth=0.8)
    for index, arm in enumerate(report["arms"]):
        colour, entry = f"C{index}", curves.get(arm)
        for steps, psnr, gap in seed_curves.get(arm, []):
            psnr_axes.plot(steps, psnr, color=colour, linewidth=0.6, alpha=0.35)
            gap_axes.plot(steps, gap, color=colour, linewidth=0.6, alpha=0.35)
        if entry is None:
            continue
        label = f"{arm} ({len(entry['seeds'])} seed{'s' if len(entry['seeds']) != 1 else ''})"
        _band_line(psnr_axes, entry["steps"], entry["psnr"], colour, label)
        if entry["gap"] is not None:
            _band_line(gap_axes, entry["steps"], entry["gap"], colour, label)
        if entry["gain"] is not None:
            _band_line(gain_axes, entry["gain"]["steps"], entry["gain"], colour,
                       f"{arm} ({len(entry['gain']['seeds'])} paired seeds)")
    level = f"{report['level'] * 100:g} %"
    titles = ((psnr_axes, "validation PSNR (dB)", f"{report['experiment']}: validation PSNR"),
              (gain_axes, f"minus {report['baseline']} (dB)", "validation gain, paired by seed"),
              (gap_axes, "training crops minus validation (dB)", "overfitting gap"))
    for axes, ylabel, title in titles:
        axes.set_xlabel("step")
        axes.set_ylabel(ylabel)
        axes.set_title(title, fontsize=9)
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7)
    figure.suptitle(f"mean over seeds, band: {level} t interval over seeds, thin lines: one seed",
                    fontsize=8, y=0.02, va="bottom")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
