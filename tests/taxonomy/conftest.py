"""Fixtures for the taxonomy tests: the sample taxonomy, loaded."""

from __future__ import annotations

import pytest

from annotator.taxonomy.services import taxonomy_load
from tests.taxonomy.sample import sample_taxonomy


@pytest.fixture
def taxonomy(db) -> dict:
    """The sample taxonomy loaded into the database; returns the data that was loaded."""
    data = sample_taxonomy()
    taxonomy_load(data=data, source="sample.json")
    return data
