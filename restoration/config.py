"""Strict, typed experiment configuration.

An experiment file (`configs/default.yaml` documents every key) holds an
`experiment` section (name, seeds, optional arms) and a base configuration.
`load_config` validates the base and every arm before anything runs; each
`(arm, seed)` pair then resolves to a frozen `RunConfig`, which is saved next
to the run and reloads to an equal object.

This module is the public entry point; the work is split by concern:

- `restoration.sections`: the schema, one frozen dataclass per section.
- `restoration.experiment`: `RunConfig`, `ExperimentConfig` and `load_config`.
- `restoration.schema`: the typed conversion of a raw tree into sections.
- `restoration.overrides`: strict YAML reading, `ConfigError` and overrides.
"""

from restoration.experiment import DEFAULT_ARM as DEFAULT_ARM
from restoration.experiment import ExperimentConfig as ExperimentConfig
from restoration.experiment import RunConfig as RunConfig
from restoration.experiment import RunInfo as RunInfo
from restoration.experiment import load_config as load_config
from restoration.overrides import ConfigError as ConfigError
from restoration.sections import BUILTIN_SPLITS as BUILTIN_SPLITS
from restoration.sections import PLACEMENTS as PLACEMENTS
from restoration.sections import REGULARIZER_NAMES as REGULARIZER_NAMES
from restoration.sections import DataConfig as DataConfig
from restoration.sections import DataSourceConfig as DataSourceConfig
from restoration.sections import DnCNNConfig as DnCNNConfig
from restoration.sections import EDSRConfig as EDSRConfig
from restoration.sections import EvaluationConfig as EvaluationConfig
from restoration.sections import LearningRateScheduleConfig as LearningRateScheduleConfig
from restoration.sections import OptimizerConfig as OptimizerConfig
from restoration.sections import OutputConfig as OutputConfig
from restoration.sections import RegularizerConfig as RegularizerConfig
from restoration.sections import TaskConfig as TaskConfig
from restoration.sections import TrainingConfig as TrainingConfig

__all__ = ["ConfigError", "ExperimentConfig", "RunConfig", "load_config"]
