"""Rebuild the cleaning queues from the current truth and evidence, set-based in PostgreSQL.

``queues_rerank(*, label_ids=None)`` is what the Celery task of the same name runs. For each
bounded batch of labels (one transaction each) it:

1. gathers every (image, label) some source says might carry the label: dataset positives,
   the current model version's suggestions, competitor / crawl / import evidence, and the
   relation breaks (an ancestor or implied label missing; both of an excluded pair positive);
2. reads beside them the dataset state and the current model's score (MODEL_FLOOR_SCORE when
   the version kept none) and computes priority and reasons with ranking.priority_sql;
   with the model's scores calibrated per label from the people's verdicts (calibration_fit);
3. upserts ReviewItems: new ones open, changed ones updated, unchanged ones untouched (so a
   second run writes nothing); a closed item that a source supports again is reopened;
   decided, unsure and disputed items keep their status and their decisions;
4. closes the open items no source supports any more.

No Python loop runs over items; memory does not grow with the dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from annotator.cleaning.models import Decision, ItemStatus
from annotator.cleaning.ranking import (
    CLAIM_DEFAULT_SCORE,
    DEFAULT_WEIGHTS,
    MODEL_FLOOR_SCORE,
    RankingWeights,
    Reason,
    Source,
    fit_platt,
    priority_sql,
    reasons_sql,
)
from annotator.dataset.importing.staging import copy_rows, raw_cursor, temp_table_as, temp_table_create
from annotator.dataset.models import EvidenceSource
from annotator.dataset.selectors import evidence_source_current_model
from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.models import Label
from annotator.taxonomy.selectors import taxonomy_graph_get

logger = logging.getLogger(__name__)

#: Labels per transaction. A label has ~10k items on average at 1M images / 4M labels / 400
#: labels, the biggest ~200k: 16 labels keep one batch to a few seconds and its temp tables
#: to tens of MB, while the per-batch overhead (temp tables, ANALYZE) stays negligible.
RERANK_LABEL_BATCH = 16
#: Items created or closed by one run from which the table's statistics are refreshed (ANALYZE
#: samples: about a second at millions of rows).
RERANK_ANALYZE_AFTER = 10_000
#: Serializes reranks (pg_advisory_xact_lock key): two workers never rank the same batch at once.
RERANK_LOCK_KEY = 0x4C4C_5245  # "LLRE"

_SOURCE_BITS_SQL = (
    f"CASE s.kind WHEN 'competitor' THEN {int(Source.COMPETITOR)} WHEN 'crawl' THEN {int(Source.CRAWL)} "
    f"ELSE {int(Source.IMPORT)} END"
)


def _closure_rows(graph: TaxonomyGraph) -> Iterable[tuple[int, int, int]]:
    """(src, dst, reason bit): a positive ``src`` requires ``dst`` (ancestor or implied)."""
    for src in graph.parent:
        ancestors = set(graph.ancestors(src))
        for dst in graph.closure(src):
            yield src, dst, int(Reason.PARENT_MISSING if dst in ancestors else Reason.IMPLIED_MISSING)


def _exclude_rows(graph: TaxonomyGraph) -> Iterable[tuple[int, int]]:
    for a, others in graph.excludes.items():
        for b in others:
            yield a, b


def queues_rerank(
    *, label_ids: Sequence[int] | None = None, weights: RankingWeights = DEFAULT_WEIGHTS
) -> dict[str, int]:
    """Recompute the items and priorities of the queues of ``label_ids`` (every active label when None).

    Idempotent: a second run with nothing changed writes no row. Returns counts:
    labels, candidates, created, updated, closed.
    """
    if label_ids is None:
        labels = list(Label.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))
    else:
        labels = sorted(set(Label.objects.filter(id__in=list(label_ids)).values_list("id", flat=True)))
    graph = taxonomy_graph_get()
    model = evidence_source_current_model()
    claim_sources = list(
        EvidenceSource.objects.filter(
            kind__in=[EvidenceSource.Kind.COMPETITOR, EvidenceSource.Kind.CRAWL, EvidenceSource.Kind.IMPORT]
        ).values_list("id", flat=True)
    )
    totals = {"labels": len(labels), "candidates": 0, "created": 0, "updated": 0, "closed": 0, "calibrated": 0}
    for start in range(0, len(labels), RERANK_LABEL_BATCH):
        batch = labels[start : start + RERANK_LABEL_BATCH]
        with transaction.atomic():
            counts = _rerank_batch(
                batch, graph=graph, model_id=model.pk if model else None, claim_sources=claim_sources, weights=weights
            )
        for key, value in counts.items():
            totals[key] += value
    if totals["created"] + totals["closed"] >= RERANK_ANALYZE_AFTER:
        # Fresh statistics, or the planner, still believing the table small, sorts a whole
        # label's items for a batch instead of walking the queue index in order.
        with raw_cursor() as cur:
            cur.execute("ANALYZE cleaning_reviewitem")
    logger.info("queues reranked: %s", totals)
    return totals


def calibration_fit(*, label_ids: list[int]) -> dict[int, tuple[float, float]]:
    """Per-label (scale, shift) of the current model's scores, from the standing present / absent
    verdicts on the labels' items (ranking.fit_platt); labels it cannot fit are left out."""
    by_label: dict[int, tuple[list[float], list[int]]] = {}
    with raw_cursor() as cur:
        cur.execute(
            f"""SELECT r.label_id, r.model_score, d.verdict
                FROM cleaning_reviewitem r JOIN cleaning_decision d ON d.item_id = r.id
                WHERE r.label_id = ANY(%(labels)s)
                  AND r.status IN ({int(ItemStatus.DECIDED)}, {int(ItemStatus.CONFLICT)})
                  AND r.model_score IS NOT NULL AND d.undone_at IS NULL
                  AND d.kind IN ({int(Decision.Kind.FIRST)}, {int(Decision.Kind.CHANGE)}) AND d.verdict IN (0, 1)""",
            {"labels": label_ids},
        )
        for label_id, score, verdict in cur.fetchall():
            scores, verdicts = by_label.setdefault(label_id, ([], []))
            scores.append(score)
            verdicts.append(verdict)
    fitted = {}
    for label_id, (scores, verdicts) in by_label.items():
        scale, shift = fit_platt(scores, verdicts)
        if (scale, shift) != (1.0, 0.0):
            fitted[label_id] = (scale, shift)
    return fitted


def _rerank_batch(
    labels: list[int],
    *,
    graph: TaxonomyGraph,
    model_id: int | None,
    claim_sources: list[int],
    weights: RankingWeights,
) -> dict[str, int]:
    params: dict[str, Any] = {
        "labels": labels,
        "model": model_id,
        "claims": claim_sources,
        "claim_default": CLAIM_DEFAULT_SCORE,
        "floor": MODEL_FLOOR_SCORE,
    }
    with raw_cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [RERANK_LOCK_KEY])
        cur.execute("SET LOCAL work_mem = '128MB'")
        # The queues are recomputable: a crash right after a commit may lose this batch's
        # ranking (the next run redoes it), never corrupt anything; not waiting for the WAL
        # flush saves seconds per batch on a busy disk.
        cur.execute("SET LOCAL synchronous_commit = off")
        calibration = calibration_fit(label_ids=labels) if model_id is not None else {}
        temp_table_create(cur, "tt_rr_calib", "label_id bigint, scale float8, shift float8")
        copy_rows(cur, "tt_rr_calib", ["label_id", "scale", "shift"], ((k, a, b) for k, (a, b) in calibration.items()))
        temp_table_create(cur, "tt_rr_closure", "src bigint, dst bigint, bit int")
        copy_rows(cur, "tt_rr_closure", ["src", "dst", "bit"], (r for r in _closure_rows(graph) if r[1] in labels))
        temp_table_create(cur, "tt_rr_excl", "a bigint, b bigint")
        copy_rows(cur, "tt_rr_excl", ["a", "b"], (r for r in _exclude_rows(graph) if r[0] in labels))
        model_part = ""
        if model_id is not None:
            model_part = f"""UNION ALL
                SELECT e.image_id, e.label_id, {int(Source.MODEL)}, 0, NULL::float8, NULL::float8
                FROM dataset_evidence e
                WHERE e.label_id = ANY(%(labels)s) AND e.source_id = %(model)s AND e.suggested"""
        candidates = temp_table_as(
            cur,
            "tt_rr_cand",
            f"""SELECT image_id, label_id, bit_or(src) AS sources, bit_or(rel) AS relation_reasons,
                       max(comp) AS competitor_score, max(other) AS other_score
                FROM (
                    SELECT il.image_id, il.label_id, {int(Source.DATASET)} AS src, 0 AS rel,
                           NULL::float8 AS comp, NULL::float8 AS other
                    FROM dataset_imagelabel il WHERE il.label_id = ANY(%(labels)s) AND il.state = 1
                    {model_part}
                    UNION ALL
                    SELECT e.image_id, e.label_id, {_SOURCE_BITS_SQL}, 0,
                           CASE WHEN s.kind = 'competitor' THEN coalesce(e.score, %(claim_default)s) END,
                           CASE WHEN s.kind <> 'competitor' THEN coalesce(e.score, %(claim_default)s) END
                    FROM dataset_evidence e JOIN dataset_evidencesource s ON s.id = e.source_id
                    WHERE e.label_id = ANY(%(labels)s) AND e.source_id = ANY(%(claims)s) AND e.suggested
                    UNION ALL
                    SELECT il.image_id, c.dst, {int(Source.RELATION)}, c.bit, NULL, NULL
                    FROM tt_rr_closure c
                    JOIN dataset_imagelabel il ON il.label_id = c.src AND il.state = 1
                    WHERE NOT EXISTS (SELECT 1 FROM dataset_imagelabel d
                                      WHERE d.image_id = il.image_id AND d.label_id = c.dst AND d.state = 1)
                    UNION ALL
                    SELECT il.image_id, il.label_id, {int(Source.RELATION)}, {int(Reason.EXCLUDED_PAIR)}, NULL, NULL
                    FROM tt_rr_excl x
                    JOIN dataset_imagelabel il ON il.label_id = x.a AND il.state = 1
                    JOIN dataset_imagelabel o ON o.image_id = il.image_id AND o.label_id = x.b AND o.state = 1
                ) u
                GROUP BY image_id, label_id""",
            params,
        )
        cur.execute("ANALYZE tt_rr_cand")
        model_score = "NULL::float8" if model_id is None else "coalesce(m.score, %(floor)s)"
        model_join = (
            ""
            if model_id is None
            else """LEFT JOIN dataset_evidence m
                     ON m.image_id = c.image_id AND m.label_id = c.label_id AND m.source_id = %(model)s"""
        )
        temp_table_as(
            cur,
            "tt_rr_scored",
            f"""SELECT c.image_id, c.label_id, c.sources, c.relation_reasons, il.state,
                       {model_score} AS model_score, c.competitor_score, c.other_score,
                       coalesce(k.scale, 1.0) AS model_scale, coalesce(k.shift, 0.0) AS model_shift
                FROM tt_rr_cand c
                LEFT JOIN dataset_imagelabel il ON il.image_id = c.image_id AND il.label_id = c.label_id
                LEFT JOIN tt_rr_calib k ON k.label_id = c.label_id
                {model_join}""",
            params,
        )
        reasons = reasons_sql(
            state="s.state",
            model_score="s.model_score",
            competitor_score="s.competitor_score",
            other_score="s.other_score",
            relation_reasons="s.relation_reasons",
        )
        priority = priority_sql(
            state="s.state",
            model_score="s.model_score",
            competitor_score="s.competitor_score",
            other_score="s.other_score",
            reasons="s.relation_reasons",
            weights=weights,
            model_scale="s.model_scale",
            model_shift="s.model_shift",
        )
        keep = int(Source.ANNOTATOR)
        cur.execute(
            f"""WITH up AS (
                  INSERT INTO cleaning_reviewitem AS r
                      (image_id, label_id, status, priority, dataset_state, model_score, competitor_score,
                       other_score, sources, reasons, ranked_at)
                  SELECT s.image_id, s.label_id, {int(ItemStatus.OPEN)}, {priority}, s.state, s.model_score,
                         s.competitor_score, s.other_score, s.sources, {reasons}, now()
                  FROM tt_rr_scored s
                  ORDER BY s.label_id, s.image_id
                  ON CONFLICT (image_id, label_id) DO UPDATE SET
                      priority = EXCLUDED.priority, dataset_state = EXCLUDED.dataset_state,
                      model_score = EXCLUDED.model_score, competitor_score = EXCLUDED.competitor_score,
                      other_score = EXCLUDED.other_score, sources = EXCLUDED.sources | (r.sources & {keep}),
                      reasons = EXCLUDED.reasons, ranked_at = EXCLUDED.ranked_at,
                      status = CASE WHEN r.status = {int(ItemStatus.CLOSED)} THEN {int(ItemStatus.OPEN)}
                                    ELSE r.status END
                  WHERE r.status = {int(ItemStatus.CLOSED)}
                     OR (r.priority, r.dataset_state, r.model_score, r.competitor_score, r.other_score,
                         r.sources & ~{keep}, r.reasons)
                        IS DISTINCT FROM
                        (EXCLUDED.priority, EXCLUDED.dataset_state, EXCLUDED.model_score,
                         EXCLUDED.competitor_score, EXCLUDED.other_score, EXCLUDED.sources, EXCLUDED.reasons)
                  RETURNING (xmax = 0) AS inserted
                )
                SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up""",
            params,
        )
        row = cur.fetchone()
        created, updated = (row[0], row[1]) if row else (0, 0)
        cur.execute(
            f"""UPDATE cleaning_reviewitem r SET status = {int(ItemStatus.CLOSED)}, ranked_at = now()
                WHERE r.label_id = ANY(%(labels)s) AND r.status = {int(ItemStatus.OPEN)}
                  AND NOT EXISTS (SELECT 1 FROM tt_rr_scored s
                                  WHERE s.image_id = r.image_id AND s.label_id = r.label_id)""",
            params,
        )
        closed = cur.rowcount
        for table in ("tt_rr_scored", "tt_rr_cand", "tt_rr_excl", "tt_rr_closure", "tt_rr_calib"):
            cur.execute(f"DROP TABLE {table}")
    return {
        "candidates": candidates,
        "created": created,
        "updated": updated,
        "closed": closed,
        "calibrated": len(calibration),
    }
