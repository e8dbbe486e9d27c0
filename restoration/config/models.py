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
        """Returns the builder's keyword arguments: every field but `name`."""
        return {key: value for key, value in to_plain(self).items() if key != "name"}

    def relations(self):
        if self.network.relations is not None:
            yield from self.network.relations(self.builder_kwargs())


def _field(argument):
    if argument.check is None:
        return dataclasses.field(default=argument.default)
    return spec(argument.expected, argument.check, argument.default)


def _model_section(name, network):
    fields = [("name", Literal[name])]
    fields += [(key, argument.annotation, _field(argument)) for key, argument in network.arguments.items()]
    doc = f"Arguments of the {network.title} builder, `sr_models.build_{name}` (the task gives the rest)."
    return dataclasses.make_dataclass(f"{network.title}Config", fields, bases=(_Model,), frozen=True,
                                      kw_only=True, namespace={"__module__": __name__, "__doc__": doc})


MODEL_SECTIONS = {name: _model_section(name, network) for name, network in SPECS.items()}
# The `model` section of a run: one of the above, told apart by its `name`.
ModelConfig = typing.Union[tuple(MODEL_SECTIONS.values())]
