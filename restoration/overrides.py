"""Configuration trees: strict YAML reading, dotted overrides, typed conversion.

The machinery under `restoration.config`. It parses YAML without ever
constructing Python objects, applies overrides such as `training.steps=100`
to a plain tree while refusing keys that do not exist, and converts the tree
into frozen dataclasses ("sections") whose annotations are the schema.
"""

import copy
import dataclasses
import functools
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Literal

import yaml

# Keys that select which kind of section a mapping describes (model name,
# data source, task type). When an override mapping names a different kind,
# the old keys would not apply to it, so the override replaces the section.
_KIND_KEYS = ("name", "source", "type")


class ConfigError(ValueError):
    """An invalid configuration, reported before any work starts.

    The message names the file (or other source), the dotted key, what was
    expected and what was received, for example
    `configs/x.yaml: training.steps: expected an integer > 0, received -5`.

    Args:
        source: The file the configuration came from, with any overrides.
        key: The dotted key at fault, or an empty string for the whole file.
        expected: What a valid value looks like, as a phrase.
        received: What was found, already described as text.
    """

    def __init__(self, source, key, expected, received):
        self.source = source
        self.key = key
        self.expected = expected
        self.received = received
        location = f"{source}: {key}" if key else str(source)
        super().__init__(f"{location}: expected {expected}, received {received}")


def describe(value):
    """Describes a configuration value the way it would be written in YAML.

    Args:
        value: Any value found in a configuration tree.

    Returns:
        A short string: `null`, `true`, `'text'` (quoted), or the value's repr
        cut to 80 characters.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _StrictLoader(yaml.SafeLoader):
    """A `yaml.SafeLoader` that rejects duplicate keys and reads `1e-4` as a float.

    PyYAML implements YAML 1.1, where a float needs a dot and a signed
    exponent, so `1e-4` and `1.0e5` would silently become strings and reach
    a layer constructor as text. Duplicate keys would silently keep the last.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text, source):
    """Parses YAML text into plain Python data (dicts, lists, scalars).

    Args:
        text: The YAML document.
        source: Where the text came from, for error messages.

    Returns:
        The parsed value; an empty document gives `None`.
    """
    try:
        # `_StrictLoader` is a `SafeLoader`: it never builds arbitrary objects.
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506
    except yaml.YAMLError as error:
        raise ConfigError(source, "", "valid YAML", " ".join(str(error).split())) from None


def read_yaml_file(path):
    """Reads a YAML file whose top level must be a mapping.

    Args:
        path: Path of the file.

    Returns:
        The top-level mapping as a `dict`.
    """
    if not os.path.isfile(path):
        raise ConfigError(path, "", "an existing YAML file", f"no file at {os.path.abspath(path)}")
    with open(path, encoding="utf-8") as handle:
        tree = parse_yaml(handle.read(), path)
    if not isinstance(tree, dict):
        raise ConfigError(path, "", "a mapping at the top level", describe(tree))
    return tree


def parse_override(text, source):
    """Splits a command-line override `dotted.key=value` and parses its value.

    The value is parsed as YAML, never evaluated, so `__import__('os')` stays
    a string while `100` becomes an integer and `[1, 2]` a list.

    Args:
        text: The override, for example `"training.steps=100"`.
        source: Where the configuration came from, for error messages.

    Returns:
        A `(dotted_key, value)` tuple.
    """
    key, separator, value_text = text.partition("=")
    key = key.strip()
    if not separator or not key or not all(part.strip() for part in key.split(".")):
        raise ConfigError(source, "", "an override of the form dotted.key=value", describe(text))
    return key, parse_yaml(value_text, f"{source}: override {text}")


def apply_override(root, key, value, allowed_keys, source):
    """Sets one dotted key in a raw configuration tree, in place.

    A key may be set only if it is already present at its level or if
    `allowed_keys` lists it (a key the schema knows). A mapping value is
    merged key by key into an existing mapping, each key checked the same
    way. It replaces the old value whole, to be checked by the schema later,
    when the old value is not a mapping (for example `null`) or when the two
    differ in `name`, `source` or `type`, since the old keys would not apply.

    Args:
        root: The raw configuration tree (nested dicts), modified in place.
        key: The dotted key, for example `"training.optimizer.learning_rate"`.
        value: The new value, already parsed.
        allowed_keys: Callable `(root, path_tuple) -> set of str` giving the
            keys the schema accepts at that level of the tree.
        source: Where the override came from, for error messages.
    """
    if not isinstance(key, str) or not all(key.split(".")):
        raise ConfigError(source, str(key), "a dotted key of non-empty names", describe(key))
    parts = key.split(".")
    node = root
    for depth, part in enumerate(parts):
        dotted = ".".join(parts[: depth + 1])
        if part not in node:
            valid = set(map(str, node)) | set(allowed_keys(root, tuple(parts[:depth])))
            if part not in valid:
                listing = ", ".join(sorted(valid)) or "none (nothing can be set here)"
                raise ConfigError(
                    source, dotted, f"a key among: {listing}", f"unknown key {part!r}"
                )
        if depth == len(parts) - 1:
            _assign(root, node, parts, value, allowed_keys, source)
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(
                source, dotted, f"a mapping that holds {'.'.join(parts[depth + 1:])} "
                "(set the whole section instead)", describe(child)
            )
        node = child


def _assign(root, node, parts, value, allowed_keys, source):
    """Merges or replaces the value at the last part of a dotted key."""
    existing = node.get(parts[-1])
    merge = isinstance(value, dict) and isinstance(existing, dict)
    if merge and not _switches_kind(existing, value):
        for sub_key, sub_value in value.items():
            if not isinstance(sub_key, str):
                raise ConfigError(source, ".".join(parts), "string keys", describe(sub_key))
            apply_override(root, ".".join([*parts, sub_key]), sub_value, allowed_keys, source)
    else:
        node[parts[-1]] = copy.deepcopy(value)


def _switches_kind(existing, value):
    """Whether an override mapping selects a different kind of section."""
    return any(
        key in value and key in existing and value[key] != existing[key] for key in _KIND_KEYS
    )


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
    """Turns sections, mappings and tuples into dicts and lists for YAML.

    Keys collected by a field marked `extra` (layer arguments) are written at
    the level of the section, where they were read from.
    """
    if dataclasses.is_dataclass(value):
        plain = {}
        for field in dataclasses.fields(value):
            item = to_plain(getattr(value, field.name))
            if field.metadata.get("extra"):
                plain.update(item)
            else:
                plain[field.name] = item
        return plain
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def field_names(cls):
    """The keys a section accepts by name (not those collected by an `extra` field)."""
    return [field.name for field in dataclasses.fields(cls) if not field.metadata.get("extra")]


def section_class(hint, tree):
    """The section class that a type hint selects for a raw tree, or `None`.

    A union of several sections is told apart by the `name` in the tree.
    """
    sections = _sections_in(hint)
    if len(sections) == 1:
        return sections[0]
    name = tree.get("name") if isinstance(tree, Mapping) else None
    return next((member for member in sections if name in _names_of(member)), None)


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
    fields = {field.name: field for field in dataclasses.fields(cls)}
    extra = next((name for name, field in fields.items() if field.metadata.get("extra")), None)
    known, hints = field_names(cls), _hints(cls)
    values, extras = {}, {}
    for key, value in tree.items():
        dotted = _join(prefix, key)
        if key in known:
            values[key] = _convert(hints[key], value, dotted, fields[key].metadata, source)
        elif extra is not None and isinstance(key, str) and key.isidentifier():
            extras[key] = _layer_argument(value, dotted, source)
        else:
            listing = ", ".join(known)
            raise ConfigError(source, dotted, f"a key among: {listing}", f"unknown key {key!r}")
    for name in known:
        field = fields[name]
        no_default = dataclasses.MISSING is field.default is field.default_factory
        if no_default and name not in values:
            expected = field.metadata.get("expected") or _describe_type(hints[name])
            key = _join(prefix, name)
            raise ConfigError(source, key, f"{expected} (a required key)", "nothing")
    if extra is not None:
        values[extra] = FrozenMapping(extras)
    instance = cls(**values)
    for key, expected, received in getattr(instance, "relations", tuple)():
        raise ConfigError(source, _join(prefix, key), expected, describe(received))
    return instance


def _convert(hint, value, key, metadata, source):
    """Checks one value against its type hint and field metadata; returns it typed."""
    expected = metadata.get("expected") or _describe_type(hint)
    if _is_union(hint):
        if value is None and type(None) in typing.get_args(hint):
            return None
        sections = _sections_in(hint)
        if sections and not isinstance(value, Mapping):
            raise ConfigError(source, key, expected, describe(value))
        chosen = section_class(hint, value)
        if sections and chosen is None:
            names = [name for member in sections for name in _names_of(member)]
            raise ConfigError(source, f"{key}.name", _one_of(names), describe(value.get("name")))
        hint = chosen or next(m for m in typing.get_args(hint) if m is not type(None))
        return _convert(hint, value, key, metadata, source)
    if dataclasses.is_dataclass(hint):
        return build_section(hint, value, key, source)
    converted = _convert_plain(hint, value, key, source)
    if converted is _INVALID or not metadata.get("check", lambda _: True)(converted):
        raise ConfigError(source, key, expected, describe(value))
    return converted


_INVALID = object()


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
        return value if isinstance(value, int) and not isinstance(value, bool) else _INVALID
    if hint is float:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if is_number and math.isfinite(value) else _INVALID
    if hint is str:
        return value if isinstance(value, str) and value else _INVALID
    raise TypeError(f"Unsupported type in the config schema: {hint!r}")


def _layer_argument(value, key, source):
    """Checks a pass-through layer argument: a scalar or a list of scalars."""
    scalar = (bool, int, float, str, type(None))
    items = value if isinstance(value, list) else [value]
    if all(isinstance(item, scalar) for item in items):
        return freeze(value)
    expected = "a scalar or a list of scalars (a layer argument)"
    raise ConfigError(source, key, expected, describe(value))


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


@functools.cache
def _hints(cls):
    return typing.get_type_hints(cls)


def _sections_in(hint):
    """The section classes a type hint allows (one, several for a union, or none)."""
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    return [member for member in members if dataclasses.is_dataclass(member)]


def _names_of(cls):
    """The `name` values that select section `cls` in a union."""
    return typing.get_args(_hints(cls).get("name"))


def _join(prefix, key):
    return f"{prefix}.{key}" if prefix else str(key)


def schema_keys(top_level, tree, path):
    """The keys the schema accepts at one level of a raw tree.

    Args:
        top_level: Top-level key to its type hint.
        tree: The raw tree, which tells the sections of a union apart.
        path: Tuple of keys leading to the level.

    Returns:
        A list of key names; empty where the schema does not describe the level.
    """
    if not path:
        return list(top_level)
    node = tree.get(path[0])
    cls = section_class(top_level.get(path[0]), node)
    for part in path[1:]:
        if cls is None:
            return []
        node = node.get(part) if isinstance(node, Mapping) else None
        cls = section_class(_hints(cls).get(part), node)
    return field_names(cls) if cls is not None else []
