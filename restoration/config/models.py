"""The model sections, one per network, made from the networks' specs.

A model key is a builder argument: `sr_models.specs.SPECS` lists each
network's arguments with their types, ranges and defaults, and this module
turns every spec into a frozen section whose `name` selects it, so that a new
network needs no section written here. The specs import nothing, so loading a
config does not start Keras.
"""

import dataclasses
import typing
from typing import Literal

from restoration.config.conversion import spec
from restoration.config.conversion import to_plain
from sr_models.specs import SPECS


class _Model:
    """A model section: the builder's arguments, and its network's spec."""

    @property
    def network(self):
        """The `sr_models.specs.NetworkSpec`: tasks, scales, branches, noise-level input, blocks."""
        return SPECS[self.name]

    def builder_kwargs(self):
        """Returns the builder's keyword arguments: every field but `name` and `init_from`."""
        return {key: value for key, value in to_plain(self).items() if key not in ("name", "init_from")}

    def relations(self):
        if self.network.relations is not None:
            yield from self.network.relations(self.builder_kwargs())

    def fits(self, task, evaluation):
        """Yields `(dotted key, expected, received)` where the network does not fit the run.

        Args:
            task: The run's `TaskConfig`: a task and scale the network must solve.
            evaluation: The run's `EvaluationConfig`: tiles the network's reach allows.
        """
        network = self.network
        if task.type not in network.tasks:
            yield "model.name", f"a model for task {task.type!r}, not {self.name!r}", self.name
        elif task.type == "sr" and task.scale not in network.scales:
            expected = f"a scale {self.name} supports ({', '.join(map(str, network.scales))})"
            yield "task.scale", expected, task.scale
        if network.global_context and evaluation.tile is not None and evaluation.tile_overlap is None:
            expected = (f"null for {self.name}, whose output depends on the whole image "
                        "(or an explicit evaluation.tile_overlap, accepting an approximation)")
            yield "evaluation.tile", expected, evaluation.tile


def _field(argument):
    if argument.check is None:
        return dataclasses.field(default=argument.default)
    return spec(argument.expected, argument.check, argument.default)


def _model_section(name, network):
    fields = [("name", Literal[name])]
    fields += [(key, argument.annotation, _field(argument)) for key, argument in network.arguments.items()]
    # A `.keras` file whose weights start the run (fine-tuning), checked against the network when built.
    fields.append(("init_from", str | None, dataclasses.field(default=None)))
    doc = f"Arguments of the {network.title} builder, `sr_models.build_{name}` (the task gives the rest)."
    return dataclasses.make_dataclass(f"{network.title}Config", fields, bases=(_Model,), frozen=True,
                                      kw_only=True, namespace={"__module__": __name__, "__doc__": doc})


MODEL_SECTIONS = {name: _model_section(name, network) for name, network in SPECS.items()}
# The `model` section of a run: one of the above, told apart by its `name`.
ModelConfig = typing.Union[tuple(MODEL_SECTIONS.values())]
