"""The taxonomy lock: every taxonomy write holds it until its transaction ends."""

from __future__ import annotations

from django.db import connection

# Any fixed number works; it only has to differ from the other advisory locks of the project.
TAXONOMY_LOCK_ID = 0x7A40_0001


def taxonomy_lock() -> None:
    """Serialise taxonomy writes until the current transaction ends (no-op outside one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TAXONOMY_LOCK_ID])
