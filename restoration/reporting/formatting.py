"""The text of an experiment report: markdown and a plain-text table.

Everything here reads the `restoration.reporting.summary.Report` that
`restoration.reporting.report.build_report` returns; nothing reads run
directories or computes statistics. The plots are `restoration.reporting.plots`'.
"""

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
    if bootstrap is None or bootstrap.p_value is None:
        return "n/a"
    floor = 1.0 / bootstrap.resamples
    return f"<= {floor:.3g}" if bootstrap.p_value <= floor else _p(bootstrap.p_value)


def _interval_text(entry, digits, signed=False):
    """Formats an interval (`mean`, `low`, `high`) as "mean [low, high]", or "mean (1 seed)"."""
    if entry is None or entry.mean is None:
        return "n/a"
    spec = f"{'+' if signed else ''}.{digits}f"
    if entry.low is None:
        return f"{entry.mean:{spec}} (1 seed)"
    return f"{entry.mean:{spec}} [{entry.low:{spec}}, {entry.high:{spec}}]"


def _table(header, rows):
    """A markdown table: the header (column names joined by " | "), its rule and the rows."""
    rule = "|" + "---|" * (header.count(" | ") + 1)
    return [f"| {header} |", rule] + ["| " + " | ".join(row) + " |" for row in rows]


# False-discovery rate at which a secondary gain counts as a finding.
FDR = 0.05


def _comparisons(count):
    return f"the {count} comparisons" if count != 1 else "the 1 comparison"


def describe_gain(arm, baseline, test_set, gain, level=0.95, family=None):
    """One sentence stating the sign of a gain, whether its interval excludes 0, and whether that
    survives the false-discovery control over the whole family of comparisons.

    Args:
        arm: name of the compared arm.
        baseline: name of the baseline arm.
        test_set: name of the test set.
        gain: a `Gain` of the report; its `psnr` may carry the
            Benjamini-Hochberg q-value `q`.
        level: confidence level of the interval.
        family: how many comparisons the q-values are over.

    Returns:
        The sentence, a string.
    """
    subject = f"{arm} vs {baseline} on {test_set}"
    psnr = gain.psnr
    if psnr is None:
        return f"{subject}: no seed finished by both arms yet."
    seeds = len(gain.seeds)
    sentence = f"{subject}: {_signed(psnr.mean)} dB"
    if psnr.low is None:
        sentence += f" over {seeds} seed: interval n/a ({seeds} seed), no conclusion over seeds"
    else:
        sentence += f", {level * 100:g} % CI [{_signed(psnr.low)}, {_signed(psnr.high)}] over {seeds} seeds: "
        side = "higher" if psnr.low > 0 else "lower" if psnr.high < 0 else None
        sentence += (f"{side} than the baseline (the interval excludes zero)" if side
                     else "not distinguishable from zero")
        if psnr.q is not None:
            finding = "a finding" if psnr.q < FDR else "not a finding"
            sentence += (f"; q = {_p(psnr.q)} over {_comparisons(family)}: {finding} at a 5 % "
                         "false-discovery rate")
    return sentence + _image_level_text(gain) + "."


def _image_level_text(gain):
    """The per-image tests, said with what they can and cannot tell."""
    pairs = gain.image_pairs
    if not pairs:
        return ""
    tests = f"Wilcoxon p = {_p(gain.wilcoxon_p)}"
    if gain.bootstrap is None:
        tests += ", too few pairs for the bootstrap"
    else:
        bootstrap_p = _bootstrap_p(gain.bootstrap)
        relation = "" if bootstrap_p.startswith("<=") else "= "
        tests = f"paired bootstrap p {relation}{bootstrap_p}, " + tests
    return (f"; per image ({pairs} image pairs of these trained models, pooled over seeds: whether "
            f"the difference is consistent across images, not whether it survives retraining), {tests}")


def _cost_text(cost):
    return ["n/a" if cost[key] is None else f"{cost[key]:{spec}}"
            for key, spec in zip(COST_KEYS, (",.0f", ".3f", ".3f"), strict=True)]


def _q_text(gain):
    q = None if gain.psnr is None else gain.psnr.q
    return "n/a" if q is None else _p(q) + (" *" if q < FDR else "")


def _final_gain_text(report, test_set, arm):
    """The gain of the final weights, where results hold them and they are not the selected ones."""
    entry = report.final_sets.get(test_set)
    gain = None if entry is None else entry.gains.get(arm)
    if gain is None:
        return "baseline" if arm == report.baseline else "n/a"
    return f"{_interval_text(gain.psnr, 3, signed=True)}, q {_q_text(gain)}"


def _table_rows(report, test_set):
    """Rows of the per-set table: arm, seeds, PSNR, SSIM, gain, q, bootstrap and Wilcoxon p,
    the final weights' gain with its q, costs."""
    rows = []
    for arm, scores in report.sets[test_set].arms.items():
        gain = report.sets[test_set].gains.get(arm)
        tests = ["baseline", "", "n/a", "n/a"] if gain is None else [
            _interval_text(gain.psnr, 3, signed=True), _q_text(gain), _bootstrap_p(gain.bootstrap),
            _p(gain.wilcoxon_p)]
        rows.append([arm, str(scores.seeds), _interval_text(scores.psnr, 3),
                     _interval_text(scores.ssim, 4), *tests, _final_gain_text(report, test_set, arm),
                     *_cost_text(report.arms[arm].cost)])
    return rows


def _regularizer_text(regularizer):
    if not regularizer:
        return "no regularizer"
    settings = ", ".join(f"{key}={value}" for key, value in regularizer.items() if key != "name")
    return f"{regularizer.get('name')} ({settings})" if settings else str(regularizer.get("name"))


def _validation_lines(report):
    """Per run: the validation peak, the last validation and the overfitting gap; then per arm."""
    if not report.validation:
        return []
    lines = ["", "## Validation: peak and overfitting gap", "",
             "Validation PSNR (dB) at its best and at the last validation, and the gap: PSNR on "
             "fixed crops of training images, degraded like the validation crops, minus the "
             "validation PSNR at the last validation. A peak well before the end with a gap "
             "that keeps growing is overfitting.", ""]
    rows = []
    for run in report.validation:
        values = run.validation
        rows.append([run.arm, str(run.seed), _number_text(values.get("best_step"), 0),
                     _number_text(values.get("best_psnr")), _number_text(values.get("late_psnr")),
                     _number_text(values.get("final_step"), 0), _number_text(values.get("final_psnr")),
                     _number_text(values.get("train_crops_psnr")), _signed(values.get("gap"))])
    lines += _table("arm | seed | peak step | peak PSNR | late PSNR | last step | last PSNR "
                    "| training crops PSNR | gap", rows)
    return lines + _validation_arm_lines(report)


def _validation_arm_lines(report):
    """Per arm: mean peak, last validation and gap, and each one's paired difference from the baseline."""
    if len(report.validation_arms) < 2:
        return []
    level = f"{report.level * 100:g} %"
    lines = ["", f"Per arm, means over seeds; differences from {report.baseline} paired by seed, "
             f"[{level} interval]. The peak is the maximum of noisy validations, biased upwards; "
             "the late PSNR (the mean of the last validations) is not, and is the one to compare. "
             "A regularizer that prevents overfitting raises the late and last validations and "
             "lowers the gap.", ""]
    rows = []
    for arm, entry in report.validation_arms.items():
        means = [None if mean is None else mean.mean for mean in entry.means.values()]
        cells = [*map(_number_text, means[:3]), _signed(means[3])]
        cells += ["" if gain is None else _interval_text(gain, 3, signed=True)
                  for gain in (entry.gains or dict.fromkeys(entry.means)).values()]
        rows.append([arm, str(len(entry.seeds)), *cells])
    return lines + _table("arm | seeds | peak PSNR | late PSNR | last PSNR | gap | peak - baseline "
                          "| late - baseline | last - baseline | gap - baseline", rows)


def _seeds(seeds):
    return ", ".join(map(str, seeds)) or "none"


def primary_lines(report):
    """The first section of a report: the pre-registered primary test, or the word that there is none."""
    primary = report.primary
    if primary is None:
        return ["## Exploratory results", "",
                "No primary endpoint was registered (`experiment.primary`), so every result below "
                "is exploratory: it can suggest a hypothesis for a pre-registered experiment, not "
                "confirm one."]
    level, endpoint = f"{primary.level * 100:g} %", primary.record
    lines = ["## Primary endpoint (pre-registered)", "",
             f"Per seed, the mean of (arm - {report.baseline}) PSNR over "
             f"{', '.join(endpoint['entries'])}, at the {endpoint['checkpoint']} weights; a {level} "
             f"paired t interval over seeds, the exact sign-flip p over seeds, Holm across the "
             f"{len(primary.arms)} primary arm(s). Confirmed: Holm p below {1 - primary.level:.2g} with a "
             f"mean gain of at least the margin ({endpoint['margin']:g} dB); refuted: the "
             "interval's upper end below the margin; inconclusive otherwise.", ""]
    rows = []
    for arm, entry in primary.arms.items():
        word = f"**{entry.verdict}**"
        if entry.interim:
            word += f" (interim: {len(entry.interim)} planned seed(s) missing)"
        rows.append([arm, str(len(entry.seeds)), _interval_text(entry, 3, signed=True), _p(entry.t_p),
                     _p(entry.holm_p), _p(entry.sign_flip_p), _p(entry.holm_sign_flip_p), word])
    lines += _table("arm | seeds | mean gain (dB) [interval] | t p | Holm p | sign-flip p "
                    "| Holm sign-flip p | verdict", rows)
    lines += ["", "Per-seed endpoint (dB):", ""]
    for arm, entry in primary.arms.items():
        values = ", ".join(f"seed {seed}: {value:+.4f}"
                           for seed, value in zip(entry.seeds, entry.per_seed, strict=True))
        lines.append(f"- `{arm}`: {values or 'no seed finished by both arms'}")
        flip = entry.holm_sign_flip_p
        if entry.verdict == "confirmed" and flip is not None and flip >= 1 - primary.level:
            lines.append(f"  - The sign-flip test does not confirm it (Holm p = {_p(flip)}): the "
                         "verdict rests on the t interval's assumption of normal per-seed gains.")
    if primary.changed_after_look:
        lines += ["", "Warning: the primary endpoint was changed after a report existed. It was "
                  f"registered as {primary.registered}; this test is not the registered one."]
    return lines


def plan_lines(report):
    """The seeds the experiment planned at its first start, and any added after a look."""
    lines = [f"Seeds planned at the first start: {_seeds(report.planned_seeds)}."]
    if report.added_after_look:
        lines.append("Seeds added after a look (a report existed when they were added): "
                     f"{_seeds(report.added_after_look)}. Adding seeds after seeing results "
                     "raises the chance of a false positive above the nominal rate.")
    return lines


def verdict_lines(report):
    """One line per secondary gain, then warnings and missing runs."""
    lines = [f"- {gain.conclusion}" for entry in report.sets.values() for gain in entry.gains.values()]
    if not lines:
        lines = ["- No gain yet: no test set has finished runs of the baseline and another arm."]
    for arm, summary in report.arms.items():
        lines += [f"- Warning, `{arm}`: {warning}." for warning in summary.warnings]
    if report.missing_runs:
        lines.append(f"- {len(report.missing_runs)} run(s) missing (listed at the end): the "
                     "verdict covers the finished seeds only.")
    if report.diverged_runs:
        lines.append(f"- {len(report.diverged_runs)} run(s) diverged and are not scored.")
    return lines


def _per_seed_lines(report):
    """Every gain's per-seed values, at the selected checkpoint, the final weights and (where
    scored) the final weights not averaged."""
    lines = ["", "## Per-seed gains (dB)", "",
             "Arm minus baseline, per seed (`seed: gain`), for every set and cell: what every "
             "interval above is computed from.", ""]
    rows = []
    for label, sets in (("selected", report.sets), ("final", report.final_sets), ("raw", report.raw_sets)):
        for test_set, entry in sets.items():
            for arm, gain in entry.gains.items():
                if gain.psnr is not None:
                    pairs = zip(gain.psnr.seeds, gain.psnr.per_seed, strict=True)
                    values = ", ".join(f"{seed}: {value:+.4f}" for seed, value in pairs)
                    rows.append([test_set, arm, label, values])
    return lines + _table("entry | arm | weights | per seed", rows)


def _raw_lines(report):
    """The gains of the final weights not averaged, where runs with EMA scored them too."""
    if not report.raw_sets:
        return []
    level = f"{report.level * 100:g} %"
    lines = ["", "## The raw weights (not averaged)", "",
             "The runs keep a moving average of their weights (EMA) and score it above; here are "
             "the same comparisons at their final weights themselves (`training.ema.score_raw`), "
             f"{level} t interval over seeds, q over this table's comparisons.", ""]
    rows = [[test_set, arm, _interval_text(gain.psnr, 3, signed=True), _q_text(gain)]
            for test_set, entry in report.raw_sets.items() for arm, gain in entry.gains.items()]
    return lines + _table(f"set | arm | raw final weights: gain (dB) [{level} CI] | q", rows)


def _selected_lines(report):
    """The step each run's scored checkpoint comes from."""
    if not report.selected_steps:
        return []
    selected_on = {run.arm: run.validation.get("selected_on") for run in report.validation}
    lines = ["", "## Selected checkpoints", "",
             "The step of the weights each run's `selected` scores come from (`best`: the best "
             "validation, on the crops named in the last column).", ""]
    rows = [[run.arm, str(run.seed), run.checkpoint, _number_text(run.step, 0), _number_text(run.steps, 0),
             selected_on.get(run.arm) or "n/a"] for run in report.selected_steps]
    return lines + _table("arm | seed | checkpoint | step | of steps | validated on", rows)


def _cell_lines(report):
    """Which grid cells lie inside what the runs trained on."""
    if not report.cells:
        return []
    lines = ["", "## Grid cells: inside or outside the training distribution", "",
             "From the baseline's resolved training chain or noise range.", ""]
    for cell, status in report.cells.items():
        where = "in range" if status["in_range"] else "**out of range**"
        lines.append(f"- `{cell}`: {where} ({status['why']})")
    return lines


def format_markdown(report):
    """Formats a report as markdown: the verdict, then one table and one sentence per gain a set.

    Args:
        report: the `Report` of `build_report`.

    Returns:
        The markdown text.
    """
    level = f"{report.level * 100:g} %"
    header = (f"arm | seeds | PSNR (dB) [{level} CI] | SSIM | gain (dB) [{level} CI] | q | bootstrap p "
              "| Wilcoxon p | final weights: gain, q | params | step time (s) | inference (s/image)")
    lines = [f"# {report.experiment}: with/without report", "", *primary_lines(report), ""]
    lines += plan_lines(report)
    secondary = "secondary" if report.primary else "exploratory"
    lines += ["", "## Verdict", "",
              f"Every comparison ({secondary}), at the selected checkpoint. Each carries its "
              f"Benjamini-Hochberg q-value over the whole family of {report.family} "
              "comparisons (arms x sets x cells with an interval); a raw interval that excludes "
              f"zero is a finding only where q < {FDR:g} (marked * in the tables).", ""]
    lines += verdict_lines(report)
    lines += ["", "## Arms", ""] + [
        f"- `{arm}`: {_regularizer_text(summary.regularizer)}"
        + (f"; {', '.join(summary.precision)}" if summary.precision else "")
        + ("; scored with the moving average of its weights (EMA)" if "ema" in summary.weights else "")
        for arm, summary in report.arms.items()
    ]
    lines += ["", f"Gains are arm minus `{report.baseline}` in PSNR, paired by seed; the interval is a "
              f"{level} Student's t interval over seeds and is what a conclusion should rest on. The "
              "bootstrap and Wilcoxon p-values test per-image differences pooled over seeds (same "
              "image, same seed): they tell whether a difference is consistent across images for "
              "these trained models, not whether it survives retraining; the bootstrap needs at least "
              f"{MIN_BOOTSTRAP_PAIRS} image pairs. Costs are means over seeds."]
    for test_set, entry in report.sets.items():
        lines += ["", f"## {test_set}", ""]
        if entry.conventions:
            lines += [entry.conventions.get("description", ""), ""]
        lines += _table(header, _table_rows(report, test_set))
        lines += [""] + [f"- {gain.conclusion}" for gain in entry.gains.values()]
    for section in (_raw_lines, _cell_lines, _selected_lines, _validation_lines, _per_seed_lines):
        lines += section(report)
    lines += ["", "## Missing runs", ""]
    lines += [f"- `{run.arm}` seed {run.seed}: no results.json in {run.path}"
              for run in report.missing_runs] or ["None: every run has finished."]
    if report.diverged_runs:
        lines += ["", "## Diverged runs (not scored)", ""]
        lines += [f"- `{run.arm}` seed {run.seed}: not finite at step {run.step} ({run.what}), in {run.path}"
                  for run in report.diverged_runs]
    return "\n".join(lines) + "\n"


def format_gain_table(report):
    """Formats the scores and gains of a report as a compact plain-text table.

    Args:
        report: the `Report` of `build_report`.

    Returns:
        The table, a string with one line per test set and arm.
    """
    level = f"{report.level * 100:g} %"
    if not report.sets:
        # Every run diverged or is missing: there is nothing to tabulate, only what happened.
        return "\n".join(["No run has test scores yet, so there is no gain to show.",
                          *_unscored_runs(report)])
    rows = [["set", "arm", "seeds", "PSNR (dB)", "SSIM", f"gain (dB) [{level} CI]", "q", "bootstrap p",
             "Wilcoxon p", "final weights: gain, q"]]
    rows += [[test_set] + row[:9] for test_set in report.sets for row in _table_rows(report, test_set)]
    widths = [max(map(len, column)) for column in zip(*rows)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"gain: arm minus {report.baseline}, paired by seed, with its {level} t interval "
                 f"over seeds; q: Benjamini-Hochberg over {_comparisons(report.family)} "
                 f"(* below {FDR:g}).")
    lines.append("p: per-image tests over (image, seed) pairs of these trained models, not evidence "
                 "that a gain survives retraining.")
    for arm, summary in report.arms.items():
        lines += [f"warning: {arm}: {warning}" for warning in summary.warnings]
    lines += _primary_summary(report)
    lines += _unscored_runs(report)
    return "\n".join(line.rstrip() for line in lines)


def _primary_summary(report):
    """The primary verdicts in a line each, or that the results are exploratory."""
    primary = report.primary
    if primary is None:
        return ["No primary endpoint registered: the results are exploratory."]
    lines = []
    for arm, entry in primary.arms.items():
        interim = f", interim ({len(entry.interim)} planned seed(s) missing)" if entry.interim else ""
        lines.append(f"primary, {arm}: {_interval_text(entry, 3, signed=True)} dB over {len(entry.seeds)} "
                     f"seeds at the {primary.record['checkpoint']} weights, Holm p {_p(entry.holm_p)}, "
                     f"margin {primary.record['margin']:g}: {entry.verdict}{interim}")
    return lines


def _unscored_runs(report):
    """A line each for the missing and the diverged runs of a report, when there are any."""
    lines = []
    if report.missing_runs:
        lines.append(f"{len(report.missing_runs)} run(s) missing; see report.md.")
    if report.diverged_runs:
        lines.append(f"{len(report.diverged_runs)} run(s) diverged, not scored; see report.md.")
    return lines
