"""Competitor label sources: what each provider answered for each image, and the fetch jobs.

A provider's answer for an image is stored once (``RawResponse``, unique per provider and
image) with its time, and parsed into ``RawLabel`` rows (one per keyword or MID), so the
mapping onto project labels can change and be applied again without calling the provider.
The mapped result lives in ``dataset.Evidence`` (source kind ``competitor``, name = provider).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Provider(models.TextChoices):
    BAIDU = "baidu", _("Baidu image recognition")
    GOOGLE = "google", _("Google Cloud Vision")


class ProviderState(models.Model):
    """Per-provider settings kept in the database (admins edit them) and its pause.

    ``min_score`` is a floor under every mapping row's own minimum score. ``paused_until``
    is set when the provider says its daily request limit is reached (Baidu error 17):
    no job calls the provider before that time.
    """

    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices, unique=True)
    min_score = models.FloatField(
        _("minimum score"),
        default=0.3,
        help_text=_("Keywords scored below this are never mapped, whatever their mapping row says."),
    )
    paused_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    pause_reason = models.CharField(_("pause reason"), max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_score__gte=0) & models.Q(min_score__lte=1), name="sources_state_min_score_range"
            )
        ]

    def __str__(self) -> str:
        return self.get_provider_display()


class RawResponse(models.Model):
    """The provider's last answer for one image, with its time: called at most once per image.

    ``status``: ``ok`` (``body`` holds the answer), ``image_error`` (the provider refused the
    image, e.g. Baidu 216xxx; not retried), ``failed`` (no answer after the retries: timeouts,
    connection errors, rate limits; a later job tries again).
    """

    class Status(models.TextChoices):
        OK = "ok", _("answered")
        IMAGE_ERROR = "image_error", _("image refused")
        FAILED = "failed", _("no answer")

    provider = models.CharField(max_length=20, choices=Provider.choices)
    image = models.ForeignKey("dataset.Image", on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=12, choices=Status.choices)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    body = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    # When this answer was received; ``attempted_at`` is the last call, whatever came of it
    # (a failed re-fetch keeps the earlier answer and moves only ``attempted_at``).
    fetched_at = models.DateTimeField()
    attempted_at = models.DateTimeField()

    class Meta:
        verbose_name = _("raw response")
        constraints = [models.UniqueConstraint(fields=["provider", "image"], name="sources_rawresponse_unique")]
        indexes = [models.Index(fields=["provider", "status"])]

    def __str__(self) -> str:
        return f"{self.provider} image {self.image_id}: {self.status}"


class RawLabel(models.Model):
    """One keyword (Baidu) or MID (Google) of a stored answer, with its score.

    ``external_id`` is what the mapping matches (Baidu keyword, Google MID); ``name`` is the
    provider's own word shown to people (Baidu keyword, Google description).
    """

    provider = models.CharField(max_length=20, choices=Provider.choices)
    image = models.ForeignKey("dataset.Image", on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=200)
    name = models.CharField(max_length=300)
    score = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "image", "external_id"], name="sources_rawlabel_unique")
        ]
        # Per keyword, best first: the mapping join, and the unmapped report's example images.
        indexes = [models.Index(fields=["provider", "external_id", "-score"], name="sources_rawlabel_keyword_idx")]

    def __str__(self) -> str:
        return f"{self.provider} image {self.image_id}: {self.name} {self.score:.2f}"


class KeywordStat(models.Model):
    """How many stored answers of a provider hold a keyword, and their score sum.

    Kept in step with ``RawLabel`` by every stored answer (``image_answer_record``), so the
    unmapped-keyword report reads a few thousand rows instead of counting millions.
    """

    provider = models.CharField(max_length=20, choices=Provider.choices)
    external_id = models.CharField(max_length=200)
    name = models.CharField(max_length=300)
    images = models.IntegerField(default=0)
    score_sum = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "external_id"], name="sources_keywordstat_unique")]
        indexes = [models.Index(fields=["provider", "-images"], name="sources_keywordstat_top_idx")]

    def __str__(self) -> str:
        return f"{self.provider} {self.name}: {self.images} images"


class FetchJob(models.Model):
    """Fetch one provider's labels for one label's queue (``label``) or for all images."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        PAUSED = "paused", _("paused (daily limit)")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    FINISHED = (Status.PAUSED, Status.SUCCEEDED, Status.FAILED)

    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices)
    label = models.ForeignKey(
        "taxonomy.Label", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("label")
    )
    refetch = models.BooleanField(_("fetch again"), default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=100, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    counts = models.JSONField(default=dict)
    # How the job ended, in English (``message``), and as a code with its parameters, which
    # pages render in the reader's language (selectors.fetch_job_message).
    message = models.TextField(blank=True)
    message_code = models.CharField(max_length=20, blank=True)
    message_params = models.JSONField(default=dict)
    # Labels whose competitor evidence this job changed: the queues to re-rank at the end.
    touched_label_ids = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("fetch job")

    def __str__(self) -> str:
        return f"{self.provider} fetch {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))
