"""Mistakes in shipped configs stop `train.py` before any work: exit 2, one line, no directory."""

import subprocess
import sys

import pytest
import yaml

import train
from tests.helpers import CONFIGS
from tests.helpers import REPO_ROOT
from tests.helpers import SHIPPED_CONFIGS

# Mutations of the first DropBlock regularizer in a config: (name, change, dotted key under it).
REGULARIZER_MUTATIONS = {
    "rate_above_one": (lambda r: r.update(rate=1.5), "rate"),
    "misspelled_rate": (lambda r: r.update(rat=r.pop("rate")), "rat"),
    "unknown_gamma": (lambda r: r.update(gamma="papr"), "gamma"),
    "block_size_word": (lambda r: r.update(block_size="big"), "block_size"),
    "unknown_layer_argument": (lambda r: r.update(drop_prob=0.1), "drop_prob"),
    "blocks_out_of_range": (lambda r: r.update(placement="blocks", blocks=[0, 999]), "blocks"),
}


def dropblock_sections(tree):
    """`(dotted key, regularizer mapping)` of every DropBlock regularizer written in the file."""
    found = []
    if isinstance(tree.get("regularizer"), dict) and tree["regularizer"].get("name") == "dropblock":
        found.append(("regularizer", tree["regularizer"]))
    for arm, overrides in ((tree.get("experiment") or {}).get("arms") or {}).items():
        regularizer = (overrides or {}).get("regularizer")
        if isinstance(regularizer, dict) and regularizer.get("name") == "dropblock":
            found.append((f"experiment.arms.{arm}.regularizer", regularizer))
    return found


def mutated_copy(path, tmp_path, change):
    """A copy of a shipped config in tmp_path (its base made absolute) after `change(tree)`."""
    tree = yaml.safe_load(path.read_text())
    if "base" in tree:
        tree["base"] = str((path.parent / tree["base"]).resolve())
    change(tree)
    copy = tmp_path / path.name
    copy.write_text(yaml.safe_dump(tree, sort_keys=False))
    return copy


def run_train(config, output, capsys):
    status = train.main(["--config", str(config), "--set", f"output.root={output}", "--quiet"])
    captured = capsys.readouterr()
    return status, captured.err


def assert_clean_failure(status, message, config, key, output):
    assert status == 2
    lines = message.strip().splitlines()
    assert len(lines) == 1, message
    assert lines[0].startswith(f"error: {config}") and f": {key}: expected " in lines[0], lines[0]
    assert "Traceback" not in message
    assert not output.exists()


CASES = [
    (path, mutation)
    for path in SHIPPED_CONFIGS
    if dropblock_sections(yaml.safe_load(path.read_text()))
    for mutation in REGULARIZER_MUTATIONS
]


@pytest.mark.parametrize(
    "path, mutation", CASES, ids=[f"{p.relative_to(CONFIGS)}-{m}" for p, m in CASES]
)
def test_regularizer_mistake_names_file_and_dotted_key(path, mutation, tmp_path, capsys):
    """Every mistake in a DropBlock section is reported as file: dotted key, before any run."""
    change, suffix = REGULARIZER_MUTATIONS[mutation]
    key = dropblock_sections(yaml.safe_load(path.read_text()))[0][0]

    def mutate(tree):
        change(dropblock_sections(tree)[0][1])

    config = mutated_copy(path, tmp_path, mutate)
    status, message = run_train(config, tmp_path / "runs", capsys)
    assert_clean_failure(status, message, config, f"{key}.{suffix}", tmp_path / "runs")


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_missing_test_set_names_the_set_and_the_download_command(path, tmp_path, capsys):
    """A test set absent from the data root is refused at load, with the command that fetches it."""
    empty = tmp_path / "no_data"
    empty.mkdir()

    def mutate(tree):
        tree.setdefault("data", {})
        tree["data"].update(root=str(empty), train={"source": "builtin", "name": "train"},
                            validation=None, test_sets=["Set5"])
        tree.setdefault("training", {})["validate_every"] = 0

    config = mutated_copy(path, tmp_path, mutate)
    status, message = run_train(config, tmp_path / "runs", capsys)
    assert_clean_failure(status, message, config, "data.test_sets[0]", tmp_path / "runs")
    assert "make data SETS=Set5" in message


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_patch_larger_than_the_training_images_is_refused(path, tmp_path, capsys):
    """A patch that no training image can hold is reported with the limit."""
    def mutate(tree):
        tree.setdefault("data", {})
        tree["data"].update(train={"source": "builtin", "name": "train"}, patch_size=5000)

    config = mutated_copy(path, tmp_path, mutate)
    status, message = run_train(config, tmp_path / "runs", capsys)
    assert_clean_failure(status, message, config, "data.patch_size", tmp_path / "runs")
    assert "at most" in message


@pytest.mark.parametrize("mutation", ["rate_above_one", "misspelled_rate"])
def test_train_process_exits_2_without_a_traceback(mutation, tmp_path):
    """Run as a process, `train.py` prints one line and exits 2 (no Python traceback)."""
    change, suffix = REGULARIZER_MUTATIONS[mutation]
    config = mutated_copy(CONFIGS / "default.yaml", tmp_path,
                          lambda tree: change(dropblock_sections(tree)[0][1]))
    completed = subprocess.run(
        [sys.executable, "train.py", "--config", str(config), "--set", f"output.root={tmp_path / 'r'}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0, completed.stderr
    assert f"experiment.arms.dropblock.regularizer.{suffix}" in completed.stderr
    assert "Traceback" not in completed.stderr and not (tmp_path / "r").exists()
