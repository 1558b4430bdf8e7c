"""Shared test setup: every test runs in its own temporary folder, offline, on one thread pool."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Send every cache/run folder a test writes with relative paths into tmp_path."""
    monkeypatch.chdir(tmp_path)
    yield
