"""From stored provider keywords to competitor evidence, through the mapping table.

The mapping is ``taxonomy.ExternalLabelMapping``: Baidu keywords under source ``baidu``;
Google MIDs under ``openimages`` (the Open Images mapping the importer keeps, so no keyword
table is needed) and ``google`` (MIDs outside Open Images, added by admins). A keyword maps
when its score reaches both the row's ``min_score`` and the provider's floor
(``ProviderState.min_score``); only active labels receive evidence. Several keywords of one
image mapping to one label give one evidence row: the best score, with its keyword.

Evidence is rebuilt from the stored ``RawLabel`` rows with set-based SQL, for some images
(after a fetch) or for the whole provider (after a mapping change): never a provider call.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone

from annotator.dataset.models import EvidenceSource
from annotator.sources.config import BAIDU, GOOGLE

MAPPING_SOURCES: dict[str, tuple[str, ...]] = {BAIDU: ("baidu",), GOOGLE: ("openimages", "google")}
#: Which providers a mapping row of each vocabulary affects.
PROVIDERS_OF_VOCABULARY: dict[str, tuple[str, ...]] = {"baidu": (BAIDU,), "google": (GOOGLE,), "openimages": (GOOGLE,)}

_INSERT = """
WITH written AS (
INSERT INTO dataset_evidence (image_id, label_id, source_id, score, keyword, suggested, created_at)
SELECT DISTINCT ON (rl.image_id, m.label_id)
       rl.image_id, m.label_id, %(source)s, rl.score, rl.name, true, %(now)s
FROM sources_rawlabel rl
JOIN taxonomy_externallabelmapping m ON m.external_id = rl.external_id AND m.source = ANY(%(vocabularies)s)
JOIN taxonomy_label l ON l.id = m.label_id AND l.is_active
WHERE rl.provider = %(provider)s
  AND rl.score >= GREATEST(m.min_score, %(floor)s)
  {images}
ORDER BY rl.image_id, m.label_id, rl.score DESC, rl.external_id
RETURNING label_id
)
SELECT DISTINCT label_id FROM written
"""


def competitor_source_get(*, provider: str) -> EvidenceSource:
    source, _ = EvidenceSource.objects.get_or_create(kind=EvidenceSource.Kind.COMPETITOR, name=provider)
    return source


def provider_floor(*, provider: str) -> float:
    from annotator.sources.models import ProviderState

    state, _ = ProviderState.objects.get_or_create(provider=provider)
    return float(state.min_score)


def evidence_rebuild(*, provider: str, image_ids: list[int] | None) -> set[int]:
    """Replace the provider's competitor evidence for ``image_ids`` (None: every image).

    Returns the ids of the labels whose evidence changed hands (removed or written), i.e.
    the queues that want a re-rank. Call inside a transaction.
    """
    source = competitor_source_get(provider=provider)
    params: dict[str, Any] = {
        "source": source.id,
        "provider": provider,
        "vocabularies": list(MAPPING_SOURCES[provider]),
        "floor": provider_floor(provider=provider),
        "now": timezone.now(),
        "image_ids": image_ids or [],
    }
    image_filter = "AND image_id = ANY(%(image_ids)s)" if image_ids is not None else ""
    raw_filter = "AND rl.image_id = ANY(%(image_ids)s)" if image_ids is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH removed AS (DELETE FROM dataset_evidence WHERE source_id = %(source)s "  # noqa: S608
            f"{image_filter} RETURNING label_id) SELECT DISTINCT label_id FROM removed",
            params,
        )
        touched = {row[0] for row in cursor.fetchall()}
        cursor.execute(_INSERT.format(images=raw_filter), params)
        touched.update(row[0] for row in cursor.fetchall())
    return touched
