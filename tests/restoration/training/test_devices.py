"""A JAX run that asked for a GPU and finds none says so in one line, before training."""

import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

# Starts a JAX process per case: left out of `make test-fast`.
pytestmark = pytest.mark.slow

PROBE = ("import keras, sys\n"
         "from restoration.training import devices\n"
         "devices._cuda_plugin_installed = lambda: {plugin}\n"
         "try:\n"
         "    print(devices.check_accelerator())\n"
         "except ValueError as error:\n"
         "    print('error:', error)\n")


@pytest.mark.parametrize("platforms, plugin, expected", [
    ("cpu", "True", "JAX's CUDA plugin is installed, but JAX finds no GPU"),
    ("cpu", "False", "None"),
    ("cuda", "False", "error: JAX_PLATFORMS=cuda: expected a usable GPU, but JAX cannot start it"),
])
def test_a_jax_run_without_its_gpu_is_one_line(platforms, plugin, expected):
    environment = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": platforms, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", PROBE.format(plugin=plugin)], cwd=REPO_ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 1, done.stdout + done.stderr
    assert lines[0].startswith(expected), lines[0]


def test_without_any_jax_plugin_the_plugin_check_says_none():
    """No `jax_plugins` package at all is "not installed", not an error."""
    import importlib.util

    from restoration.training import devices

    if importlib.util.find_spec("jax_plugins") is not None:
        pytest.skip("a JAX plugin package is installed here")

    assert devices._cuda_plugin_installed() is False
