"""Which floating-point precision a run computes in, chosen by the config or by the hardware.

`training.mixed_precision` is `false` (float32), `float16`, `bfloat16` or
`auto`. Mixed precision keeps float32 weights and computes in 16 bits;
the output convolution, the loss and DropBlock's normalisation stay float32.
`auto` takes bfloat16 where the hardware runs it natively, a GPU of compute
capability 8.0 or later, or a CPU with AMX-BF16 or AVX512-BF16, and float32
elsewhere: without those units bfloat16 is emulated and slower.
"""

import functools
from pathlib import Path

import keras

POLICIES = {False: "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
# CPU flags (as /proc/cpuinfo spells them) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def cpu_flags():
    """The CPU feature flags of this machine (empty where /proc/cpuinfo is not readable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def _gpu_has_bfloat16():
    """Whether the backend's first GPU does bfloat16 natively (compute capability >= 8.0)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return bool(capability) and capability >= (8, 0)
    if backend == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        if not gpus:
            return None
        capability = getattr(gpus[0], "compute_capability", "0")
        return float(capability) >= 8.0
    return None


def resolve_policy(setting):
    """The Keras dtype policy name for a `training.mixed_precision` setting.

    Args:
        setting: `False`, `"float16"`, `"bfloat16"` or `"auto"`.

    Returns:
        `"float32"`, `"mixed_float16"` or `"mixed_bfloat16"`.
    """
    if setting != "auto":
        return POLICIES[setting]
    gpu = _gpu_has_bfloat16()
    native = gpu if gpu is not None else bool(cpu_flags() & set(BF16_CPU_FLAGS))
    return "mixed_bfloat16" if native else "float32"
