"""Shared test configuration: quiet TensorFlow, find the benchmark data, isolate global switches."""

import os

import pytest

from tests.helpers import SHARED_DATA

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def shared_data():
    """The benchmark images next to the repository; skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark images not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def op_determinism():
    """TensorFlow's deterministic ops for one test, switched off again afterwards."""
    # `disable_op_determinism` is not exported under `tf.config.experimental`.
    from tensorflow.python.framework import config

    was_enabled = config.is_op_determinism_enabled()
    config.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            config.disable_op_determinism()
