"""Run directories: where each arm and seed of an experiment writes its files.

A run directory describes itself: the resolved config, checkpoints, the final
model, TensorBoard logs and the evaluation results sit side by side in
`<output root>/<experiment>/<arm>/seed<N>/`. Every file is written to a
temporary name first and renamed, so an interruption never leaves half a file.
"""

import json
import os
import tempfile
from pathlib import Path

CONFIG_FILE = "config.yaml"
STATE_FILE = "state.json"
RESULTS_FILE = "results.json"
FINAL_MODEL = "model.keras"
LATEST_CHECKPOINT = "checkpoints/latest.keras"
BEST_CHECKPOINT = "checkpoints/best.keras"
LOGS = "logs"
EXPERIMENT_FILE = "experiment.json"


def experiment_directory(output_root, experiment):
    return Path(output_root) / experiment


def run_directory(output_root, experiment, arm, seed):
    return experiment_directory(output_root, experiment) / arm / f"seed{seed}"


def write_bytes_atomically(path, data):
    """Writes `data` to `path` through a temporary file in the same folder.

    Readers see the old file or the new one, never half of one; the file is
    readable by everyone (mkstemp would make it private to its owner).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomically(path, text):
    """`write_bytes_atomically` for UTF-8 text."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path, data):
    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path, default=None):
    path = Path(path)
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}). Delete it to start over.") from None


def save_model_atomically(model, path):
    """Saves a `.keras` file under a temporary name, then renames it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    model.save(temporary)
    os.replace(temporary, path)
