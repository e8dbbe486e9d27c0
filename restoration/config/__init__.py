"""Strict, typed experiment configuration.

An experiment file holds an `experiment` section (name, seeds, optional
arms) and a base configuration; `configs/default.yaml` documents every key.
`load_config` checks the base and every arm before anything runs: the
schema (`schema`), the keys a file may set (`loading`), and what can be
checked on disk (`data_checks`). Each `(arm, seed)` pair then resolves to
a frozen `RunConfig`, saved next to the run, which reloads to an equal object.

Modules, from the bottom up:

- `loading`: strict YAML reading, `ConfigError` and dotted overrides.
- `conversion`: a raw tree checked against frozen dataclass sections.
- `models`: one section per network, made from `sr_models.specs`.
- `degradation`: the blind-SR chain's section, its defaults `data.realesrgan`'s.
- `regularizers`: one typed section per regularizer, its layer's arguments.
- `schema`: the task, data, training, evaluation and output sections, and
  `RunConfig`, whose sections each say where they do not fit the others.
- `data_checks`: data sets, image sizes and patch sizes on disk.
- `experiment`: `ExperimentConfig`, `load_config` and `base:` files.
"""

from restoration.config.experiment import ExperimentConfig
from restoration.config.experiment import load_config
from restoration.config.loading import ConfigError
from restoration.config.schema import RunConfig

__all__ = ["ConfigError", "ExperimentConfig", "RunConfig", "load_config"]
