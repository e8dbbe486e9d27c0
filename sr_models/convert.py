"""Converts the authors' released DnCNN and FFDNet weights into this project's networks.

    python -m sr_models.convert ../shared/weights/cszn-DnCNN/sigma=25.mat --model dncnn \\
        --output dncnn_s25.keras
    python -m sr_models.convert ../shared/weights/cszn-FFDNet/FFDNet_gray.mat --model ffdnet \\
        --output ffdnet_gray.keras
    python -m sr_models.convert ../shared/weights/cszn-KAIR/dncnn_25.pth --model dncnn \\
        --output dncnn_s25_kair.keras

Sources: MatConvNet `simplenn` networks saved by MATLAB as v7.3 (HDF5) files,
read with h5py, and PyTorch state dicts, read without PyTorch
(`sr_models.torch_weights`). The released networks have their batch norm
folded into the convolutions, so DnCNN is built with `batch_norm=False` and a
bias on its last convolution (`output_bias=True`); depth, width and channels
are read off the weights. FFDNet's MATLAB pixel unshuffle orders the
sub-images channel by channel, row offset fastest, where this project's
(`tf.nn.space_to_depth`) puts the channel fastest: the first convolution's
inputs and the last one's outputs are permuted to match, which is exact.

Every conversion is checked before it is written: each kernel and bias
must fit the layer it goes to (a one-line error names both), and the Keras
model's output on a fixed random input must equal a NumPy forward pass of
the original network, layer by layer as the source describes it (MatConvNet's
sub-pixel layers indexed as MATLAB does), to within `FORWARD_TOLERANCE`.
The output is written atomically and never over an existing file.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

# Largest difference allowed between the converted model and the NumPy reference, on [0, 1] images.
FORWARD_TOLERANCE = 1e-4
NETWORKS = ("dncnn", "ffdnet")


class ConversionError(ValueError):
    """A source that cannot become the network asked for; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer of a source network, in execution order.

    Args:
        kind: `"conv"`, `"relu"`, `"subpixel"` or `"concat"` (the noise-level map).
        name: Its name in the source, for messages.
        kernel: `(kh, kw, in, out)` float32 for a convolution, as Keras holds it.
        bias: `(out,)` float32, or None.
        scale: A sub-pixel layer's factor: 0.5 unshuffles, 2 shuffles.
    """

    kind: str
    name: str
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None
    scale: float | None = None


def read_matconvnet(path):
    """The layers of a MatConvNet `simplenn` network saved as MATLAB v7.3 (HDF5).

    h5py hands MATLAB's column-major arrays back with their axes reversed, so
    a kernel `(kh, kw, in, out)` in MATLAB reads as `(out, in, kw, kh)`; the
    last kernel of a one-output network lost its trailing axis in MATLAB.

    Raises:
        ConversionError: not such a file, or a layer type this converter does not know.
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ConversionError(f"{path}: expected a MATLAB v7.3 (HDF5) MatConvNet file, received "
                              f"{str(error).splitlines()[0]}") from None
    with handle:
        if "net" not in handle or "layers" not in handle["net"]:
            raise ConversionError(f"{path}: expected a MatConvNet network (net.layers), received keys "
                                  f"{sorted(handle)}")
        layers = []
        for index, reference in enumerate(handle["net/layers"][()].ravel()):
            group = handle[reference]
            kind, name = _text(group["type"]), _text(group["name"]) if "name" in group else str(index)
            if kind == "conv":
                kernel, bias = (np.array(handle[ref], np.float32) for ref in group["weights"][()].ravel())
                kernel = np.transpose(kernel)
                if kernel.ndim == 3:
                    kernel = kernel[..., None]
                stride, pad = (np.array(group[key]).ravel().tolist() for key in ("stride", "pad"))
                if set(stride) != {1} or set(pad) != {(kernel.shape[0] - 1) // 2}:
                    raise ConversionError(f"{path}: layer {index} ({name}): expected stride 1 and "
                                          f"'same' padding, received stride {stride} and pad {pad}")
                layers.append(Layer("conv", name, kernel, bias.ravel()))
            elif kind == "relu":
                if np.array(group["leak"]).ravel().tolist() not in ([0.0], []):
                    raise ConversionError(f"{path}: layer {index} ({name}): expected a plain ReLU, "
                                          "received a leaky one")
                layers.append(Layer("relu", name))
            elif kind == "SubP":
                layers.append(Layer("subpixel", name, scale=float(np.array(group["scale"]).ravel()[0])))
            elif kind == "concat":
                layers.append(Layer("concat", name))
            else:
                raise ConversionError(f"{path}: layer {index} ({name}): expected conv, relu, SubP or "
                                      f"concat, received type {kind!r}")
    return layers


def _text(dataset):
    """A MATLAB char array (uint16 codes) as a string."""
    return "".join(chr(code) for code in np.array(dataset).ravel())


def read_pytorch(path):
    """The layers of a PyTorch state dict of a plain conv + ReLU stack (KAIR's DnCNN).

    Each `<name>.weight` of four axes is a convolution, with `<name>.bias`;
    a ReLU follows each but the last.

    Raises:
        ConversionError: a tensor that is not a convolution's weight or bias.
    """
    from sr_models.torch_weights import read_state_dict

    state = read_state_dict(path)
    layers = []
    for key, value in state.items():
        prefix, _, kind = key.rpartition(".")
        if kind == "weight" and value.ndim == 4:
            bias = state.get(f"{prefix}.bias")
            layers += [Layer("conv", prefix, np.transpose(value, (2, 3, 1, 0)).astype(np.float32),
                             None if bias is None else bias.astype(np.float32)), Layer("relu", prefix)]
        elif not (kind == "bias" and f"{prefix}.weight" in state):
            raise ConversionError(f"{path}: tensor {key} of shape {value.shape}: expected only "
                                  "convolution weights and biases (a network with batch norm folded)")
    return layers[:-1]


def read_source(path):
    """The layers of a `.mat` or `.pth` file."""
    suffix = Path(path).suffix.lower()
    if suffix == ".mat":
        return read_matconvnet(path)
    if suffix in (".pth", ".pt"):
        return read_pytorch(path)
    raise ConversionError(f"{path}: expected a .mat (MatConvNet) or .pth (PyTorch) file, received "
                          f"{suffix or 'no extension'}")


def describe(layers, network, path):
    """The builder arguments of `network` that the source's layers call for.

    Raises:
        ConversionError: the layers are not that network.
    """
    convs = [layer for layer in layers if layer.kind == "conv"]
    kinds = [layer.kind for layer in layers]
    is_ffdnet = kinds[:2] == ["subpixel", "concat"] and kinds[-1] == "subpixel"
    if network == "dncnn" and not is_ffdnet and set(kinds) <= {"conv", "relu"}:
        return {"depth": len(convs), "filters": convs[0].kernel.shape[-1],
                "channels": convs[0].kernel.shape[2], "batch_norm": False,
                "output_bias": convs[-1].bias is not None}
    if network == "ffdnet" and is_ffdnet:
        channels = convs[-1].kernel.shape[-1] // 4
        return {"depth": len(convs), "filters": convs[0].kernel.shape[-1], "channels": channels}
    found = "FFDNet (sub-pixel layers and a noise-level map)" if is_ffdnet else "a plain conv + ReLU stack"
    raise ConversionError(f"{path}: expected the layers of {network}, received {found} "
                          f"({len(convs)} convolutions)")


def _unshuffle_order(channels):
    """`order[j]`: the MATLAB channel of this project's unshuffled channel j (then the level map)."""
    # MATLAB's channel `channel * 4 + column * 2 + row`, ordered by row, column, then channel.
    order = np.arange(4 * channels).reshape(channels, 2, 2).transpose(2, 1, 0).ravel()
    return np.append(order, 4 * channels)


def assign(model, layers, network, path):
    """Copies the source's convolutions into the model's, in order, permuting FFDNet's ends.

    Raises:
        ConversionError: a count or shape that does not fit, naming both layers.
    """
    import keras

    targets = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    convs = [layer for layer in layers if layer.kind == "conv"]
    if len(targets) != len(convs):
        raise ConversionError(f"{path}: expected {len(targets)} convolutions for {model.name}, "
                              f"received {len(convs)}")
    for index, (target, source) in enumerate(zip(targets, convs, strict=True)):
        kernel, bias = source.kernel, source.bias
        if network == "ffdnet" and index == 0:
            kernel = kernel[:, :, _unshuffle_order(kernel.shape[2] // 4)]
        if network == "ffdnet" and index == len(convs) - 1:
            order = _unshuffle_order(kernel.shape[-1] // 4)[:-1]
            kernel, bias = kernel[..., order], bias[order]
        values = [kernel] if bias is None else [kernel, bias]
        shapes = [tuple(weight.shape) for weight in target.weights]
        if [value.shape for value in values] != shapes:
            raise ConversionError(
                f"{path}: layer {source.name}: kernel {kernel.shape} and bias "
                f"{None if bias is None else bias.shape} do not fit {target.name} ({shapes})")
        target.set_weights(values)


def reference_forward(layers, image, level=None, residual=False):
    """The source network on one `(height, width, channels)` float64 image, in NumPy.

    Args:
        layers: The source's `Layer`s.
        image: The input, even height and width for FFDNet.
        level: FFDNet's noise level on [0, 1] (sigma / 255), the map `concat` adds.
        residual: DnCNN: the network predicts the noise, subtracted from the input.
    """
    features = image
    for layer in layers:
        if layer.kind == "conv":
            features = _conv(features, layer.kernel, layer.bias)
        elif layer.kind == "relu":
            features = np.maximum(features, 0)
        elif layer.kind == "concat":
            features = np.concatenate([features, np.full(features.shape[:2] + (1,), level)], axis=-1)
        else:
            features = _matlab_subpixel(features, layer.scale)
    return image - features if residual else features


def _conv(image, kernel, bias):
    """Cross-correlation with zero padding to the same size (MatConvNet's and Keras' convolution)."""
    size = kernel.shape[0]
    half = size // 2
    padded = np.pad(image, ((half, half), (half, half), (0, 0)))
    height, width = image.shape[:2]
    output = np.zeros((height, width, kernel.shape[-1]))
    for row in range(size):
        for column in range(size):
            output += padded[row:row + height, column:column + width] @ kernel[row, column].astype(np.float64)
    return output if bias is None else output + bias


def _matlab_subpixel(image, scale):
    """MatConvNet-FFDNet's `vl_nnSubP`: sub-image `i` of channel `c` is channel `c * s^2 + i`,
    its row offset `i mod s` and column offset `i // s`."""
    factor = round(1 / scale) if scale < 1 else round(scale)
    height, width, channels = image.shape
    if scale < 1:
        # (row block, row offset, column block, column offset, channel) to (..., channel, column, row).
        blocks = image.reshape(height // factor, factor, width // factor, factor, channels)
        return blocks.transpose(0, 2, 4, 3, 1).reshape(height // factor, width // factor, -1)
    blocks = image.reshape(height, width, channels // factor**2, factor, factor)
    return blocks.transpose(0, 4, 1, 3, 2).reshape(height * factor, width * factor, -1)


def convert(source, network, sigma=25.0):
    """The Keras model holding a released network's weights, checked against its NumPy reference.

    Args:
        source: A `.mat` or `.pth` file.
        network: `"dncnn"` or `"ffdnet"`.
        sigma: The noise level (0-255) of the forward check's FFDNet map.

    Returns:
        `(model, arguments, difference)`: the model, its builder arguments
        and the largest absolute difference from the reference.

    Raises:
        ConversionError: an unreadable source, another network, a layer that
            does not fit, or a forward pass that differs.
    """
    import sr_models

    if network not in NETWORKS:
        raise ConversionError(f"{source}: expected a network among {', '.join(NETWORKS)}, received "
                              f"{network!r}")
    layers = read_source(source)
    arguments = describe(layers, network, source)
    build = sr_models.build_dncnn if network == "dncnn" else sr_models.build_ffdnet
    model = build(**arguments, seed=0, name=f"{network}_{Path(source).stem}".replace("=", ""))
    assign(model, layers, network, source)
    image = np.random.default_rng(0).uniform(size=(24, 32, arguments["channels"]))
    level = sigma / 255.0
    expected = reference_forward(layers, image, level=level, residual=network == "dncnn")
    inputs = image[None].astype(np.float32)
    if network == "ffdnet":
        inputs = [inputs, np.full((1, 1), level, np.float32)]
    received = np.asarray(model(inputs))[0]
    difference = float(np.abs(received - expected).max())
    if not difference <= FORWARD_TOLERANCE:
        raise ConversionError(f"{source}: expected the converted {network} to reproduce the source's "
                              f"forward pass within {FORWARD_TOLERANCE:g}, received a difference of "
                              f"{difference:.3g}")
    return model, arguments, difference


def save_new(model, output):
    """Saves to `output` atomically; an existing file is never replaced."""
    output = Path(output)
    if output.exists():
        raise ConversionError(f"{output}: expected a path where no file is, received an existing file "
                              "(remove it or choose another --output)")
    if output.suffix != ".keras":
        raise ConversionError(f"{output}: expected a .keras file name, received {output.suffix!r}")
    output.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".keras")
    os.close(descriptor)
    try:
        model.save(temporary)
        os.link(temporary, output)  # fails, rather than replaces, if the file appeared meanwhile
    finally:
        os.unlink(temporary)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sr_models.convert",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a MatConvNet .mat (v7.3) or PyTorch .pth file")
    parser.add_argument("--model", required=True, choices=NETWORKS, help="the network it holds")
    parser.add_argument("--sigma", type=float, default=25.0,
                        help="noise level of FFDNet's map in the forward check (default 25)")
    parser.add_argument("--output", required=True, help="the .keras file to write (never replaced)")
    arguments = parser.parse_args(argv)
    try:
        if not Path(arguments.source).is_file():
            raise ConversionError(f"{arguments.source}: expected a weights file, received no such file")
        model, built, difference = convert(arguments.source, arguments.model, arguments.sigma)
        save_new(model, arguments.output)
    except (ConversionError, OSError, ValueError) as error:
        print(f"convert: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    settings = ", ".join(f"{key}={value}" for key, value in built.items())
    print(f"{arguments.source} -> {arguments.output}: {arguments.model} ({settings}), "
          f"{model.count_params():,} parameters; forward pass equal to the source's NumPy reference "
          f"within {difference:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
