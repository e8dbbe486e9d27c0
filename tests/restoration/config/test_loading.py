"""Hostile or odd YAML: each case a ConfigError naming the file, none a hang or a traceback."""

import re
import time

import pytest
import yaml

from restoration.config import ConfigError
from restoration.config import load_config
from restoration.config.loading import MAX_DEPTH
from restoration.config.loading import parse_yaml
from tests.helpers import CONFIGS

TINY = (CONFIGS / "tiny_test.yaml").read_text()


def test_non_utf8_file_is_named(tmp_path):
    """A Latin-1 file is refused with the byte offset, not a UnicodeDecodeError."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(TINY.replace("Smallest", "Sm\u00e4llest").encode("latin-1"))
    with pytest.raises(ConfigError, match="a UTF-8 text file, received byte") as raised:
        load_config(path)
    assert raised.value.source == str(path) and "byte 4" in str(raised.value)


def test_a_folder_given_as_config_is_named(tmp_path):
    """A path that is not a readable file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="an existing YAML file"):
        load_config(tmp_path)


def test_alias_bomb_is_refused_quickly():
    """Aliases of aliases (9^9 values once expanded) are refused in well under a second."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="values once aliases are expanded"):
        parse_yaml("\n".join(lines), "bomb.yaml")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 3000])
def test_deep_nesting_is_refused(depth):
    """Nesting beyond the bound (and far beyond Python's recursion limit) is one ConfigError."""
    with pytest.raises(ConfigError, match=f"at most {MAX_DEPTH} levels of nesting"):
        parse_yaml("a: " + "[" * depth + "]" * depth, "deep.yaml")


def test_integers_beyond_64_bits_are_refused(tmp_path):
    """A number too large for any counter is refused at its key."""
    path = tmp_path / "huge.yaml"
    path.write_text(TINY.replace("steps: 4", "steps: " + "9" * 30))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.key == "training.steps"


def test_merge_keys_merge_and_written_keys_win():
    """`<<: *defaults` merges a mapping; keys written beside it override the merged ones."""
    tree = parse_yaml("base: &b {rate: 0.1, block_size: 7}\narm:\n  <<: *b\n  rate: 0.2\n", "m")
    assert tree["arm"] == {"rate": 0.2, "block_size": 7}


def test_duplicate_keys_beside_a_merge_are_still_refused():
    """A key written twice is an error even in a mapping that merges another."""
    with pytest.raises(ConfigError, match="duplicate key 'rate'"):
        parse_yaml("base: &b {a: 1}\narm:\n  <<: *b\n  rate: 0.2\n  rate: 0.3\n", "m")


def test_an_error_in_a_base_file_names_the_base_file(tmp_path):
    """A bad value written by the base is blamed on the base, not on the preset using it."""
    tree = yaml.safe_load(TINY)
    tree["training"]["steps"] = -3
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(tree))
    (tmp_path / "preset.yaml").write_text("base: base.yaml\nexperiment:\n  name: preset\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "preset.yaml")
    assert raised.value.source == str(tmp_path / "base.yaml")
    assert raised.value.key == "training.steps"
    (tmp_path / "preset.yaml").write_text(
        "base: base.yaml\nexperiment:\n  name: preset\ntraining:\n  steps: -7\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "preset.yaml")
    assert raised.value.source == str(tmp_path / "preset.yaml")


def test_an_error_set_by_an_override_names_the_override(tmp_path):
    """A bad value from --set is reported with the override, a good one leaves the file named."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    with pytest.raises(ConfigError, match=r"\(with training.steps=-1\): training.steps"):
        load_config(tmp_path / "tiny.yaml", ["training.steps=-1"])


def test_one_set_spelled_twice_is_refused(tmp_path):
    """[Set5, set5] names one set twice: refused at the second spelling."""
    path = tmp_path / "twice.yaml"
    path.write_text(TINY.replace("test_sets: [builtin]", "test_sets: [builtin, Set5, set5]"))
    with pytest.raises(ConfigError, match="each set once") as raised:
        load_config(path, check_data=False)
    assert raised.value.key == "data.test_sets[2]"


def test_an_integer_of_thousands_of_digits_is_one_config_error(tmp_path):
    """Python cannot even convert 5,000 digits; the loader stops at 30 and names the line."""
    from restoration.config.loading import MAX_DIGITS

    assert parse_yaml(f"a: {'9' * MAX_DIGITS}", "test.yaml") == {"a": int("9" * MAX_DIGITS)}
    with pytest.raises(ConfigError) as raised:
        parse_yaml(f"a: 1\nb: {'9' * 5000}\n", "test.yaml")
    assert str(raised.value) == (f"test.yaml: expected integers of at most {MAX_DIGITS} digits, "
                                 "received one of 5,000 digits on line 2")


@pytest.mark.parametrize("key, value, expected", [
    ("training.log_every", 10**20, "training.log_every: expected an integer > 0, below 2^63, "
                                   "received 100000000000000000000"),
    ("experiment.seeds", [2**64], "experiment.seeds[0]: expected an integer, below 2^63"),
])
def test_an_integer_beyond_64_bits_is_refused_with_the_bound(key, value, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(CONFIGS / "tiny_test.yaml", [f"{key}={value}"], check_data=False)
