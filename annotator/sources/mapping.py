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

# One statement: the rows the mapping wants for the chosen images, then three disjoint writes
# against the same snapshot (remove unwanted rows, update changed ones, insert new ones), so
# a re-map after a small mapping edit writes only what changed. The provider's lock
# (services.LOCK_NAMESPACE) keeps other writers of this source out meanwhile.
_SYNC = """
WITH wanted AS (
    SELECT DISTINCT ON (rl.image_id, m.label_id) rl.image_id, m.label_id, rl.score, rl.name AS keyword
    FROM sources_rawlabel rl
    JOIN taxonomy_externallabelmapping m ON m.external_id = rl.external_id AND m.source = ANY(%(vocabularies)s)
    JOIN taxonomy_label l ON l.id = m.label_id AND l.is_active
    WHERE rl.provider = %(provider)s
      AND rl.score >= GREATEST(m.min_score, %(floor)s)
      {raw_filter}
    ORDER BY rl.image_id, m.label_id, rl.score DESC, rl.external_id
),
removed AS (
    DELETE FROM dataset_evidence e
    WHERE e.source_id = %(source)s {evidence_filter}
      AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.image_id = e.image_id AND w.label_id = e.label_id)
    RETURNING e.label_id
),
changed AS (
    UPDATE dataset_evidence e SET score = w.score, keyword = w.keyword, suggested = true
    FROM wanted w
    WHERE e.source_id = %(source)s AND e.image_id = w.image_id AND e.label_id = w.label_id
      AND (e.score IS DISTINCT FROM w.score OR e.keyword <> w.keyword OR NOT e.suggested)
    RETURNING e.label_id
),
existing AS MATERIALIZED (
    -- Read before the INSERT below writes: an anti-join straight against dataset_evidence
    -- would scan the rows this very statement inserts (invisible, yet read) for each new row.
    SELECT e.image_id, e.label_id FROM dataset_evidence e WHERE e.source_id = %(source)s {evidence_filter}
),
added AS (
    INSERT INTO dataset_evidence (image_id, label_id, source_id, score, keyword, suggested, created_at)
    SELECT w.image_id, w.label_id, %(source)s, w.score, w.keyword, true, %(now)s
    FROM wanted w
    WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.image_id = w.image_id AND x.label_id = w.label_id)
    RETURNING label_id
)
SELECT label_id FROM removed UNION SELECT label_id FROM changed UNION SELECT label_id FROM added
"""


def competitor_source_get(*, provider: str) -> EvidenceSource:
    source, _ = EvidenceSource.objects.get_or_create(kind=EvidenceSource.Kind.COMPETITOR, name=provider)
    return source


def provider_floor(*, provider: str) -> float:
    from annotator.sources.models import ProviderState

    state, _ = ProviderState.objects.get_or_create(provider=provider)
    return float(state.min_score)


def evidence_rebuild(*, provider: str, image_ids: list[int] | None, keywords: list[str] | None = None) -> set[int]:
    """Make the provider's competitor evidence for ``image_ids`` (None: every image), or for
    the images whose stored answers hold one of ``keywords`` (a mapping edit's keywords), what
    the mapping says of their stored answers: rows no longer wanted go, changed rows are
    rewritten, new rows are added, unchanged rows stay as they are.

    Returns the ids of the labels whose evidence changed (removed, rewritten or added), i.e.
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
        "keywords": keywords or [],
    }
    if image_ids is not None:
        image_filter = "AND {col} = ANY(%(image_ids)s)"
    elif keywords is not None:
        image_filter = (
            "AND {col} IN (SELECT image_id FROM sources_rawlabel "
            "WHERE provider = %(provider)s AND external_id = ANY(%(keywords)s))"
        )
    else:
        image_filter = ""
    sql = _SYNC.format(
        raw_filter=image_filter.format(col="rl.image_id"), evidence_filter=image_filter.format(col="e.image_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        touched = {row[0] for row in cursor.fetchall()}
    return touched
