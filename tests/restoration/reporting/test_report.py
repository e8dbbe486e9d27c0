"""Tests for the with/without report and its TensorBoard summaries."""

import json
import math
import re

import numpy as np
import pytest
from scipy import stats

from restoration.reporting.formatting import format_gain_table
from restoration.reporting.records import RunResults
from restoration.reporting.records import read_results
from restoration.reporting.report import build_report
from restoration.reporting.report import collect_runs
from restoration.reporting.report import write_report

SHIFT = 0.05
SEEDS = (0, 1, 2)
SETS = {"Set5": 5, "Set14": 14}
COST = {"parameters": 1000, "train_step_seconds": 0.2, "inference_seconds_per_image": 0.05}


def synthetic_psnr(arm, seed, images):
    """Per-image PSNR: image difficulty + seed effect, plus SHIFT and noise for `dropblock`."""
    generator = np.random.default_rng(1000 * seed + images)
    baseline = 30.0 + np.linspace(-2.0, 2.0, images) + generator.normal(0.0, 0.03)
    if arm == "baseline":
        return baseline
    return baseline + SHIFT + generator.normal(0.0, 0.01, size=images)


def make_results(arm, seed, shift_cost=0.0):
    test = {}
    for name, images in SETS.items():
        psnrs = synthetic_psnr(arm, seed, images)
        per_image = [
            {"name": f"image{index}", "psnr": float(value), "ssim": 0.9 + value / 1000}
            for index, value in enumerate(psnrs)
        ]
        test[name] = {
            "psnr": float(psnrs.mean()),
            "ssim": float(np.mean([image["ssim"] for image in per_image])),
            "images": images,
            "conventions": {"description": "PSNR on Y, 2-pixel border shaved."},
            "per_image": per_image,
        }
    regularizer = None if arm == "baseline" else {"name": "dropblock", "rate": 0.1}
    cost = {key: value + shift_cost * seed for key, value in COST.items()}
    return {
        "experiment": "fake", "arm": arm, "seed": seed, "regularizer": regularizer,
        "task": {"type": "sr", "scale": 2}, "steps": 10, "checkpoint": "final",
        "test": test, "validation": {"best_psnr": None, "best_step": None}, "cost": cost,
    }


@pytest.fixture
def experiment(tmp_path):
    """A finished experiment: 2 arms x 3 seeds under tmp_path/fake."""
    directory = tmp_path / "fake"
    manifest = {"name": "fake", "arms": ["baseline", "dropblock"], "seeds": list(SEEDS)}
    manifest.update({"baseline": "baseline", "source": "configs/fake.yaml"})
    directory.mkdir()
    (directory / "experiment.json").write_text(json.dumps(manifest))
    for arm in manifest["arms"]:
        for seed in SEEDS:
            run_dir = directory / arm / f"seed{seed}"
            run_dir.mkdir(parents=True)
            (run_dir / "results.json").write_text(json.dumps(make_results(arm, seed, 0.01)))
    return directory


def per_seed_gains(test_set):
    images = SETS[test_set]
    return [
        synthetic_psnr("dropblock", seed, images).mean()
        - synthetic_psnr("baseline", seed, images).mean()
        for seed in SEEDS
    ]


def test_gain_is_the_mean_paired_difference_with_a_t_interval(experiment):
    """The PSNR gain and its bounds equal the t interval of the per-seed differences."""
    report = build_report(experiment, resamples=500)
    for test_set in SETS:
        gains = per_seed_gains(test_set)
        gain = report.sets[test_set].gains["dropblock"].psnr
        low, high = stats.t.interval(0.95, 2, loc=np.mean(gains), scale=stats.sem(gains))
        assert gain.mean == pytest.approx(np.mean(gains), abs=1e-9)
        assert (gain.low, gain.high) == pytest.approx((low, high), abs=1e-9)
        np.testing.assert_allclose(gain.per_seed, gains, atol=1e-9)


def test_known_shift_is_recovered_and_the_interval_excludes_zero(experiment):
    """The gain is within noise of the built-in shift, and a 5-sigma shift excludes zero."""
    report = build_report(experiment, resamples=500)
    for test_set, images in SETS.items():
        gain = report.sets[test_set].gains["dropblock"]
        # The added noise has standard deviation 0.01 per image and seed.
        tolerance = 4 * 0.01 / math.sqrt(images * len(SEEDS))
        assert gain.psnr.mean == pytest.approx(SHIFT, abs=tolerance)
        assert 0.0 < gain.psnr.low < SHIFT < gain.psnr.high
        assert "higher than the baseline (the interval excludes zero)" in gain.conclusion


def test_per_image_tests_pool_image_pairs_over_seeds(experiment):
    """The bootstrap uses one pair per image and seed and its mean is the pooled mean difference."""
    report = build_report(experiment, resamples=500)
    gain = report.sets["Set14"].gains["dropblock"]
    differences = np.concatenate(
        [synthetic_psnr("dropblock", s, 14) - synthetic_psnr("baseline", s, 14) for s in SEEDS]
    )
    assert gain.bootstrap.pairs == 14 * len(SEEDS)
    assert gain.bootstrap.mean == pytest.approx(differences.mean(), abs=1e-9)
    assert gain.bootstrap.low < SHIFT < gain.bootstrap.high
    assert gain.bootstrap.p_value == pytest.approx(1 / 500)
    assert gain.wilcoxon_p == pytest.approx(stats.wilcoxon(differences).pvalue, rel=1e-9)


def test_arm_scores_and_costs_are_means_over_seeds(experiment):
    """Per-arm PSNR, SSIM and cost columns are the means over the finished seeds."""
    report = build_report(experiment, resamples=200)
    psnrs = [synthetic_psnr("baseline", seed, 5).mean() for seed in SEEDS]
    scores = report.sets["Set5"].arms["baseline"]
    assert scores.seeds == 3
    assert scores.psnr.mean == pytest.approx(np.mean(psnrs), abs=1e-9)
    assert scores.ssim.low < scores.ssim.mean < scores.ssim.high
    cost = report.arms["dropblock"].cost
    assert cost["train_step_seconds"] == pytest.approx(0.2 + 0.01 * np.mean(SEEDS), abs=1e-12)
    assert report.arms["dropblock"].regularizer["name"] == "dropblock"
    assert report.missing_runs == []


def test_missing_run_is_listed_and_its_seed_left_unpaired(experiment):
    """Without dropblock seed 2 the report lists it and pairs seeds 0 and 1 only."""
    (experiment / "dropblock" / "seed2" / "results.json").unlink()
    report = build_report(experiment, resamples=200)
    assert [(run.arm, run.seed) for run in report.missing_runs] == [("dropblock", 2)]
    gain = report.sets["Set5"].gains["dropblock"]
    assert gain.seeds == [0, 1]
    assert gain.psnr.mean == pytest.approx(np.mean(per_seed_gains("Set5")[:2]), abs=1e-9)
    assert report.sets["Set5"].arms["baseline"].seeds == 3
    assert gain.bootstrap.pairs == 5 * 2


def test_single_seed_reports_no_interval_and_strict_json(experiment):
    """With one paired seed the interval is n/a and report.json holds no NaN."""
    for seed in (1, 2):
        (experiment / "dropblock" / f"seed{seed}" / "results.json").unlink()
    report = write_report(experiment, resamples=200)
    gain = report.sets["Set5"].gains["dropblock"]
    assert gain.psnr.low is None and gain.psnr.high is None
    assert "interval n/a (1 seed)" in gain.conclusion
    text = (experiment / "report.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))


def test_markdown_report_has_a_table_and_a_sentence_per_gain(experiment):
    """report.md holds one table per test set and the sentence stating each gain."""
    report = write_report(experiment, resamples=200)
    markdown = (experiment / "report.md").read_text()
    assert markdown.count("| arm | seeds | PSNR (dB) [95 % CI] | SSIM |") == len(SETS)
    assert "## Set5" in markdown and "## Set14" in markdown
    for test_set in SETS:
        sentence = report.sets[test_set].gains["dropblock"].conclusion
        assert sentence.startswith(f"dropblock vs baseline on {test_set}: +0.0")
        assert f"- {sentence}" in markdown
    assert "PSNR on Y, 2-pixel border shaved." in markdown


def test_report_json_is_the_records_as_plain_values(experiment):
    """report.json holds `to_json` of the returned `Report`, which survives a JSON round trip; its
    layout version is written, and a gain outside the family of comparisons has no `q`."""
    (experiment / "dropblock" / "seed2" / "results.json").unlink()
    (experiment / "dropblock" / "seed1" / "results.json").unlink()
    report = write_report(experiment, resamples=200)
    tree = report.to_json()
    assert json.loads((experiment / "report.json").read_text()) == tree
    assert json.loads(json.dumps(tree)) == tree
    assert report.version == tree["version"] == 2 and tree["raw_sets"] == {}
    assert "q" not in tree["sets"]["Set5"]["gains"]["dropblock"]["psnr"]
    assert list(tree["sets"]["Set5"]["gains"]["dropblock"]) == [
        "seeds", "psnr", "ssim", "bootstrap", "wilcoxon_p", "image_pairs", "conclusion"]


def test_gain_plot_is_a_png_and_no_temporary_file_is_left(experiment):
    """gain.png starts with the PNG signature, is over 1 KB, and no .tmp file remains."""
    write_report(experiment, resamples=200)
    image = (experiment / "gain.png").read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(image) > 1024
    assert not list(experiment.glob("*.tmp"))


def test_gain_table_lists_every_set_and_arm(experiment):
    """The plain-text table has a header and one line per set and arm."""
    report = build_report(experiment, resamples=200)
    lines = format_gain_table(report).splitlines()
    assert lines[0].split()[:3] == ["set", "arm", "seeds"]
    # The header, a line per set and arm, two lines of legend, and that no endpoint was registered.
    assert len(lines) == 1 + len(SETS) * 2 + 3
    assert lines[-1] == "No primary endpoint registered: the results are exploratory."
    # What the columns can tell is said under them.
    assert lines[-3].startswith("gain: arm minus baseline, paired by seed, with its 95 % t interval")
    assert lines[-2].startswith("p: per-image tests over (image, seed) pairs")
    dropblock = [line for line in lines if line.startswith("Set5") and "dropblock" in line][0]
    gain = report.sets["Set5"].gains["dropblock"].psnr
    assert f"{gain.mean:+.3f} [{gain.low:+.3f}, {gain.high:+.3f}]" in dropblock


def test_gain_table_of_an_experiment_where_every_run_diverged_says_so(experiment):
    """No scores at all: one sentence and the count of diverged runs, not a bare header."""
    for results in experiment.glob("*/seed*/results.json"):
        (results.parent / "diverged.json").write_text(json.dumps({"step": 3, "what": "loss nan"}))
        results.unlink()
    assert format_gain_table(build_report(experiment, resamples=200)).splitlines() == [
        "No run has test scores yet, so there is no gain to show.",
        f"{2 * len(SEEDS)} run(s) diverged, not scored; see report.md.",
    ]


def test_collect_runs_without_manifest_names_the_directory(tmp_path):
    """A directory without experiment.json raises an error naming it."""
    with pytest.raises(FileNotFoundError, match="No experiment.json"):
        collect_runs(tmp_path)


def test_baseline_defaults_to_the_first_arm_without_one_named_baseline(experiment):
    """Without a baseline key or a `baseline` arm, the first arm is the baseline."""
    manifest = {"name": "fake", "arms": ["dropblock", "other"], "seeds": [0]}
    (experiment / "experiment.json").write_text(json.dumps(manifest))
    results = collect_runs(experiment)
    assert results.baseline == "dropblock"
    assert results.missing == (("other", 0),)
    assert sorted(results.runs) == [("dropblock", seed) for seed in SEEDS]


def test_report_command_writes_the_report_and_prints_the_table(experiment, capsys):
    """`python report.py DIR` writes the three files and prints the gain table."""
    import report

    arguments = [str(experiment), "--resamples", "200", "--no-tensorboard"]
    assert report.main(arguments) == 0
    assert "dropblock" in capsys.readouterr().out
    for name in ("report.md", "report.json", "gain.png"):
        assert (experiment / name).is_file()


def read_events(directory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def add_validation_histories(experiment):
    """Validation every 5 steps for every run; dropblock gains 0.1 dB per 5 steps over its seed."""
    for arm in ("baseline", "dropblock"):
        for seed in SEEDS:
            path = experiment / arm / f"seed{seed}" / "results.json"
            results = json.loads(path.read_text())
            # Seed 2 also validated at step 15, which the others did not reach.
            steps = [5, 10, 15] if seed == 2 else [5, 10]
            lift = 0.0 if arm == "baseline" else 0.02 * seed
            results["validation"] = {"best_psnr": 30.0, "best_step": 5, "history": [
                {"step": step, "psnr": 30.0 + seed - step / 10 + lift * step,
                 "train_crops_psnr": 31.0 + step / 10} for step in steps
            ]}
            path.write_text(json.dumps(results))


def load_logdir(logdir):
    """TensorBoard's own reader over a log directory: its data provider and a request context."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, str(logdir)), context.RequestContext()


def test_experiment_view_lays_out_the_verdict_with_its_intervals(experiment):
    """Custom Scalars, read by TensorBoard's plugin: the verdict first, one run per arm, every
    margin chart's value and bounds at the steps and values of the report."""
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.custom_scalar import custom_scalars_plugin
    from tensorboard.plugins.scalar import scalars_plugin

    from restoration.reporting.tensorboard import write_experiment_summary

    add_validation_histories(experiment)
    report = write_report(experiment, resamples=200)  # draws the plots the summary shows
    write_experiment_summary(experiment, report)
    write_experiment_summary(experiment, report)
    provider, ctx = load_logdir(experiment.parent)
    tb_context = base_plugin.TBContext(data_provider=provider, multiplexer=None,
                                       logdir=str(experiment.parent))
    scalars = scalars_plugin.ScalarsPlugin(tb_context)
    plugin = custom_scalars_plugin.CustomScalarsPlugin(tb_context)
    plugin._scalars_plugin_instance = scalars
    layout = json.loads(plugin.layout_impl(ctx, ""))
    titles = [category["title"] for category in layout["category"]]
    assert titles[0].startswith("fake: the verdict, PSNR gain over baseline (dB)")
    assert titles[1].startswith("fake: validation over training")
    verdict = [chart["title"] for chart in layout["category"][0]["chart"]]
    # Laid out last first: the validation gain over training comes first on screen.
    assert verdict[-1] == "gain on validation, paired by seed, over training"
    assert sorted(verdict[:-1]) == ["gain on Set14 (test, at the last step)",
                                    "gain on Set5 (test, at the last step)"]
    runs = sorted(provider.list_runs(ctx, experiment_id=""), key=lambda run: run.run_name)
    assert [run.run_name for run in runs] == ["fake/summary", "fake/summary/baseline",
                                              "fake/summary/dropblock"]

    def series(run, tag):
        points = provider.read_scalars(ctx, experiment_id="", plugin_name="scalars",
                                       downsample=100, run_tag_filter=_filter(run, tag))
        return [(point.step, point.value) for point in points[run][tag]]

    charts = [chart["margin"]["series"][0] for category in layout["category"][:3]
              for chart in category["chart"]]
    for chart in charts:
        for run in ("fake/summary/baseline", "fake/summary/dropblock"):
            lengths = {len(series(run, chart[key])) for key in ("value", "lower", "upper")}
            assert len(lengths) == 1 and lengths != {0}, (run, chart)
    for test_set in SETS:
        gain = report.sets[test_set].gains["dropblock"].psnr
        tag = f"fake/test_gain/{test_set}"
        for suffix, value in (("", gain.mean), ("/low", gain.low), ("/high", gain.high)):
            assert series("fake/summary/dropblock", tag + suffix) == [
                (10, pytest.approx(value, abs=1e-5))]
            assert series("fake/summary/baseline", tag + suffix) == [(10, 0.0)]
    # Paired validation gain per step: seed s gains 0.02 * s * step.
    gain = series("fake/summary/dropblock", "fake/validation_gain")
    assert gain == [(5, pytest.approx(0.1, abs=1e-6)), (10, pytest.approx(0.2, abs=1e-6))]
    low = series("fake/summary/dropblock", "fake/validation_gain/low")
    differences = [0.02 * seed * 10 for seed in SEEDS]
    expected = stats.t.interval(0.95, 2, loc=np.mean(differences), scale=stats.sem(differences))[0]
    assert low[1] == (10, pytest.approx(expected, abs=1e-5))
    assert [value for _, value in series("fake/summary/baseline", "fake/validation_gain")] == [0, 0]
    summary = read_events(experiment / "summary")
    assert {"gain", "validation_curves", "report"} <= set(summary.Tags()["tensors"])
    import tensorflow as tf

    text = tf.make_ndarray(summary.Tensors("report")[0].tensor_proto).item().decode()
    assert text.index("## Verdict") < text.index("## Arms") < text.index("| arm | seeds |")
    # A rewrite replaces the previous snapshot rather than adding to it.
    assert len(list((experiment / "summary").rglob("events.out.tfevents.*"))) == 3


def _filter(run, tag):
    from tensorboard.data import provider as data_provider

    return data_provider.RunTagFilter(runs=[run], tags=[tag])


def test_run_hparams_session_pairs_settings_with_test_scores(experiment):
    """The run log holds an HParams session with flattened settings and test/psnr scalars."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import metadata

    from restoration.reporting.tensorboard import run_hparams
    from restoration.reporting.tensorboard import write_run_hparams

    run_dir = experiment / "baseline" / "seed1"
    results = read_results(run_dir)
    write_run_hparams(run_dir, run_hparams(results), results.test, step=10)
    events = read_events(run_dir / "logs" / "test")
    content = events.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    hparams = metadata.parse_session_start_info_plugin_data(content).hparams
    assert hparams["arm"].string_value == "baseline"
    assert hparams["seed"].number_value == 1
    assert hparams["regularizer.name"].string_value == "none"
    assert hparams["regularizer.rate"].number_value == 0.0
    assert hparams["task.scale"].number_value == 2
    for test_set in SETS:
        event = events.Tensors(f"test/psnr/{test_set}")[0]
        assert event.step == 10
        value = float(tf.make_ndarray(event.tensor_proto))
        assert value == pytest.approx(results.test[test_set]["psnr"], abs=1e-4)
        assert events.Tensors(f"test/ssim/{test_set}")


def test_hparams_dashboard_lists_every_run_of_every_experiment_with_its_psnr(tmp_path):
    """Without an hparams_config, TensorBoard's HParams backend shows runs of two experiments."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import backend_context
    from tensorboard.plugins.hparams import list_session_groups

    from restoration.reporting.tensorboard import run_hparams
    from restoration.reporting.tensorboard import write_run_hparams

    for experiment, test_set in (("sr", "Set5"), ("denoise", "BSD68")):
        results = make_results("dropblock", 0)
        results = RunResults.from_json({**results, "experiment": experiment,
                                        "test": {test_set: results["test"]["Set5"]}}, "results.json")
        write_run_hparams(tmp_path / experiment / "dropblock" / "seed0", run_hparams(results), results.test)
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    backend = backend_context.Context(base_plugin.TBContext(data_provider=provider))
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=10, allowed_statuses=[api_pb2.STATUS_UNKNOWN]
    )
    for test_set in ("Set5", "BSD68"):
        request.col_params.add(metric=api_pb2.MetricName(tag=f"test/psnr/{test_set}"))
    groups = list_session_groups.Handler(context.RequestContext(), backend, "", request).run()
    listed = {
        session.name: {value.name.tag: value.value for value in session.metric_values}
        for group in groups.session_groups
        for session in group.sessions
    }
    assert sorted(listed) == ["denoise/dropblock/seed0/logs/test", "sr/dropblock/seed0/logs/test"]
    psnr = make_results("dropblock", 0)["test"]["Set5"]["psnr"]
    assert listed["sr/dropblock/seed0/logs/test"]["test/psnr/Set5"] == pytest.approx(psnr, abs=1e-4)
    assert listed["denoise/dropblock/seed0/logs/test"]["test/psnr/BSD68"] == pytest.approx(
        psnr, abs=1e-4
    )
    # The metric columns are the test scores alone, not a run's training curves beside them.
    from restoration.reporting.tensorboard import SummaryWriter

    writer = SummaryWriter(tmp_path / "sr" / "dropblock" / "seed0" / "logs")
    writer.scalars(1, {"train/loss": 0.5, "validation/psnr": 30.0})
    writer.close()
    multiplexer.Reload()
    columns = backend.experiment_from_metadata(
        context.RequestContext(), "",
        include_metrics=True,
        hparams_run_to_tag_to_content=backend.hparams_metadata(context.RequestContext(), ""),
        data_provider_hparams=backend.hparams_from_data_provider(context.RequestContext(), "", 10),
    ).metric_infos
    assert sorted(info.name.tag for info in columns) == [
        "test/psnr/BSD68", "test/psnr/Set5", "test/ssim/BSD68", "test/ssim/Set5"]


def test_validation_curves_average_seeds_at_common_steps_and_are_drawn(experiment):
    """Each arm's mean curve and band over the steps all its seeds validated at; the gain paired."""
    from restoration import runs

    add_validation_histories(experiment)
    report = write_report(experiment, resamples=200)
    curves = report.validation_curves
    assert sorted(curves) == ["baseline", "dropblock"]
    baseline = curves["baseline"]
    assert baseline.steps == [5, 10] and baseline.seeds == list(SEEDS)
    np.testing.assert_allclose(baseline.psnr.mean, [30.0 + 1.0 - 0.5, 30.0 + 1.0 - 1.0])
    values = [30.0 + seed - 0.5 for seed in SEEDS]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert (baseline.psnr.low[0], baseline.psnr.high[0]) == pytest.approx((low, high))
    np.testing.assert_allclose(baseline.gap.mean, [1.0 - 1.0 + 1.0, 1.0 - 1.0 + 2.0])
    assert baseline.gain is None
    gain = curves["dropblock"].gain
    assert gain.steps == [5, 10] and gain.seeds == list(SEEDS)
    np.testing.assert_allclose(gain.mean, [0.1, 0.2], atol=1e-9)
    assert (experiment / runs.VALIDATION_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_validation_plot_without_curves(experiment):
    """Runs that never validated twice leave no validation.png."""
    from restoration import runs

    write_report(experiment, resamples=200)
    assert not (experiment / runs.VALIDATION_PLOT).exists()


def test_verdict_comes_first_and_says_what_the_per_image_tests_mean(experiment):
    """report.md opens with one verdict line per gain; few image pairs get no bootstrap."""
    report = write_report(experiment, resamples=200)
    markdown = (experiment / "report.md").read_text()
    verdict = markdown[markdown.index("## Verdict"):markdown.index("## Arms")]
    for test_set in SETS:
        assert f"- {report.sets[test_set].gains['dropblock'].conclusion}" in verdict
    assert markdown.index("## Verdict") < markdown.index("## Set5")
    conclusion = report.sets["Set5"].gains["dropblock"].conclusion
    assert "not whether it survives retraining" in conclusion
    # Set5 has 5 images x 3 seeds = 15 pairs: bootstrap shown; with one seed, 5 pairs: not.
    assert report.sets["Set5"].gains["dropblock"].bootstrap.pairs == 15
    for seed in (1, 2):
        (experiment / "dropblock" / f"seed{seed}" / "results.json").unlink()
    gain = build_report(experiment, resamples=200).sets["Set5"].gains["dropblock"]
    assert gain.bootstrap is None and gain.image_pairs == 5
    assert gain.wilcoxon_p is not None
    assert "too few pairs for the bootstrap" in gain.conclusion


def test_a_ramp_longer_than_training_is_a_warning_in_the_report(experiment):
    """The warnings a run recorded in results.json are said once per arm in the verdict."""
    warning = ("regularizer.schedule_steps (40) is longer than training.steps (10): the rate ends "
               "at 0.25 of its target 0.1")
    for seed in SEEDS:
        path = experiment / "dropblock" / f"seed{seed}" / "results.json"
        results = json.loads(path.read_text())
        results["warnings"] = [warning]
        path.write_text(json.dumps(results))
    report = write_report(experiment, resamples=200)
    assert report.arms["dropblock"].warnings == [warning]
    assert report.arms["baseline"].warnings == []
    verdict = (experiment / "report.md").read_text().split("## Arms")[0]
    assert f"- Warning, `dropblock`: {warning}." in verdict
    assert f"warning: dropblock: {warning}" in format_gain_table(report)


def test_results_of_an_earlier_version_read_and_a_later_or_damaged_one_is_named(tmp_path):
    """Version-1 files (no version field) read with empty defaults; a later version or an unknown
    or missing field is a one-line ValueError naming the file."""
    tree = make_results("baseline", 0)
    old = RunResults.from_json(tree, "old/results.json")
    assert (old.version, old.warnings, old.test_final, old.test_raw, old.cells, old.weights) == (
        1, (), {}, {}, {}, "raw")
    again = RunResults.from_json(json.loads(json.dumps(old.to_json())), "again/results.json")
    assert again == old
    without_test = {key: value for key, value in tree.items() if key != "test"}
    for broken, expected in (({**tree, "version": 5}, "of version 1 to 4, received version 5"),
                             ({**tree, "psnr": 1}, "unknown ['psnr'] and missing []"),
                             (without_test, "missing ['test']")):
        with pytest.raises(ValueError, match=re.escape(expected)) as raised:
            RunResults.from_json(broken, "run/results.json")
        assert str(raised.value).startswith("run/results.json: ") and "\n" not in str(raised.value)


def test_the_arms_list_says_which_weights_were_scored(experiment):
    """Runs scored with the moving average of their weights are named so in the report."""
    for seed in SEEDS:
        path = experiment / "dropblock" / f"seed{seed}" / "results.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "version": 3, "weights": "ema"}))
    report = write_report(experiment, resamples=200)
    assert (report.arms["dropblock"].weights, report.arms["baseline"].weights) == (["ema"], ["raw"])
    arms = (experiment / "report.md").read_text().split("## Arms")[1]
    assert "`dropblock`" in arms and "scored with the moving average of its weights (EMA)" in arms
    assert arms.count("(EMA)") == 1
