"""Reads of the competitor sources, and the access-checked getters their pages use.

Access: admins start jobs and edit the mapping; QA leads read the overview, the job pages
and the unmapped-keyword report; annotators see competitor evidence only in the cleaning
queue; anyone else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from annotator.accounts.roles import Role, user_has_role
from annotator.dataset.models import Evidence, EvidenceSource, Image
from annotator.sources.config import PROVIDERS, provider_config
from annotator.sources.mapping import MAPPING_SOURCES
from annotator.sources.models import FetchJob, Provider, ProviderState, RawResponse
from annotator.taxonomy.models import ExternalLabelMapping

READERS = (Role.QA_LEAD, Role.ADMIN)
#: Keywords on the unmapped report, and example images per keyword.
UNMAPPED_LIMIT = 50
UNMAPPED_EXAMPLES = 4
RECENT_JOBS = 20


def _check_reader(user: AbstractBaseUser | AnonymousUser) -> None:
    if not user_has_role(user, *READERS):
        raise PermissionDenied


@dataclass
class ProviderOverview:
    provider: str
    name: str
    configured: bool
    qps: float
    base_url: str
    min_score: float
    paused_until: datetime | None
    pause_reason: str
    responses: dict[str, int]
    evidence: int
    refreshed_at: datetime | None


def providers_overview(*, user: AbstractBaseUser | AnonymousUser, now: datetime) -> list[ProviderOverview]:
    """Each provider's configuration (never its keys), pause, stored answers and evidence."""
    _check_reader(user)
    states = {s.provider: s for s in ProviderState.objects.all()}
    counts: dict[str, dict[str, int]] = {p: {} for p in PROVIDERS}
    for row in RawResponse.objects.values("provider", "status").annotate(n=Count("id")):
        counts[row["provider"]][row["status"]] = row["n"]
    sources = {s.name: s for s in EvidenceSource.objects.filter(kind=EvidenceSource.Kind.COMPETITOR)}
    evidence = dict(
        Evidence.objects.filter(source__kind=EvidenceSource.Kind.COMPETITOR)
        .values_list("source__name")
        .annotate(n=Count("id"))
        .values_list("source__name", "n")
    )
    out = []
    for provider in PROVIDERS:
        config = provider_config(provider)
        state = states.get(provider)
        paused = state.paused_until if state and state.paused_until and state.paused_until > now else None
        source = sources.get(provider)
        out.append(
            ProviderOverview(
                provider=provider,
                name=str(Provider(provider).label),
                configured=config.configured,
                qps=config.qps,
                base_url=config.base_url,
                min_score=state.min_score if state else ProviderState._meta.get_field("min_score").default,
                paused_until=paused,
                pause_reason=state.pause_reason if paused and state else "",
                responses=counts[provider],
                evidence=evidence.get(provider, 0),
                refreshed_at=source.refreshed_at if source else None,
            )
        )
    return out


def fetch_jobs_recent(*, user: AbstractBaseUser | AnonymousUser) -> list[FetchJob]:
    _check_reader(user)
    return list(FetchJob.objects.select_related("label", "created_by").order_by("-id")[:RECENT_JOBS])


def fetch_job_get_for_user(*, user: AbstractBaseUser | AnonymousUser, job_id: int) -> FetchJob:
    """The FetchJob if ``user`` may read it (QA leads, admins): PermissionDenied, else Http404."""
    _check_reader(user)
    job = FetchJob.objects.select_related("label", "created_by").filter(pk=job_id).first()
    if job is None:
        raise Http404("no such job")
    return job


def fetch_job_message(job: FetchJob) -> str:
    """Why the job ended, in the current language (from its message code and parameters)."""
    params = job.message_params or {}
    if job.message_code == "paused":
        until = params.get("until", "")
        try:
            shown = timezone.localtime(datetime.fromisoformat(until)).strftime("%Y-%m-%d %H:%M %Z")
        except ValueError:
            shown = until
        return _(
            "The provider's daily request limit is reached (%(reason)s): it is paused until %(until)s and "
            "no more images are sent to it before then. Re-queue this job after that time to fetch the rest."
        ) % {"reason": params.get("reason") or _("daily limit"), "until": shown}
    if job.message_code == "auth":
        return _("The provider refused the credentials: %(error)s") % {"error": params.get("error", "")}
    if job.message_code == "error":
        return str(params.get("error", ""))
    return job.message


def image_get_for_reader(*, user: AbstractBaseUser | AnonymousUser, image_id: int) -> Image:
    _check_reader(user)
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        raise Http404("no such image")
    return image


@dataclass
class UnmappedKeyword:
    external_id: str
    name: str
    images: int
    mean_score: float
    examples: list[tuple[int, float]] = field(default_factory=list)
    share: float = 0.0  # of the answered images, in percent


_UNMAPPED_SQL = """
SELECT k.external_id, k.name, k.images, k.score_sum / k.images
FROM sources_keywordstat k
WHERE k.provider = %(provider)s AND k.images > 0
  AND NOT EXISTS (
      SELECT 1 FROM taxonomy_externallabelmapping m
      WHERE m.source = ANY(%(vocabularies)s) AND m.external_id = k.external_id)
ORDER BY k.images DESC, k.external_id
LIMIT %(limit)s
"""

_EXAMPLES_SQL = """
SELECT k.external_id, ex.image_id, ex.score
FROM unnest(%(ids)s::text[]) AS k(external_id)
CROSS JOIN LATERAL (
    SELECT image_id, score FROM sources_rawlabel
    WHERE provider = %(provider)s AND external_id = k.external_id
    ORDER BY score DESC, image_id
    LIMIT %(examples)s) ex
"""


def unmapped_keywords(
    *, user: AbstractBaseUser | AnonymousUser, provider: str, limit: int = UNMAPPED_LIMIT
) -> tuple[list[UnmappedKeyword], int]:
    """The provider's most frequent keywords (MIDs) that no mapping row covers, with a few
    of their best-scored images each, and the number of images the provider answered for.
    Three queries, whatever the number of keywords: the counts come from ``KeywordStat``,
    the examples from the (provider, keyword, score) index."""
    _check_reader(user)
    if provider not in PROVIDERS:
        raise Http404("no such provider")
    params: dict[str, Any] = {"provider": provider, "vocabularies": list(MAPPING_SOURCES[provider]), "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(_UNMAPPED_SQL, params)
        rows = [UnmappedKeyword(r[0], r[1], r[2], float(r[3])) for r in cursor.fetchall()]
        if rows:
            cursor.execute(
                _EXAMPLES_SQL,
                {"ids": [r.external_id for r in rows], "provider": provider, "examples": UNMAPPED_EXAMPLES},
            )
            by_id = {r.external_id: r for r in rows}
            for external_id, image_id, score in cursor.fetchall():
                by_id[external_id].examples.append((image_id, float(score)))
    answered = RawResponse.objects.filter(provider=provider, status=RawResponse.Status.OK).count()
    for row in rows:
        row.share = round(100 * row.images / answered, 1) if answered else 0.0
    return rows, answered


def mappings_for(*, user: AbstractBaseUser | AnonymousUser, provider: str) -> list[ExternalLabelMapping]:
    """The editable mapping rows of the provider (admins only), with their labels."""
    if not user_has_role(user, Role.ADMIN):
        raise PermissionDenied
    vocabulary = {"baidu": "baidu", "google": "google"}.get(provider)
    if vocabulary is None:
        raise Http404("no such provider")
    return list(
        ExternalLabelMapping.objects.filter(source=vocabulary)
        .select_related("label")
        .order_by("external_id", "label__key")
    )


def openimages_mapping_count() -> int:
    return ExternalLabelMapping.objects.filter(source="openimages").count()


def mapped_keyword_counts(*, provider: str) -> dict[str, int]:
    """Images per mapped keyword of the provider (for the mapping page), one query."""
    from annotator.sources.models import RawLabel

    vocabularies = list(MAPPING_SOURCES[provider])
    ids = ExternalLabelMapping.objects.filter(source__in=vocabularies).values("external_id")
    return dict(
        RawLabel.objects.filter(Q(provider=provider) & Q(external_id__in=ids))
        .values_list("external_id")
        .annotate(n=Count("id"))
        .values_list("external_id", "n")
    )
