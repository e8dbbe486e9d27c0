"""Typed conversion of configuration trees into frozen dataclass sections.

A section is a frozen, keyword-only dataclass whose annotations are the
schema: `build_section` checks a raw tree (as read by
`restoration.config.loading`) against them and returns the typed instance.
The field helpers below (`positive`, `fraction`, `name_field`, ...) declare
the usual ranges once for every section.
"""

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Literal

from restoration.config.loading import ConfigError
from restoration.config.loading import describe


def section(cls):
    """Makes a schema section: a frozen, keyword-only dataclass."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


def spec(expected, check, default=dataclasses.MISSING):
    """Declares a section field whose value must also pass `check`.

    Args:
        expected: The phrase that describes a valid value, for error messages.
        check: Callable taking the typed value and returning whether it is valid.
        default: The default; leave it out for a required key.

    Returns:
        A `dataclasses.Field`.
    """
    return dataclasses.field(default=default, metadata={"expected": expected, "check": check})


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def name_field(default=dataclasses.MISSING):
    """A name that is safe as a folder name: experiments, arms."""
    return spec("a name of letters, digits, '.', '_' or '-'", NAME.fullmatch, default)


def positive(default=dataclasses.MISSING, noun="an integer"):
    """A number > 0; `noun` is "a number" for float fields."""
    return spec(f"{noun} > 0", lambda value: value > 0, default)


def non_negative(default=dataclasses.MISSING):
    """An integer >= 0."""
    return spec("an integer >= 0", lambda value: value >= 0, default)


def fraction(default=dataclasses.MISSING):
    """A number in [0, 1), such as a drop rate or an Adam beta."""
    return spec("a number in [0, 1)", lambda value: 0 <= value < 1, default)


def optional_seed():
    """A random seed: an integer >= 0, or null to derive it from the run seed."""
    return spec("an integer >= 0 or null", lambda value: value >= 0, None)


def unique(values):
    """Whether a list holds no value twice."""
    return len(set(values)) == len(values)


class FrozenMapping(Mapping):
    """A read-only, hashable mapping, so frozen sections stay immutable all the way down."""

    def __init__(self, items=()):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        return hash(frozenset(self._items.items()))

    def __repr__(self):
        return f"FrozenMapping({self._items!r})"


def freeze(value):
    """Turns dicts into `FrozenMapping` and lists into tuples, recursively."""
    if isinstance(value, Mapping):
        return FrozenMapping((key, freeze(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    return value


def to_plain(value):
    """Turns sections, mappings and tuples into dicts and lists for YAML."""
    if dataclasses.is_dataclass(value):
        return {field.name: to_plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def field_names(cls):
    """The keys a section accepts."""
    return [field.name for field in dataclasses.fields(cls)]


def build_section(cls, tree, prefix, source):
    """Validates a raw tree into an instance of section class `cls`.

    Args:
        cls: A class made with `section`.
        tree: The raw mapping.
        prefix: The dotted key of `tree`, for error messages.
        source: The file the tree came from, for error messages.

    Returns:
        An instance of `cls`; `ConfigError` names the first problem found.
    """
    if not isinstance(tree, Mapping):
        raise ConfigError(source, prefix, "a mapping", describe(tree))
    fields, hints = {field.name: field for field in dataclasses.fields(cls)}, _hints(cls)
    values = {}
    for key, value in tree.items():
        if key not in fields:
            listing = ", ".join(fields)
            raise ConfigError(source, _join(prefix, key), f"a key among: {listing}", f"unknown key {key!r}")
        values[key] = _convert(hints[key], value, _join(prefix, key), fields[key].metadata, source)
    for name, field in fields.items():
        if name not in values and dataclasses.MISSING is field.default is field.default_factory:
            expected = field.metadata.get("expected") or _describe_type(hints[name])
            raise ConfigError(source, _join(prefix, name), f"{expected} (a required key)", "nothing")
    instance = cls(**values)
    for key, expected, received in getattr(instance, "relations", tuple)():
        raise ConfigError(source, _join(prefix, key), expected, describe(received))
    return instance


def _convert(hint, value, key, metadata, source):
    """Checks one value against its type hint and field metadata; returns it typed."""
    if dataclasses.is_dataclass(hint):
        return build_section(hint, value, key, source)
    expected = metadata.get("expected") or _describe_type(hint)
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    if value is None and type(None) in members:
        return None
    sections = [member for member in members if dataclasses.is_dataclass(member)]
    if sections:
        if not isinstance(value, Mapping):
            raise ConfigError(source, key, expected, describe(value))
        # A union of several sections is told apart by the `name` in the tree.
        name = value.get("name")
        chosen = sections[0] if len(sections) == 1 else next(
            (member for member in sections if name in _names_of(member)), None)
        if chosen is None:
            names = [name for member in sections for name in _names_of(member)]
            raise ConfigError(source, f"{key}.name", _one_of(names), describe(name))
        return _convert(chosen, value, key, metadata, source)
    for member in members:
        # A union takes its first plain member that accepts the value.
        converted = _INVALID if member is type(None) else _convert_plain(member, value, key, source)
        if converted is not _INVALID:
            break
    if converted is _INVALID or not metadata.get("check", lambda _: True)(converted):
        raise ConfigError(source, key, _bounded(expected, value), describe(value))
    return converted


_INVALID = object()
# Beyond 64 bits no counter, seed or size of this project fits (TensorFlow would overflow).
_INT_LIMIT = 2**63


def _bounded(expected, value):
    """`expected`, stating the 64-bit bound when `value` is an integer beyond it."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    return f"{expected}, below 2^63" if is_int and abs(value) >= _INT_LIMIT else expected


def _convert_plain(hint, value, key, source):
    """Converts a scalar, literal, list or mapping value, or returns `_INVALID`."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        matches = any(value == choice and type(value) is type(choice) for choice in allowed)
        return value if matches else _INVALID
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return _INVALID
        item_hint = typing.get_args(hint)[0]
        return tuple(
            _convert(item_hint, item, f"{key}[{index}]", {}, source)
            for index, item in enumerate(value)
        )
    if origin is Mapping or hint is Mapping:
        return freeze(value) if isinstance(value, Mapping) else _INVALID
    if hint is bool:
        return value if isinstance(value, bool) else _INVALID
    if hint is int:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return value if is_int and -_INT_LIMIT <= value < _INT_LIMIT else _INVALID
    if hint is float:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if is_number and math.isfinite(value) else _INVALID
    if hint is str:
        return value if isinstance(value, str) and value else _INVALID
    raise TypeError(f"Unsupported type in the config schema: {hint!r}")


def _describe_type(hint):
    """Describes a type hint as a phrase for error messages."""
    if _is_union(hint):
        members = [member for member in typing.get_args(hint) if member is not type(None)]
        phrases = dict.fromkeys(_describe_type(member) for member in members)
        return " or ".join([*phrases, "null"] if type(None) in typing.get_args(hint) else phrases)
    if typing.get_origin(hint) is Literal:
        return _one_of(typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        items = {int: "integers", float: "numbers", str: "non-empty strings"}
        return f"a list of {items.get(typing.get_args(hint)[0], 'values')}"
    names = {bool: "true or false", int: "an integer", float: "a number"}
    return names.get(hint, "a non-empty string" if hint is str else "a mapping")


def _one_of(choices):
    return "one of " + ", ".join(describe(choice) for choice in choices)


def _is_union(hint):
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


_hints = functools.cache(typing.get_type_hints)


def _names_of(cls):
    """The `name` values that select section `cls` in a union."""
    return typing.get_args(_hints(cls).get("name"))


def _join(prefix, key):
    return f"{prefix}.{key}" if prefix else str(key)
