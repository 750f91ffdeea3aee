from __future__ import annotations

import pytest

from tests.cleaning.support import World, world_make


@pytest.fixture
def world(db, tmp_path) -> World:
    return world_make(tmp_path / "images")
