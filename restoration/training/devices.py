"""Which device a run trains on, said before training when it is not the one asked for.

`make install GPU=1` installs the CUDA builds of TensorFlow and of JAX. A
JAX run on a machine where that plugin finds no GPU (no driver, no device
visible) would quietly train on the CPU; a run whose `JAX_PLATFORMS` names
`cuda` would stop with JAX's multi-line backend error. `check_accelerator`
turns the first into one warning line and the second into one error line,
before anything is written, and keeps TensorFlow, which a JAX run uses for
`tf.data` and TensorBoard only, off the GPUs JAX trains on.
"""

import importlib.util
import os

import keras


def _cuda_plugin_installed():
    """Whether JAX's CUDA plugin (from `jax[cuda12]`) is installed."""
    for name in ("jax_cuda12_plugin", "jax_plugins.xla_cuda12"):
        try:
            if importlib.util.find_spec(name) is not None:
                return True
        except ModuleNotFoundError:  # `jax_plugins` itself is missing: no plugin at all
            continue
    return False


def _keep_tensorflow_on_the_cpu():
    """Hides the GPUs from TensorFlow (tf.data, TensorBoard) in a JAX run, so JAX has their memory.

    TensorFlow's CUDA build would otherwise map nearly all of a GPU's memory
    at its first operation. Must run before TensorFlow makes any tensor.
    """
    if importlib.util.find_spec("tensorflow") is None:
        return
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow has started its devices already: too late to hide them
        pass


def check_accelerator():
    """Returns a warning line when a JAX run asked for a GPU trains on the CPU, else None.

    Raises:
        ValueError: one line, when `JAX_PLATFORMS` names a GPU platform JAX cannot start.
    """
    if keras.backend.backend() != "jax":
        return None
    _keep_tensorflow_on_the_cpu()
    import jax

    platforms = os.environ.get("JAX_PLATFORMS", "")
    try:
        devices = jax.devices()
    except Exception as error:  # JAX raises RuntimeError, or a bare AssertionError without a plugin
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"JAX_PLATFORMS={platforms}: expected a usable GPU, but JAX cannot start "
                         f"it ({first}); unset JAX_PLATFORMS to train on the CPU") from None
    if devices[0].platform == "cpu" and _cuda_plugin_installed():
        return ("JAX's CUDA plugin is installed, but JAX finds no GPU (no driver or no visible "
                f"device): training on the CPU ({len(devices)} device(s))")
    return None
