"""Tests for experiment files: loading, overrides, arms and resolved runs."""

import copy
import dataclasses

import pytest
import yaml

from restoration.config import ConfigError
from restoration.config import RunConfig
from restoration.config import load_config
from tests.helpers import CONFIGS
from tests.helpers import SHIPPED_CONFIGS

VALID_TREE = {
    "experiment": {
        "name": "unit",
        "seeds": [3, 1],
        "arms": {
            "baseline": {},
            "dropblock": {"regularizer": {"name": "dropblock", "rate": 0.1, "block_size": 5}},
        },
    },
    "task": {"type": "sr", "scale": 2},
    "model": {"name": "edsr", "num_blocks": 2, "filters": 8},
    "regularizer": None,
    "data": {
        "train": {"source": "builtin", "name": "train"},
        "validation": {"source": "builtin", "name": "validation"},
        "test_sets": ["builtin"],
        "patch_size": 12,
        "batch_size": 2,
    },
    "training": {"steps": 10, "validate_every": 5, "optimizer": {"learning_rate": 0.001}},
}


def write_config(folder, tree, name="experiment.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


def changed_tree(dotted_key, value=None, delete=False):
    tree = copy.deepcopy(VALID_TREE)
    *parents, last = dotted_key.split(".")
    node = tree
    for part in parents:
        node = node[part]
    if delete:
        del node[last]
    else:
        node[last] = value
    return tree


def test_configs_folder_holds_the_documented_experiments():
    """The experiments named in the project plan are all shipped."""
    expected = {
        "default.yaml", "edsr_baseline_x2_div2k.yaml", "dncnn_sigma25_train400.yaml",
        "tiny_sr.yaml", "tiny_denoise.yaml", "tiny_test.yaml",
    }
    assert expected <= {path.name for path in SHIPPED_CONFIGS}


INVALID_CASES = {
    "unknown_key": ("training.stepz", 5, "training.stepz", "unknown key 'stepz'"),
    "wrong_type": ("training.steps", "many", "training.steps", "received 'many'"),
    "out_of_range": ("training.steps", -5, "training.steps", "an integer > 0, received -5"),
    "bool_for_int": ("model.num_blocks", True, "model.num_blocks", "received true"),
    "float_for_int": ("data.batch_size", 2.0, "data.batch_size", "received 2.0"),
    "sigma_on_sr": ("task.sigma", 25, "task.sigma", "null for an sr task"),
    "scale_not_allowed": ("task.scale", 5, "task.scale", "one of 2, 3, 4"),
    "unknown_regularizer": (
        "regularizer", {"name": "dropblok"}, "regularizer.name", "'dropout'"
    ),
    "unknown_model": ("model", {"name": "swinir"}, "model.name", "one of 'edsr', 'srresnet', 'rcan'"),
    "reduction_not_dividing": (
        "model", {"name": "rcan", "reduction": 5}, "model.reduction", "a divisor of filters (64)"
    ),
    "string_in_int_list": (
        "training.lr_schedule", {"name": "step", "milestones": [5, "x"]},
        "training.lr_schedule.milestones[1]", "received 'x'",
    ),
    "unknown_test_set": ("data.test_sets", ["Set55"], "data.test_sets[0]", "received 'Set55'"),
    "duplicate_seeds": ("experiment.seeds", [1, 1], "experiment.seeds", "unique"),
    "nan_learning_rate": (
        "training.optimizer", {"learning_rate": float("nan")},
        "training.optimizer.learning_rate", "a number > 0",
    ),
    "model_not_a_mapping": ("model", "edsr", "model", "a mapping, received 'edsr'"),
    "validation_needed": ("data.validation", None, "training.validate_every", "received 5"),
    "folder_without_path": ("data.train", {"source": "folder"}, "data.train.path", "required"),
    "layer_argument_mapping": (
        "regularizer", {"name": "dropout", "rate": {"a": 1}}, "regularizer.rate", "[0, 1)"
    ),
    "model_for_another_task": (
        "model", {"name": "dncnn"}, "model.name", "a model for task 'sr'"
    ),
    "blocks_beyond_the_model": (
        "regularizer", {"name": "dropout", "rate": 0.1, "placement": "blocks", "blocks": [0, 2]},
        "regularizer.blocks", "block indices in [0, 1] (edsr has 2 blocks)",
    ),
    "rate_of_one": ("regularizer", {"name": "dropblock", "rate": 1.0}, "regularizer.rate", "[0, 1)"),
    "misspelled_rate": (
        "regularizer", {"name": "dropblock", "rat": 0.1}, "regularizer.rat", "unknown key 'rat'"
    ),
    "unknown_gamma": (
        "regularizer", {"name": "dropblock", "rate": 0.1, "gamma": "papr"}, "regularizer.gamma",
        "one of 'calibrated', 'paper'",
    ),
    "block_size_word": (
        "regularizer", {"name": "dropblock", "rate": 0.1, "block_size": "big"},
        "regularizer.block_size", "a positive integer or a list of two",
    ),
    "block_size_three": (
        "regularizer", {"name": "dropblock", "rate": 0.1, "block_size": [3, 3, 3]},
        "regularizer.block_size", "received [3, 3, 3]",
    ),
    "schedule_without_dropblock": (
        "regularizer", {"name": "dropout", "rate": 0.1, "schedule_steps": 10},
        "regularizer.schedule_steps", "unknown key 'schedule_steps'",
    ),
    "patch_beyond_the_images": ("data.patch_size", 10000, "data.patch_size", "at most "),
}


@pytest.mark.parametrize("case", sorted(INVALID_CASES))
def test_invalid_value_names_file_key_expected_and_received(tmp_path, case):
    """Each kind of invalid value raises ConfigError naming the file, the key and the problem."""
    dotted_key, value, error_key, fragment = INVALID_CASES[case]
    path = write_config(tmp_path, changed_tree(dotted_key, value))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {error_key}: expected "), message
    assert fragment in message
    assert raised.value.key == error_key
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("changes, error_key, fragment", [
    ({"task": {"type": "sr", "scale": 3}, "model": {"name": "rrdbnet"}}, "task.scale",
     "a scale rrdbnet supports (2, 4), received 3"),
    ({"model": {"name": "vdsr"}, "regularizer": {"name": "stochastic_depth", "rate": 0.1}},
     "regularizer.placement", "a placement vdsr has (it has no residual branches), received 'branch'"),
    ({"task": {"type": "denoise", "sigma": 25, "channels": 1}, "model": {"name": "dncnn"},
      "regularizer": {"name": "dropout", "rate": 0.1, "placement": "branch"}},
     "regularizer.placement", "a placement dncnn has"),
    ({"task": {"type": "denoise", "sigma": 25, "channels": 3}, "model": {"name": "ffdnet"},
      "regularizer": {"name": "dropout", "rate": 0.1, "placement": "blocks", "blocks": [10]}},
     "regularizer.blocks", "block indices in [0, 9] (ffdnet has 10 blocks)"),
    ({"task": {"type": "denoise", "sigma": 25, "channels": 1}, "model": {"name": "drunet"},
      "regularizer": {"name": "dropout", "rate": 0.1, "placement": "blocks", "blocks": [7]}},
     "regularizer.blocks", "block indices in [0, 6] (drunet has 7 blocks)"),
    ({"task": {"type": "denoise", "sigma": 25}, "model": {"name": "drunet", "filters": [8, 16]}},
     "model.filters", "a list of four integers > 0"),
    ({"model": {"name": "ffdnet"}}, "model.name", "a model for task 'sr', not 'ffdnet'"),
    ({"model": {"name": "rcan"}, "evaluation": {"tile": 64}}, "evaluation.tile",
     "null for rcan, whose output depends on the whole image"),
])
def test_a_model_refuses_scales_and_placements_it_lacks(tmp_path, changes, error_key, fragment):
    """RRDBNet has no x3; networks without residual blocks have no branch site; FFDNet's colour
    depth sets its block range; RCAN cannot be tiled exactly: named before any run."""
    tree = copy.deepcopy(VALID_TREE)
    tree.update(changes)
    path = write_config(tmp_path, tree)
    with pytest.raises(ConfigError) as raised:
        load_config(path, check_data=False)
    assert str(raised.value).startswith(f"{path}: {error_key}: expected "), str(raised.value)
    assert fragment in str(raised.value)


@pytest.mark.parametrize("dotted_key", ["training.steps", "task.type", "data.patch_size"])
def test_missing_required_key_is_reported(tmp_path, dotted_key):
    """Leaving out a key without a default names that key as required."""
    path = write_config(tmp_path, changed_tree(dotted_key, delete=True))
    with pytest.raises(ConfigError, match="a required key") as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: {dotted_key}: ")


def test_missing_file_names_its_path(tmp_path):
    """A config path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="no file at"):
        load_config(tmp_path / "absent.yaml")


def test_duplicate_yaml_key_is_rejected(tmp_path):
    """A key written twice would silently keep the last value, so it is an error."""
    path = tmp_path / "twice.yaml"
    path.write_text(yaml.safe_dump(VALID_TREE) + "task: {type: denoise, sigma: 25}\n")
    with pytest.raises(ConfigError, match="duplicate key 'task'"):
        load_config(path)


def test_exponent_without_dot_is_read_as_a_float(tmp_path):
    """`1e-4` is a float (PyYAML alone would read it as a string)."""
    text = yaml.safe_dump(VALID_TREE).replace("learning_rate: 0.001", "learning_rate: 1e-4")
    path = tmp_path / "exponent.yaml"
    path.write_text(text)
    learning_rate = load_config(path).arm("baseline", 1).training.optimizer.learning_rate
    assert learning_rate == 1e-4 and isinstance(learning_rate, float)


def test_float_field_accepts_an_integer(tmp_path):
    """An integer where a float is expected is converted, not rejected."""
    path = write_config(tmp_path, changed_tree("training.optimizer", {"learning_rate": 1}))
    learning_rate = load_config(path).arm("baseline", 1).training.optimizer.learning_rate
    assert learning_rate == 1.0 and isinstance(learning_rate, float)


def test_override_sets_a_typed_value(tmp_path):
    """An override's value is parsed as YAML into the field's type."""
    path = write_config(tmp_path, VALID_TREE)
    config = load_config(path, ["training.steps=100", "training.optimizer.learning_rate=2e-4"])
    training = config.arm("dropblock", 3).training
    assert training.steps == 100 and type(training.steps) is int
    assert training.optimizer.learning_rate == 2e-4


def test_override_of_a_schema_default_not_in_the_file(tmp_path):
    """A key absent from the file but known to the schema can be overridden."""
    path = write_config(tmp_path, VALID_TREE)
    config = load_config(path, ["training.lr_schedule.warmup_steps=3", "evaluation.ssim=true"])
    run = config.arm("baseline", 1)
    assert run.training.lr_schedule.warmup_steps == 3 and run.evaluation.ssim is True


def test_unknown_override_key_lists_the_valid_keys(tmp_path):
    """An override of a key that does not exist names it and the keys valid at its level."""
    path = write_config(tmp_path, VALID_TREE)
    with pytest.raises(ConfigError) as raised:
        load_config(path, ["training.stepz=100"])
    message = str(raised.value)
    assert str(path) in message and "training.stepz" in message
    for valid in ("steps", "loss", "optimizer", "validate_every"):
        assert valid in message


def test_override_cannot_add_an_unknown_layer_argument(tmp_path):
    """An override may set a layer argument the regularizer's section knows, and no other."""
    path = write_config(tmp_path, VALID_TREE)
    with pytest.raises(ConfigError, match="unknown key 'gama'"):
        load_config(path, ["experiment.arms.dropblock.regularizer.gama=0.1"])
    config = load_config(path, ["experiment.arms.dropblock.regularizer.gamma=paper"])
    assert config.arm("dropblock", 1).regularizer.layer_kwargs()["gamma"] == "paper"


def test_override_value_is_never_evaluated(tmp_path):
    """A Python expression as an override value stays a plain string."""
    path = write_config(tmp_path, VALID_TREE)
    config = load_config(path, ["output.root=__import__('os')"])
    assert config.arm("baseline", 1).output.root == "__import__('os')"


@pytest.mark.parametrize("override", ["training.steps", "=5", "training..steps=5"])
def test_malformed_override_is_rejected(tmp_path, override):
    """An override must be written dotted.key=value."""
    path = write_config(tmp_path, VALID_TREE)
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config(path, [override])


def test_invalid_override_value_names_the_override(tmp_path):
    """A bad override value is reported with the override that caused it."""
    path = write_config(tmp_path, VALID_TREE)
    with pytest.raises(ConfigError) as raised:
        load_config(path, ["training.steps=-5"])
    assert "training.steps=-5" in str(raised.value)
    assert "training.steps: expected an integer > 0, received -5" in str(raised.value)


def test_arm_overrides_are_applied_to_the_base(tmp_path):
    """Each arm is the base with its overrides; the others stay untouched."""
    config = load_config(write_config(tmp_path, VALID_TREE))
    assert config.arm("baseline", 1).regularizer is None
    regularizer = config.arm("dropblock", 1).regularizer
    assert regularizer.name == "dropblock" and regularizer.placement == "every_block"
    assert regularizer.layer_kwargs() == {
        "rate": 0.1, "block_size": 5, "gamma": "calibrated", "channels": "independent",
        "normalize": "per_sample", "seed": None,
    }


def test_arm_with_dotted_keys_merges_into_the_base(tmp_path):
    """Dotted keys in an arm change one value and keep the rest of the section."""
    tree = changed_tree("experiment.arms", {"short": {"training.steps": 4}})
    run = load_config(write_config(tmp_path, tree)).arm("short", 1)
    assert run.training.steps == 4 and run.training.validate_every == 5


def test_arm_overriding_an_unknown_key_is_rejected(tmp_path):
    """An arm may not introduce a key the base and the schema do not know."""
    tree = changed_tree("experiment.arms", {"typo": {"training": {"stepz": 4}}})
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, tree))
    assert raised.value.key == "experiment.arms.typo.training.stepz"


def test_invalid_arm_fails_at_load_time(tmp_path):
    """An arm whose merged config is invalid is reported before any run is resolved."""
    tree = changed_tree("experiment.arms", {"bad": {"task.sigma": 25}})
    with pytest.raises(ConfigError, match=r"\.yaml: experiment\.arms\.bad\.task\.sigma: expected"):
        load_config(write_config(tmp_path, tree))


def test_without_arms_there_is_one_main_arm(tmp_path):
    """A file without arms runs its base as the single arm `main`."""
    tree = changed_tree("experiment.arms", None)
    assert load_config(write_config(tmp_path, tree)).runs() == [("main", 3), ("main", 1)]


def test_runs_are_listed_arm_major_in_file_order(tmp_path):
    """runs() lists every seed of the first arm before the next arm."""
    config = load_config(write_config(tmp_path, VALID_TREE))
    assert config.runs() == [("baseline", 3), ("baseline", 1), ("dropblock", 3), ("dropblock", 1)]


def test_unknown_arm_is_rejected(tmp_path):
    """Asking for an arm that is not in the file is a ConfigError listing the arms."""
    config = load_config(write_config(tmp_path, VALID_TREE))
    with pytest.raises(ConfigError, match="'baseline', 'dropblock'"):
        config.arm("dropout", 1)


def test_resolved_config_round_trips_through_its_file(tmp_path):
    """save_resolved writes a file that reloads to an equal RunConfig, leaving no temp file."""
    run = load_config(write_config(tmp_path, VALID_TREE)).arm("dropblock", 3)
    run_dir = tmp_path / "runs" / "dropblock" / "seed_3"
    path = run.save_resolved(run_dir)
    run.save_resolved(run_dir)
    assert sorted(item.name for item in run_dir.iterdir()) == ["config.yaml"]
    assert RunConfig.from_file(path) == run
    assert RunConfig.from_file(run_dir) == run
    assert RunConfig.from_dict(run.to_dict()) == run


def test_resolved_config_is_frozen(tmp_path):
    """A resolved config cannot be changed in place."""
    run = load_config(write_config(tmp_path, VALID_TREE)).arm("dropblock", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.training.steps = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.regularizer.rate = 0.5


def test_arm_that_switches_the_model_replaces_the_whole_section(tmp_path):
    """An arm naming another model gets that model's defaults, not the base model's keys."""
    arm = {"task": {"type": "denoise", "sigma": 25}, "model": {"name": "dncnn", "depth": 5}}
    tree = changed_tree("experiment.arms", {"denoiser": arm})
    run = load_config(write_config(tmp_path, tree)).arm("denoiser", 1)
    assert run.model.builder_kwargs() == {"depth": 5, "filters": 64, "batch_norm": True, "output_bias": False}


def test_model_section_gives_the_builder_arguments(tmp_path):
    """builder_kwargs holds every model key but the name, defaults included."""
    run = load_config(write_config(tmp_path, VALID_TREE)).arm("baseline", 1)
    assert run.model.builder_kwargs() == {"num_blocks": 2, "filters": 8, "res_scale": 1.0}


def test_blind_training_keys_belong_to_their_task():
    """A degradation chain is for sr, a noise range for denoise; the other way is an error."""
    sr = load_config(CONFIGS / "tiny_sr.yaml", ["data.degradation={jpeg_quality: [50, 90]}"],
                     check_data=False)
    assert sr.arm(sr.arm_names[0], sr.seeds[0]).data.degradation.jpeg_quality == (50, 90)
    denoise = load_config(CONFIGS / "tiny_denoise.yaml", ["data.noise_range=[0, 50]"], check_data=False)
    assert denoise.arm(denoise.arm_names[0], denoise.seeds[0]).data.noise_range == (0.0, 50.0)
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "tiny_denoise.yaml", ["data.degradation={}"], check_data=False)
    assert raised.value.key.endswith("data.degradation")
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "tiny_sr.yaml", ["data.noise_range=[0, 50]"], check_data=False)
    assert raised.value.key.endswith("data.noise_range")


def test_an_override_that_changes_the_model_is_blamed_for_the_keys_it_leaves():
    """`--set model.name=srresnet` keeps EDSR's res_scale: the message names the override."""
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "tiny_test.yaml", ["model.name=srresnet"], check_data=False)
    message = str(raised.value)
    assert message.startswith(f"{CONFIGS / 'tiny_test.yaml'} (with model.name=srresnet): "
                              "model.res_scale: expected a key among")
    assert "set the whole section, --set 'model={name: ..., ...}'" in message


@pytest.mark.parametrize("override, key", [
    ("training.optimzer.learning_rate=1", "training.optimzer"),
    ("training={optimzer: {learning_rate: 1}}", "training.optimzer"),
    ("experiment.arms.dropblock.regularizer.rat=0.1", "experiment.arms.dropblock.regularizer.rat"),
])
def test_an_unknown_key_an_override_writes_is_blamed_on_the_override(override, key):
    """The schema finds the typo after the merge; the message names the override, the key, the keys."""
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "tiny_test.yaml", [override], check_data=False)
    message = str(raised.value)
    prefix = f"{CONFIGS / 'tiny_test.yaml'} (with {override}): {key}: expected a key among: "
    assert message.startswith(prefix)
    assert message.endswith(f"received unknown key {key.split('.')[-1]!r}") and "\n" not in message


def test_steps_must_be_whole_executions():
    """15 steps at 10 per execution would train 20 while the run reports 15: refused at load."""
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "tiny_sr.yaml", ["training.steps=15"], check_data=False)
    assert raised.value.key == "training.steps"
    assert "a multiple of training.steps_per_execution (10)" in str(raised.value)
    assert load_config(CONFIGS / "tiny_sr.yaml", ["training.steps=20"], check_data=False)


@pytest.mark.parametrize("primary, extra, fragment", [
    ("arms: [baseline], sets: [builtin]", [], "an arm compared with baseline (dropblock)"),
    ("arms: [dropblock], sets: [Set5]", [], "a test set of arm baseline (builtin)"),
    ("arms: [dropblock], sets: [builtin], cells: [noise40]", [],
     "a cell arm baseline is scored under (evaluation.grid: none)"),
    ("arms: [dropblock], sets: [builtin], checkpoint: selected", ["training.validate_every=0"],
     "final: arm baseline does not validate"),
    ("arms: [dropblock], sets: [builtin], checkpoint: raw", ["training.ema={decay: 0.5}"],
     "final or selected: arm baseline does not score raw weights (training.ema.score_raw)"),
])
def test_a_primary_endpoint_names_what_its_arms_score(primary, extra, fragment):
    """The endpoint's arms, sets, cells and weights are checked against every arm it reads."""
    if "checkpoint" not in primary:
        primary += ", checkpoint: final"
    overrides = [f"experiment.primary={{{primary}, margin: 0.02}}", *extra]
    with pytest.raises(ConfigError) as raised:
        load_config(CONFIGS / "tiny_test.yaml", overrides)
    assert raised.value.key.startswith("experiment.primary.") and fragment in str(raised.value)
    assert "\n" not in str(raised.value)
    valid = "experiment.primary={arms: [dropblock], sets: [builtin], checkpoint: raw, margin: 0.02}"
    assert load_config(CONFIGS / "tiny_test.yaml", [valid, "training.ema={decay: 0.5, score_raw: true}"])
