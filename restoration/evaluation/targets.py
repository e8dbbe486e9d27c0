"""The files a command will write, checked against what it reads before any work starts.

`restore.py` and `evaluate.py` write where the user points them. Before a
model loads, every file they will write is checked here: it is never one of
the inputs (the same file under any name: a symbolic or hard link counts),
an existing file is replaced only when the user said `--overwrite`, and the
folder it goes to can be written. A mistake is one line naming both paths,
found before any time is spent.
"""

import os
import pathlib


def _identity(path):
    """`(device, inode)` of an existing file, following links; None if there is none."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _nearest_existing(path):
    """The path itself or its closest ancestor that exists."""
    path = pathlib.Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(folder, option):
    """Checks that files can be written in `folder` (made if missing), before any work.

    Args:
        folder: the output folder.
        option: the command-line option that named it, for the message.

    Raises:
        ValueError: the folder is a file, or sits below one, or is in a
            place that cannot be written (a read-only file system, no permission).
    """
    folder = pathlib.Path(folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise ValueError(f"{option} {folder}: expected a folder, but {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {folder}: expected a place that can be written, "
                         f"but {existing} cannot be written")


def check_targets(targets, inputs, overwrite, option):
    """Checks files about to be written against the inputs and the files that exist.

    Args:
        targets: paths of the files the command will write.
        inputs: paths of every file the command reads (images, models, configs).
        overwrite: whether existing files that are not inputs may be replaced.
        option: the command-line option the targets come from, for the message.

    Raises:
        ValueError: a target is an input (whatever `overwrite` says), is a
            folder, exists while `overwrite` is false, or cannot be written.
    """
    read = {}
    for path in inputs:
        identity = _identity(path)
        if identity is not None:
            read.setdefault(identity, pathlib.Path(path))
    folders = set()
    for target in map(pathlib.Path, targets):
        identity = _identity(target)
        if identity in read:
            raise ValueError(f"{option}: {target} would be written over the input {read[identity]}; "
                             f"choose an {option} that holds no input")
        if target.is_dir():
            raise ValueError(f"{option}: {target} is a folder where a file is to be written")
        if (identity is not None or target.is_symlink()) and not overwrite:
            raise ValueError(f"{option}: {target} exists already; give --overwrite to replace "
                             f"earlier outputs, or choose another {option}")
        folders.add(target.parent)
    for folder in sorted(folders):
        check_folder(folder, option)
