"""Writes a benchmark's section of BENCHMARKS.md in place, atomically."""

import os
import platform
import re
import subprocess
from pathlib import Path

import keras

from restoration.runs import write_text_atomically
from restoration.training.precision import cpu_flags

BENCHMARKS_FILE = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEvery section is rewritten by the command named in it.\n"


def machine_description():
    """CPU model, core count and memory of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    flags = sorted(cpu_flags() & {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2"})
    flags = f", CPU flags {' '.join(flags)}" if flags else ""
    return f"{cpu}, {os.cpu_count()} cores{memory}{flags}, {platform.system()} {platform.release()}"


def git_revision():
    """The short commit hash of the checkout, or "unknown" outside git."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            check=True, cwd=BENCHMARKS_FILE.parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def header(title, command, versions=""):
    """A section's title, then its command and revision, and the machine with `versions`."""
    machine = machine_description() + (f"; {versions}" if versions else "")
    return [f"## {title}", "", f"Command: {command}, revision {git_revision()}.", f"Machine: {machine}."]


def keras_version():
    return f"Keras {keras.__version__} ({keras.backend.backend()})"


def write_section(name, body, path=BENCHMARKS_FILE):
    """Replaces (or appends) the section delimited by markers named `name`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = Path(path).read_text() if Path(path).exists() else HEADER
    section = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    write_text_atomically(path, text)
