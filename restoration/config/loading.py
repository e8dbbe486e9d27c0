"""Configuration trees: strict YAML reading and dotted overrides.

Part of the machinery under `restoration.config`. It parses YAML without
ever constructing Python objects and applies overrides such as
`training.steps=100` to a plain tree while refusing keys that do not exist.
The typed conversion of the tree into sections lives in `restoration.config.conversion`.
"""

import copy
import os
import re

import yaml

# Keys that select which kind of section a mapping describes (model name,
# data source, task type). When an override mapping names a different kind,
# the old keys would not apply to it, so the override replaces the section.
KIND_KEYS = ("name", "source", "type")


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
        self.source, self.key, self.expected, self.received = source, key, expected, received
        location = f"{source}: {key}" if key else str(source)
        super().__init__(f"{location}: expected {expected}, received {received}")

    def under(self, prefix):
        """The same error with its key moved under `prefix`, such as `experiment.arms.x`."""
        key = f"{prefix}.{self.key}" if self.key else prefix
        return ConfigError(self.source, key, self.expected, self.received)


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


# Bounds on what a configuration may expand to: far above any real config, far
# below what would hang the loader (aliases of aliases expand exponentially).
MAX_VALUES = 100_000
MAX_DEPTH = 50
# Digits of an integer literal: 2^63 has 19, and no count, size or seed here needs more.
MAX_DIGITS = 30
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """A `yaml.SafeLoader` that rejects duplicate keys and reads `1e-4` as a float.

    PyYAML implements YAML 1.1, where a float needs a dot and a signed
    exponent, so `1e-4` and `1.0e5` would silently become strings and reach
    a layer constructor as text. Duplicate keys would silently keep the last.
    Merge keys (`<<: *defaults`) work as in YAML: the keys written beside
    them override the merged ones.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        # Python refuses to convert integers of over 4,300 digits; far fewer are ever meant.
        digits = sum(character.isdigit() for character in node.value)
        if digits > MAX_DIGITS:
            raise _TooManyDigits(digits, node.start_mark.line + 1)
        return super().construct_yaml_int(node)


class _TooManyDigits(Exception):
    """An integer literal longer than `MAX_DIGITS` digits: `args` are its digits and its line."""


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


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
        tree = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise ConfigError(source, "", "valid YAML", " ".join(str(error).split())) from None
    except RecursionError:
        raise ConfigError(source, "", f"at most {MAX_DEPTH} levels of nesting",
                          "nesting too deep to read") from None
    except _TooManyDigits as error:
        digits, line = error.args
        raise ConfigError(source, "", f"integers of at most {MAX_DIGITS} digits",
                          f"one of {digits:,} digits on line {line}") from None
    _check_size(tree, source)
    return tree


def _check_size(tree, source):
    """Refuses trees nested deeper than `MAX_DEPTH` or expanding to over `MAX_VALUES` values.

    Aliases share one object, so the count is memoised by identity: the walk
    is linear in the document while the count is what a copy would build.
    """
    counts = {}

    def count(value, depth):
        if depth > MAX_DEPTH:
            raise ConfigError(source, "", f"at most {MAX_DEPTH} levels of nesting",
                              f"more than {MAX_DEPTH}")
        if not isinstance(value, (dict, list)):
            return 1
        if id(value) not in counts:
            children = value.values() if isinstance(value, dict) else value
            counts[id(value)] = 1 + sum(count(child, depth + 1) for child in children)
            if counts[id(value)] > MAX_VALUES:
                raise ConfigError(source, "", f"at most {MAX_VALUES:,} values once aliases are "
                                  "expanded", "more (an alias bomb?)")
        return counts[id(value)]

    count(tree, 0)


def read_yaml_file(path):
    """Reads a YAML file whose top level must be a mapping.

    Args:
        path: Path of the file.

    Returns:
        The top-level mapping as a `dict`.
    """
    if not os.path.isfile(path):
        raise ConfigError(path, "", "an existing YAML file", f"no file at {os.path.abspath(path)}")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise ConfigError(path, "", "a UTF-8 text file", f"byte {error.start} is not UTF-8") from None
    except OSError as error:
        raise ConfigError(path, "", "a readable YAML file", error.strerror or str(error)) from None
    tree = parse_yaml(text, path)
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


def apply_override(root, key, value, source):
    """Sets one dotted key in a raw configuration tree, in place.

    The schema checks the keys afterwards (`conversion.build_section` names
    an unknown one with the keys of its section). A mapping value is merged
    key by key into an existing mapping. It replaces the old value whole,
    to be checked by the schema later, when the old value is not a mapping
    (for example `null`) or when the two differ in `name`, `source` or
    `type`, since the old keys would not apply.

    Args:
        root: The raw configuration tree (nested dicts), modified in place.
        key: The dotted key, for example `"training.optimizer.learning_rate"`.
        value: The new value, already parsed.
        source: Where the override came from, for error messages.
    """
    if not isinstance(key, str) or not all(key.split(".")):
        raise ConfigError(source, str(key), "a dotted key of non-empty names", describe(key))
    parts = key.split(".")
    node = root
    for depth, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            expected = f"a mapping that holds {'.'.join(parts[depth + 1:])} (set the whole section instead)"
            raise ConfigError(source, ".".join(parts[: depth + 1]), expected, describe(node))
    existing = node.get(parts[-1])
    if isinstance(value, dict) and isinstance(existing, dict) and not _switches_kind(existing, value):
        for sub_key, sub_value in value.items():
            if not isinstance(sub_key, str):
                raise ConfigError(source, key, "string keys", describe(sub_key))
            apply_override(root, f"{key}.{sub_key}", sub_value, source)
    else:
        node[parts[-1]] = copy.deepcopy(value)


def _switches_kind(existing, value):
    """Whether an override mapping selects a different kind of section."""
    return any(
        key in value and key in existing and value[key] != existing[key] for key in KIND_KEYS
    )
