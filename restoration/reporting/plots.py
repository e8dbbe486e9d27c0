"""The plots of an experiment report, drawn once as PNG bytes.

`figures` decides which plots a report has and draws each once; the report
writes them beside `report.md` and TensorBoard shows the same files.
Everything here reads the `restoration.reporting.summary.Report` that
`restoration.reporting.report.build_report` returns.
"""

import io

import numpy as np

from restoration import runs
from restoration.reporting.formatting import FDR
from restoration.reporting.formatting import _comparisons


def _figure(width, height, dpi):
    """A figure outside pyplot, so that drawing leaves pyplot's global backend alone."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi)


def _png(figure, **layout):
    """The figure, laid out tightly, as PNG bytes."""
    figure.tight_layout(**layout)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _seeds_label(arm, seeds):
    return f"{arm} ({seeds} seed{'s' if seeds != 1 else ''})"


def _plot_arm(axes, report, arm, index, offset):
    """Draws one arm's gains: a dot with its interval and value, or a cross where one seed gives none."""
    # The label counts the most seeds any test set pairs for `arm`.
    label = _seeds_label(arm, max((len(entry.gains[arm].seeds) for entry in report.sets.values()), default=0))
    for position, entry in enumerate(report.sets.values()):
        psnr = entry.gains[arm].psnr
        if psnr is None:
            continue
        error = None if psnr.low is None else [[psnr.mean - psnr.low], [psnr.high - psnr.mean]]
        marker = "x" if error is None else "o"
        axes.errorbar(position + offset, psnr.mean, yerr=error, fmt=marker, capsize=4,
                      color=f"C{index}", label=label)
        axes.annotate(f"{psnr.mean:+.3f}", (position + offset, psnr.mean), xytext=(5, 0),
                      textcoords="offset points", fontsize=7, va="center", color=f"C{index}")
        label = None


def plot_gains(report):
    """Draws the PSNR gain of each arm per test set with its interval over seeds (`_plot_arm`).

    Args:
        report: the `Report` of `build_report`.

    Returns:
        The PNG image, as bytes.
    """
    test_sets = list(report.sets)
    arms = [arm for arm in report.arms if arm != report.baseline]
    figure = _figure(max(5.5, 1.3 * len(test_sets) + 2.5), 4.0, dpi=120)
    axes = figure.add_subplot()
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.grid(axis="y", alpha=0.3)
    for index, arm in enumerate(arms):
        _plot_arm(axes, report, arm, index, offset=(index - (len(arms) - 1) / 2) * 0.8 / len(arms))
    axes.set_xticks(range(len(test_sets)), test_sets, rotation=30 if len(test_sets) > 6 else 0,
                    ha="right" if len(test_sets) > 6 else "center", fontsize=8)
    axes.set_xlim(-0.6, len(test_sets) - 0.4)
    axes.set_ylabel(f"PSNR gain over {report.baseline} (dB)")
    level = f"{report.level * 100:g} %"
    axes.set_title(f"{report.experiment}\nmean gain per test set, {level} t interval over seeds "
                   "(x: one seed, no interval)", fontsize=9)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="best")
    return _png(figure)


# The heatmap's first column: the plain test set, the benchmark's own degradation.
PLAIN_COLUMN = "plain set"


def grid_cells(report):
    """`{base set: [cell, ...]}` of the report's `<set>/<cell>` entries, in report order."""
    cells = {}
    for name in report.sets:
        if "/" in name:
            base, cell = name.split("/", 1)
            cells.setdefault(base, []).append(cell)
    return cells


def _grid_gain(report, base, cell, arm):
    """The PSNR gain of `arm` in a heatmap cell, None where there is none."""
    gain = report.sets[base if cell == PLAIN_COLUMN else f"{base}/{cell}"].gains.get(arm)
    return None if gain is None else gain.psnr


def _cell_label(report, cell):
    """A heatmap column label, marked when the cell lies outside the training distribution."""
    status = report.cells.get(cell)
    return f"{cell}\n(out of range)" if status is not None and not status["in_range"] else cell


def plot_grid(report):
    """Heatmap of each arm's mean PSNR gain per grid cell, one panel per test set, intervals printed.

    Args:
        report: the `Report` of `build_report`, with `<set>/<cell>` entries.

    Returns:
        The PNG image, as bytes.
    """
    cells = {base: ([PLAIN_COLUMN] if base in report.sets else []) + names
             for base, names in grid_cells(report).items()}
    arms = [arm for arm in report.arms if arm != report.baseline]
    widest = max(len(names) for names in cells.values())
    figure = _figure(1.15 * widest + 2.5, (0.55 * len(arms) + 1.6) * len(cells), dpi=120)
    gains = [_grid_gain(report, base, cell, arm)
             for base, names in cells.items() for cell in names for arm in arms]
    bound = max([abs(gain.mean) for gain in gains if gain] + [0.01])
    for panel, (base, names) in enumerate(cells.items()):
        axes = figure.add_subplot(len(cells), 1, panel + 1)
        values = np.full((len(arms), len(names)), np.nan)
        for row, arm in enumerate(arms):
            for column, cell in enumerate(names):
                psnr = _grid_gain(report, base, cell, arm)
                if psnr is None:
                    continue
                values[row, column] = psnr.mean
                interval = "" if psnr.low is None else f"\n[{psnr.low:+.2f}, {psnr.high:+.2f}]"
                finding = psnr.q is not None and psnr.q < FDR
                colour = "white" if abs(psnr.mean) > 0.6 * bound else "black"
                axes.text(column, row, f"{psnr.mean:+.3f}{' *' if finding else ''}{interval}",
                          ha="center", va="center", fontsize=6.5, color=colour,
                          fontweight="bold" if finding else "normal")
        image = axes.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        axes.set_xticks(range(len(names)), [_cell_label(report, name) for name in names],
                        rotation=30, ha="right", fontsize=7)
        axes.set_yticks(range(len(arms)), arms, fontsize=7)
        axes.set_title(f"{base}: PSNR gain over {report.baseline} (dB) at the selected checkpoint; "
                       f"* q < {FDR:g} (Benjamini-Hochberg over {_comparisons(report.family)})",
                       fontsize=8)
        figure.colorbar(image, ax=axes, fraction=0.03)
    return _png(figure)


def _seed_curves(report):
    """`{arm: [(steps, validation PSNR, gap), ...]}`: the runs with at least two validations."""
    curves = {}
    for run in report.validation:
        history = run.validation.get("history") or []
        if len(history) < 2:
            continue
        psnr = np.array([entry["psnr"] for entry in history], dtype=float)
        crops = np.array([entry["train_crops_psnr"] for entry in history], dtype=float)  # None: nan
        curves.setdefault(run.arm, []).append(([entry["step"] for entry in history], psnr, crops - psnr))
    return curves


def _band_line(axes, steps, band, colour, label):
    """A mean curve with its interval as a shaded band (no band where an interval is undefined)."""
    axes.plot(steps, band.mean, color=colour, linewidth=1.8, label=label)
    if None not in band.low:
        axes.fill_between(steps, band.low, band.high, color=colour, alpha=0.15, linewidth=0)


def plot_validation(report):
    """Learning curves: validation PSNR, its gain over the baseline, the overfitting gap.

    Each arm's mean over seeds at the steps all its seeds validated at, with
    its t interval over seeds as a band (the gain paired by seed); thin lines
    are single seeds. A validation PSNR that peaks and falls while the gap
    (training crops' PSNR minus validation PSNR) grows is overfitting.

    Args:
        report: the `Report` of `build_report`, with `validation_curves`.

    Returns:
        The PNG image, as bytes.
    """
    curves, seed_curves = report.validation_curves, _seed_curves(report)
    figure = _figure(14.0, 3.9, dpi=110)
    psnr_axes, gain_axes, gap_axes = (figure.add_subplot(1, 3, index) for index in (1, 2, 3))
    gain_axes.axhline(0.0, color="black", linewidth=0.8)
    for index, arm in enumerate(report.arms):
        colour, entry = f"C{index}", curves.get(arm)
        for steps, psnr, gap in seed_curves.get(arm, []):
            psnr_axes.plot(steps, psnr, color=colour, linewidth=0.6, alpha=0.35)
            gap_axes.plot(steps, gap, color=colour, linewidth=0.6, alpha=0.35)
        if entry is None:
            continue
        label = _seeds_label(arm, len(entry.seeds))
        _band_line(psnr_axes, entry.steps, entry.psnr, colour, label)
        if entry.gap is not None:
            _band_line(gap_axes, entry.steps, entry.gap, colour, label)
        if entry.gain is not None:
            _band_line(gain_axes, entry.gain.steps, entry.gain, colour,
                       f"{arm} ({len(entry.gain.seeds)} paired seeds)")
    level = f"{report.level * 100:g} %"
    titles = ((psnr_axes, "validation PSNR (dB)", f"{report.experiment}: validation PSNR"),
              (gain_axes, f"minus {report.baseline} (dB)", "validation gain, paired by seed"),
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
    return _png(figure, rect=(0, 0.05, 1, 1))


# Each plot: its TensorBoard image tag and its file beside report.md.
FIGURES = (("gain", runs.GAIN_PLOT), ("grid_gain", runs.GRID_PLOT),
           ("validation_curves", runs.VALIDATION_PLOT))


def figures(report):
    """The report's plots, drawn once: `{file name: PNG bytes}` for those it has.

    The gains per test set always; the heatmap when there are grid cells and
    more than one arm; the validation curves when runs validated.
    """
    drawn = {runs.GAIN_PLOT: plot_gains(report)}
    if grid_cells(report) and len(report.arms) > 1:
        drawn[runs.GRID_PLOT] = plot_grid(report)
    if report.validation_curves:
        drawn[runs.VALIDATION_PLOT] = plot_validation(report)
    return drawn
