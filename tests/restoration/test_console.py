"""The stderr filter of the entry points: TensorFlow's native lines out, everything else kept."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from restoration.console import is_noise

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("line", [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796224486.480448    1890 port.cc:153] oneDNN custom operations are on.",
    b"W0000 00:00:1796224486.480448    1890 cpu_feature_guard.cc:210] This TensorFlow binary is",
    b"E0000 00:00:1796224491.016111    1890 util.cc:131] oneDNN supports DT_UINT8 only on platforms",
    b"E0000 00:00:1796224671.432228    2491 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT",
])
def test_native_notices_are_noise(line):
    assert is_noise(line)


@pytest.mark.parametrize("line", [
    b"error: runs/x/config.yaml: training.steps: expected an integer > 0, received 0",
    b"F0000 00:00:1796224491.016111    1890 stream.cc:12] Check failed: device lost",
    b"E0000 00:00:1796224491.016111    1890 cuda_dnn.cc:8] could not create cudnn handle",
    b"Traceback (most recent call last):",
    b"I0000 is not a log line",
])
def test_errors_and_messages_are_kept(line):
    assert not is_noise(line)


SCRIPT = textwrap.dedent("""
    import os, sys
    from restoration import console
    console.quiet_native_logs(sys.argv)
    os.write(2, b"I0000 00:00:1.5    7 port.cc:153] oneDNN custom operations are on.\\n")
    os.write(2, b"native kept line\\n")
    import logging
    logging.getLogger("tensorflow").warning("retracing notice")
    logging.getLogger("tensorflow").error("python error kept")
    print("python message", file=sys.stderr)
    raise SystemExit("last words")
""")


def run_script(*arguments):
    return subprocess.run([sys.executable, "-c", SCRIPT, *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_filter_drops_native_notices_and_forwards_the_rest():
    result = run_script()
    assert result.returncode == 1
    assert "oneDNN" not in result.stderr and "retracing notice" not in result.stderr
    # Forwarded native lines and Python's own output (to the very end) all reach stderr.
    for text in ("native kept line", "python error kept", "python message", "last words"):
        assert text in result.stderr


def test_verbose_keeps_every_line():
    result = run_script("--verbose")
    assert "oneDNN custom operations are on" in result.stderr
    assert "retracing notice" in result.stderr and "python message" in result.stderr


def test_ctrl_c_outside_main_handlers_is_one_line():
    script = textwrap.dedent("""
        import sys
        from restoration import console
        def main():
            raise KeyboardInterrupt
        sys.exit(console.run_main(main, "tool.py"))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 130
    assert result.stderr == "tool.py: interrupted\n"


def test_expected_failures_are_one_line_naming_the_path():
    import errno

    from restoration.console import describe_error

    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "data/Set5")
    assert describe_error(missing) == "data/Set5: No such file or directory"
    assert describe_error(FileNotFoundError("Image folder not found: x")) == "Image folder not found: x"
    assert describe_error(ValueError("Expected --scale")) == "Expected --scale"


def test_a_missing_backend_is_one_line_saying_what_to_install():
    script = textwrap.dedent("""
        import sys
        from restoration import console
        def main():
            raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")
        sys.exit(console.run_main(main, "tool.py"))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("tool.py: error: tensorflow is not installed: run `make install` (or "
                             "`pip install -e '.[cpu]'`, `'.[gpu]'` for CUDA)\n")


def test_a_closed_pipe_ends_quietly():
    """`train.py --list-runs | head -1`: no traceback when the reader stops early."""
    script = textwrap.dedent("""
        import sys
        from restoration import console
        def main():
            for index in range(100000):
                print(f"--arm a --seed {index}")
            return 0
        sys.exit(console.run_main(main, "tool.py"))
    """)
    result = subprocess.run(f"{sys.executable} -c '{script}' | head -1", shell=True, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout == "--arm a --seed 0\n"
    assert result.stderr == ""
