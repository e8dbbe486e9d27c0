"""The README as a user reads it: its Python examples run, its commands name what exists."""

import re
import shlex
import subprocess
import sys

import pytest

import evaluate
import restore
import train
from restoration.config import load_config
from tests.helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def code_blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def command_lines():
    """Every line of the README's shell blocks, continuation lines joined."""
    lines = []
    for block in code_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def make_calls():
    """`(target, {VARIABLE: value})` of every `make` call in the shell blocks."""
    calls = []
    for line in command_lines():
        words = shlex.split(line.replace("$((", "").replace("))", ""))
        for index, word in enumerate(words):
            if word == "make":
                target = next((w for w in words[index + 1:] if "=" not in w), None)
                variables = dict(w.split("=", 1) for w in words[index + 1:] if "=" in w)
                calls.append((target, variables))
                break
    return calls


def test_the_readme_has_examples_to_check():
    assert len(code_blocks("python")) >= 1 and len(make_calls()) >= 15


@pytest.mark.parametrize("index", range(len(code_blocks("python"))))
def test_python_examples_run_as_written(index):
    """Each block runs in a fresh interpreter from the repository root."""
    result = subprocess.run([sys.executable, "-c", code_blocks("python")[index]], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_make_target_exists():
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.M))
    for target, _ in make_calls():
        assert target in targets, target


PROGRAMS = {"train": train.parse_arguments, "evaluate": evaluate.parse_arguments,
            "restore": restore.parse_arguments}


@pytest.mark.parametrize("target, variables", [call for call in make_calls() if call[0] == "train"],
                         ids=lambda value: value if isinstance(value, str) else None)
def test_train_commands_load_their_configs(target, variables):
    """`make train` lines: the config exists, the options parse and the overrides and runs apply."""
    arguments = train.parse_arguments(["--config", variables.get("CONFIG", "configs/default.yaml"),
                                       *shlex.split(variables.get("ARGS", ""))])
    # What must be on disk is checked at training time, here only the schema and the overrides.
    experiment = load_config(REPO_ROOT / arguments.config, arguments.set, check_data=False)
    assert train.selected_runs(experiment, arguments.arm, arguments.seed)


@pytest.mark.parametrize("target", ["evaluate", "restore"])
def test_evaluate_and_restore_commands_parse(target):
    for called, variables in make_calls():
        if called == target:
            PROGRAMS[target](shlex.split(variables["ARGS"]))


def test_configs_named_anywhere_exist():
    # configs/x.yaml is the placeholder of an error message the README quotes.
    for path in set(re.findall(r"configs/[\w/.-]+\.yaml", README)) - {"configs/x.yaml"}:
        assert (REPO_ROOT / path).is_file(), path
