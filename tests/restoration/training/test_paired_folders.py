"""A user's own pairs: config keys and refusals, aligned patches, and paired sets scored.

Pairs made from the built-in images with the benchmark degradation (MATLAB
bicubic) must train, validate and score exactly as the built-in sets do:
that checks the matching, the alignment and the scoring at once.
"""

import json

import numpy as np
import pytest

import evaluate
import train
from data.builtin import load_builtin
from data.images import encode_png
from data.pipeline import sr_pairs
from restoration.config import ConfigError
from restoration.config import load_config
from restoration.reporting.records import read_results
from restoration.training import build
from tests.helpers import CONFIGS

TINY = CONFIGS / "tiny_test.yaml"


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory):
    """`<split>/lr/<name>x2.png` and `<split>/hr/<name>.png`: the built-in splits as x2 bicubic pairs."""
    root = tmp_path_factory.mktemp("pairs")
    for split in ("train", "validation", "test"):
        images = sorted(load_builtin(split, channels=3), key=lambda item: item[0])
        for (name, _), (lr, hr) in zip(images, sr_pairs(images, 2), strict=True):
            for kind, pixels, stem in (("lr", lr, f"{name}x2"), ("hr", hr, name)):
                (root / split / kind).mkdir(parents=True, exist_ok=True)
                (root / split / kind / f"{stem}.png").write_bytes(encode_png(pixels))
    return root


def paired(root, split, **extra):
    keys = {"source": "paired", "lr": str(root / split / "lr"), "hr": str(root / split / "hr"),
            "template": "{}x2", **extra}
    return "{" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in keys.items()) + "}"


def paired_overrides(root):
    return [f"data.train={paired(root, 'train', max_images=2)}",
            f"data.validation={paired(root, 'validation', max_images=1)}",
            f"data.paired_test_sets=[{paired(root, 'test', name='mine')}]"]


@pytest.mark.parametrize("override, key, fragment", [
    ("data.train={source: paired, lr: a}", "data.train.hr", "a folder, with lr and hr (required)"),
    ("data.train={source: paired, lr: a, hr: b, clean: c}", "data.train.lr", "both pairs of keys"),
    ("data.train={source: paired}", "data.train.lr", "neither"),
    ("data.train={source: paired, path: a, lr: a, hr: b}", "data.train.path", "null for source 'paired'"),
    ("data.train={source: paired, lr: a, hr: b, template: x4}", "data.train.template", "holding {} once"),
    ("data.train={source: folder, path: a, lr: b}", "data.train.lr", "only paired folders have it"),
    ("data.train={source: paired, noisy: a, clean: b}", "data.train", "the folders lr and hr for a sr task"),
    ("data.paired_test_sets=[{source: paired, lr: a, hr: b}]", "data.paired_test_sets[0].name",
     "a name for the set's scores"),
    ("data.paired_test_sets=[{source: paired, name: builtin, lr: a, hr: b}]",
     "data.paired_test_sets[0].name", "a name no other test set has"),
    ("data.paired_test_sets=[{source: set, name: Set5}]", "data.paired_test_sets[0].source",
     "'paired' (named sets go in test_sets)"),
])
def test_paired_keys_are_checked_before_any_work(override, key, fragment):
    with pytest.raises(ConfigError) as raised:
        load_config(TINY, [override])
    assert raised.value.key == key and fragment in str(raised.value), str(raised.value)


def test_a_chain_or_selection_cells_with_paired_folders_are_refused(pairs_root):
    with pytest.raises(ConfigError) as raised:
        load_config(TINY, [f"data.train={paired(pairs_root, 'train')}", "data.degradation={}"])
    assert raised.value.key == "data.degradation" and "their inputs are the degradation" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        load_config(TINY, [f"data.validation={paired(pairs_root, 'validation')}",
                           "evaluation.select_on=[noise5]"])
    assert raised.value.key == "evaluation.select_on" and "validate on their own inputs" in str(raised.value)


def test_every_pair_problem_is_a_line_naming_the_files_before_any_work(pairs_root, tmp_path):
    """Missing partners and wrong sizes are found at load, from the headers, every one listed."""
    broken = tmp_path / "broken"
    (broken / "lr").mkdir(parents=True)
    (broken / "hr").mkdir()
    images = sorted((pairs_root / "train" / "hr").iterdir())
    for path in images[:3]:
        (broken / "hr" / path.name).write_bytes(path.read_bytes())
    (broken / "lr" / f"{images[0].stem}x2.png").write_bytes(
        (pairs_root / "train" / "lr" / f"{images[0].stem}x2.png").read_bytes())
    (broken / "lr" / f"{images[1].stem}x2.png").write_bytes(images[1].read_bytes())  # full size
    override = ("data.train={source: paired, lr: " + str(broken / "lr") + ", hr: " + str(broken / "hr")
                + ", template: '{}x2'}")
    with pytest.raises(ConfigError) as raised:
        load_config(TINY, [override])
    lines = str(raised.value).splitlines()
    assert raised.value.key == "data.train"
    assert lines[0].endswith("expected lr and hr images that pair up (template '{}x2', scale 2), "
                             "received 2 problem(s):")
    assert lines[1:] == [f"  2 inputs in {broken / 'lr'} against 3 targets in {broken / 'hr'}",
                         f"  {broken / 'hr' / images[2].name} has no input: expected "
                         f"{broken / 'lr' / images[2].stem}x2.*"]
    (broken / "lr" / f"{images[2].stem}x2.png").write_bytes(
        (pairs_root / "train" / "lr" / f"{images[2].stem}x2.png").read_bytes())
    with pytest.raises(ConfigError) as raised:
        load_config(TINY, [override])
    (line,) = str(raised.value).splitlines()[1:]
    assert f"{images[1].stem}x2.png is " in line and "expected an input of " in line and "(scale 2)" in line


def batches(config, count=3):
    dataset = build.training_dataset(config, build.training_images(config, log=lambda line: None))
    return [tuple(np.asarray(part) for part in batch) for batch in dataset.take(count)]


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_bicubic_pairs_give_the_benchmark_batches_in_memory_and_prepared_on_disk(pairs_root, tmp_path,
                                                                                  storage):
    """The patches of a pair are cut at aligned positions, as the benchmark degradation's are; both
    arms of one seed see the same patches."""
    common = [f"output.root={tmp_path}", f"data.storage={storage}"]
    benchmark = load_config(TINY, common).arm("baseline", 3)
    mine = load_config(TINY, [*common, f"data.train={paired(pairs_root, 'train', max_images=2)}"])
    for expected, received in zip(batches(benchmark), batches(mine.arm("baseline", 3)), strict=True):
        for left, right in zip(expected, received, strict=True):
            np.testing.assert_array_equal(left, right)
    for left, right in zip(batches(mine.arm("baseline", 3)), batches(mine.arm("dropblock", 3)), strict=True):
        np.testing.assert_array_equal(left[0], right[0])
    assert (tmp_path / build.PREPARED_FOLDER).is_dir() == (storage == "disk")


def test_denoising_pairs_are_cut_at_the_same_place(tmp_path):
    """Noisy/clean pairs whose noisy image is the clean one inverted: every input patch is the
    inverse of its target, flips and rotations included."""
    for name, clean in load_builtin("train", channels=1):
        for kind, pixels in (("clean", clean), ("noisy", 255 - clean)):
            (tmp_path / kind).mkdir(exist_ok=True)
            (tmp_path / kind / f"{name}.png").write_bytes(encode_png(pixels))
    config = load_config(CONFIGS / "tiny_denoise.yaml", [
        f"data.train={{source: paired, noisy: {tmp_path / 'noisy'}, clean: {tmp_path / 'clean'}}}",
        "data.test_sets=[]", "data.validation=null", "training.validate_every=0",
        f"output.root={tmp_path}"]).arm("baseline", 0)
    for noisy, clean in batches(config, 2):
        assert noisy.shape == clean.shape == (16, 40, 40, 1)
        np.testing.assert_allclose(noisy, 1 - clean, atol=1e-6)
        assert clean.std() > 0.05


@pytest.mark.slow
def test_a_paired_run_trains_validates_and_scores_as_the_benchmark_run(pairs_root, tmp_path, capsys):
    """Bicubic pairs for training, validation and a paired test set give the run the benchmark
    sets give, bit for bit; evaluate.py scores the paired set of a run and `--pairs` folders."""
    for name, overrides in (("benchmark", []), ("paired", paired_overrides(pairs_root))):
        assert train.main(["--config", str(TINY), "--arm", "baseline", "--seed", "0", "--quiet",
                           "--set", f"output.root={tmp_path / name}",
                           *[item for override in overrides for item in ("--set", override)]]) == 0
    benchmark, mine = (read_results(tmp_path / name / "tiny_test" / "baseline" / "seed0")
                       for name in ("benchmark", "paired"))
    assert list(mine.test) == ["builtin", "mine"]
    assert mine.test["mine"]["per_image"] == benchmark.test["builtin"]["per_image"]
    assert mine.test["builtin"] == benchmark.test["builtin"]
    assert mine.validation["history"] == benchmark.validation["history"]
    run = tmp_path / "paired" / "tiny_test" / "baseline" / "seed0"
    output = tmp_path / "scores.json"
    assert evaluate.main([str(run), "--no-ssim", "--output", str(output)]) == 0
    scores = json.loads(output.read_text())
    assert scores["mine"]["psnr"] == pytest.approx(mine.test["mine"]["psnr"], abs=1e-9)
    assert "inputs given by the pairs" in scores["mine"]["conventions"]["description"]
    both = tmp_path / "both.json"
    assert evaluate.main(["--model", "bicubic", "--scale", "2", "--sets", "builtin", "--no-ssim",
                          "--pairs", str(pairs_root / "test" / "lr"), str(pairs_root / "test" / "hr"),
                          "--template", "{}x2", "--output", str(both)]) == 0
    scores = json.loads(both.read_text())
    assert scores["hr"]["per_image"] == scores["builtin"]["per_image"]
    capsys.readouterr()
    assert evaluate.main(["--model", "bicubic", "--scale", "2", "--pairs", str(pairs_root / "test" / "lr"),
                          str(pairs_root / "test" / "hr")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("evaluate.py: error: ") and "has no input: expected" in error
