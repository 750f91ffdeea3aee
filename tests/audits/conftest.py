from __future__ import annotations

import pytest

from tests.cleaning.support import World, world_make


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _english_after():
    """A page a user who chose Chinese opened leaves Chinese active in this thread (the
    language middleware activates it per request); the next test starts in English."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture
def world(db, tmp_path) -> World:
    return world_make(tmp_path / "images", images=40)
