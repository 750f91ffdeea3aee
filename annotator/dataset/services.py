"""Writes on image labels: the one truth per (image, label), with a history row per change.

Two entry points with the same rules:

- ``image_labels_set``: one image, through the ORM with row locks (cleaning decisions,
  small imports);
- ``image_labels_bulk_set`` / ``image_labels_bulk_set_staged``: any number of rows,
  set-based in PostgreSQL (imports).

The rules:

- a positive is expanded through the label closure (ancestors + implied labels,
  ``annotator.taxonomy.closure``); a label made positive only by that expansion is
  written with source ``relation`` and reason ``implied by <key>`` (the smallest-id
  explicit positive that implies it);
- within one call a positive beats a negative for the same (image, label), whether the
  negative was given or the positive comes from the closure (counted as ``conflicts``);
- a row already in the wanted state is not touched: no write, no history row;
- unless ``overwrite_decisions``, a state last set by a person (annotator, audit,
  admin, revert) is kept (counted as ``kept_decisions``): re-importing a file never
  undoes cleaning work;
- every real change leaves one LabelHistory row (old state, new state, source,
  source_ref, user, reason).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotator.dataset.importing.staging import (
    SetBasedForeignKeys,
    bulk_session_tune,
    copy_rows,
    fk_rows_lock,
    raw_cursor,
    temp_table_create,
)
from annotator.dataset.models import HistorySource, ImageLabel, LabelHistory, LabelState
from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.models import Label
from annotator.taxonomy.selectors import taxonomy_graph_get

logger = logging.getLogger(__name__)

#: Sources of states a person decided; imports do not override them.
PERSON_SOURCES = frozenset({HistorySource.ANNOTATOR, HistorySource.AUDIT, HistorySource.ADMIN, HistorySource.REVERT})

_REASON_MAX = 500


class ConcurrentLabelChange(Exception):  # noqa: N818 (it is an event, not a programming error)
    """Rows changed between reading and writing them (another writer); nothing was written."""


def _implied_reason(key: str) -> str:
    return f"implied by {key}"[:_REASON_MAX]


@transaction.atomic
def image_labels_set(
    *,
    image_id: int,
    states: Mapping[int, int | None],
    source: str,
    user: Any = None,
    source_ref: str = "",
    reason: str = "",
    expand: bool = True,
    overwrite_decisions: bool = True,
    graph: TaxonomyGraph | None = None,
) -> list[LabelHistory]:
    """Set one image's labels: ``states`` maps label id -> 1, 0 or None (back to unknown).

    Returns the history rows written (one per real change). See the module docstring for
    the rules; ``overwrite_decisions`` defaults to True here because the callers are
    people deciding. ``graph`` may be passed by callers that set many images in a row.
    """
    want: dict[int, tuple[int | None, str, str]] = {
        label_id: (state, source, reason[:_REASON_MAX]) for label_id, state in states.items()
    }
    if expand:
        graph = graph or taxonomy_graph_get()
        positives = sorted(label_id for label_id, state in states.items() if state == LabelState.POSITIVE)
        implied: dict[int, int] = {}
        for label_id in positives:
            for other in graph.closure(label_id):
                if states.get(other) != LabelState.POSITIVE:
                    implied.setdefault(other, label_id)
        keys = dict(Label.objects.filter(id__in=set(implied.values())).values_list("id", "key"))
        for other, via in implied.items():
            want[other] = (LabelState.POSITIVE, HistorySource.RELATION, _implied_reason(keys[via]))

    current = {
        row.label_id: row
        for row in ImageLabel.objects.select_for_update().filter(image_id=image_id, label_id__in=list(want))
    }
    now = timezone.now()
    history: list[LabelHistory] = []
    to_create: list[ImageLabel] = []
    to_update: list[ImageLabel] = []
    to_delete: list[int] = []
    for label_id, (state, row_source, row_reason) in sorted(want.items()):
        row = current.get(label_id)
        old = row.state if row is not None else None
        if old == state:
            continue
        if row is not None and row.source in PERSON_SOURCES and not overwrite_decisions:
            continue
        if state is None:
            assert row is not None
            to_delete.append(row.pk)
        elif row is None:
            to_create.append(ImageLabel(image_id=image_id, label_id=label_id, state=state, source=row_source))
        else:
            row.state, row.source, row.updated_at = state, row_source, now
            to_update.append(row)
        history.append(
            LabelHistory(
                image_id=image_id,
                label_id=label_id,
                old_state=old,
                new_state=state,
                source=row_source,
                source_ref=source_ref[:200],
                user=user,
                reason=row_reason,
            )
        )
    if to_delete:
        ImageLabel.objects.filter(pk__in=to_delete).delete()
    if to_create:
        ImageLabel.objects.bulk_create(to_create)
    if to_update:
        ImageLabel.objects.bulk_update(to_update, ["state", "source", "updated_at"])
    return LabelHistory.objects.bulk_create(history)


@transaction.atomic
def image_labels_revert(
    *, image_id: int, source_ref: str, user: Any = None, reason: str = ""
) -> tuple[dict[int, int | None], list[int]]:
    """Undo the changes one action made to an image (its history rows of ``source_ref``).

    Each label goes back to the state it had before the action, unless someone changed it
    since (the newest row of the label decides): left alone and reported. Writes history rows
    of source ``revert``, ``source_ref`` ``undo:<source_ref>``. Returns (label id -> state
    restored, label ids skipped). The caller holds whatever lock orders it against the action.
    """
    rows = list(LabelHistory.objects.filter(image_id=image_id, source_ref=source_ref).order_by("-id"))
    current = dict(
        ImageLabel.objects.select_for_update()
        .filter(image_id=image_id, label_id__in=[row.label_id for row in rows])
        .values_list("label_id", "state")
    )
    restored: dict[int, int | None] = {}
    skipped: list[int] = []
    for row in rows:
        if row.label_id in restored or row.label_id in skipped:
            continue
        if current.get(row.label_id) == row.new_state:
            restored[row.label_id] = row.old_state
        else:
            skipped.append(row.label_id)
    if restored:
        image_labels_set(
            image_id=image_id,
            states=restored,
            source=HistorySource.REVERT,
            user=user,
            source_ref=f"undo:{source_ref}",
            reason=reason,
            expand=False,
        )
    return restored, skipped


def image_labels_bulk_set(
    *,
    rows: Iterable[tuple[int, int, int]],
    source: str,
    source_ref: str,
    reason: str,
    user_id: int | None = None,
    expand: bool = True,
    overwrite_decisions: bool = False,
    graph: TaxonomyGraph | None = None,
) -> dict[str, int]:
    """Set ``(image_id, label_id, state)`` rows (state 1 or 0) in bulk; returns counts.

    Stages the rows with COPY into a TEMP table, then ``image_labels_bulk_set_staged``.
    """
    with raw_cursor() as cur:
        temp_table_create(cur, "tt_truth_rows", "image_id bigint, label_id bigint, state smallint")
        copy_rows(cur, "tt_truth_rows", ["image_id", "label_id", "state"], rows)
    return image_labels_bulk_set_staged(
        table="tt_truth_rows",
        source=source,
        source_ref=source_ref,
        reason=reason,
        user_id=user_id,
        expand=expand,
        overwrite_decisions=overwrite_decisions,
        graph=graph,
    )


@transaction.atomic
def image_labels_bulk_set_staged(
    *,
    table: str,
    source: str,
    source_ref: str,
    reason: str,
    user_id: int | None = None,
    expand: bool = True,
    overwrite_decisions: bool = False,
    graph: TaxonomyGraph | None = None,
) -> dict[str, int]:
    """Set the rows of a TEMP ``table(image_id, label_id, state)`` (duplicates allowed).

    Counts: truth_created, truth_changed, truth_unchanged, truth_implied (created or
    changed by the closure alone), kept_decisions, conflicts. Raises
    ConcurrentLabelChange when another writer changed the same rows meanwhile (nothing
    is written then: the caller's transaction rolls back).
    """
    persons = sorted(PERSON_SOURCES)
    with raw_cursor() as cur:
        bulk_session_tune(cur)
        cur.execute(f"ANALYZE {table}")
        union = ""
        if expand:
            graph = graph or taxonomy_graph_get()
            temp_table_create(cur, "tt_closure", "label_id bigint, implied_id bigint")
            copy_rows(
                cur,
                "tt_closure",
                ["label_id", "implied_id"],
                ((label_id, other) for label_id in graph.parent for other in graph.closure(label_id)),
            )
            union = f"""UNION ALL
                SELECT t.image_id, c.implied_id, 1::smallint, false, t.label_id
                FROM {table} t JOIN tt_closure c ON c.label_id = t.label_id WHERE t.state = 1"""
        temp_table_create(
            cur,
            "tt_truth_diff",
            "image_id bigint, label_id bigint, state smallint, source text, via bigint, conflict boolean, "
            "old_state smallint, old_source text, action char(1)",
        )
        # One pass: explicit rows + closure rows, grouped (positive wins), compared with the
        # current truth. action: c(reate), u(pdate), s(ame), k(ept person's decision).
        # Sort-based grouping on purpose (hash aggregation off for this statement): the
        # groups then come out in (image, label) order, so the current truth is probed in
        # index order (3x faster at 1M rows than the random order of a hash aggregate) and
        # the rows are stored in index order, so the inserts below append to every index of
        # ImageLabel and LabelHistory instead of touching random pages.
        cur.execute("SELECT current_setting('enable_hashagg')")
        hashagg = cur.fetchone()
        cur.execute("SET LOCAL enable_hashagg = off")
        cur.execute(
            f"""INSERT INTO tt_truth_diff
            SELECT a.image_id, a.label_id, a.state,
                   CASE WHEN a.explicit_state = a.state THEN %(source)s ELSE 'relation' END,
                   CASE WHEN a.explicit_state = a.state THEN NULL ELSE a.via END,
                   coalesce(a.explicit_min = 0 AND a.state = 1, false),
                   il.state, il.source,
                   CASE WHEN il.state IS NULL THEN 'c'
                        WHEN il.state = a.state THEN 's'
                        WHEN il.source = ANY(%(persons)s) AND NOT %(overwrite)s THEN 'k'
                        ELSE 'u' END
            FROM (
                SELECT image_id, label_id, max(state) AS state,
                       max(state) FILTER (WHERE explicit) AS explicit_state,
                       min(state) FILTER (WHERE explicit) AS explicit_min,
                       min(via) AS via
                FROM (SELECT image_id, label_id, state, true AS explicit, NULL::bigint AS via FROM {table}
                      {union}) u
                GROUP BY image_id, label_id
            ) a
            LEFT JOIN dataset_imagelabel il ON il.image_id = a.image_id AND il.label_id = a.label_id
            ORDER BY a.image_id, a.label_id""",
            {"source": source, "persons": persons, "overwrite": overwrite_decisions},
        )
        cur.execute("SELECT set_config('enable_hashagg', %s, true)", [hashagg[0] if hashagg else "on"])
        cur.execute(
            """SELECT action, count(*), count(*) FILTER (WHERE conflict), count(*) FILTER (WHERE via IS NOT NULL)
               FROM tt_truth_diff GROUP BY action"""
        )
        by_action = {action: (n, conflicts, implied) for action, n, conflicts, implied in cur.fetchall()}
        created = by_action.get("c", (0, 0, 0))
        changed = by_action.get("u", (0, 0, 0))
        counts = {
            "truth_created": created[0],
            "truth_changed": changed[0],
            "truth_unchanged": by_action.get("s", (0, 0, 0))[0],
            "truth_implied": created[2] + changed[2],
            "kept_decisions": by_action.get("k", (0, 0, 0))[0],
            "conflicts": sum(v[1] for v in by_action.values()),
        }
        if created[0] or changed[0]:
            _truth_write(
                cur, created=created[0], changed=changed[0], source_ref=source_ref, user_id=user_id, reason=reason
            )
        cur.execute("DROP TABLE tt_truth_diff")
    logger.info("truth %s: %s", source_ref, counts)
    return counts


def _truth_write(
    cur: psycopg.Cursor[Any], *, created: int, changed: int, source_ref: str, user_id: int | None, reason: str
) -> None:
    """Apply tt_truth_diff's creates and updates and write their history rows."""
    fks = SetBasedForeignKeys(cur, rows=created + changed)
    if fks.active:
        missing = fk_rows_lock(
            cur, table="dataset_image", ids_query="SELECT image_id FROM tt_truth_diff WHERE action IN ('c', 'u')"
        )
        missing += fk_rows_lock(
            cur, table="taxonomy_label", ids_query="SELECT label_id FROM tt_truth_diff WHERE action IN ('c', 'u')"
        )
        if user_id is not None:
            missing += fk_rows_lock(cur, table=get_user_model()._meta.db_table, ids_query="SELECT %s", params=[user_id])
        if missing:
            raise ConcurrentLabelChange(f"{missing} images, labels or users were deleted meanwhile")
    with fks:
        if created:
            try:
                cur.execute(
                    """INSERT INTO dataset_imagelabel (image_id, label_id, state, source, updated_at)
                       SELECT image_id, label_id, state, source, now() FROM tt_truth_diff WHERE action = 'c'"""
                )
            except psycopg.errors.UniqueViolation as exc:
                raise ConcurrentLabelChange("labels were set by someone else meanwhile") from exc
        if changed:
            # The old state and source in the condition: a row changed since the diff is not overwritten.
            cur.execute(
                """UPDATE dataset_imagelabel il SET state = d.state, source = d.source, updated_at = now()
                   FROM tt_truth_diff d
                   WHERE d.action = 'u' AND il.image_id = d.image_id AND il.label_id = d.label_id
                     AND il.state = d.old_state AND il.source = d.old_source"""
            )
            if cur.rowcount != changed:
                raise ConcurrentLabelChange(f"{changed - cur.rowcount} labels were changed by someone else meanwhile")
        cur.execute(
            """INSERT INTO dataset_labelhistory
                   (image_id, label_id, old_state, new_state, source, source_ref, user_id, reason, created_at)
               SELECT d.image_id, d.label_id, d.old_state, d.state, d.source, %(ref)s, %(user)s,
                      CASE WHEN d.via IS NULL THEN %(reason)s ELSE left('implied by ' || l.key, 500) END, now()
               FROM tt_truth_diff d LEFT JOIN taxonomy_label l ON l.id = d.via
               WHERE d.action IN ('c', 'u')""",
            {"ref": source_ref[:200], "user": user_id, "reason": reason[:_REASON_MAX]},
        )
