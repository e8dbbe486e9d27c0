"""The pre-registered primary test, false-discovery control and both checkpoints in the report."""

import json

import numpy as np
import pytest
from scipy import stats

from restoration import runs
from restoration.reporting import statistics
from restoration.reporting.formatting import format_gain_table
from restoration.reporting.formatting import format_markdown
from restoration.reporting.report import build_report
from restoration.reporting.report import write_report

SEEDS = (0, 1, 2, 3, 4)
ARMS = ("baseline", "strong", "null")
SETS = ("Set5", "Set14")
CELLS = ("noise15", "blur4.0")
# Per-seed gains of each arm on each entry, at the selected checkpoint; the final weights add FINAL.
GAINS = {
    "strong": {"noise15": [0.05, 0.07, 0.04, 0.06, 0.08], "blur4.0": [0.03, 0.02, 0.05, 0.04, 0.03],
               None: [0.01, -0.01, 0.0, 0.02, -0.02]},
    "null": {"noise15": [0.06, -0.05, 0.0, 0.05, -0.04], "blur4.0": [-0.03, 0.06, -0.05, 0.04, 0.0],
             None: [0.0, 0.01, -0.01, 0.0, 0.0]},
}
FINAL = -0.01
PRIMARY = {"arms": ["strong", "null"], "sets": list(SETS), "cells": list(CELLS),
           "checkpoint": "selected", "margin": 0.02,
           "entries": [f"{name}/{cell}" for name in SETS for cell in CELLS]}


def score(arm, seed, entry, final=False):
    base = 30.0 + seed * 0.1 + len(entry) * 0.01
    if arm == "baseline":
        return base
    cell = entry.split("/")[1] if "/" in entry else None
    offset = 0.001 * SETS.index(entry.split("/")[0])
    return base + GAINS[arm][cell][SEEDS.index(seed)] + offset + (FINAL if final else 0.0)


def results(arm, seed):
    entries = [*SETS, *(f"{name}/{cell}" for name in SETS for cell in CELLS)]
    test = {entry: {"psnr": score(arm, seed, entry), "images": 5} for entry in entries}
    final = {entry: {"psnr": score(arm, seed, entry, True), "images": 5} for entry in entries}
    return {"experiment": "grid", "arm": arm, "seed": seed, "regularizer": None, "steps": 100,
            "task": {"type": "sr", "scale": 4},
            "checkpoint": "best", "selected_step": 40 + seed, "test": test, "test_final": final,
            "cells": {"noise15": {"in_range": True, "why": "in range"},
                      "blur4.0": {"in_range": False, "why": "blur 4 > 3"}},
            "validation": {"best_psnr": 30.0, "best_step": 40 + seed, "late_psnr": 29.9,
                           "final_psnr": 29.8, "final_step": 100, "gap": None,
                           "selected_on": "the training degradation chain", "history": []},
            "cost": {}}


def write_experiment(directory, primary, seeds=SEEDS, planned=SEEDS):
    directory.mkdir(parents=True)
    manifest = {"name": "grid", "arms": list(ARMS), "seeds": list(seeds), "baseline": "baseline",
                "source": "grid.yaml", "planned_seeds": list(planned),
                "added_after_look": [seed for seed in seeds if seed not in planned],
                "primary": primary, "registered_primary": primary}
    (directory / runs.EXPERIMENT_FILE).write_text(json.dumps(manifest))
    for arm in ARMS:
        for seed in seeds:
            run_dir = directory / arm / f"seed{seed}"
            run_dir.mkdir(parents=True)
            (run_dir / runs.RESULTS_FILE).write_text(json.dumps(results(arm, seed)))
    return directory


def endpoint(arm):
    """The per-seed primary endpoint by hand: the mean gain over the four entries."""
    return [np.mean([GAINS[arm][cell][index] + 0.001 * SETS.index(name)
                     for name in SETS for cell in CELLS]) for index in range(len(SEEDS))]


def test_primary_endpoint_is_the_per_seed_mean_gain_with_t_interval_sign_flip_and_holm(tmp_path):
    report = build_report(write_experiment(tmp_path / "grid", PRIMARY), resamples=200)
    arms = report.primary.arms
    p_values = {}
    for arm in PRIMARY["arms"]:
        values = endpoint(arm)
        entry = arms[arm]
        np.testing.assert_allclose(entry.per_seed, values, atol=1e-9)
        low, high = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
        assert (entry.mean, entry.low, entry.high) == pytest.approx(
            (np.mean(values), low, high), abs=1e-9)
        p_values[arm] = stats.ttest_1samp(values, 0.0).pvalue
        assert entry.t_p == pytest.approx(p_values[arm], rel=1e-9)
    # Every seed of `strong` gains: the exact sign-flip p of 5 seeds is 2 / 32.
    assert arms["strong"].sign_flip_p == pytest.approx(2 / 32)
    # Holm over the two arms, by hand.
    low_arm, high_arm = sorted(p_values, key=p_values.get)
    assert arms[low_arm].holm_p == pytest.approx(min(1, 2 * p_values[low_arm]))
    assert arms[high_arm].holm_p == pytest.approx(
        min(1, max(2 * p_values[low_arm], p_values[high_arm])))
    # strong: mean ~0.042 >= 0.02 and Holm p < 0.05; null: its interval straddles 0 and the margin.
    assert arms["strong"].verdict == "confirmed"
    assert arms["null"].verdict == "inconclusive"
    assert arms["strong"].interim == []


def test_an_interval_below_the_margin_is_refuted_and_missing_planned_seeds_make_it_interim(tmp_path):
    tight = dict(PRIMARY, arms=["null"], cells=["noise15"],
                 entries=["Set5/noise15", "Set14/noise15"], margin=0.1)
    report = build_report(write_experiment(tmp_path / "grid", tight, planned=(*SEEDS, 5, 6)),
                          resamples=200)
    entry = report.primary.arms["null"]
    assert entry.high < 0.1
    assert entry.verdict == "refuted"
    assert entry.interim == [5, 6]
    assert "interim: 2 planned seed(s) missing" in format_markdown(report)


def test_the_report_opens_with_the_primary_test_and_every_table_carries_q_values(tmp_path):
    directory = write_experiment(tmp_path / "grid", PRIMARY, seeds=(*SEEDS,), planned=SEEDS[:3])
    report = write_report(directory, resamples=200)
    text = (directory / runs.REPORT_MARKDOWN).read_text()
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Primary endpoint (pre-registered)"
    assert "| strong | 5 |" in text and "**confirmed**" in text and "**inconclusive**" in text
    assert "Seeds added after a look (a report existed when they were added): 3, 4." in text
    # The family is every arm x entry with an interval: 2 arms x (2 sets + 4 cells).
    assert report.family == 12
    family = [(name, arm, entry.gains[arm].psnr) for name, entry in report.sets.items()
              for arm in ("strong", "null")]
    q_values = statistics.benjamini_hochberg([psnr.p for _, _, psnr in family])
    for (name, arm, psnr), q in zip(family, q_values, strict=True):
        assert psnr.q == pytest.approx(q)
        assert psnr.p == pytest.approx(stats.ttest_1samp(psnr.per_seed, 0.0).pvalue)
        conclusion = report.sets[name].gains[arm].conclusion
        assert f"over the 12 comparisons: {'a finding' if q < 0.05 else 'not a finding'}" in conclusion
    # The q column of the per-set table, and the final weights' gains beside the selected ones.
    final = report.final_sets["Set5/noise15"].gains["strong"].psnr
    selected = report.sets["Set5/noise15"].gains["strong"].psnr
    assert final.mean == pytest.approx(selected.mean + FINAL)
    assert f"{final.mean:+.3f} [" in text
    assert "## Selected checkpoints" in text and "| strong | 3 | best | 43 | 100 |" in text
    assert "`blur4.0`: **out of range** (blur 4 > 3)" in text
    # The per-seed numbers behind the gains.
    assert "| Set5/noise15 | strong | selected | 0: +0.0500, 1: +0.0700" in text
    assert (directory / runs.GRID_PLOT).read_bytes()[:4] == b"\x89PNG"
    assert "primary, strong:" in format_gain_table(report)


def test_the_final_weights_can_be_the_primary_checkpoint(tmp_path):
    report = build_report(write_experiment(tmp_path / "grid", dict(PRIMARY, checkpoint="final")),
                          resamples=200)
    values = np.asarray(endpoint("strong")) + FINAL
    np.testing.assert_allclose(report.primary.arms["strong"].per_seed, values, atol=1e-9)


def test_without_a_primary_endpoint_the_report_says_it_is_exploratory(tmp_path):
    directory = write_experiment(tmp_path / "grid", None)
    write_report(directory, resamples=200)
    text = (directory / runs.REPORT_MARKDOWN).read_text()
    assert text.splitlines()[2] == "## Exploratory results"
    assert "every result below is exploratory" in text
