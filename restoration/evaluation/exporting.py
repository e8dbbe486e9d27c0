"""Exports a trained model for deployment: SavedModel, ONNX and LiteRT, each checked numerically.

Keras' own exporter (`Model.export`) writes every format from the model's
inference graph, so regularizers (identity at inference) vanish; the height
and width stay dynamic. Each file is then run by its own runtime (TensorFlow,
ONNX Runtime, the LiteRT interpreter) on a real image and compared with the
`.keras` model: the largest absolute difference on [0, 1] pixels must stay
within `TOLERANCE`, which float rounding meets and a wrong layout or a lost
layer does not.
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from data.builtin import load_builtin
from data.degradations import add_gaussian_noise
from data.degradations import bicubic_downscale
from data.degradations import modcrop
from data.images import rgb_to_gray

# Format name to (Keras' format, file name under the output folder).
FORMATS = {"savedmodel": ("tf_saved_model", "saved_model"), "onnx": ("onnx", "model.onnx"),
           "litert": ("litert", "model.tflite")}
# The packages that write or run a format, beyond TensorFlow, and how to install them.
NEEDS = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "litert": ("ai_edge_litert",)}
INSTALL = {"onnx": "pip install onnx onnxruntime, and tf2onnx with --no-deps",
           "litert": "pip install ai-edge-litert"}
TOLERANCE = 1e-4
# The side of the check image's crop, in the model's input pixels; odd, to exercise padding.
CHECK_SIDE = 61


def check_input(task, channels, seed=0):
    """A real input of the task: a crop of a built-in test photograph, shrunk with MATLAB bicubic
    (sr) or with noise at `task.sigma` (denoising), float32 `(1, h, w, channels)` in [0, 1]."""
    image = sorted(load_builtin("test", channels=3), key=lambda item: item[0])[0][1]
    if channels == 1:
        image = rgb_to_gray(image)
    if task.type == "sr":
        crop = modcrop(image[: CHECK_SIDE * task.scale, : CHECK_SIDE * task.scale], task.scale)
        inputs = bicubic_downscale(crop, task.scale).astype(np.float32) / 255.0
    else:
        crop = image[:CHECK_SIDE, :CHECK_SIDE].astype(np.float64) / 255.0
        inputs = add_gaussian_noise(crop, task.sigma, seed).astype(np.float32)
    return inputs[None]


def _arguments(model, task, image):
    """The model's inputs for `image`: with the noise level of a network that takes one."""
    if len(model.inputs) == 2:
        return [image, np.full((1, 1), task.sigma / 255.0, np.float32)]
    return [image]


def _input_signature(model):
    """One positional argument: the image, or the list [image, noise level] of a two-input network."""
    import keras

    specs = [keras.InputSpec(shape=(None, *tensor.shape[1:]), dtype="float32") for tensor in model.inputs]
    return specs if len(specs) == 1 else [specs]


def run_export(path, kind, arguments):
    """The exported file's output on `arguments`, through its own runtime."""
    if kind == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # held: its variables live as long as it does
        return np.asarray(loaded.serve(arguments[0] if len(arguments) == 1 else arguments))
    if kind == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {entry.name: value for entry, value in zip(session.get_inputs(), arguments, strict=True)}
        return session.run(None, feeds)[0]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    # LiteRT may list the inputs in another order: the noise level is the one of shape (batch, 1).
    details = sorted(interpreter.get_input_details(), key=lambda entry: len(entry["shape"]) < 4)
    for entry, value in zip(details, arguments, strict=True):
        interpreter.resize_tensor_input(entry["index"], value.shape)
    interpreter.allocate_tensors()
    for entry, value in zip(details, arguments, strict=True):
        interpreter.set_tensor(entry["index"], value)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def check_formats(kinds):
    """Raises `ValueError` (one line) for a format this machine cannot write or check."""
    for kind in kinds:
        if kind not in FORMATS:
            raise ValueError(f"Expected formats among {', '.join(FORMATS)}. Received: {kind!r}")
        for module in NEEDS.get(kind, ()):
            try:
                __import__(module)
            except ImportError:
                raise ValueError(f"The {kind} format needs the {module} package: `make export` "
                                 f"installs it ({INSTALL[kind]})") from None


def export_model(model, task, output, kinds, log=print):
    """Writes `model` in each format under `output` and checks each against the model.

    Args:
        model: A Keras model (loaded from a `.keras` file).
        task: Its `restoration.evaluation.predictors.Task` (scale or sigma, for the check input).
        output: The folder to write into; created, and no file in it replaced.
        kinds: Format names from `FORMATS`.
        log: Called with one line per format.

    Returns:
        Format name to `(path, largest absolute difference)`.

    Raises:
        ValueError: a format that cannot be written or checked, a target that
            exists, an export that fails (one line naming the format and the
            first layer the error names), or a difference above `TOLERANCE`.
    """
    check_formats(kinds)
    output = Path(output)
    targets = {kind: output / FORMATS[kind][1] for kind in kinds}
    for target in targets.values():
        if target.exists():
            raise ValueError(f"{target}: expected a path where nothing is, received an existing "
                             "export (remove it or choose another --output)")
    channels = int(model.inputs[0].shape[-1])
    arguments = _arguments(model, task, check_input(task, channels))
    expected = np.asarray(model(arguments if len(arguments) > 1 else arguments[0], training=False))
    output.mkdir(parents=True, exist_ok=True)
    results = {}
    for kind, target in targets.items():
        staging = Path(tempfile.mkdtemp(dir=output, prefix=f".{target.name}."))
        written = staging / target.name
        try:
            try:
                model.export(str(written), format=FORMATS[kind][0], input_signature=_input_signature(model),
                             verbose=False)
            except Exception as error:  # The exporters raise many types; the message is what matters.
                raise ValueError(_export_error(model, kind, error)) from None
            received = run_export(written, kind, arguments)
            if received.shape != expected.shape:
                raise ValueError(_shape_error(model, kind, arguments[0].shape, received.shape))
            difference = float(np.abs(received - expected).max())
            if not difference <= TOLERANCE:
                raise ValueError(f"{target}: expected the {kind} export to reproduce the model within "
                                 f"{TOLERANCE:g}, received a difference of {difference:.3g}")
            os.rename(written, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        results[kind] = (target, difference)
        log(f"{kind}: {target} (largest difference from the .keras model on a {arguments[0].shape[2]}x"
            f"{arguments[0].shape[1]} input: {difference:.2g})")
    return results


def _shape_error(model, kind, given, received):
    """One line for an export whose output size differs, naming the layers that size the output."""
    sizing = [layer.name for layer in model.layers
              if type(layer).__name__ in ("PadToMultiple", "CropToInput")]
    where = f" (its layers {', '.join(sizing)} pad and crop to the input's size)" if sizing else ""
    return (f"Cannot export {model.name} as {kind}: a {given[2]}x{given[1]} input gives a "
            f"{received[2]}x{received[1]} output in that format{where}")


def _export_error(model, kind, error):
    """One line for a failed export, naming the first of the model's layers the error mentions."""
    text = str(error)
    named = next((layer.name for layer in model.layers if layer.name in text), None)
    where = f" at layer {named}" if named else ""
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"Cannot export {model.name} as {kind}{where}: {first}"
