"""Quiet command lines: TensorFlow's native log lines filtered out of stderr.

TensorFlow and XLA write their C++ logs (oneDNN notices, CPU feature lines,
the absl pre-initialisation warning) straight to file descriptor 2, and
TensorFlow 2.19 and later print some of them whatever `TF_CPP_MIN_LOG_LEVEL`
says. `quiet_native_logs` points descriptor 2 at a pipe whose reader drops
those lines and forwards everything else; Python's own `sys.stderr` (errors,
warnings, tracebacks) is moved to a copy of the original descriptor, so it
reaches the terminal unfiltered and in order. TensorFlow's Python logger is
set to errors only (its warnings are retracing notices and deprecations).
Entry points call it before TensorFlow is imported, unless `--verbose` asks
for every line.
"""

import atexit
import logging
import os
import re
import sys
import threading

# An absl/glog line: severity letter, date, time (its seconds may be Unix time), thread id, file:line].
NATIVE_LINE = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s\]]+:\d+\] ")
# Native lines kept although they match: fatal errors, and errors other than the harmless
# ones TensorFlow logs at error level (oneDNN's platform notice, Grappler giving up an
# optional graph rewrite).
KEPT_LINE = re.compile(rb"^F|^E(?!.*(oneDNN|meta_optimizer\.cc))")
ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"

_installed = False
# What to install when a backend is missing (TensorFlow comes from an extra, so `pip install -e .`
# alone has none).
MISSING_BACKEND = {
    "tensorflow": "run `make install` (or `pip install -e '.[cpu]'`, `'.[gpu]'` for CUDA)",
    "jax": "run `make install-test`, or `pip install 'jax[cpu]'`, for KERAS_BACKEND=jax",
}


def run_main(main, program):
    """Runs an entry point's `main()` quietly; returns its exit status.

    The native log filter goes in first (unless `--verbose`). Ctrl-C that
    arrives where `main` does not handle it itself (while Python and
    TensorFlow load, for instance) ends with one line and status 130; a
    missing TensorFlow or JAX with one line saying what to install, status 2;
    a closed pipe on stdout silently, status 141.

    Args:
        main: The entry point's `main`, called without arguments.
        program: Its name, for the interruption line.
    """
    quiet_native_logs()
    try:
        return main()
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`train.py --list-runs | head -1`): stop quietly, as `cat` does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ModuleNotFoundError as error:
        if error.name not in MISSING_BACKEND:
            raise
        print(f"{program}: error: {error.name} is not installed: {MISSING_BACKEND[error.name]}",
              file=sys.stderr)
        return 2


def is_noise(line):
    """Whether one native stderr line (bytes, without its newline) is dropped."""
    return line.startswith(ABSL_PREAMBLE) or (bool(NATIVE_LINE.match(line)) and not KEPT_LINE.match(line))


def describe_error(error):
    """One line for an expected failure: `path: reason` for a file-system error, else the message."""
    if not isinstance(error, OSError):
        return str(error)
    reason = error.strerror or error
    return f"{error.filename}: {reason}" if error.filename else str(reason)


def quiet_native_logs(argv=None):
    """Filters TensorFlow's native log lines out of stderr, unless argv has `--verbose`.

    Sets `TF_CPP_MIN_LOG_LEVEL=2` (unless set) for the lines TensorFlow does
    gate on it. Idempotent; call it before TensorFlow is imported.

    Args:
        argv: The command line; None reads `sys.argv`.
    """
    global _installed
    argv = sys.argv if argv is None else argv
    if _installed or "--verbose" in argv:
        return
    _installed = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    sys.stderr.flush()
    terminal = os.dup(2)
    # Python's stderr keeps writing to the terminal; only native writes to fd 2 pass the filter.
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding=sys.stderr.encoding,
                           errors="backslashreplace")
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(target=_forward, args=(read_end, terminal), daemon=True)
    reader.start()

    def restore():
        # Closing the last write end of the pipe ends the reader once it has forwarded everything.
        os.dup2(terminal, 2)
        reader.join(timeout=2.0)

    atexit.register(restore)


def _forward(read_end, terminal):
    """Copies the pipe to the terminal line by line, without the noise."""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
            if kept:
                os.write(terminal, kept)
        if pending and not is_noise(pending):
            os.write(terminal, pending)
