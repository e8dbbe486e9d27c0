"""DropBlock inside compiled training: dynamic shapes, XLA, mixed precision, schedule."""

import keras
import numpy as np
import pytest
from keras import ops

import dropblock

pytestmark = pytest.mark.backend_agnostic

BACKEND = keras.backend.backend()


def small_model(rate=0.2, block_size=3, channels=4):
    """Conv -> DropBlock -> Conv over images of any size."""
    inputs = keras.Input((None, None, channels))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = dropblock.DropBlock2D(rate, block_size, seed=0)(x)
    outputs = keras.layers.Conv2D(channels, 3, padding="same", dtype="float32")(x)
    return keras.Model(inputs, outputs)


def varying_size_batches(channels=4, count=6):
    """Batches whose height and width change every step."""
    rng = np.random.default_rng(0)
    sizes = [(12, 20), (17, 9), (5, 5), (2, 3), (31, 14), (8, 8)]
    for height, width in sizes[:count]:
        images = rng.random((2, height, width, channels)).astype("float32")
        yield images, images


def as_dataset(batches, channels=4):
    """A tf.data pipeline with unknown spatial dimensions on TensorFlow."""
    if BACKEND != "tensorflow":
        return batches
    import tensorflow as tf

    spec = tf.TensorSpec((None, None, None, channels), tf.float32)
    return tf.data.Dataset.from_generator(lambda: batches, output_signature=(spec, spec))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_with_unknown_spatial_dimensions(jit_compile):
    """Compiled fit (graph and XLA) runs over a new image size every step."""
    if BACKEND == "jax" and not jit_compile:
        pytest.skip("the JAX backend always compiles with XLA")
    model = small_model()
    model.compile("adam", "mae", jit_compile=jit_compile)
    history = model.fit(as_dataset(varying_size_batches()), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_tf_function_with_unknown_spatial_dimensions():
    """A tf.function traced with None height and width accepts any size."""
    if BACKEND != "tensorflow":
        pytest.skip("tf.function is TensorFlow-only")
    import tensorflow as tf

    layer = dropblock.DropBlock2D(0.2, 5)
    function = tf.function(
        lambda x: layer(x, training=True),
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
    )
    for shape in [(1, 40, 24, 3), (3, 7, 9, 3), (2, 1, 1, 3)]:
        outputs = function(tf.ones(shape)).numpy()
        assert outputs.shape == shape and np.all(np.isfinite(outputs))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_training(policy):
    """fit runs under mixed precision and the layer computes in half precision."""
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = small_model()
        model.compile("adam", "mae")
        history = model.fit(as_dataset(varying_size_batches(count=3)), epochs=1, verbose=0)
        layer = model.layers[2]
        half = layer(ops.ones((1, 8, 8, 4), dtype=layer.compute_dtype), training=True)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert np.isfinite(history.history["loss"][0])
    assert keras.backend.standardize_dtype(half.dtype) == policy.split("_")[1]


def test_float16_normalization_does_not_overflow_on_large_maps():
    """A 1x512x512x64 float16 map keeps its mean: the count is in float32."""
    layer = dropblock.DropBlock2D(0.1, 7, seed=1, dtype="mixed_float16")
    outputs = ops.convert_to_numpy(
        layer(ops.ones((1, 512, 512, 64), dtype="float16"), training=True)
    )
    assert np.all(np.isfinite(outputs))
    assert outputs.astype("float64").mean() == pytest.approx(1.0, abs=2e-3)
    assert (outputs == 0).mean() == pytest.approx(0.1, abs=0.01)


class RealisedRates(keras.callbacks.Callback):
    """Records the rate in effect and the realised rate at every step."""

    def __init__(self, layer):
        super().__init__()
        self.layer, self.scheduled, self.realised = layer, [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.scheduled.append(float(ops.convert_to_numpy(self.layer.current_rate)))

    def on_train_batch_end(self, batch, logs=None):
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        self.realised.append(float(ops.convert_to_numpy(self.layer.realised_rate)))


def identity_model():
    inputs = keras.Input((None, None, 16))
    outputs = dropblock.DropBlock2D(0.4, 3, seed=3)(inputs)
    scaled = keras.layers.Dense(16, use_bias=False, kernel_initializer="identity")(outputs)
    model = keras.Model(inputs, scaled)
    model.compile("sgd", "mse", jit_compile=True)
    return model


def test_schedule_changes_the_realised_rate_inside_compiled_fit():
    """The linear ramp reaches the compiled step: realised rate follows it."""
    model = identity_model()
    recorder = RealisedRates(model.layers[1])
    images = np.ones((64, 32, 32, 16), "float32")
    model.fit(images, images, batch_size=8, epochs=2, verbose=0,
              callbacks=[dropblock.DropBlockSchedule(ramp_steps=10), recorder])
    expected = [0.4 * min(1.0, step / 10) for step in range(16)]
    np.testing.assert_allclose(recorder.scheduled, expected, atol=1e-6)
    np.testing.assert_allclose(recorder.realised, expected, atol=0.02)


def test_schedule_position_survives_save_and_resume(tmp_path):
    """A model saved mid-ramp resumes the ramp from the optimizer step."""
    model = identity_model()
    images = np.ones((40, 16, 16, 16), "float32")
    model.fit(images, images, batch_size=8, epochs=1, verbose=0,
              callbacks=[dropblock.DropBlockSchedule(ramp_steps=20)])
    path = tmp_path / "checkpoint.keras"
    model.save(path)
    resumed = keras.saving.load_model(path)
    recorder = RealisedRates(resumed.layers[1])
    resumed.fit(images[:16], images[:16], batch_size=8, epochs=1, verbose=0,
                callbacks=[dropblock.DropBlockSchedule(ramp_steps=20), recorder])
    np.testing.assert_allclose(recorder.scheduled, [0.4 * 5 / 20, 0.4 * 6 / 20], atol=1e-6)


def test_schedule_rejects_negative_steps():
    """A negative ramp length is an error naming the value."""
    with pytest.raises(ValueError, match="ramp_steps=-1"):
        dropblock.DropBlockSchedule(ramp_steps=-1)
