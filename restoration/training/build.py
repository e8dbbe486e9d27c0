"""Builds the model, optimizer and data of a run from its validated `RunConfig`.

Turning a regularizer on or off is a factory swap: `regularizer_factory`
returns `None` for no regularizer, and the model builders insert nothing.
"""

import itertools
from pathlib import Path

import keras
import numpy as np

import dropblock
import sr_models
from data import blind
from data import grid
from data import prepared
from data.builtin import load_builtin
from data.degradations import modcrop
from data.images import image_size
from data.images import list_images
from data.images import read_image
from data.imagesets import find_set
from data.pipeline import make_blind_sr_dataset
from data.pipeline import make_cell_validation_set
from data.pipeline import make_chain_validation_set
from data.pipeline import make_denoise_dataset
from data.pipeline import make_noise_range_validation_set
from data.pipeline import make_pair_dataset
from data.pipeline import make_pair_validation_set
from data.pipeline import make_sr_dataset
from data.pipeline import make_validation_set
from restoration.config.conversion import to_plain
from restoration.config.data_checks import paired_sets
from restoration.training.schedules import LearningRate

# Side of the fixed validation crops (high-resolution or clean pixels).
VALIDATION_CROP = 192


def regularizer_factory(config):
    """A `sr_models.Regularizer` for `config.regularizer`, or None.

    DropConnect changes the weights of a convolution rather than its output,
    so it comes as a convolution factory; every other regularizer is a layer
    inserted after the placed sites. A configured `seed` is that of the first
    layer built; each further layer takes the next seed, so no two layers
    draw the same masks.
    """
    settings = config.regularizer
    if settings is None:
        return None
    placement = sr_models.Placement(settings.placement, tuple(settings.blocks) or None)
    kwargs = settings.layer_kwargs()
    built = itertools.count()

    def arguments():
        index = next(built)
        return dict(kwargs, seed=None if kwargs["seed"] is None else kwargs["seed"] + index)

    if settings.name in dropblock.CONVOLUTIONS:

        def conv(filters, kernel_size, **conv_kwargs):
            return dropblock.get(settings.name, filters=filters, kernel_size=kernel_size,
                                 **conv_kwargs, **arguments())

        return sr_models.Regularizer(conv=conv, placement=placement)

    def layer(name):
        return dropblock.get(settings.name, name=name, **arguments())

    return sr_models.Regularizer(layer=layer, placement=placement)


def build_model(config):
    """The network of the run, with initial weights fixed by the run seed, or read from
    `model.init_from`."""
    kwargs = dict(config.model.builder_kwargs())
    if config.task.type == "sr":
        kwargs["scale"] = config.task.scale
    model = sr_models.build_model(
        config.model.name,
        regularizer=regularizer_factory(config),
        channels=config.task.channels,
        seed=config.run.seed,
        **kwargs,
    )
    if config.model.init_from is not None:
        load_initial_weights(model, config.model.init_from)
    return model


def load_initial_weights(model, path):
    """Copies a `.keras` model's weights into `model`, layer by layer by name.

    Every layer of the file that holds weights must be a layer of `model` with
    weights of the same shapes, and every trainable weight of `model` must come
    from the file; a regularizer's own variables (DropBlock's rate) keep theirs.

    Raises:
        ValueError: One line naming the file and the first layer that does not fit.
    """
    from restoration.evaluation.predictors import load_keras_model

    source = load_keras_model(path)
    targets = {layer.name: layer for layer in model.layers}
    filled = set()
    for layer in source.layers:
        if not layer.weights:
            continue
        target = targets.get(layer.name)
        shapes = [tuple(weight.shape) for weight in layer.weights]
        wanted = None if target is None else [tuple(weight.shape) for weight in target.weights]
        if shapes != wanted:
            received = "no such layer" if target is None else f"weights of shapes {wanted}"
            raise ValueError(f"{path}: model.init_from: layer {layer.name} holds weights of shapes {shapes}; "
                             f"the configured {model.name} has {received}")
        target.set_weights(layer.get_weights())
        filled.add(layer.name)
    missing = [layer.name for layer in model.layers if layer.trainable_weights and layer.name not in filled]
    if missing:
        raise ValueError(f"{path}: model.init_from: expected weights for every layer of the configured "
                         f"{model.name}, received none for {', '.join(missing)}")


def learning_rate(config):
    """The learning-rate schedule of the config, saved with the optimizer."""
    training = config.training
    schedule = training.lr_schedule
    return LearningRate(
        training.optimizer.learning_rate,
        name=schedule.name,
        total_steps=training.steps,
        milestones=schedule.milestones,
        gamma=schedule.gamma,
        alpha=schedule.alpha,
        warmup_steps=schedule.warmup_steps,
    )


def jit_compile(setting):
    """Whether to compile the training step with XLA: `training.jit_compile`, with "auto" resolved."""
    if setting == "auto":
        return keras.backend.backend() == "jax"
    return setting


def ema_arguments(training):
    """Keras' optimizer EMA arguments for `training.ema`.

    Keras moves the average at every micro-batch, the weights only at every
    step; with k accumulated micro-batches a momentum of `decay ** (1 / k)`
    gives the average `decay` per step, as without accumulation.
    """
    if training.ema is None:
        return {}
    return {"use_ema": True, "ema_momentum": training.ema.decay ** (1 / training.gradient_accumulation_steps)}


def compile_model(model, config):
    """Adam (clipping, accumulation, EMA), the L1 or L2 loss, XLA and steps per execution from the config."""
    training = config.training
    optimizer = training.optimizer
    accumulation = training.gradient_accumulation_steps
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=learning_rate(config),
            beta_1=optimizer.beta_1,
            beta_2=optimizer.beta_2,
            epsilon=optimizer.epsilon,
            global_clipnorm=optimizer.global_clipnorm,
            gradient_accumulation_steps=accumulation if accumulation > 1 else None,
            **ema_arguments(training),
        ),
        loss="mean_absolute_error" if config.training.loss == "l1" else "mean_squared_error",
        jit_compile=jit_compile(config.training.jit_compile),
        steps_per_execution=config.training.steps_per_execution,
    )
    return model


def image_paths(source, config):
    """The files a `set` or `folder` source reads, in name order, `max_images` of them at most."""
    folder = find_set(source.name, config.data.root) if source.source == "set" else source.path
    paths = sorted(list_images(folder), key=lambda path: path.stem)
    return paths[: source.max_images] if source.max_images is not None else paths


def load_images(source, config, count=None):
    """`(name, uint8 image)` pairs of a data source, in name order; only the first `count` decoded."""
    channels = config.task.channels
    if source.source == "builtin":
        images = sorted(load_builtin(source.name, channels=channels), key=lambda item: item[0])
        images = images[: source.max_images] if source.max_images is not None else images
        return images[:count]
    return [(path.stem, read_image(path, channels)) for path in image_paths(source, config)[:count]]


def load_pairs(source, config, count=None):
    """`(name, input, target)` uint8 images of a `paired` source, in name order, each target
    cropped to a multiple of the scale; only the first `count` pairs decoded."""
    task = config.task
    found = paired_sets(source, task, "data", "the configuration")[:count]
    scale = task.scale if task.type == "sr" else 1
    return [(pair.name, read_image(pair.input, task.channels),
             modcrop(read_image(pair.target, task.channels), scale)) for pair in found]


# Decoded training pixels above which `data.storage: auto` prepares the set on disk.
AUTO_DISK_BYTES = 2 * 1024**3
# Under `output.root`: the prepared training sets, shared by every experiment written there.
PREPARED_FOLDER = ".prepared"


def training_images(config, log=print):
    """The training images of a run: decoded in memory, or a `data.prepared.Prepared` on disk.

    `data.storage: disk` (or `auto`, for a set whose decoded pixels would pass
    `AUTO_DISK_BYTES`) prepares the set once under `<output.root>/.prepared/`
    and reads patches from there; both give the same batches.
    """
    source, storage = config.data.train, config.data.storage
    if source.source == "paired":
        return _training_pairs(config, log)
    if source.source == "builtin" or storage == "memory":
        return load_images(source, config)
    paths = image_paths(source, config)
    if _in_memory(storage, paths):
        return load_images(source, config)
    task, channels = config.task, config.task.channels
    scale = task.scale if task.type == "sr" else None
    low_resolution = scale is not None and config.data.degradation is None
    key = prepared.fingerprint(paths, channels, scale, low_resolution)
    images = ((path.stem, read_image(path, channels)) for path in paths)
    return prepared.prepare(Path(config.output.root) / PREPARED_FOLDER, key, images, scale,
                            low_resolution, log=log)


def _in_memory(storage, paths):
    """Whether `data.storage` keeps these files decoded in memory (`auto`: up to `AUTO_DISK_BYTES`)."""
    return storage == "memory" or storage == "auto" and sum(
        3 * height * width for height, width in map(image_size, paths)) <= AUTO_DISK_BYTES


def _training_pairs(config, log):
    """A user's training pairs `(input, target)` in memory, or prepared on disk with them."""
    task, channels = config.task, config.task.channels
    found = paired_sets(config.data.train, task, "data.train", "the configuration")
    paths = [pair.target for pair in found] + [pair.input for pair in found]
    if _in_memory(config.data.storage, paths):
        return [(lr, hr) for _, lr, hr in load_pairs(config.data.train, config)]
    scale = task.scale if task.type == "sr" else None
    key = prepared.fingerprint(paths, channels, scale, "paired")
    images = ((pair.name, read_image(pair.target, channels), read_image(pair.input, channels))
              for pair in found)
    return prepared.prepare(Path(config.output.root) / PREPARED_FOLDER, key, images, scale,
                            low_resolution=True, log=log)


def training_dataset(config, images, skip_batches=0):
    """Batches of training patches, seeded by the run seed, after `skip_batches`.

    Arms with the same seed see the same crops, augmentations and noise; a
    resumed run starts the stream at the first example it has not trained
    on, which costs what starting at step 0 does (no skipped patch is made).
    """
    task, data = config.task, config.data
    common = dict(patch_size=data.patch_size, batch_size=data.batch_size, seed=config.run.seed,
                  start=skip_batches * data.batch_size)
    degradation = config.data.degradation
    if data.train.source == "paired":
        # A noise-level network is handed task.sigma: real noise has no level to read off.
        level = task.sigma if config.model.network.noise_level else None
        dataset = make_pair_dataset(images, task.scale if task.type == "sr" else 1, noise_level=level,
                                    **common)
    elif task.type == "sr" and degradation is not None:
        chain = blind.Chain(**to_plain(degradation))
        dataset = make_blind_sr_dataset(images, task.scale, chain=chain, **common)
    elif task.type == "sr":
        dataset = make_sr_dataset(images, task.scale, **common)
    else:
        sigma = config.data.noise_range or task.sigma
        dataset = make_denoise_dataset(images, sigma, noise_level=config.model.network.noise_level, **common)
    return dataset


# Fixed draws of a training chain per validation crop, and noise levels spread over a blind
# denoiser's training range: one draw alone would make the choice of checkpoint a lottery.
VALIDATION_DRAWS = 4


def validation_levels(noise_range, count=VALIDATION_DRAWS):
    """`count` noise levels at the centres of equal parts of `(low, high)`."""
    low, high = noise_range
    return [low + (index + 0.5) * (high - low) / count for index in range(count)]


def selection_distribution(config):
    """In words, what the validation crops are degraded by: the distribution a checkpoint is chosen on.

    A run validates, selects its checkpoint and measures its overfitting gap
    on what it trains on: the training chain (fixed draws), crops at noise
    levels spread over the training noise range, or the grid cells
    `evaluation.select_on` declares; otherwise on the benchmark degradation.
    """
    task, data, cells = config.task, config.data, config.evaluation.select_on
    if cells:
        return "the grid cells " + ", ".join(cells)
    if task.type == "sr" and data.degradation is not None:
        return f"the training degradation chain, {VALIDATION_DRAWS} fixed draws per crop"
    if task.type == "denoise" and data.noise_range is not None:
        levels = ", ".join(f"{level:g}" for level in validation_levels(data.noise_range))
        low, high = data.noise_range
        return f"noise sigma {levels} (spread over the training range [{low:g}, {high:g}])"
    if task.type == "sr":
        return f"bicubic x{task.scale} (the benchmark degradation)"
    return f"noise sigma {task.sigma:g}"


# Training images whose center crops measure the overfitting gap.
TRAIN_CROP_IMAGES = 8


def training_crops(config):
    """Center crops of the first training images, degraded exactly like the validation crops
    (or, for paired training folders, their own inputs)."""
    return validation_for(config, config.data.train, TRAIN_CROP_IMAGES)


def validation_for(config, source, count=None):
    """`validation_data` of a data source's first `count` images; a paired source gives its own
    inputs and targets, center-cropped at aligned positions."""
    if source.source != "paired":
        return validation_data(config, load_images(source, config, count))
    task = config.task
    pairs = [(lr, hr) for _, lr, hr in load_pairs(source, config, count)]
    multiple = task.scale if task.type == "sr" else 1
    crop = min(VALIDATION_CROP, min(min(hr.shape[:2]) for _, hr in pairs)) // multiple * multiple
    inputs, targets = make_pair_validation_set(pairs, multiple, crop)
    levels = None
    if config.model.network.noise_level:
        levels = np.full((len(inputs), 1), task.sigma / 255.0, np.float32)
    return inputs, targets, levels


def validation_data(config, images):
    """Fixed center crops `(inputs, targets, noise_levels)` for validation PSNR and panels.

    The crops are degraded as `selection_distribution` says. `noise_levels`
    holds each input's noise level (sigma / 255) for a network that takes
    one, else None.
    """
    task, data = config.task, config.data
    smallest = min(min(image.shape[:2]) for _, image in images)
    multiple = task.scale if task.type == "sr" else 1
    crop = min(VALIDATION_CROP, smallest) // multiple * multiple
    arrays = [image for _, image in images]
    cells = config.evaluation.select_on
    sigmas = None
    if cells:
        inputs, targets, sigmas = make_cell_validation_set(
            arrays, task.type, grid.cells(cells, task.type), scale=task.scale, crop=crop)
    elif task.type == "sr" and data.degradation is not None:
        chain = blind.Chain(**to_plain(data.degradation))
        inputs, targets = make_chain_validation_set(arrays, task.scale, chain, crop=crop,
                                                    draws=VALIDATION_DRAWS)
    elif task.type == "denoise" and data.noise_range is not None:
        inputs, targets, sigmas = make_noise_range_validation_set(
            arrays, validation_levels(data.noise_range), crop=crop)
    else:
        inputs, targets = make_validation_set(arrays, task.type, scale=task.scale, sigma=task.sigma,
                                              crop=crop)
    levels = None
    if config.model.network.noise_level:
        sigmas = np.full(len(inputs), task.sigma, np.float32) if sigmas is None else sigmas
        levels = np.asarray(sigmas, np.float32).reshape(-1, 1) / 255.0
    return inputs, targets, levels
