"""What a user names for evaluation, checked, loaded and scored on test sets.

A source is a run directory written by `train.py`, a `.keras` file, or a
baseline (`bicubic` upscaling for super-resolution, the `noisy` input itself
for denoising). `resolve_source` checks it and reads its task without loading
weights and `plan_sets` checks its test sets, so every mistake surfaces
before any work starts; `evaluate_paths` then scores every source on every
set and writes the per-image CSV files.
"""

import csv
import dataclasses
import io
import itertools
import os
import pathlib
import re

from data import grid
from data.builtin import builtin_names
from data.images import encode_png
from data.images import list_images
from data.imagesets import find_set
from data.imagesets import get_image_set
from data.pairs import check_sizes
from data.pairs import match_pairs
from restoration import runs
from restoration.config import RunConfig
from restoration.config.data_checks import paired_sets
from restoration.config.schema import BUILTIN_SET
from restoration.config.schema import EvaluationConfig
from restoration.evaluation.predictors import Task
from restoration.evaluation.predictors import baseline_predictor
from restoration.evaluation.predictors import evaluate_paired
from restoration.evaluation.predictors import evaluate_predictor
from restoration.evaluation.predictors import load_keras_model
from restoration.evaluation.predictors import model_predictor
from restoration.evaluation.protocol import SELF_ENSEMBLE
from restoration.evaluation.targets import check_targets

BASELINES = ("bicubic", "noisy")


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """A model or baseline as the user named it, checked but not yet loaded.

    Args:
        label: the path or baseline name as given; results are keyed by it.
        task: the `Task` it solves, from config.yaml or from the command line.
        model_file: the `.keras` file to load, `None` for a baseline.
        config: the run's `RunConfig`, `None` unless it is a run directory.
    """

    label: str
    task: Task
    model_file: str | None = None
    config: RunConfig | None = None


def resolve_model_file(path, checkpoint=None):
    """Finds the model file to evaluate for a run directory or `.keras` file.

    Args:
        path: a run directory or a `.keras` file.
        checkpoint: `"best"`, `"final"` or `"latest"` to choose the file of a
            run directory; `None` takes the first that exists in that order.

    Returns:
        `pathlib.Path` of an existing `.keras` file.
    """
    path = pathlib.Path(path)
    if checkpoint is not None and checkpoint not in runs.CHECKPOINTS:
        raise ValueError(f"Expected `checkpoint` to be one of {list(runs.CHECKPOINTS)}. "
                         f"Received: checkpoint={checkpoint!r}")
    if path.is_file():
        if path.suffix != ".keras":
            raise ValueError(f"Expected a run directory or a .keras file. Received: path={path}")
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"Model path not found: {path} (a run directory or .keras file)")
    names = [checkpoint] if checkpoint else list(runs.CHECKPOINTS)
    candidates = [path / runs.CHECKPOINTS[name] for name in names]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"No model file in run directory {path}; searched: {', '.join(map(str, candidates))}"
    )


def _given_task(label, scale, sigma, channels):
    """The task given on the command line for a source without config.yaml."""
    if (scale is None) == (sigma is None):
        raise ValueError(f"Expected exactly one of --scale (super-resolution) or --sigma (denoising) for "
                         f"{label}, which has no config.yaml to read the task from. "
                         f"Received: scale={scale}, sigma={sigma}")
    if scale is not None:
        return Task("sr", scale=int(scale), channels=channels)
    return Task("denoise", sigma=float(sigma), channels=channels)


def _configured_task(config, label, scale, sigma, channels):
    """The task of a run's config.yaml, checked against any value also given."""
    task = Task.from_config(config.task)
    for name, given in (("scale", scale), ("sigma", sigma), ("channels", channels)):
        if given is not None and given != getattr(task, name):
            raise ValueError(f"Expected --{name} to agree with {label}/config.yaml "
                             f"({name}={getattr(task, name)}). Received: {name}={given}")
    return task


def resolve_source(path, checkpoint=None, scale=None, sigma=None, channels=None):
    """Checks a run directory, `.keras` file or baseline name without loading weights.

    A run directory's task comes from its `config.yaml`, and any `scale`,
    `sigma` or `channels` given must agree with it; a bare `.keras` file
    needs `scale` or `sigma`; `bicubic` needs `scale`, `noisy` needs `sigma`.

    Args:
        path: a run directory, a `.keras` file, `"bicubic"` or `"noisy"`.
        checkpoint: which model file of a run directory, see `resolve_model_file`.
        scale: super-resolution factor.
        sigma: noise level on the 0-255 scale.
        channels: model input channels; 1 makes a baseline score gray images.

    Returns:
        A `ModelSource` labelled with `path` as given.
    """
    label = os.fspath(path)
    if label in BASELINES:
        return ModelSource(label, _baseline_task(label, scale, sigma, channels))
    model_file = str(resolve_model_file(path, checkpoint))
    if not pathlib.Path(path).is_dir():
        return ModelSource(label, _given_task(label, scale, sigma, channels), model_file)
    config = RunConfig.from_file(path)
    return ModelSource(label, _configured_task(config, label, scale, sigma, channels), model_file, config)


def _baseline_task(name, scale, sigma, channels):
    needed, unused = ("scale", "sigma") if name == "bicubic" else ("sigma", "scale")
    given = {"scale": scale, "sigma": sigma}
    if given[needed] is None or given[unused] is not None:
        raise ValueError(f"Expected --{needed} (and no --{unused}) for the {name} baseline. "
                         f"Received: scale={scale}, sigma={sigma}")
    # Without a channel count each image keeps its own, as in the published baselines.
    return _given_task(name, scale, sigma, None if channels == 3 else channels)


def load_predictor(source):
    """Loads a `ModelSource`: the model's weights, or the baseline's function.

    Args:
        source: a `ModelSource` from `resolve_source`.

    Returns:
        A `Predictor`.
    """
    task = source.task
    if source.model_file is None:
        return baseline_predictor(task)
    model = load_keras_model(source.model_file)
    model_channels = model.inputs[0].shape[-1]
    if task.channels not in (None, model_channels):
        raise ValueError(f"Expected --channels to match the model input of {source.model_file}. "
                         f"Received: channels={task.channels}, model channels={model_channels}")
    return model_predictor(model, task, source.model_file)


@dataclasses.dataclass(frozen=True)
class PairedSet:
    """A user's paired folders scored as a test set: `name` keys the scores, `pairs` are the
    checked `data.pairs.Pair`s."""

    name: str
    pairs: tuple


def plan_sets(source, sets=None, data_root=None, pairs=()):
    """Chooses a source's test sets and data root, and checks the sets exist.

    Run before any model is loaded, so a missing set or a broken pair stops
    the command before it has spent time on other sources.

    Args:
        source: a `ModelSource`.
        sets: set names; `None` takes the run's `data.test_sets` and
            `data.paired_test_sets`.
        data_root: folder holding the sets; `None` takes the run's `data.root`,
            else the default roots.
        pairs: `(input folder, target folder, template)` of paired folders to
            score as well, each named after its target folder.

    Returns:
        `(sets, data_root)`: the registered set names, then a `PairedSet` for
        each paired set, and the root to use.

    Raises:
        ValueError: no set, an unknown or missing set, or folders that do not
            pair up (`data.pairs.PairError`, a line per problem).
    """
    config = source.config
    names = sets if sets is not None else (config.data.test_sets if config else ())
    paired = []
    if config is not None and sets is None:
        where = pathlib.Path(source.label) / runs.CONFIG_FILE
        for index, entry in enumerate(config.data.paired_test_sets):
            key = f"data.paired_test_sets[{index}]"
            paired.append(PairedSet(entry.name, tuple(paired_sets(entry, source.task, key, where))))
    task = source.task
    for input_folder, target_folder, template in pairs:
        found = match_pairs(input_folder, target_folder, template)
        check_sizes(found, task.scale if task.type == "sr" else 1)
        paired.append(PairedSet(pathlib.Path(target_folder).name, tuple(found)))
    if not names and not paired:
        raise ValueError(f"Expected --sets or --pairs for {source.label}, which has no config.yaml "
                         f"naming test sets. Received: sets={list(names)}")
    root = data_root if data_root is not None or config is None else config.data.root
    # Registered spellings (`b100` -> `BSD100`) key the results, without repeats.
    names = tuple(dict.fromkeys(name if name == BUILTIN_SET else get_image_set(name).name
                                for name in names))
    for name in names:
        if name != BUILTIN_SET:
            find_set(name, root)
    taken = set(names)
    for entry in paired:
        if entry.name in taken:
            raise ValueError(f"Expected paired sets named unlike the other test sets of {source.label}. "
                             f"Received: two sets named {entry.name!r}")
        taken.add(entry.name)
    return (*names, *paired), root


def evaluate_paths(paths, sets=None, data_root=None, scale=None, sigma=None, tile=None, overlap=None,
                   ssim=True, *, channels=None, checkpoint=None, per_image_dir=None, progress=None,
                   grid=None, images_dir=None, overwrite=False, output_file=None, pairs=(),
                   self_ensemble=False):
    """Scores run directories, `.keras` files and baselines on test sets.

    Args:
        paths: run directories, `.keras` files, or the baseline names `"bicubic"`
            and `"noisy"`.
        sets: test set names; `None` takes each run's `data.test_sets`.
        data_root: folder holding the sets; `None` takes a run's `data.root`,
            else searches the default roots.
        scale: super-resolution factor, required for a `.keras` file or `bicubic`.
        sigma: noise level, required for a `.keras` file or `noisy`.
        tile: tile side in input pixels; `None` takes a run's `evaluation.tile`,
            else predicts whole images.
        overlap: context around each tile; `None` takes the run's
            `evaluation.tile_overlap`, else the network's receptive field.
        ssim: also compute SSIM.
        channels: model input channels, checked against the model; 1 makes a
            baseline score gray versions of the images.
        checkpoint: `"best"`, `"final"` or `"latest"` model file of a run directory.
        per_image_dir: folder for the per-image CSV files; `None` writes them to
            `<run_dir>/evaluation/` for a run directory and nowhere otherwise.
        progress: called as `progress(path, set_name, result)` after each set.
        grid: names of the task's grid cells (`data.grid`) to score each set
            under, or `()` for the whole grid; `None` scores the benchmark
            input only. Results are then keyed `"<set>/<cell>"`.
        images_dir: folder for the restored images (`<images_dir>/<set>/<image>.png`),
            `""` for `<run_dir>/evaluation/images`, `None` to save none.
        overwrite: whether files that exist at the outputs named (`images_dir`,
            `per_image_dir`, `output_file`) may be replaced; an input never may.
        output_file: the file the caller will write the scores to, checked
            with the other outputs before anything is scored.
        pairs: `(input folder, target folder, template)` of paired folders
            (`data.pairs`) scored as sets named after their target folders,
            on their own inputs (no grid cell).
        self_ensemble: also score every entry with the output averaged over
            the eight flips and rotations, keyed `<set>+x8` (`<set>+x8/<cell>`).

    Returns:
        Dict keyed by path as given, each a dict keyed by set name (or
        `"<set>/<cell>"`) of
        `{"psnr", "ssim", "images", "conventions", "per_image", "task", "model_file"}`.
    """
    labels = [os.fspath(path) for path in paths]
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"Expected distinct paths to evaluate. Received: paths={labels}")
    # Every source and set is checked first, so a mistake costs no evaluation time.
    sources = [resolve_source(label, checkpoint, scale, sigma, channels) for label in labels]
    plans = [(source, *plan_sets(source, sets, data_root, pairs), _grid_cells(source, grid))
             for source in sources]
    several = len(labels) > 1
    image_folders = [_images_folder(source, images_dir, several) for source in sources]
    _check_outputs(plans, image_folders, per_image_dir, output_file, overwrite, self_ensemble)
    results = {}
    for (source, set_names, root, cells), images_folder in zip(plans, image_folders):
        plain = load_predictor(source)
        folder = _per_image_folder(source, per_image_dir, several)
        tiling = _tiling(source.config, tile, overlap)
        results[source.label] = {}
        for suffix, predictor in _variants(plain, self_ensemble):
            for set_name, cell in _entries(set_names, cells):
                key = _key(set_name, cell, suffix)
                keep = _image_saver(images_folder, key)
                if isinstance(set_name, PairedSet):
                    evaluation = evaluate_paired(predictor, set_name.pairs, *tiling, ssim=ssim, keep=keep)
                else:
                    evaluation = evaluate_predictor(predictor, set_name, root, *tiling, ssim=ssim,
                                                    cell=cell, keep=keep)
                result = results[source.label][key] = {**evaluation.to_json(),
                                                       "task": dataclasses.asdict(predictor.task),
                                                       "model_file": predictor.model_file}
                if cell is not None:
                    result["cell"] = dataclasses.asdict(cell)
                if folder is not None:
                    write_per_image_csv(folder / f"{key.replace('/', '_')}.csv", result)
                if progress is not None:
                    progress(source.label, key, result)
    return results


def _variants(predictor, self_ensemble):
    """`(key suffix, predictor)`: the plain predictor, and its x8 self-ensemble when asked."""
    return [("", predictor), *([(SELF_ENSEMBLE, predictor.self_ensembled())] if self_ensemble else [])]


def _entries(set_names, cells):
    """`(set, cell)` to score: every set under every cell, a user's pairs on their own inputs only."""
    return [(name, cell) for name in set_names
            for cell in ([None] if isinstance(name, PairedSet) else cells)]


def _key(set_name, cell, suffix=""):
    """The results key of a set (a name or a `PairedSet`) under a grid cell (None: none), with the
    self-ensemble's suffix."""
    name = (set_name.name if isinstance(set_name, PairedSet) else set_name) + suffix
    return name if cell is None else f"{name}/{cell.name}"


def _set_files(set_name, root):
    """`(name, file)` of each image a set is scored on, without decoding (no file for builtin);
    for a `PairedSet`, each pair's input and target."""
    if isinstance(set_name, PairedSet):
        return [(pair.name, path) for pair in set_name.pairs for path in (pair.input, pair.target)]
    if set_name == BUILTIN_SET:
        return [(name, None) for name in builtin_names("test")]
    return [(path.stem, path) for path in list_images(find_set(set_name, root))]


def _check_outputs(plans, image_folders, per_image_dir, output_file, overwrite, self_ensemble=False):
    """Checks every file the user's output options name against the inputs, before any scoring."""
    suffixes = ["", SELF_ENSEMBLE] if self_ensemble else [""]
    several = len(plans) > 1
    inputs, images, tables = [], [], []
    for (source, set_names, root, cells), images_folder in zip(plans, image_folders, strict=True):
        if source.model_file is not None:
            inputs.append(source.model_file)
        if source.config is not None:
            inputs.append(pathlib.Path(source.label) / runs.CONFIG_FILE)
        table_folder = None if per_image_dir is None else _per_image_folder(source, per_image_dir, several)
        for set_name in set_names:
            files = _set_files(set_name, root)
            inputs += [path for _, path in files if path is not None]
            files = dict(files).items()  # one restored image per pair
            for (_, cell), suffix in itertools.product(_entries([set_name], cells), suffixes):
                key = _key(set_name, cell, suffix)
                if images_folder is not None:
                    folder = images_folder / key.replace("/", "_")
                    images += [folder / f"{pathlib.Path(name).stem}.png" for name, _ in files]
                if table_folder is not None:
                    tables.append(table_folder / f"{key.replace('/', '_')}.csv")
    for targets, option in ((images, "--save-images"), (tables, "--per-image-csv"),
                            ([output_file] if output_file else [], "--output")):
        check_targets(targets, inputs, overwrite, option)


def _grid_cells(source, names):
    """The cells to score: `[None]` (the benchmark input) without a grid, else the named cells."""
    if names is None:
        return [None]
    task = source.task.type
    return list(grid.GRIDS[task]) if not names else grid.cells(names, task)


def _tiling(config, tile, overlap):
    """The `(tile, overlap)` to use: given values, else the run's `evaluation` section.

    Without a run the schema's defaults apply (whole images; an overlap of
    None is the network's receptive field), so the command line, a run and
    training share one rule.
    """
    evaluation = config.evaluation if config is not None else EvaluationConfig()
    return (evaluation.tile if tile is None else tile,
            evaluation.tile_overlap if overlap is None else overlap)


def _images_folder(source, images_dir, several):
    """Where a source's restored images go (`evaluate_paths`' `images_dir`), or None."""
    if images_dir is None:
        return None
    if images_dir == "":
        if source.config is None:
            raise ValueError(f"Expected a folder after --save-images for {source.label}, which is "
                             "not a run directory. Received: --save-images without a folder")
        return pathlib.Path(source.label) / runs.EVALUATION / "images"
    return _source_folder(images_dir, source, several)


def _image_saver(folder, key):
    """`keep(name, output)` writing `<folder>/<key>/<name>.png` atomically, or None."""
    if folder is None:
        return None
    target = folder / key.replace("/", "_")

    def keep(name, output):
        target.mkdir(parents=True, exist_ok=True)
        runs.write_bytes_atomically(target / f"{pathlib.Path(name).stem}.png", encode_png(output))

    return keep


def _per_image_folder(source, per_image_dir, several):
    if per_image_dir is None:
        return None if source.config is None else pathlib.Path(source.label) / runs.EVALUATION
    return _source_folder(per_image_dir, source, several)


def _source_folder(folder, source, several):
    """`folder`, or with several sources a subfolder named after the source's path (made
    file-system safe), so that equal set names never collide."""
    if not several:
        return pathlib.Path(folder)
    return pathlib.Path(folder) / re.sub(r"[^A-Za-z0-9._-]+", "_", source.label).strip("_.")


def write_per_image_csv(path, result):
    """Writes `name,psnr,ssim` rows, one per image; SSIM is empty when skipped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "psnr", "ssim"])
    for entry in result["per_image"]:
        ssim = "" if entry["ssim"] is None else f"{entry['ssim']:.6f}"
        writer.writerow([entry["name"], f"{entry['psnr']:.6f}", ssim])
    runs.write_text_atomically(path, buffer.getvalue())


