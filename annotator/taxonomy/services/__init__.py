"""Writes on the taxonomy: loading a taxonomy file, adding relations, checking admin edits.

Every write takes the taxonomy lock (a transaction-scoped PostgreSQL advisory lock) and
validates the *whole* resulting taxonomy before anything is committed, so two edits made
at the same moment cannot combine into a cycle that neither made alone.

Import from this package; the modules are its layout: lock.py (the lock), loading.py
(load and export the taxonomy file), edits.py (single relation edits and the admin
checks), guidelines.py (guideline rendering and guideline examples).
"""

from annotator.taxonomy.services.edits import label_change_validate, relation_add, relation_change_validate
from annotator.taxonomy.services.guidelines import (
    GUIDELINE_ATTRIBUTES,
    GUIDELINE_TAGS,
    GUIDELINE_URL_SCHEMES,
    label_guideline_html,
)
from annotator.taxonomy.services.loading import TaxonomyLoadResult, taxonomy_export, taxonomy_load
from annotator.taxonomy.services.lock import TAXONOMY_LOCK_ID, taxonomy_lock

__all__ = [
    "GUIDELINE_ATTRIBUTES",
    "GUIDELINE_TAGS",
    "GUIDELINE_URL_SCHEMES",
    "TAXONOMY_LOCK_ID",
    "TaxonomyLoadResult",
    "label_change_validate",
    "label_guideline_html",
    "relation_add",
    "relation_change_validate",
    "taxonomy_export",
    "taxonomy_load",
    "taxonomy_lock",
]
