"""The training recipe's optimizer: gradient accumulation, clipping and the EMA of the weights."""

import keras
import numpy as np
import pytest

from restoration.config import load_config
from restoration.training import build
from restoration.training.callbacks import averaged_weights
from tests.helpers import CONFIGS


def baseline(*overrides):
    return load_config(CONFIGS / "tiny_test.yaml", list(overrides)).arm("baseline", 0)


def patches(count=16):
    generator = np.random.default_rng(3)
    inputs = generator.uniform(size=(count, 6, 6, 3)).astype("float32")
    return inputs, generator.uniform(size=(count, 12, 12, 3)).astype("float32")


def trained_weights(batch_size, *overrides):
    """The weights after `fit` on 16 fixed patches, from the seeded initial weights."""
    config = baseline(*overrides)
    model = build.compile_model(build.build_model(config), config)
    model.fit(*patches(), batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return [keras.ops.convert_to_numpy(weight) for weight in model.trainable_weights]


def differ(first, second):
    return max(np.abs(a - b).max() for a, b in zip(first, second))


@pytest.mark.parametrize("clipnorm", [None, 0.05])
def test_accumulated_micro_batches_make_the_step_of_one_batch_k_times_larger(clipnorm):
    """4 accumulated micro-batches of 2 patches give the Adam steps of batches of 8 (clipped after
    accumulation, as one large batch is), two steps in a row."""
    clip = [] if clipnorm is None else [f"training.optimizer.global_clipnorm={clipnorm}"]
    large = trained_weights(8, *clip)
    accumulated = trained_weights(2, "training.gradient_accumulation_steps=4", *clip)
    for expected, received in zip(large, accumulated):
        np.testing.assert_allclose(received, expected, rtol=1e-5, atol=2e-7)
    # The micro-batches alone, stepped one by one, train to other weights.
    assert differ(trained_weights(2, *clip), large) > 1e-4
    if clipnorm is not None:  # The clip binds: without it the same batches train elsewhere.
        assert differ(trained_weights(8), large) > 1e-5


def test_the_ema_is_the_average_keras_keeps_and_swaps_in_only_inside_the_block():
    """`averaged_weights` puts the optimizer's moving averages in the model and restores the weights;
    `fit` ends with the averages in place, as a run's final weights."""
    config = baseline("training.ema.decay=0.5")
    model = build.compile_model(build.build_model(config), config)
    inputs, targets = patches()
    for start in range(0, 16, 4):  # `fit` would end with the averages in place of the weights.
        model.train_on_batch(inputs[start:start + 4], targets[start:start + 4])
    raw = [keras.ops.convert_to_numpy(weight) for weight in model.trainable_weights]
    averages = [keras.ops.convert_to_numpy(average)
                for average in model.optimizer._model_variables_moving_average]
    with averaged_weights(model):
        inside = [keras.ops.convert_to_numpy(weight) for weight in model.trainable_weights]
    after = [keras.ops.convert_to_numpy(weight) for weight in model.trainable_weights]
    for weights, average, held, restored in zip(raw, averages, inside, after):
        np.testing.assert_array_equal(held, average)
        np.testing.assert_array_equal(restored, weights)
    assert max(np.abs(a - b).max() for a, b in zip(raw, averages)) > 1e-6
    model.fit(inputs, targets, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for weight, average in zip(model.trainable_weights, model.optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), keras.ops.convert_to_numpy(average))


def test_the_ema_decays_by_its_setting_per_step_also_with_accumulation():
    """With k micro-batches a step, the average still moves by 1 - decay per optimizer step."""
    plain = build.ema_arguments(baseline("training.ema.decay=0.9").training)
    accumulated = build.ema_arguments(
        baseline("training.ema.decay=0.9", "training.gradient_accumulation_steps=4").training)
    assert plain == {"use_ema": True, "ema_momentum": 0.9}
    assert accumulated["ema_momentum"] ** 4 == pytest.approx(0.9, rel=1e-12)
    assert build.ema_arguments(baseline().training) == {}


def test_ema_and_accumulation_keys_are_checked():
    """A decay outside (0, 1), an accumulation of 0 and a negative clip norm are config errors."""
    from restoration.config import ConfigError

    for override, key in (("training.ema.decay=1.0", "training.ema.decay"),
                          ("training.gradient_accumulation_steps=0", "training.gradient_accumulation_steps"),
                          ("training.optimizer.global_clipnorm=-1", "training.optimizer.global_clipnorm")):
        with pytest.raises(ConfigError) as raised:
            baseline(override)
        assert raised.value.key == key
    # 4 steps of 3 micro-batches are 12, not a multiple of 5 per execution.
    with pytest.raises(ConfigError, match="in micro-batches"):
        baseline("training.gradient_accumulation_steps=3", "training.steps_per_execution=5")


def test_a_short_run_is_warned_that_its_average_still_holds_the_first_step():
    """The first step's weights keep decay ** (steps - 1) of the average: over 1 % is warned about."""
    (warning,) = baseline("training.ema.decay=0.9").warnings()  # 4 steps: 0.9^3
    assert warning.startswith("training.ema.decay (0.9) over 4 steps leaves 72.9% of the average")
    assert baseline("training.ema.decay=0.2").warnings() == []  # 0.2^3 = 0.8 %
    assert baseline().warnings() == []
