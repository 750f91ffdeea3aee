from __future__ import annotations

import pytest

from tests.cleaning.support import World, world_make


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Per-label counts are cached for a minute (in this process, which also runs the live
    server): one test's counts must not stand in for the next test's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db, tmp_path) -> World:
    return world_make(tmp_path / "images")
