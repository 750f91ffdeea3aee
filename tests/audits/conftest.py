from __future__ import annotations

import pytest

from tests.cleaning.support import World, world_make


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db, tmp_path) -> World:
    return world_make(tmp_path / "images", images=40)
