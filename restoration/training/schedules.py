"""Learning-rate schedules of the training configs, serializable with the model."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="restoration")
class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Constant, step or cosine learning rate with an optional linear warm-up.

    `step` multiplies the rate by `gamma` at every milestone (EDSR halves it
    at 200k of 300k steps); `cosine` decays it to `alpha` times its initial
    value at `total_steps`. The schedule is saved with the optimizer, so a
    resumed run continues it from the restored step.

    Args:
        learning_rate: Initial (peak) learning rate.
        name: `"constant"`, `"step"` or `"cosine"`.
        total_steps: Length of training, the end of the cosine.
        milestones: Steps at which `step` multiplies the rate by `gamma`.
        gamma: Factor of `step` at each milestone.
        alpha: Final fraction of the rate for `cosine`.
        warmup_steps: Steps of linear warm-up from 0.

    Reference:
        - [Loshchilov and Hutter, SGDR, ICLR 2017](https://arxiv.org/abs/1608.03983)
    """

    def __init__(self, learning_rate, name="constant", total_steps=1, milestones=(),
                 gamma=0.5, alpha=0.0, warmup_steps=0):
        if name not in ("constant", "step", "cosine"):
            raise ValueError(
                "Invalid learning-rate schedule. Expected one of 'constant', 'step', "
                f"'cosine'. Received: name={name!r}"
            )
        self.learning_rate = float(learning_rate)
        self.name = name
        self.total_steps = int(total_steps)
        self.milestones = tuple(int(m) for m in milestones)
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = ops.convert_to_tensor(self.learning_rate, "float32")
        if self.name == "step":
            passed = sum(ops.cast(step >= m, "float32") for m in self.milestones)
            rate = rate * ops.power(self.gamma, passed) if self.milestones else rate
        elif self.name == "cosine":
            progress = ops.clip(step / max(self.total_steps, 1), 0.0, 1.0)
            cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
            rate = rate * ((1.0 - self.alpha) * cosine + self.alpha)
        if self.warmup_steps > 0:
            rate = rate * ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return rate

    def get_config(self):
        return {
            "learning_rate": self.learning_rate, "name": self.name,
            "total_steps": self.total_steps, "milestones": self.milestones,
            "gamma": self.gamma, "alpha": self.alpha, "warmup_steps": self.warmup_steps,
        }
