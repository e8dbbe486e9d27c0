"""End-to-end runs of tiny configs: train, resume, evaluate, report."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

import evaluate
import train
from dropblock.schedule import optimizer_step
from restoration import runs
from restoration.config import load_config
from restoration.evaluation.predictors import Task
from restoration.evaluation.predictors import evaluate_predictor
from restoration.evaluation.predictors import load_keras_model
from restoration.evaluation.predictors import model_predictor
from restoration.reporting.records import RESULTS_VERSION
from restoration.reporting.records import read_results
from restoration.training import callbacks
from restoration.training.run import train_run
from sr_models.specs import SPECS
from tests.helpers import CONFIGS
from tests.sr_models.networks import SMALL

# Trains whole experiments: left out of `make test-fast`.
pytestmark = pytest.mark.slow

TINY = str(CONFIGS / "tiny_test.yaml")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """The tiny 2 arms x 2 seeds experiment, trained once for the module."""
    root = tmp_path_factory.mktemp("runs")
    status = train.main(["--config", TINY, "--set", f"output.root={root}", "--quiet"])
    assert status == 0
    return root / "tiny_test"


def event_tags(folder):
    """Every scalar, image and text tag written to the event files of `folder`."""
    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_every_run_leaves_a_self_describing_directory(experiment):
    """Each arm x seed has its config, checkpoints, final model, logs and results."""
    for arm in ("baseline", "dropblock"):
        for seed in (0, 1):
            run_dir = experiment / arm / f"seed{seed}"
            for name in (runs.CONFIG_FILE, runs.FINAL_MODEL, runs.LATEST_CHECKPOINT,
                         runs.BEST_CHECKPOINT, runs.RESULTS_FILE, runs.STATE_FILE):
                assert (run_dir / name).is_file(), run_dir / name
            results = read_results(run_dir)
            assert (results.arm, results.seed, results.steps) == (arm, seed, 4)
            assert results.version == RESULTS_VERSION
            assert results.test_raw == {}  # No EMA, so no second scoring of the raw weights.
            assert results.weights == "raw"  # No training.ema: the weights themselves were scored.
            assert results.test["builtin"]["images"] == 2
            assert np.isfinite(results.test["builtin"]["psnr"])
            # Checkpoints every 2 steps: the last one (4) is saved once, so previous holds step 2.
            steps = [optimizer_step(load_keras_model(run_dir / name, compile=True))
                     for name in (runs.LATEST_CHECKPOINT, runs.PREVIOUS_CHECKPOINT)]
            assert steps == [4, 2]


def test_tensorboard_logs_have_training_validation_and_hparams_tags(experiment):
    """Same tag names in every run, so TensorBoard overlays the arms."""
    baseline = event_tags(experiment / "baseline" / "seed0" / "logs")
    dropblock = event_tags(experiment / "dropblock" / "seed0" / "logs")
    expected = {"train/loss", "train/learning_rate", "validation/psnr", "validation/ssim",
                "validation/input_output_target", "overfitting/train_crops_psnr", "overfitting/gap"}
    assert expected <= baseline and expected <= dropblock
    assert {"dropblock/current_rate", "dropblock/realised_rate"} <= dropblock
    # The HParams session and the test scores are a run of their own.
    final = event_tags(experiment / "dropblock" / "seed0" / runs.TEST_LOGS)
    assert "test/psnr/builtin" in final and any("hparams" in tag for tag in final)
    assert not any("hparams" in tag for tag in dropblock)


def test_report_contains_the_gain_per_test_set(experiment):
    """report.md, report.json, gain.png and the summary events carry the gain."""
    report = json.loads((experiment / "report.json").read_text())
    text = (experiment / "report.md").read_text()
    assert "dropblock vs baseline on builtin" in text
    gain = report["sets"]["builtin"]["gains"]["dropblock"]
    assert gain["seeds"] == [0, 1] and np.isfinite(gain["psnr"]["mean"])
    assert gain["psnr"]["low"] <= gain["psnr"]["mean"] <= gain["psnr"]["high"]
    assert (experiment / "gain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"tiny_test/test_gain/builtin", "tiny_test/test_gain/builtin/low"} <= event_tags(
        experiment / "summary" / "dropblock")


def scalar_values(folder, tag):
    """`(step, value)` of one scalar tag in the event files of `folder`, in step order."""
    values = []
    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values.append((event.step, float(tf.make_ndarray(value.tensor))))
    return sorted(values)


def test_overfitting_gap_is_logged_recorded_and_reported(experiment):
    """Training-crop PSNR minus validation PSNR: a curve, the history in results, a report table and plot."""
    run_dir = experiment / "baseline" / "seed0"
    validation = json.loads((run_dir / runs.RESULTS_FILE).read_text())["validation"]
    psnr = scalar_values(run_dir / "logs", "validation/psnr")
    train_crops = scalar_values(run_dir / "logs", "overfitting/train_crops_psnr")
    gap = scalar_values(run_dir / "logs", "overfitting/gap")
    assert [step for step, _ in gap] == [step for step, _ in psnr] == [step for step, _ in train_crops]
    for (_, value), (_, crops), (_, difference) in zip(psnr, train_crops, gap):
        assert difference == pytest.approx(crops - value, abs=1e-4)
    assert validation["final_step"] == psnr[-1][0] and validation["final_psnr"] == pytest.approx(psnr[-1][1])
    assert validation["gap"] == pytest.approx(gap[-1][1], abs=1e-4)
    assert validation["best_psnr"] == pytest.approx(max(value for _, value in psnr))
    history = validation["history"]
    assert [entry["step"] for entry in history] == [step for step, _ in psnr]
    for entry, (_, value), (_, crops) in zip(history, psnr, train_crops):
        assert entry["psnr"] == pytest.approx(value) and entry["train_crops_psnr"] == pytest.approx(crops)
    assert (experiment / runs.VALIDATION_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "validation_curves" in event_tags(experiment / "summary")
    report = json.loads((experiment / "report.json").read_text())
    final = {(arm, seed): json.loads((experiment / arm / f"seed{seed}" / runs.RESULTS_FILE).read_text())
             ["validation"]["final_psnr"] for arm in ("baseline", "dropblock") for seed in (0, 1)}
    gain = report["validation_arms"]["dropblock"]["final_psnr_gain"]
    assert gain["per_seed"] == pytest.approx([final["dropblock", seed] - final["baseline", seed]
                                              for seed in (0, 1)])
    assert gain["mean"] == pytest.approx(np.mean(gain["per_seed"]))
    assert gain["low"] <= gain["mean"] <= gain["high"]
    assert "final_psnr_gain" not in report["validation_arms"]["baseline"]
    text = (experiment / "report.md").read_text()
    assert "| dropblock | 2 |" in text
    assert "## Validation: peak and overfitting gap" in text
    row = f"| baseline | 0 | {validation['best_step']} | {validation['best_psnr']:.3f} |"
    assert row in text


def text_log_fields(run_dir):
    """`{step: {name: value}}` of the `step ...` lines of a run's train.log, and its `#` lines."""
    steps, sections = {}, []
    for line in (run_dir / runs.TRAIN_LOG).read_text().splitlines():
        if line.startswith("# "):
            sections.append(line)
            continue
        words = line.split()
        assert words[0] == "step" and words[-1] == "s", line
        fields = dict(zip(words[2:-1:2], words[3:-1:2]))
        steps.setdefault(int(words[1]), {}).update(fields)
    return steps, sections


def test_text_log_holds_what_tensorboard_and_results_hold(experiment):
    """train.log: loss and learning rate per log step, validation PSNR, rate, test scores, elapsed time."""
    run_dir = experiment / "dropblock" / "seed0"
    steps, sections = text_log_fields(run_dir)
    assert sorted(steps) == [1, 2, 3, 4]
    for step, loss in scalar_values(run_dir / "logs", "train/loss"):
        assert float(steps[step]["loss"]) == pytest.approx(loss, rel=1e-5)
    for step, rate in scalar_values(run_dir / "logs", "train/learning_rate"):
        assert float(steps[step]["lr"]) == pytest.approx(rate, rel=1e-3)
    for step, psnr in scalar_values(run_dir / "logs", "validation/psnr"):
        assert float(steps[step]["validation_psnr"]) == pytest.approx(psnr, abs=5e-4)
    assert "dropblock_current_rate" in steps[4] and "dropblock_realised_rate" in steps[4]
    assert "dropblock_current_rate" not in text_log_fields(experiment / "baseline" / "seed0")[0][4]
    assert float(steps[4]["elapsed"]) >= float(steps[1]["elapsed"]) >= 0
    results = json.loads((run_dir / runs.RESULTS_FILE).read_text())
    assert "training tiny_test, arm dropblock, seed 0 from step 0 to 4" in sections[0]
    assert sections[-1].endswith(f"builtin: PSNR {results['test']['builtin']['psnr']:.3f} dB, "
                                 f"SSIM {results['test']['builtin']['ssim']:.4f} (2 images)")


def test_report_gain_equals_the_paired_difference_of_results(experiment):
    """The reported gain is the mean over seeds of arm minus baseline PSNR."""
    psnr = {
        (arm, seed): json.loads((experiment / arm / f"seed{seed}" / runs.RESULTS_FILE)
                                .read_text())["test"]["builtin"]["psnr"]
        for arm in ("baseline", "dropblock") for seed in (0, 1)
    }
    expected = np.mean([psnr["dropblock", s] - psnr["baseline", s] for s in (0, 1)])
    assert f"{expected:+.3f}" in (experiment / "report.md").read_text()


def test_evaluate_reads_a_run_directory(experiment, tmp_path):
    """evaluate.py scores a run directory with its own task and test sets."""
    output = tmp_path / "scores.json"
    status = evaluate.main([str(experiment / "baseline" / "seed0"), "--output", str(output)])
    assert status == 0
    scores = json.loads(output.read_text())
    trained = json.loads((experiment / "baseline" / "seed0" / runs.RESULTS_FILE).read_text())
    assert scores["builtin"]["images"] == 2
    assert scores["builtin"]["psnr"] == pytest.approx(trained["test"]["builtin"]["psnr"], abs=1e-6)


def trainable_weights(run_dir):
    model = keras.saving.load_model(run_dir / runs.FINAL_MODEL, compile=False)
    return [np.asarray(w) for w in model.trainable_weights]


REGULARIZERS = {
    "baseline": None,
    "dropblock": {"name": "dropblock", "rate": 0.2, "block_size": 3, "schedule_steps": 3},
    "dropout": {"name": "dropout", "rate": 0.2},
    "spatial_dropout": {"name": "spatial_dropout", "rate": 0.2, "placement": "before_last"},
    "stochastic_depth": {"name": "stochastic_depth", "rate": 0.3},
    "cutout": {"name": "cutout", "size": 4},
    "dropconnect": {"name": "dropconnect", "rate": 0.2, "placement": "before_last"},
}


# The baseline trained with the field's recipe: an EMA of the weights, two micro-batches a step, clipping.
RECIPE = ["training.ema.decay=0.5", "training.gradient_accumulation_steps=2",
          "training.optimizer.global_clipnorm=0.5"]


@pytest.mark.parametrize("arm", [
    pytest.param(arm, marks=pytest.mark.backend_agnostic) if arm in ("dropblock", "recipe") else arm
    for arm in [*sorted(REGULARIZERS), "recipe"]
])
def test_interrupted_run_resumes_to_the_same_run(arm, tmp_path, monkeypatch, op_determinism):
    """Stopped after the step-2 checkpoint and resumed, a run ends bit-identical to a straight one."""
    overrides = [f"output.root={tmp_path}", "training.steps=5", *(RECIPE if arm == "recipe" else [])]
    config = dataclasses.replace(load_config(TINY, overrides).arm("baseline", 0), regularizer=None)
    if REGULARIZERS.get(arm) is not None:
        path = write_arms(tmp_path, {arm: {"regularizer": REGULARIZERS[arm]}})
        config = load_config(path, overrides).arm(arm, 0)
    straight = train_run(config, tmp_path / "straight", verbose=0)

    original = callbacks.Checkpointer.save

    def save_then_stop(self, step):
        original(self, step)
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.Checkpointer, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, tmp_path / "resumed", verbose=0)
    state = json.loads((tmp_path / "resumed" / runs.STATE_FILE).read_text())
    assert [record["step"] for record in state["checkpoints"]] == [2]
    assert not (tmp_path / "resumed" / runs.RESULTS_FILE).exists()
    monkeypatch.setattr(callbacks.Checkpointer, "save", original)
    resumed = train_run(config, tmp_path / "resumed", verbose=0)
    for straight_weights, resumed_weights in zip(trainable_weights(tmp_path / "straight"),
                                                 trainable_weights(tmp_path / "resumed")):
        np.testing.assert_array_equal(resumed_weights, straight_weights)
    assert resumed.test["builtin"]["per_image"] == straight.test["builtin"]["per_image"]
    assert resumed.validation == straight.validation


def write_arms(tmp_path, arms):
    """tiny_test.yaml with other arms, written to tmp_path."""
    tree = yaml.safe_load(open(TINY))
    tree["experiment"]["arms"] = arms
    tree["experiment"]["seeds"] = [0]
    path = tmp_path / "arms.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_arms_differ_only_in_the_regularizer(tmp_path, op_determinism):
    """Same seed: a disabled regularizer trains to identical weights; an active one does not."""
    dropblock = {"name": "dropblock", "block_size": 3, "placement": "every_block"}
    path = write_arms(tmp_path, {
        "baseline": {},
        "disabled": {"regularizer": dict(dropblock, rate=0.0)},
        "active": {"regularizer": dict(dropblock, rate=0.5)},
    })
    experiment = load_config(path, [f"output.root={tmp_path}"])
    weights = {}
    for arm in ("baseline", "disabled", "active"):
        train_run(experiment.arm(arm, 0), tmp_path / arm, verbose=0)
        weights[arm] = trainable_weights(tmp_path / arm)
    for baseline, disabled in zip(weights["baseline"], weights["disabled"]):
        np.testing.assert_array_equal(disabled, baseline)
    assert any(not np.array_equal(a, b) for a, b in zip(weights["baseline"], weights["active"]))


def test_config_errors_stop_before_any_work(tmp_path, capsys):
    """A bad key fails with the file and key named, and nothing is written."""
    path = tmp_path / "bad.yaml"
    path.write_text(open(TINY).read().replace("steps: 4", "steps: -4"))
    status = train.main(["--config", str(path), "--set", f"output.root={tmp_path / 'out'}"])
    assert status == 2
    message = capsys.readouterr().err
    assert "bad.yaml" in message and "training.steps" in message
    assert not (tmp_path / "out").exists()


def test_unknown_arm_is_rejected(tmp_path, capsys):
    """--arm must name an arm of the config."""
    status = train.main(["--config", TINY, "--arm", "nope", "--set", f"output.root={tmp_path}"])
    assert status == 2
    assert "baseline" in capsys.readouterr().err


@pytest.mark.parametrize("precision, policy", [("float16", "mixed_float16"),
                                               ("bfloat16", "mixed_bfloat16")])
def test_mixed_precision_and_xla_switches_train_and_evaluate(precision, policy, tmp_path):
    """training.mixed_precision and training.jit_compile run a DropBlock arm end to end."""
    experiment = load_config(TINY, [f"output.root={tmp_path}",
                                    f"training.mixed_precision={precision}",
                                    "training.jit_compile=true"])
    results = train_run(experiment.arm("dropblock", 0), tmp_path / "run", verbose=0)
    assert np.isfinite(results.test["builtin"]["psnr"]) and results.precision == policy
    model = keras.saving.load_model(tmp_path / "run" / runs.FINAL_MODEL, compile=False)
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers if layer.weights}
    assert policy in policies.values()
    # The restored image itself is computed in float32.
    assert policies["last_conv"] == "float32" and model.output.dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"


def test_auto_precision_follows_the_cpu_flags(monkeypatch):
    """auto takes bfloat16 with AMX-BF16 or AVX512-BF16 and float32 without (on a CPU)."""
    from restoration.training import precision

    monkeypatch.setattr(precision, "_gpu_has_bfloat16", lambda: None)
    for flags, expected in ((["avx2", "avx512_bf16"], "mixed_bfloat16"),
                            (["amx_bf16"], "mixed_bfloat16"), (["avx2", "fma"], "float32")):
        monkeypatch.setattr(precision, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert precision.resolve_policy("auto") == expected
    assert precision.resolve_policy(False) == "float32"
    assert precision.resolve_policy("float16") == "mixed_float16"


def test_final_weights_are_validated_when_steps_are_not_a_multiple(tmp_path):
    """With 3 steps and validation every 2, steps 2 and 3 are both validated."""
    experiment = load_config(TINY, [f"output.root={tmp_path}", "training.steps=3"])
    train_run(experiment.arm("baseline", 0), tmp_path / "run", verbose=0)
    steps = set()
    for path in (tmp_path / "run" / "logs").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            if any(value.tag == "validation/psnr" for value in event.summary.value):
                steps.add(event.step)
    assert steps == {2, 3}


def test_resumed_curves_do_not_overlap_in_tensorboard(tmp_path, monkeypatch):
    """Steps logged after the last checkpoint by the interrupted process are dropped on resume."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    experiment = load_config(TINY, [f"output.root={tmp_path}", "training.steps=6"])
    config = experiment.arm("dropblock", 0)
    original = callbacks.TrainingLogger._write

    def write_then_stop(self, step, running_mean):
        original(self, step, running_mean)
        if step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.TrainingLogger, "_write", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, tmp_path / "run", verbose=0)
    monkeypatch.setattr(callbacks.TrainingLogger, "_write", original)
    train_run(config, tmp_path / "run", verbose=0)
    accumulator = EventAccumulator(str(tmp_path / "run" / runs.LOGS), purge_orphaned_data=True)
    accumulator.Reload()
    steps = [event.step for event in accumulator.Tensors("train/loss")]
    assert steps == [1, 2, 3, 4, 5, 6]
    # The text log keeps both processes' lines, the resumed one under its own heading.
    log = (tmp_path / "run" / runs.TRAIN_LOG).read_text()
    assert [line.split()[1] for line in log.splitlines() if "loss" in line] == list("1233456")
    assert "resuming tiny_test, arm dropblock, seed 0 from step 2 to 6" in log


PRIMARY = ("experiment.primary={arms: [dropblock], sets: [builtin], cells: [blur2.0, noise40], "
           "checkpoint: final, margin: 0.02}")


def test_a_grid_experiment_with_a_primary_endpoint_reports_it_first(tmp_path, capsys):
    """evaluation.grid scores every test set per cell (the clean cell is the plain set, not scored
    twice), at the final weights and at the selected checkpoint; the report opens with the
    pre-registered primary test and every gain carries its q-value; the heatmap is drawn."""
    root = tmp_path / "runs"
    status = train.main(["--config", TINY, "--set", f"output.root={root}", "--quiet",
                         "--set", "evaluation.grid=[bicubic, blur2.0, noise40]", "--set", PRIMARY])
    assert status == 0
    experiment = root / "tiny_test"
    results = read_results(experiment / "dropblock" / "seed1")
    assert list(results.test) == list(results.test_final) == [
        "builtin", "builtin/blur2.0", "builtin/noise40"]
    assert results.checkpoint == "best" and results.selected_step in (2, 4)
    task = Task.from_config(load_config(TINY).arm("dropblock", 1).task)
    for name, checkpoint in ((runs.FINAL_MODEL, "final"), (runs.BEST_CHECKPOINT, "selected")):
        model = load_keras_model(experiment / "dropblock" / "seed1" / name)
        psnr = evaluate_predictor(model_predictor(model, task), "builtin", ssim=False).psnr
        assert results.scores(checkpoint)["builtin"]["psnr"] == pytest.approx(psnr, abs=1e-9)
    # A plain bicubic training run: every degraded cell lies outside what it trained on.
    assert results.cells["noise40"] == {
        "in_range": False, "why": results.cells["noise40"]["why"]}
    assert not results.cells["blur2.0"]["in_range"]
    assert results.validation["selected_on"] == "bicubic x2 (the benchmark degradation)"
    assert results.test["builtin/noise40"]["psnr"] < results.test["builtin"]["psnr"]
    manifest = runs.read_experiment_file(experiment)
    assert manifest["planned_seeds"] == [0, 1]
    assert manifest["primary"]["entries"] == ["builtin/blur2.0", "builtin/noise40"]
    report = json.loads((experiment / runs.REPORT_JSON).read_text())
    entry = report["primary"]["arms"]["dropblock"]
    assert entry["seeds"] == [0, 1] and entry["verdict"] in ("confirmed", "refuted", "inconclusive")
    by_seed = [np.mean([json.loads((experiment / "dropblock" / f"seed{seed}" / runs.RESULTS_FILE)
                                   .read_text())["test_final"][name]["psnr"]
                        - json.loads((experiment / "baseline" / f"seed{seed}" / runs.RESULTS_FILE)
                                     .read_text())["test_final"][name]["psnr"]
                        for name in ("builtin/blur2.0", "builtin/noise40")]) for seed in (0, 1)]
    np.testing.assert_allclose(entry["per_seed"], by_seed, atol=1e-9)
    assert entry["sign_flip_p"] == (1.0 if by_seed[0] * by_seed[1] < 0 else 0.5)
    markdown = (experiment / runs.REPORT_MARKDOWN).read_text()
    assert [line for line in markdown.splitlines() if line.startswith("## ")][0] == (
        "## Primary endpoint (pre-registered)")
    assert report["family"] == 3
    assert all(report["sets"][name]["gains"]["dropblock"]["psnr"]["q"] is not None
               for name in report["sets"])
    assert (experiment / runs.GRID_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "grid_gain" in event_tags(experiment / "summary")
    capsys.readouterr()
    status = train.main(["--config", TINY, "--set", f"output.root={tmp_path / 'other'}", "--quiet",
                         "--set", "evaluation.grid=[blur9]"])
    assert status == 2
    assert "evaluation.grid[0]: expected a sr grid cell" in capsys.readouterr().err
    status = train.main(["--config", TINY, "--set", f"output.root={tmp_path / 'other'}", "--quiet",
                         "--set", "evaluation.grid=[blur2.0]", "--set", PRIMARY])
    assert status == 2
    assert "experiment.primary.cells[1]: expected a cell arm baseline is scored under" in (
        capsys.readouterr().err)


# Every super-resolution network but EDSR (the configuration's own), at its small size.
ZOO = sorted(name for name in SMALL if SPECS[name].tasks == ("sr",) and name != "edsr")


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_model_trains_validates_and_scores_from_a_config(name, tmp_path):
    """A small version of each network goes through the whole run: training, validation, test scores."""
    model = json.dumps({"name": name, **SMALL[name]})
    experiment = load_config(TINY, [f"output.root={tmp_path}", f"model={model}", "training.steps=2",
                                    "training.mixed_precision=auto"])
    results = train_run(experiment.arm("dropblock", 0), tmp_path / name, verbose=0)
    assert results.validation["best_step"] == 2
    assert np.isfinite(results.test["builtin"]["psnr"])
    reloaded = load_keras_model(tmp_path / name / runs.FINAL_MODEL)
    assert reloaded.name == name


# model, tile: DRUNet's receptive field (a radius of about 200 pixels) asks for larger tiles.
DENOISERS = {
    "ffdnet": ("{name: ffdnet, depth: 4, filters: 8}", 24),
    "drunet": ("{name: drunet, filters: [4, 8, 8, 8], num_blocks: 1}", 256),
}


@pytest.mark.parametrize("name", sorted(DENOISERS))
def test_denoisers_with_a_noise_level_input_train_validate_and_score_in_exact_tiles(name, tmp_path):
    """The pipeline hands FFDNet and DRUNet the noise level; tiles with the computed overlap score
    what whole images do."""
    from restoration.evaluation.sources import evaluate_paths

    model, tile = DENOISERS[name]
    experiment = load_config(TINY, [
        f"output.root={tmp_path}", f"model={model}",
        "task={type: denoise, sigma: 25, channels: 1}", "data.patch_size=16",
        "training.steps=2", f"evaluation.tile={tile}",
    ])
    run_dir = tmp_path / name
    results = train_run(experiment.arm("dropblock", 0), run_dir, verbose=0)
    assert results.validation["best_step"] == 2
    tiled = results.test["builtin"]["psnr"]
    assert np.isfinite(tiled)
    # One tile larger than any image is whole-image inference.
    whole = evaluate_paths([run_dir], ssim=False, tile=10**6)[str(run_dir)]["builtin"]["psnr"]
    assert whole == pytest.approx(tiled, abs=1e-3)


def test_a_dropblock_ramp_longer_than_training_is_warned_about(tmp_path, capsys):
    """tiny_test ramps over 2 steps: trained for 1, the DropBlock arm ends at half its rate, and
    train.py says so (the baseline arm has no ramp, nothing is said about it)."""
    status = train.main(["--config", TINY, "--seed", "0", "--quiet", "--no-report",
                         "--set", f"output.root={tmp_path}", "--set", "training.steps=1"])
    assert status == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {TINY}")
    assert warnings[0].endswith(": arm dropblock: regularizer.schedule_steps (2) is longer than "
                                "training.steps (1): the rate ends at 0.5 of its target 0.1")


def test_a_set_prepared_on_disk_trains_the_run_it_trains_in_memory(tmp_path, op_determinism):
    """data.storage: disk prepares the folder once under output.root and ends bit-identical
    to memory; a second run reuses the prepared folder."""
    from data.builtin import load_builtin
    from tests.helpers import write_image

    folder = tmp_path / "photos"
    for name, image in load_builtin("train"):
        write_image(folder / f"{name}.png", image)
    weights = {}
    for storage in ("memory", "disk"):
        overrides = [f"output.root={tmp_path / storage}", "training.steps=3",
                     f"data.train={{source: folder, path: {folder}}}", f"data.storage={storage}"]
        train_run(load_config(TINY, overrides).arm("dropblock", 0), tmp_path / storage / "run",
                  verbose=0)
        weights[storage] = trainable_weights(tmp_path / storage / "run")
    for in_memory, on_disk in zip(weights["memory"], weights["disk"], strict=True):
        np.testing.assert_array_equal(on_disk, in_memory)
    prepared = list((tmp_path / "disk" / ".prepared").iterdir())
    assert len([path for path in prepared if path.is_dir()]) == 1
    assert not (tmp_path / "memory" / ".prepared").exists()


def test_a_blind_run_selects_its_checkpoint_on_crops_degraded_by_its_own_chain(tmp_path):
    """The best validation, and the weights kept for it, are those of the degraded crops: scoring
    best.keras on the chain's fixed validation draws gives the recorded best PSNR, which the clean
    crops do not."""
    from restoration.evaluation.metrics import conventions_for
    from restoration.evaluation.protocol import score_images
    from restoration.evaluation.protocol import to_uint8
    from restoration.training import build

    config = load_config(TINY, ["data.degradation={noise_sigma: [20, 30], jpeg_quality: [30, 40]}",
                                f"output.root={tmp_path}"]).arm("baseline", 0)
    results = train_run(config, tmp_path / "run", verbose=0)
    validation = results.validation
    assert validation["selected_on"] == "the training degradation chain, 4 fixed draws per crop"
    assert results.selected_step == validation["best_step"]
    model = load_keras_model(tmp_path / "run" / runs.BEST_CHECKPOINT)
    images = build.load_images(config.data.validation, config)

    def psnr(inputs, targets):
        outputs = model.predict(inputs, batch_size=4, verbose=0)
        entries = [(index, to_uint8(target), to_uint8(output))
                   for index, (target, output) in enumerate(zip(targets, outputs, strict=True))]
        return score_images(entries, conventions_for(config.task)).psnr

    degraded = build.validation_data(config, images)
    assert psnr(*degraded[:2]) == pytest.approx(validation["best_psnr"], abs=1e-4)
    clean = build.validation_data(load_config(TINY).arm("baseline", 0), images)
    assert abs(psnr(*clean[:2]) - validation["best_psnr"]) > 0.05


def test_an_ema_run_scores_its_raw_weights_too_when_asked(tmp_path):
    """With `training.ema.score_raw` a run scores the average and the final weights themselves:
    the latter are the weights the same run trains without EMA (the average does not steer
    training), and the report tests the primary endpoint on them when it says `raw`."""
    root = tmp_path / "runs"
    ema = ["--set", "training.ema={decay: 0.5, score_raw: true}"]
    primary = PRIMARY.replace("cells: [blur2.0, noise40], checkpoint: final", "checkpoint: raw")
    status = train.main(["--config", TINY, "--set", f"output.root={root}", "--quiet", *ema,
                         "--set", primary])
    assert status == 0
    plain = root / "plain"
    assert train.main(["--config", TINY, "--set", f"output.root={plain}", "--quiet",
                       "--arm", "baseline", "--seed", "0"]) == 0
    experiment = root / "tiny_test"
    results = read_results(experiment / "baseline" / "seed0")
    without = read_results(plain / "tiny_test" / "baseline" / "seed0")
    assert (results.weights, without.weights, without.test_raw) == ("ema", "raw", {})
    assert results.test_raw["builtin"]["psnr"] == without.test_final["builtin"]["psnr"]
    assert results.test_raw["builtin"]["per_image"] == without.test_final["builtin"]["per_image"]
    assert abs(results.test_final["builtin"]["psnr"] - results.test_raw["builtin"]["psnr"]) > 1e-3
    report = json.loads((experiment / runs.REPORT_JSON).read_text())
    gains = report["raw_sets"]["builtin"]["gains"]["dropblock"]["psnr"]
    entry = report["primary"]["arms"]["dropblock"]
    assert report["primary"]["checkpoint"] == "raw"
    np.testing.assert_allclose(entry["per_seed"], gains["per_seed"], atol=1e-12)
    by_seed = [read_results(experiment / "dropblock" / f"seed{seed}").test_raw["builtin"]["psnr"]
               - read_results(experiment / "baseline" / f"seed{seed}").test_raw["builtin"]["psnr"]
               for seed in (0, 1)]
    np.testing.assert_allclose(entry["per_seed"], by_seed, atol=1e-9)
    text = (experiment / runs.REPORT_MARKDOWN).read_text()
    assert "## The raw weights (not averaged)" in text and "| builtin | dropblock | raw |" in text


def test_a_run_with_self_ensemble_scores_and_reports_both(tmp_path):
    """`evaluation.self_ensemble` scores each set and cell plain and as `<set>+x8`; the report
    gives the gain under each."""
    root = tmp_path / "runs"
    overrides = ["evaluation.self_ensemble=true", "evaluation.grid=[noise40]", "experiment.seeds=[0]"]
    assert train.main(["--config", TINY, "--set", f"output.root={root}", "--quiet",
                       *[item for override in overrides for item in ("--set", override)]]) == 0
    results = read_results(root / "tiny_test" / "baseline" / "seed0")
    assert list(results.test) == ["builtin", "builtin/noise40", "builtin+x8", "builtin+x8/noise40"]
    assert results.test["builtin+x8"]["psnr"] != results.test["builtin"]["psnr"]
    report = json.loads((root / "tiny_test" / runs.REPORT_JSON).read_text())
    assert {"builtin", "builtin+x8", "builtin+x8/noise40"} <= set(report["sets"])
    assert report["sets"]["builtin+x8"]["gains"]["dropblock"]["psnr"]["mean"] is not None
