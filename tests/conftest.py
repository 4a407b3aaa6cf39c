"""Test-wide settings: every Ray process stays on 127.0.0.1 and writes under a temp dir."""

import os
import tempfile

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="rlkd-ray-"))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from rlkd.config import load_config  # noqa: E402


@pytest.fixture
def digits_cfg():
    """The shipped default config, shortened where a test only needs it to run."""
    return lambda *overrides: load_config(None, list(overrides))
