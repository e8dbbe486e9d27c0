"""Read PyTorch checkpoints (state dicts) as NumPy arrays, without importing torch.

`torch.save` writes one of two formats, and `read_state_dict` reads both:

- The zip format (the default since PyTorch 1.6): a zip archive whose
  entries share one top-level folder, `<prefix>/data.pkl` (the pickled
  object), `<prefix>/data/<key>` (the raw bytes of each storage) and an
  optional `<prefix>/byteorder` (`little` or `big`; little when absent). A
  storage is referenced from the pickle by the persistent id
  `('storage', storage_type, key, location, numel)`.
- The legacy format (before 1.6, or `_use_new_zipfile_serialization=False`):
  consecutive pickles, the magic number 0x1950a86a20f9469cfc6c, the protocol
  version 1001, a dict describing the saving system, the pickled object,
  then the list of storage keys; then, for each key in that order, the
  storage's element count (8 bytes, little-endian) and its elements
  (little-endian). A storage is referenced by the persistent id
  `('storage', storage_type, root_key, location, numel, view_metadata)`,
  where `view_metadata` is None or `(view_key, offset, numel)` for a slice
  of the root storage.

In both, a tensor is pickled as a call to `torch._utils._rebuild_tensor_v2`
(or `_rebuild_tensor` in old files, wrapped in `_rebuild_parameter` for a
parameter) with its storage, storage offset, shape and strides.

Safety: unpickling can call any importable function, so the pickles are read
by an unpickler that resolves only the globals rebuilding tensors needs (the
rebuild functions, `collections.OrderedDict` and the storage types, all
replaced by stand-ins here) and refuses any other global before anything is
called. A checkpoint that pickles anything else (a whole `nn.Module`, an
`argparse.Namespace`, NumPy scalars) is refused, even if it only sits next to
the weights.
"""

import collections
import dataclasses
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001

# Keys under which common wrappers (`{"state_dict": ..., "epoch": ...}`) keep the weights, by preference.
_WRAPPER_KEYS = ("state_dict", "params", "model")
_EXPECTED = "expected a PyTorch state dict (a mapping of names to tensors)"

# Storage type name: (on-disk element type, without byte order).
_STORAGE_TYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "u2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "u1",
    "UntypedStorage": "u1",
}


class TorchFormatError(ValueError):
    """A file that is not a PyTorch state dict this module can read safely (one-line message)."""


class _Refused(Exception):
    """A problem found while reading, reported as a `TorchFormatError` naming the file."""


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageType:
    """A stand-in for `torch.FloatStorage` and the other storage types."""

    name: str

    def __repr__(self):
        return f"torch.{self.name}"

    # Defined here, so that the dataclass does not add its own.
    def __setstate__(self, state):
        raise _Refused(f"unexpected state set on torch.{self.name}")

    @property
    def element(self):
        return _STORAGE_TYPES[self.name]


class _StandIn:
    """Refuses to have its state set by the pickle (a BUILD opcode), naming itself as `_kind`."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _Refused(f"unexpected state set on {self._kind}")


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class _Global(_StandIn):
    """A stand-in for an allowed function or class: calls it, and refuses to have its state set."""

    _kind = "a global"
    function: object

    def __call__(self, *args):
        return self.function(*args)


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class _Root(_StandIn):
    """A storage as written to the file: its type, element count and, once read, its elements."""

    _kind = "a storage"
    storage_type: _StorageType
    numel: int
    array: np.ndarray | None = None


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class _StorageRef(_StandIn):
    """`numel` elements of a root storage from `offset` on (the whole storage, or a legacy view)."""

    _kind = "a storage"
    root: _Root
    offset: int
    numel: int


@dataclasses.dataclass(eq=False, repr=False, slots=True)
class _TensorRef(_StandIn):
    """A tensor to rebuild once its storage has been read."""

    _kind = "a tensor"
    storage: _StorageRef
    offset: int
    shape: tuple
    strides: tuple


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _int_tuple(value, what):
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) and v >= 0 for v in value):
        raise _Refused(f"a tensor's {what} is {value!r}, expected a tuple of non-negative integers")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    if not isinstance(storage, _StorageRef):
        raise _Refused(f"a tensor's storage is {type(storage).__name__}, expected a storage")
    if not _is_int(storage_offset) or storage_offset < 0:
        raise _Refused(f"a tensor's storage offset is {storage_offset!r}, expected a non-negative integer")
    shape = _int_tuple(size, "size")
    strides = _int_tuple(stride, "stride")
    if len(shape) != len(strides):
        raise _Refused(f"a tensor has size {shape} but stride {strides}")
    if all(shape):
        end = storage_offset + sum((n - 1) * s for n, s in zip(shape, strides)) + 1
        if end > storage.numel:
            raise _Refused(
                f"a tensor of size {shape}, stride {strides} and offset {storage_offset} "
                f"reaches element {end - 1} of a storage of {storage.numel}")
    return _TensorRef(storage, storage_offset, shape, strides)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    if not isinstance(data, _TensorRef):
        raise _Refused(f"a parameter holds {type(data).__name__}, expected a tensor")
    return data


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _Global(_rebuild_tensor),
    ("torch._utils", "_rebuild_tensor"): _Global(_rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _Global(_rebuild_parameter),
    ("collections", "OrderedDict"): _Global(collections.OrderedDict),
    ("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage"),
    **{("torch", name): _StorageType(name) for name in _STORAGE_TYPES},
}


class _Unpickler(pickle.Unpickler):
    """An unpickler that resolves only `_ALLOWED` and hands storage references to `storage`."""

    def __init__(self, file, storage=None):
        super().__init__(file, encoding="utf-8")
        self._storage = storage

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"refused to load the global {module}.{name} "
                           "(only what rebuilding tensors needs is allowed)") from None

    def persistent_load(self, pid):
        if self._storage is None:
            raise _Refused(f"unexpected persistent id {pid!r}")
        if not isinstance(pid, tuple) or not pid:
            raise _Refused(f"persistent id {pid!r} is not a tuple")
        typename = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if typename != "storage":
            raise _Refused(f"persistent id of type {typename!r} (a pickled module?), expected 'storage'")
        return self._storage(pid[1:])


def _root(roots, storage_type, key, numel):
    """The root storage `key` of `roots`, added if new; refused if referenced as another type or size."""
    if not isinstance(storage_type, _StorageType):
        raise _Refused(f"storage type {storage_type!r}, expected a storage type such as torch.FloatStorage")
    if not isinstance(key, str) or not _is_int(numel) or numel < 0:
        raise _Refused(f"storage key {key!r} with {numel!r} elements, expected a string and a count")
    root = roots.setdefault(key, _Root(storage_type, numel))
    if root.storage_type != storage_type or root.numel != numel:
        raise _Refused(f"storage {key} is referenced as two different types or sizes")
    return root


def _decode(raw, root, byteorder):
    """The elements of `root` from its raw bytes, in native byte order (bfloat16 as float32)."""
    element = root.storage_type.element
    array = np.frombuffer(raw, dtype=np.dtype(byteorder + element)).astype(element)
    if root.storage_type.name == "BFloat16Storage":
        return (array.astype(np.uint32) << 16).view(np.float32)
    if root.storage_type.name == "BoolStorage":
        return array != 0
    return array


def _tensor_array(tensor):
    storage = tensor.storage
    flat = storage.root.array[storage.offset:storage.offset + storage.numel]
    if not all(tensor.shape):
        return np.zeros(tensor.shape, dtype=flat.dtype)
    view = np.lib.stride_tricks.as_strided(
        flat[tensor.offset:], shape=tensor.shape,
        strides=[s * flat.itemsize for s in tensor.strides], writeable=False)
    return np.array(view, order="C", copy=True)


def _load_pickle(file, storage=None):
    return _Unpickler(file, storage).load()


def _read_zip(file):
    with zipfile.ZipFile(file) as archive:
        names = archive.namelist()
        if not names or "/" not in names[0]:
            raise _Refused("a zip archive without the top-level folder torch.save writes")
        prefix = names[0].split("/", 1)[0]
        if f"{prefix}/constants.pkl" in names:
            raise _Refused("a TorchScript archive (torch.jit.save), expected a torch.save state dict")
        if f"{prefix}/data.pkl" not in names:
            raise _Refused(f"a zip archive without {prefix}/data.pkl")
        byteorder = "<"
        if f"{prefix}/byteorder" in names:
            mark = archive.read(f"{prefix}/byteorder")
            if mark not in (b"little", b"big"):
                raise _Refused(f"byte order {mark!r}, expected b'little' or b'big'")
            byteorder = "<" if mark == b"little" else ">"
        roots = {}

        def storage(args):
            if len(args) != 4:
                raise _Refused(f"storage persistent id with {len(args) + 1} fields, expected 5")
            storage_type, key, _, numel = args
            root = _root(roots, storage_type, key, numel)
            if root.array is None:
                name = f"{prefix}/data/{key}"
                try:
                    raw = archive.read(name)
                except KeyError:
                    raise _Refused(f"the archive has no {name}") from None
                nbytes = numel * np.dtype(storage_type.element).itemsize
                if len(raw) != nbytes:
                    raise _Refused(f"{name} holds {len(raw)} bytes, expected {nbytes} "
                                   f"({numel} elements of {storage_type.name})")
                root.array = _decode(raw, root, byteorder)
            return _StorageRef(root, 0, numel)

        return _load_pickle(io.BytesIO(archive.read(f"{prefix}/data.pkl")), storage)


def _read_legacy(file):
    try:
        magic = _load_pickle(file)
    except _Refused:
        raise
    except Exception:
        raise _Refused("expected a torch.save checkpoint (a zip archive or legacy pickles), "
                       "received neither (the file does not start with a pickle)") from None
    if magic != _MAGIC_NUMBER:
        raise _Refused(f"first pickle is {_describe(magic)}, expected the torch.save magic number")
    version = _load_pickle(file)
    if version != _PROTOCOL_VERSION:
        raise _Refused(f"legacy protocol version {version!r}, expected {_PROTOCOL_VERSION}")
    _load_pickle(file)  # The saving system's description; the storages are little-endian regardless.
    roots = {}

    def storage(args):
        if len(args) != 5:
            raise _Refused(f"storage persistent id with {len(args) + 1} fields, expected 6")
        storage_type, key, _, numel, view = args
        root = _root(roots, storage_type, key, numel)
        if view is None:
            return _StorageRef(root, 0, numel)
        if (not isinstance(view, tuple) or len(view) != 3 or not all(_is_int(v) and v >= 0 for v in view[1:])
                or view[1] + view[2] > numel):
            raise _Refused(f"storage view {view!r} of a storage of {numel} elements")
        return _StorageRef(root, view[1], view[2])

    result = _load_pickle(file, storage)
    keys = _load_pickle(file)
    if not isinstance(keys, list) or sorted(keys, key=str) != sorted(roots, key=str):
        raise _Refused(f"the storage keys {_describe(keys)} do not match "
                       f"the {len(roots)} storages the pickle references")
    for key in keys:
        root = roots[key]
        header = file.read(8)
        if len(header) != 8:
            raise _Refused(f"truncated: the file ends before storage {key}")
        (count,) = struct.unpack("<q", header)
        if count != root.numel:
            raise _Refused(f"storage {key} holds {count} elements, expected {root.numel}")
        nbytes = count * np.dtype(root.storage_type.element).itemsize
        raw = file.read(nbytes)
        if len(raw) != nbytes:
            raise _Refused(f"truncated: the file ends inside storage {key} ({len(raw)} of {nbytes} bytes)")
        root.array = _decode(raw, root, "<")
    return result


def _describe(value):
    if isinstance(value, (dict, list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, _TensorRef):
        return "a tensor"
    return f"a {type(value).__name__}"


def _state_dict(obj):
    """The mapping of names to tensors in `obj`, unwrapping `{"state_dict": {...}, ...}`."""
    if not isinstance(obj, dict):
        raise _Refused(f"{_EXPECTED}, received {_describe(obj)}")
    for key in _WRAPPER_KEYS:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    arrays = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise _Refused(f"expected a state dict keyed by names, received the key {name!r}")
        if isinstance(value, _TensorRef):
            arrays[name] = _tensor_array(value)
        elif not name.endswith("num_batches_tracked"):
            raise _Refused(f"{_EXPECTED}, received {_describe(value)} under {name!r}")
    if not arrays:
        raise _Refused(f"{_EXPECTED}, received no tensors")
    return arrays


def read_state_dict(path):
    """Reads the state dict in a PyTorch checkpoint, without torch and without running pickled code.

    A checkpoint that wraps the state dict in a dict (`{"state_dict": ...}`,
    `{"params": ...}` or `{"model": ...}`, with anything else beside it) gives
    the wrapped state dict. A `num_batches_tracked` that is not a tensor is
    left out.

    Args:
        path: A `.pth`/`.pt` file written by `torch.save`, in the zip or the
            legacy format.

    Returns:
        A dict of names to C-contiguous NumPy arrays, in the order stored,
        shaped as the tensors, of their dtype (bfloat16 as float32).

    Raises:
        TorchFormatError: The file is not a state dict in either format, is
            truncated, or pickles a global other than those rebuilding
            tensors needs (nothing pickled is called before that check).
        OSError: The file cannot be read.
    """
    path = Path(path)
    with open(path, "rb") as file:
        try:
            head = file.read(512)
            file.seek(0)
            if head.startswith(b"PK\x03\x04"):
                obj = _read_zip(file)
            elif head[257:262] == b"ustar":
                raise _Refused("a tar archive (the format of the earliest PyTorch releases), not supported")
            else:
                obj = _read_legacy(file)
            return _state_dict(obj)
        except _Refused as error:
            message = str(error)
        except Exception as error:
            message = (f"expected a torch.save checkpoint, received a truncated or corrupt file "
                       f"({type(error).__name__}: {error})")
    raise TorchFormatError(f"{path}: {' '.join(message.split())}")
