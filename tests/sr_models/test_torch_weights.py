"""Tests for reading PyTorch checkpoints without torch: both formats, views, refusals, a real file.

The checkpoints are written here by hand: stand-in `torch`, `torch._utils` and
`torch.storage` modules exist in `sys.modules` only while a pickle is being
written, so the pickles name the same globals `torch.save` writes and the
reader runs without them.
"""

import collections
import contextlib
import dataclasses
import io
import os
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sr_models.torch_weights import TorchFormatError
from sr_models.torch_weights import read_state_dict

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
STORAGE_NAMES = (
    "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
    "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage",
)
DNCNN_25 = Path(__file__).resolve().parents[3] / "shared" / "weights" / "cszn-KAIR" / "dncnn_25.pth"


@dataclasses.dataclass(eq=False)
class Storage:
    """A storage to write: its key, its elements (1-D, bfloat16 given as float32) and type name."""

    key: str
    values: np.ndarray
    kind: str = "FloatStorage"

    def raw(self, byteorder):
        values = self.values
        if self.kind == "BFloat16Storage":
            values = (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return values.astype(values.dtype.newbyteorder(byteorder)).tobytes()


@dataclasses.dataclass(eq=False)
class View:
    """A legacy storage view: `size` elements of `root` from `offset` on, under its own key."""

    root: Storage
    key: str
    offset: int
    size: int


@dataclasses.dataclass(eq=False)
class Tensor:
    storage: object
    offset: int
    shape: tuple
    strides: tuple
    v1: bool = False


@dataclasses.dataclass(eq=False)
class Parameter:
    tensor: Tensor


class Evil:
    """Pickles as a call of `function(*args)`."""

    def __init__(self, function, *args):
        self.function = function
        self.args = args

    def __reduce__(self):
        return self.function, self.args


@contextlib.contextmanager
def fake_torch():
    """Stand-in `torch` modules in `sys.modules`, removed (and any real ones put back) on exit."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    storage = types.ModuleType("torch.storage")
    for name in STORAGE_NAMES:
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    storage.UntypedStorage = type("UntypedStorage", (), {"__module__": "torch.storage"})
    for name in ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter"):
        function = types.FunctionType((lambda *args: None).__code__, {}, name)
        function.__module__ = "torch._utils"
        function.__qualname__ = name
        setattr(utils, name, function)
    torch._utils = utils
    torch.storage = storage
    modules = {"torch": torch, "torch._utils": utils, "torch.storage": storage}
    saved = {name: sys.modules[name] for name in modules if name in sys.modules}
    sys.modules.update(modules)
    try:
        yield torch
    finally:
        for name in modules:
            del sys.modules[name]
        sys.modules.update(saved)


class CheckpointPickler(pickle.Pickler):
    """Pickles `Tensor`s as `torch.save` does, in the zip (`legacy=False`) or the legacy format."""

    def __init__(self, file, torch, legacy):
        super().__init__(file, protocol=2)
        self.torch = torch
        self.legacy = legacy
        self.storages = {}

    def reducer_override(self, obj):
        utils = self.torch._utils
        if isinstance(obj, Tensor):
            if obj.v1:
                return utils._rebuild_tensor, (obj.storage, obj.offset, obj.shape, obj.strides)
            hooks = collections.OrderedDict()
            return utils._rebuild_tensor_v2, (obj.storage, obj.offset, obj.shape, obj.strides, False, hooks)
        if isinstance(obj, Parameter):
            return utils._rebuild_parameter, (obj.tensor, True, collections.OrderedDict())
        return NotImplemented

    def persistent_id(self, obj):
        if isinstance(obj, View):
            root = obj.root
            self.storages[root.key] = root
            view = (obj.key, obj.offset, obj.size)
            return "storage", getattr(self.torch, root.kind), root.key, "cpu", root.values.size, view
        if isinstance(obj, Storage):
            self.storages[obj.key] = obj
            storage_id = ("storage", getattr(self.torch, obj.kind), obj.key, "cpu", obj.values.size)
            return storage_id + (None,) if self.legacy else storage_id
        return None


def write_zip(path, obj, byteorder="little", prefix="archive"):
    """Writes `obj` as `torch.save` does by default (a zip archive)."""
    buffer = io.BytesIO()
    with fake_torch() as torch:
        pickler = CheckpointPickler(buffer, torch, legacy=False)
        pickler.dump(obj)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{prefix}/data.pkl", buffer.getvalue())
        archive.writestr(f"{prefix}/byteorder", byteorder)
        for key, storage in sorted(pickler.storages.items()):
            archive.writestr(f"{prefix}/data/{key}", storage.raw("<" if byteorder == "little" else ">"))
        archive.writestr(f"{prefix}/version", "3\n")
    return path


def write_legacy(path, obj):
    """Writes `obj` in the legacy format (`_use_new_zipfile_serialization=False`)."""
    with open(path, "wb") as file:
        pickle.dump(MAGIC_NUMBER, file, protocol=2)
        pickle.dump(1001, file, protocol=2)
        sys_info = {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 8}}
        pickle.dump(sys_info, file, protocol=2)
        with fake_torch() as torch:
            pickler = CheckpointPickler(file, torch, legacy=True)
            pickler.dump(obj)
        keys = sorted(pickler.storages)
        pickle.dump(keys, file, protocol=2)
        for key in keys:
            storage = pickler.storages[key]
            file.write(struct.pack("<q", storage.values.size))
            file.write(storage.raw("<"))
    return path


WRITERS = {"zip": write_zip, "legacy": write_legacy}

SHARED = np.arange(24, dtype=np.float32) * 0.25 - 1.5
HALF = np.array([0.5, -2.0, 65504.0], dtype=np.float16)
BF16 = np.array([1.5, -2.0, 3.140625, 2.0**100], dtype=np.float32)  # Exactly representable in bfloat16.
DOUBLE = np.array([np.pi, -np.e], dtype=np.float64)
INTS = {"LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
        "CharStorage": np.int8, "ByteStorage": np.uint8}


def sample_state_dict():
    """A state dict exercising every storage type, views, shared storages and edge shapes."""
    shared = Storage("0", SHARED)
    state = collections.OrderedDict()
    state["conv.weight"] = Parameter(Tensor(shared, 0, (2, 3, 2, 2), (12, 4, 2, 1)))
    state["proj.weight"] = Tensor(shared, 4, (4, 3), (1, 4))
    state["bn.bias"] = Tensor(shared, 20, (4,), (1,))
    state["bn.num_batches_tracked"] = Tensor(Storage("1", np.array([7], np.int64), "LongStorage"), 0, (), ())
    state["expanded"] = Tensor(Storage("2", np.array([3.0, 4.0], np.float32)), 0, (3, 2), (0, 1))
    state["empty"] = Tensor(Storage("3", np.zeros(0, np.float32)), 0, (0, 3), (3, 1))
    state["half"] = Tensor(Storage("4", HALF, "HalfStorage"), 0, (3,), (1,))
    state["bf16"] = Tensor(Storage("5", BF16, "BFloat16Storage"), 0, (2, 2), (2, 1))
    state["double"] = Tensor(Storage("6", DOUBLE, "DoubleStorage"), 1, (1,), (1,))
    state["mask"] = Tensor(Storage("7", np.array([True, False, True]), "BoolStorage"), 0, (3,), (1,))
    for index, (kind, dtype) in enumerate(INTS.items()):
        values = np.array([-3, 5, 100], dtype=dtype) if dtype != np.uint8 else np.array([0, 200, 255], dtype)
        state[f"ints.{kind}"] = Tensor(Storage(str(8 + index), values, kind), 0, (3,), (1,))
    return state


def expected_state_dict():
    expected = {
        "conv.weight": SHARED.reshape(2, 3, 2, 2),
        "proj.weight": SHARED[4:16].reshape(3, 4).T,
        "bn.bias": SHARED[20:24],
        "bn.num_batches_tracked": np.array(7, np.int64),
        "expanded": np.array([[3.0, 4.0]] * 3, np.float32),
        "empty": np.zeros((0, 3), np.float32),
        "half": HALF,
        "bf16": BF16.reshape(2, 2),
        "double": DOUBLE[1:],
        "mask": np.array([True, False, True]),
    }
    for kind, dtype in INTS.items():
        expected[f"ints.{kind}"] = (np.array([-3, 5, 100], dtype) if dtype != np.uint8
                                    else np.array([0, 200, 255], dtype))
    return expected


def assert_state_dicts_equal(actual, expected):
    assert list(actual) == list(expected)
    for name, array in expected.items():
        assert actual[name].dtype == array.dtype, name
        assert actual[name].shape == array.shape, name
        assert actual[name].flags.c_contiguous, name
        np.testing.assert_array_equal(actual[name], array, err_msg=name)


def assert_one_line_error(error, path, *fragments):
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_both_formats_read_back_exactly(tmp_path, monkeypatch, fmt):
    path = WRITERS[fmt](tmp_path / f"{fmt}.pth", sample_state_dict())
    for name in ("torch", "torch._utils", "torch.storage"):
        monkeypatch.setitem(sys.modules, name, None)  # `import torch` now fails.
    state = read_state_dict(path)
    assert_state_dicts_equal(state, expected_state_dict())
    assert not np.shares_memory(state["conv.weight"], state["bn.bias"])


def test_big_endian_zip_checkpoint_is_converted_to_native_order(tmp_path):
    path = write_zip(tmp_path / "big.pth", sample_state_dict(), byteorder="big")
    state = read_state_dict(path)
    assert_state_dicts_equal(state, expected_state_dict())
    assert state["conv.weight"].dtype.isnative


def test_zip_prefix_is_read_from_the_archive(tmp_path):
    state = {"w": Tensor(Storage("0", SHARED), 0, (24,), (1,))}
    path = write_zip(tmp_path / "named.pt", state, prefix="named")
    np.testing.assert_array_equal(read_state_dict(str(path))["w"], SHARED)


def test_legacy_storage_views_and_old_rebuild_function(tmp_path):
    root = Storage("root", SHARED)
    state = {
        "a": Tensor(View(root, "view-a", 2, 6), 1, (2, 2), (1, 2)),
        "b": Tensor(View(root, "view-b", 10, 14), 0, (14,), (1,), v1=True),
    }
    state = read_state_dict(write_legacy(tmp_path / "views.pth", state))
    np.testing.assert_array_equal(state["a"], SHARED[3:7].reshape(2, 2).T)
    np.testing.assert_array_equal(state["b"], SHARED[10:24])


@pytest.mark.parametrize("wrapper", ["state_dict", "params", "model"])
def test_wrapped_state_dict_is_unwrapped(tmp_path, wrapper):
    inner = {"w": Tensor(Storage("0", SHARED), 0, (4, 6), (6, 1))}
    checkpoint = {"epoch": 12, "note": "best", wrapper: inner, "optimizer": {"lr": 0.1}}
    for fmt, write in WRITERS.items():
        state = read_state_dict(write(tmp_path / f"{fmt}.pth", checkpoint))
        assert list(state) == ["w"]
        np.testing.assert_array_equal(state["w"], SHARED.reshape(4, 6))


def test_non_tensor_value_is_refused_naming_its_key(tmp_path):
    path = write_zip(tmp_path / "mixed.pth", {"w": Tensor(Storage("0", SHARED), 0, (2,), (1,)), "lr": 0.1})
    with pytest.raises(TorchFormatError) as error:
        read_state_dict(path)
    assert_one_line_error(error, path, "'lr'", "float", "expected a PyTorch state dict")


def test_plain_num_batches_tracked_is_left_out(tmp_path):
    state = {"bn.weight": Tensor(Storage("0", SHARED), 0, (2,), (1,)), "bn.num_batches_tracked": 5}
    assert list(read_state_dict(write_legacy(tmp_path / "bn.pth", state))) == ["bn.weight"]


def test_tensor_outside_its_storage_is_refused(tmp_path):
    path = write_zip(tmp_path / "oob.pth", {"w": Tensor(Storage("0", SHARED), 20, (3, 2), (2, 1))})
    with pytest.raises(TorchFormatError) as error:
        read_state_dict(path)
    assert_one_line_error(error, path, "reaches element 25 of a storage of 24")


def test_top_level_that_is_not_a_mapping_is_refused(tmp_path):
    path = write_legacy(tmp_path / "list.pth", [Tensor(Storage("0", SHARED), 0, (2,), (1,))])
    with pytest.raises(TorchFormatError) as error:
        read_state_dict(path)
    assert_one_line_error(error, path, "expected a PyTorch state dict", "received a list of 1 items")


def malicious_payloads(marker):
    return {
        "os.system": (Evil(os.system, f"touch {marker}"), f"{os.system.__module__}.system"),
        # Protocol 2, as torch.save uses, writes the Python 2 name of `builtins`.
        "builtins.print": (Evil(print, "pickled code ran"), "__builtin__.print"),
        "builtins.eval": (Evil(eval, f"open({str(marker)!r}, 'w')"), "__builtin__.eval"),
    }


@pytest.mark.parametrize("payload", ["os.system", "builtins.print", "builtins.eval"])
@pytest.mark.parametrize("container", ["pickle", "legacy-header", "legacy", "zip"])
def test_malicious_pickle_is_refused_before_anything_runs(tmp_path, capfd, payload, container):
    marker = tmp_path / "ran"
    evil, global_name = malicious_payloads(marker)[payload]
    state = {"w": Tensor(Storage("0", SHARED), 0, (2,), (1,)), "x": evil}
    path = tmp_path / "evil.pth"
    if container == "pickle":
        path.write_bytes(pickle.dumps(evil, protocol=2))
    elif container == "zip":
        write_zip(path, state)
    elif container == "legacy":
        write_legacy(path, state)
    else:
        header = [MAGIC_NUMBER, 1001, evil]
        path.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in header))
    with pytest.raises(TorchFormatError) as error:
        read_state_dict(path)
    assert_one_line_error(error, path, f"global {global_name}")
    assert not marker.exists()
    assert "pickled code ran" not in capfd.readouterr().out


def test_truncated_and_foreign_files_give_one_line_errors(tmp_path):
    legacy = write_legacy(tmp_path / "legacy.pth", sample_state_dict()).read_bytes()
    magic = len(pickle.dumps(MAGIC_NUMBER, protocol=2))
    archive = write_zip(tmp_path / "zip.pth", sample_state_dict()).read_bytes()
    cases = {
        "legacy-data.pth": (legacy[:-5], "truncated: the file ends inside storage"),
        "legacy-pickle.pth": (legacy[:300], "truncated or corrupt"),
        "legacy-header.pth": (legacy[:magic + 2], "truncated or corrupt"),
        "zip-half.pth": (archive[:len(archive) // 2], "truncated or corrupt"),
        "text.pth": (b"not a checkpoint at all\n", "received neither"),
        "empty.pth": (b"", "received neither"),
        "dict.pkl": (pickle.dumps({"w": 1.0}), "expected the torch.save magic number"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(TorchFormatError) as error:
            read_state_dict(path)
        assert_one_line_error(error, path, fragment)


def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("scripted/data.pkl", pickle.dumps({}))
        archive.writestr("scripted/constants.pkl", pickle.dumps(()))
    with pytest.raises(TorchFormatError) as error:
        read_state_dict(path)
    assert_one_line_error(error, path, "TorchScript")


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "absent.pth")


def test_kair_dncnn_25_checkpoint():
    if not DNCNN_25.is_file():
        pytest.skip(f"KAIR's DnCNN weights not found at {DNCNN_25}")
    state = read_state_dict(DNCNN_25)
    weights = [name for name in state if name.endswith(".weight")]
    assert len(weights) == 17
    assert list(state) == [f"model.{2 * i}.{kind}" for i in range(17) for kind in ("weight", "bias")]
    assert state["model.0.weight"].shape == (64, 1, 3, 3)
    assert state[weights[-1]].shape == (1, 64, 3, 3)
    assert all(state[f"model.{2 * i}.weight"].shape == (64, 64, 3, 3) for i in range(1, 16))
    assert state["model.32.bias"].shape == (1,)
    assert sum(array.size for array in state.values()) == 555_137
    for name, array in state.items():
        assert array.dtype == np.float32, name
        assert np.isfinite(array).all(), name
