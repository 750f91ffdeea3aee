"""Writes of the competitor sources: fetch jobs, stored answers, evidence, pauses, re-mapping.

A fetch job runs in bounded steps (``fetch_job_step``): each step takes the provider's lock
(one fetch or re-map per provider at a time, so an image is never sent twice), fetches the
next images of the job's scope that this provider has not answered, stores each answer with
its time and the evidence mapped from it in one transaction per image, and says whether
another step is needed. A crash loses at most the image in flight; a second run of a step
finds that image answered and skips it.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from PIL import Image as PILImage

from annotator.dataset.models import Evidence, EvidenceSource, Image, ImageLabel, LabelState
from annotator.sources.clients import (
    AuthFailed,
    DailyLimitReached,
    ImageRefused,
    ProviderAnswer,
    ProviderError,
    ProviderUnavailable,
)
from annotator.sources.clients.baidu import BaiduClient
from annotator.sources.clients.google import GoogleVisionClient
from annotator.sources.config import BAIDU, GOOGLE, PROVIDERS, provider_config, redact
from annotator.sources.mapping import competitor_source_get, evidence_rebuild
from annotator.sources.models import FetchJob, ProviderState, RawLabel, RawResponse
from annotator.sources.ratelimit import RedisTokenBucket
from annotator.taxonomy.models import Label

logger = logging.getLogger(__name__)

#: Images claimed per step. A step also ends after STEP_SECONDS, so at Baidu's 2 QPS one
#: step is about a minute of calls and the task goes back to the queue between steps.
STEP_BATCH = 100
STEP_SECONDS = 60.0
#: A running job whose heartbeat is older than this lost its worker and may be re-queued.
FETCH_STALE_AFTER = timedelta(minutes=10)
#: Images larger than this (either side, pixels) or file (bytes) are re-encoded smaller
#: before sending: Baidu takes at most 4 MB of base64 and 4096 px; labels need far less.
SEND_MAX_SIDE = 2048
SEND_MAX_BYTES = 3 * 1024 * 1024
# pg_advisory_lock(namespace, provider) keys: one fetch step or re-map per provider at a time.
LOCK_NAMESPACE = 0x4C4C5352  # "LLSR"
RERANK_TASK = "annotator.cleaning.tasks.queues_rerank"


class SourceError(Exception):
    """A request that cannot be done as asked (shown to the admin as it is)."""


# --- providers -----------------------------------------------------------------------------


def provider_state_get(*, provider: str) -> ProviderState:
    state, _ = ProviderState.objects.get_or_create(provider=provider)
    return state


def provider_paused_until(*, provider: str) -> datetime | None:
    until = ProviderState.objects.filter(provider=provider).values_list("paused_until", flat=True).first()
    return until if until and until > timezone.now() else None


def next_quota_day(*, provider: str, now: datetime | None = None) -> datetime:
    """Midnight after ``now`` in the provider's quota time zone (Baidu counts days in Beijing time)."""
    zone = ZoneInfo(settings.BAIDU_QUOTA_TIME_ZONE if provider == BAIDU else "America/Los_Angeles")
    local = (now or timezone.now()).astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    return midnight.astimezone(ZoneInfo("UTC"))


def provider_pause(*, provider: str, until: datetime, reason: str) -> None:
    ProviderState.objects.get_or_create(provider=provider)
    ProviderState.objects.filter(provider=provider).update(
        paused_until=until, pause_reason=reason[:300], updated_at=timezone.now()
    )


def provider_resume(*, provider: str) -> None:
    """Lift a pause by hand (an admin who raised the quota)."""
    ProviderState.objects.filter(provider=provider).update(paused_until=None, pause_reason="")


def client_for(provider: str) -> BaiduClient | GoogleVisionClient:
    config = provider_config(provider)
    limiter = RedisTokenBucket(provider, config.qps)
    if provider == BAIDU:
        return BaiduClient(config, limiter=limiter)
    return GoogleVisionClient(config, limiter=limiter)


# --- jobs ----------------------------------------------------------------------------------


def fetch_job_create(*, provider: str, label: Label | None, refetch: bool, user: Any, enqueue: bool = True) -> FetchJob:
    """Create a fetch job and queue it after commit (unless ``enqueue`` is False: the caller
    runs it, e.g. the management command); SourceError when it could not run."""
    if provider not in PROVIDERS:
        raise SourceError(_("Unknown provider."))
    if not provider_config(provider).configured:
        raise SourceError(_("This provider is not configured: its keys are not set in the environment."))
    until = provider_paused_until(provider=provider)
    if until is not None:
        raise SourceError(
            _("This provider is paused until %(until)s (daily limit reached).")
            % {"until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M %Z")}
        )
    job = FetchJob.objects.create(
        provider=provider, label=label, refetch=refetch, created_by=user if getattr(user, "pk", None) else None
    )
    if enqueue:
        fetch_job_enqueue(job_id=job.id)
    return job


def fetch_job_enqueue(*, job_id: int, countdown: float = 0) -> None:
    from annotator.sources.tasks import fetch_job_run

    transaction.on_commit(lambda: fetch_job_run.apply_async(args=[job_id], countdown=countdown or None))


def fetch_job_requeue(*, job_id: int) -> bool:
    """Queue a paused or failed job again, or a running one whose worker was lost."""
    stale = Q(status=FetchJob.Status.RUNNING, heartbeat_at__lt=timezone.now() - FETCH_STALE_AFTER)
    with transaction.atomic():
        moved = FetchJob.objects.filter(
            Q(id=job_id) & (Q(status__in=[FetchJob.Status.PAUSED, FetchJob.Status.FAILED]) | stale)
        ).update(status=FetchJob.Status.QUEUED, phase="", message="", finished_at=None, started_at=None)
        if moved != 1:
            return False
        fetch_job_enqueue(job_id=job_id)
    return True


def label_queue_images(*, label_id: int) -> QuerySet[Image]:
    """The images that carry or might carry the label: positives and suggested evidence."""
    positive = ImageLabel.objects.filter(image=OuterRef("pk"), label_id=label_id, state=LabelState.POSITIVE)
    suggested = Evidence.objects.filter(image=OuterRef("pk"), label_id=label_id, suggested=True)
    return Image.objects.filter(Exists(positive) | Exists(suggested))


def fetch_job_remaining(*, job: FetchJob) -> QuerySet[Image]:
    """The job's images still to send: not answered yet (or, for a re-fetch, not since the job
    was created), and not tried in this run (``started_at``), ordered by id."""
    scope = label_queue_images(label_id=job.label_id) if job.label_id else Image.objects.all()
    answered = Q(status__in=[RawResponse.Status.OK, RawResponse.Status.IMAGE_ERROR])
    if job.refetch:
        answered &= Q(fetched_at__gte=job.created_at)
    done_here = Q(attempted_at__gte=job.started_at) if job.started_at else Q(pk__in=[])
    finished = RawResponse.objects.filter(answered | done_here, provider=job.provider, image=OuterRef("pk"))
    return scope.filter(~Exists(finished)).order_by("id")


@dataclass
class StepResult:
    more: bool
    countdown: float = 0.0


def _lock(provider: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, PROVIDERS.index(provider)])
        return bool(cursor.fetchone()[0])


def _unlock(provider: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, PROVIDERS.index(provider)])


def fetch_job_step(*, job_id: int, seconds: float = STEP_SECONDS, batch: int = STEP_BATCH) -> StepResult:
    """Run one bounded step of the job; ``more`` says whether to queue another."""
    job = FetchJob.objects.filter(pk=job_id).first()
    if job is None or job.finished:
        return StepResult(more=False)
    if not _lock(job.provider):
        FetchJob.objects.filter(pk=job.id, status=FetchJob.Status.QUEUED).update(
            phase="waiting for another job of this provider", heartbeat_at=timezone.now()
        )
        return StepResult(more=True, countdown=5.0)
    try:
        return _step_locked(job_id=job.id, seconds=seconds, batch=batch)
    finally:
        _unlock(job.provider)


def _step_locked(*, job_id: int, seconds: float, batch: int) -> StepResult:
    job = FetchJob.objects.get(pk=job_id)
    if job.finished:
        return StepResult(more=False)
    now = timezone.now()
    if job.status == FetchJob.Status.QUEUED:
        FetchJob.objects.filter(pk=job.id, status=FetchJob.Status.QUEUED).update(
            status=FetchJob.Status.RUNNING, started_at=now, heartbeat_at=now, phase="fetching"
        )
        job.refresh_from_db()
    if provider_paused_until(provider=job.provider) is not None:
        _finish(job, FetchJob.Status.PAUSED, code="paused")
        return StepResult(more=False)
    try:
        client = client_for(job.provider)
    except AuthFailed as exc:
        _finish(job, FetchJob.Status.FAILED, code="error", params={"error": str(exc)})
        return StepResult(more=False)

    remaining = fetch_job_remaining(job=job)
    left = remaining.count()
    FetchJob.objects.filter(pk=job.id).update(progress_total=job.progress_done + left, heartbeat_at=timezone.now())
    if left == 0:
        _finish(job, FetchJob.Status.SUCCEEDED)
        return StepResult(more=False)

    counts: dict[str, int] = dict(job.counts or {})
    touched: set[int] = set(job.touched_label_ids or [])
    deadline = time.monotonic() + seconds
    done = job.progress_done
    for image in remaining[:batch]:
        outcome = _fetch_one(client, job.provider, image)
        counts["images"] = counts.get("images", 0) + 1
        counts[outcome.count] = counts.get(outcome.count, 0) + 1
        counts["keywords"] = counts.get("keywords", 0) + outcome.keywords
        counts["evidence"] = counts.get("evidence", 0) + outcome.evidence
        touched |= outcome.touched
        if outcome.stop is not None:
            FetchJob.objects.filter(pk=job.id).update(counts=counts, touched_label_ids=sorted(touched))
            job.refresh_from_db()
            status, code, error = outcome.stop
            _finish(job, status, code=code, params={"error": error})
            return StepResult(more=False)
        done += 1
        FetchJob.objects.filter(pk=job.id).update(
            progress_done=done, counts=counts, touched_label_ids=sorted(touched), heartbeat_at=timezone.now()
        )
        if time.monotonic() > deadline:
            return StepResult(more=True)
    if fetch_job_remaining(job=job).exists():
        return StepResult(more=True)
    job.refresh_from_db()
    _finish(job, FetchJob.Status.SUCCEEDED)
    return StepResult(more=False)


def fetch_job_fail(*, job_id: int, error: BaseException) -> None:
    """End a job that broke on something unexpected (a bug, Redis down); the message is redacted."""
    job = FetchJob.objects.filter(pk=job_id).first()
    if job is not None and not job.finished:
        _finish(job, FetchJob.Status.FAILED, code="error", params={"error": f"{type(error).__name__}: {error}"})


@dataclass
class _Outcome:
    count: str
    keywords: int = 0
    evidence: int = 0
    touched: frozenset[int] = frozenset()
    stop: tuple[str, str, str] | None = None  # (job status, message code, error)


def _fetch_one(client: BaiduClient | GoogleVisionClient, provider: str, image: Image) -> _Outcome:
    try:
        data = image_bytes_for_sending(image)
    except OSError as exc:
        touched = image_answer_record(
            provider=provider,
            image_id=image.id,
            error=ProviderUnavailable(f"image file unreadable: {exc}", code="file"),
        )
        logger.warning("%s: image %s unreadable, not sent", provider, image.id)
        return _Outcome(count="unreadable", touched=frozenset(touched))
    try:
        answer = client.classify(data)
    except DailyLimitReached as exc:
        until = next_quota_day(provider=provider)
        provider_pause(provider=provider, until=until, reason=str(exc))
        logger.warning("%s: daily limit reached (%s), paused until %s", provider, exc, until.isoformat())
        return _Outcome(count="not_sent", stop=(FetchJob.Status.PAUSED, "paused", str(exc)))
    except AuthFailed as exc:
        logger.error("%s: credentials refused: %s", provider, exc)
        return _Outcome(count="not_sent", stop=(FetchJob.Status.FAILED, "auth", str(exc)))
    except ImageRefused as exc:
        touched = image_answer_record(provider=provider, image_id=image.id, error=exc)
        logger.info("%s: image %s refused: %s", provider, image.id, exc)
        return _Outcome(count="image_errors", touched=frozenset(touched))
    except ProviderError as exc:
        touched = image_answer_record(provider=provider, image_id=image.id, error=exc)
        logger.warning("%s: image %s: no answer: %s", provider, image.id, exc)
        return _Outcome(count="failed", touched=frozenset(touched))
    touched = image_answer_record(provider=provider, image_id=image.id, answer=answer)
    evidence = (
        EvidenceSource.objects.filter(kind=EvidenceSource.Kind.COMPETITOR, name=provider)
        .values_list("id", flat=True)
        .first()
    )
    mapped = Evidence.objects.filter(image_id=image.id, source_id=evidence).count() if evidence else 0
    return _Outcome(count="answered", keywords=len(answer.hits), evidence=mapped, touched=frozenset(touched))


def image_bytes_for_sending(image: Image) -> bytes:
    """The image file's bytes, re-encoded as a smaller JPEG when too large for the providers."""
    path = Path(image.storage_root) / image.relative_path
    data = path.read_bytes()
    if len(data) <= SEND_MAX_BYTES and max(image.width, image.height) <= SEND_MAX_SIDE:
        return data
    with PILImage.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
        picture.thumbnail((SEND_MAX_SIDE, SEND_MAX_SIDE))
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=90)
        return out.getvalue()


def image_answer_record(
    *, provider: str, image_id: int, answer: ProviderAnswer | None = None, error: ProviderError | None = None
) -> set[int]:
    """Store the provider's answer (or error) for one image and rebuild its evidence.

    A failed call (no answer) never replaces an earlier answer: only ``attempted_at`` moves.
    Returns the labels whose evidence changed.
    """
    now = timezone.now()
    with transaction.atomic():
        existing = RawResponse.objects.select_for_update().filter(provider=provider, image_id=image_id).first()
        no_answer = answer is None and not isinstance(error, ImageRefused)
        if no_answer and existing is not None and existing.status != RawResponse.Status.FAILED:
            RawResponse.objects.filter(pk=existing.pk).update(attempted_at=now)
            return set()
        fields: dict[str, Any] = {"attempted_at": now, "fetched_at": now}
        if answer is not None:
            fields.update(
                status=RawResponse.Status.OK,
                body=answer.body,
                error_code="",
                error_message="",
                attempts=answer.attempts,
            )
        else:
            assert error is not None
            status = RawResponse.Status.IMAGE_ERROR if isinstance(error, ImageRefused) else RawResponse.Status.FAILED
            fields.update(
                status=status,
                body=None,
                error_code=error.code[:40],
                error_message=redact(error.message)[:500],
                attempts=min(error.attempts, 32767),
            )
        RawResponse.objects.update_or_create(provider=provider, image_id=image_id, defaults=fields)
        _keyword_stats_add(provider=provider, image_id=image_id, sign=-1)
        RawLabel.objects.filter(provider=provider, image_id=image_id).delete()
        if answer is not None:
            RawLabel.objects.bulk_create(
                RawLabel(provider=provider, image_id=image_id, external_id=h.external_id, name=h.name, score=h.score)
                for h in answer.hits
            )
            _keyword_stats_add(provider=provider, image_id=image_id, sign=1)
        return evidence_rebuild(provider=provider, image_ids=[image_id])


def _keyword_stats_add(*, provider: str, image_id: int, sign: int) -> None:
    """Count the image's stored keywords in (``sign`` 1) or out (-1) of the keyword stats."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sources_keywordstat AS k (provider, external_id, name, images, score_sum)
            SELECT provider, external_id, name, %(sign)s, %(sign)s * score
            FROM sources_rawlabel WHERE provider = %(provider)s AND image_id = %(image)s
            ON CONFLICT (provider, external_id) DO UPDATE
            SET images = k.images + EXCLUDED.images, score_sum = k.score_sum + EXCLUDED.score_sum,
                name = CASE WHEN %(sign)s > 0 THEN EXCLUDED.name ELSE k.name END
            """,
            {"provider": provider, "image": image_id, "sign": sign},
        )


def keyword_stats_rebuild(*, provider: str) -> None:
    """Recount the provider's keyword stats from the stored keywords (a repair; bulk loads)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM sources_keywordstat WHERE provider = %s", [provider])
        cursor.execute(
            "INSERT INTO sources_keywordstat (provider, external_id, name, images, score_sum) "
            "SELECT provider, external_id, max(name), count(*), sum(score) FROM sources_rawlabel "
            "WHERE provider = %s GROUP BY provider, external_id",
            [provider],
        )


def _finish(job: FetchJob, status: str, *, code: str = "", params: dict[str, str] | None = None) -> None:
    """End the job; when it changed evidence, mark the source refreshed and ask for a re-rank.

    ``code`` (``paused``, ``auth``, ``error``) and ``params`` say why; pages render them in
    the reader's language, ``message`` keeps them in English.
    """
    from annotator.sources.selectors import fetch_job_message

    params = {name: redact(value) for name, value in (params or {}).items()}
    if code == "paused":
        state = provider_state_get(provider=job.provider)
        until = state.paused_until or next_quota_day(provider=job.provider)
        params = {"reason": redact(state.pause_reason), "until": until.isoformat()}
    with translation.override("en"):
        message = fetch_job_message(FetchJob(provider=job.provider, message_code=code, message_params=params))
    now = timezone.now()
    with transaction.atomic():
        moved = FetchJob.objects.filter(pk=job.id, status__in=[FetchJob.Status.QUEUED, FetchJob.Status.RUNNING]).update(
            status=status,
            message=message,
            message_code=code,
            message_params=params,
            finished_at=now,
            heartbeat_at=now,
            phase="",
        )
        if moved != 1:
            return
        if job.progress_done or (job.counts or {}).get("images"):
            source = competitor_source_get(provider=job.provider)
            EvidenceSource.objects.filter(pk=source.pk).update(refreshed_at=now)
            touched = sorted(set(job.touched_label_ids or []) | ({job.label_id} if job.label_id else set()))
            queues_rerank_request(label_ids=touched)
    logger.info("%s fetch job %s: %s", job.provider, job.id, status)


def queues_rerank_request(*, label_ids: list[int] | None) -> None:
    """Ask the cleaning queues to re-rank (by task name, after commit). None: every queue."""
    kwargs: dict[str, Any] = {"label_ids": list(label_ids)} if label_ids is not None else {}
    if label_ids is not None and not label_ids:
        return
    transaction.on_commit(lambda: current_app.send_task(RERANK_TASK, kwargs=kwargs))


# --- re-mapping ----------------------------------------------------------------------------


def provider_remap(*, provider: str, keywords: list[str] | None = None) -> set[int]:
    """Rebuild the provider's evidence from its stored answers (no provider call); re-rank.

    ``keywords``: only the images whose answers hold one of them (what one mapping edit can
    change); None: every image (a floor change, an Open Images import's bulk mappings).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Waits for a running fetch step of this provider (at most a minute).
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, PROVIDERS.index(provider)])
            # Fresh statistics first: after a large fetch or re-map the planner may still think
            # the source has a handful of rows and pick nested loops over all of them (minutes
            # instead of seconds on 100k images). ANALYZE samples a fixed number of rows.
            cursor.execute("ANALYZE dataset_evidence")
        touched = evidence_rebuild(provider=provider, image_ids=None, keywords=keywords)
        source = competitor_source_get(provider=provider)
        EvidenceSource.objects.filter(pk=source.pk).update(refreshed_at=timezone.now())
        queues_rerank_request(label_ids=sorted(touched))
    logger.info(
        "%s: evidence re-mapped from stored answers (%s), %d labels changed",
        provider,
        f"{len(keywords)} keywords" if keywords is not None else "all",
        len(touched),
    )
    return touched


def provider_remap_enqueue(*, provider: str, keywords: list[str] | None = None) -> None:
    """Queue a re-map (of the images holding ``keywords``, or of all) after commit."""
    from annotator.sources.tasks import provider_remap_run

    if keywords is None:
        transaction.on_commit(lambda: provider_remap_run.delay(provider))
    else:
        transaction.on_commit(lambda: provider_remap_run.delay(provider, sorted(set(keywords))))


def mapping_providers(*, vocabulary: str) -> tuple[str, ...]:
    from annotator.sources.mapping import PROVIDERS_OF_VOCABULARY

    return PROVIDERS_OF_VOCABULARY.get(vocabulary, ())


__all__ = ["BAIDU", "GOOGLE", "SourceError"]


# --- the mapping -----------------------------------------------------------------------------

#: The vocabularies admins edit here: Baidu keywords and Google MIDs outside Open Images.
EDITABLE_VOCABULARIES = {BAIDU: "baidu", GOOGLE: "google"}


def mapping_add(*, provider: str, external_id: str, external_name: str, label: Label, min_score: float) -> Any:
    """Map a provider keyword (Baidu) or MID (Google) onto ``label``; re-maps after commit.

    An existing row for the same keyword and label gets the new minimum score.
    """
    from annotator.taxonomy.models import ExternalLabelMapping

    vocabulary = EDITABLE_VOCABULARIES.get(provider)
    external_id = external_id.strip()
    if vocabulary is None:
        raise SourceError(_("Unknown provider."))
    if not external_id or len(external_id) > 200:
        raise SourceError(_("The keyword must have 1 to 200 characters."))
    if not 0.0 <= min_score <= 1.0:
        raise SourceError(_("The minimum score must be between 0 and 1."))
    if not label.is_active:
        raise SourceError(_("The label %(key)s is inactive.") % {"key": label.key})
    with transaction.atomic():
        row, _created = ExternalLabelMapping.objects.update_or_create(
            source=vocabulary,
            external_id=external_id,
            label=label,
            defaults={"external_name": external_name.strip()[:300], "min_score": min_score},
        )
    return row


def mapping_delete(*, mapping_id: int) -> bool:
    from annotator.taxonomy.models import ExternalLabelMapping

    with transaction.atomic():
        deleted, _ = ExternalLabelMapping.objects.filter(
            pk=mapping_id, source__in=EDITABLE_VOCABULARIES.values()
        ).delete()
    return bool(deleted)
