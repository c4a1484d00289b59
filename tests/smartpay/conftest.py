"""Fixtures for the client tests."""

from __future__ import annotations

import pytest

from .client_fakes import FakeTime, Recorder


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
