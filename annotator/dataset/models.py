from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models.functions import Coalesce, Now
from django.db.models.lookups import LessThan
from django.utils.translation import gettext_lazy as _

#: A running import whose worker has given no sign of life for this long is taken for lost
#: and may be re-run. Workers bump ``ImportJob.heartbeat_at`` every HEARTBEAT_INTERVAL
#: (30 s, importing/progress.py) whatever the import is doing, so this is ~20 missed beats.
IMPORT_STALE_AFTER = timedelta(minutes=10)


class Image(models.Model):
    """An image where it lies: a storage root and a path below it. Never copied.

    The content hash is unique: the same bytes imported twice are one image. The place
    (storage root, relative path) is unique too: a file that changes after its import is
    refused by the next import, never registered as a second image at the same place.
    """

    class Origin(models.TextChoices):
        PUBLIC = "public", _("public dataset")
        CRAWLED = "crawled", _("crawled")
        INTERNAL = "internal", _("internal")
        CUSTOMER = "customer", _("customer")

    class Split(models.TextChoices):
        TRAIN = "train", _("train")
        VAL = "val", _("val")

    content_hash = models.CharField(max_length=64, unique=True)  # sha256 hex
    storage_root = models.CharField(max_length=500)
    relative_path = models.CharField(max_length=1000)
    size_bytes = models.BigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.PUBLIC)
    origin_ref = models.CharField(max_length=500, blank=True, db_index=True)
    # Set once by the splitter and never changed: the val split is the regression set.
    split = models.CharField(max_length=5, choices=Split.choices, blank=True, db_index=True)
    # The file's mtime when it was last fully checked (decoded and hashed): an import that
    # finds the same size and mtime at the same root and path trusts it without reading it.
    file_mtime_ns = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["storage_root", "relative_path"], name="dataset_image_location_unique")
        ]

    def __str__(self) -> str:
        return self.relative_path


class LabelState(models.IntegerChoices):
    POSITIVE = 1, _("positive")
    NEGATIVE = 0, _("verified negative")


class HistorySource(models.TextChoices):
    IMPORT = "import", _("import")
    RELATION = "relation", _("relation rule")
    ANNOTATOR = "annotator", _("annotator")
    AUDIT = "audit", _("audit")
    ADMIN = "admin", _("admin")
    REVERT = "revert", _("revert")


class ImageLabel(models.Model):
    """The one current truth for (image, label): positive or verified negative.

    Absence of a row means "unknown". Every change goes through
    ``annotator.dataset.services`` and leaves a LabelHistory row; ``source`` is the source
    of that last change (imports never override a state a person decided).
    """

    # No single-column FK indexes: the unique (image, label) and the (label, state) index
    # cover both lookups, and every extra index slows the bulk imports down.
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="labels", db_index=False)
    label = models.ForeignKey("taxonomy.Label", on_delete=models.PROTECT, related_name="image_labels", db_index=False)
    state = models.SmallIntegerField(choices=LabelState.choices)
    source = models.CharField(max_length=10, choices=HistorySource.choices, default=HistorySource.IMPORT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "label"], name="dataset_imagelabel_unique")]
        indexes = [models.Index(fields=["label", "state"])]

    def __str__(self) -> str:
        return f"image {self.image_id} label {self.label_id}: {self.get_state_display()}"


class LabelHistory(models.Model):
    """Append-only record of every change to an ImageLabel: who or what, why, when.

    ``old_state``/``new_state`` are null for "unknown" (no ImageLabel row). A row is never
    changed: ``save()`` refuses an existing row, and a database trigger (migration 0005)
    refuses any UPDATE, ``QuerySet.update()`` and raw SQL included. Rows are deleted only
    with their image (CASCADE).
    """

    # Indexes are few on purpose: every bulk import writes one row per change. Per image
    # (and image + label) via the composite index, by time via the BRIN index, by person via
    # the partial user index (imports leave user empty). No label_id index: only deleting
    # a label (PROTECT, rare, admin) looks history up by label alone.
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="label_history", db_index=False)
    label = models.ForeignKey("taxonomy.Label", on_delete=models.PROTECT, related_name="+", db_index=False)
    old_state = models.SmallIntegerField(choices=LabelState.choices, null=True)
    new_state = models.SmallIntegerField(choices=LabelState.choices, null=True)
    source = models.CharField(max_length=10, choices=HistorySource.choices)
    source_ref = models.CharField(max_length=200, blank=True)  # e.g. "import:12", "decision:99"
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, db_index=False)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["image", "label"]),
            # Rows are appended in time order: a BRIN index answers time ranges at almost no
            # write cost, where a B-tree costs a bulk import ~15% of its history writes.
            BrinIndex(fields=["created_at"], name="dataset_history_created_brin"),
            models.Index(
                fields=["user", "created_at"], condition=models.Q(user__isnull=False), name="dataset_history_user_idx"
            ),
        ]
        verbose_name_plural = _("label history")

    def __str__(self) -> str:
        return f"image {self.image_id} label {self.label_id}: {self.old_state} -> {self.new_state} ({self.source})"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("label history is append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class EvidenceSource(models.Model):
    """Where an opinion about an image's labels comes from.

    kind ``import`` (e.g. ``openimages:machine``), ``model`` (a model version),
    ``competitor`` (a provider), ``crawl`` (a crawl for one label).
    """

    class Kind(models.TextChoices):
        IMPORT = "import", _("import")
        MODEL = "model", _("model")
        COMPETITOR = "competitor", _("competitor")
        CRAWL = "crawl", _("crawl")

    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # When this source's evidence was last replaced as a whole (a model version's re-predict,
    # a competitor fetch). The model source refreshed last is the one the queues rank with
    # (``evidence_source_current_model``).
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="dataset_evidencesource_unique")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class Evidence(models.Model):
    """One source's opinion that an image carries a label, with its score (0..1).

    ``suggested`` says whether the source claims the label: every imported, crawled or mapped
    competitor row does; a model version keeps the scores of every label above a floor (for
    ranking) and marks as suggested only those in the image's top 5 with score >= 0.5.
    """

    # Covered by the unique (image, label, source) and by each partition's own index (see
    # annotator/dataset/partitions.py): (source, label) in the default partition, (label) of
    # the suggested rows in a model version's.
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="evidence", db_index=False)
    label = models.ForeignKey("taxonomy.Label", on_delete=models.CASCADE, related_name="evidence", db_index=False)
    source = models.ForeignKey(EvidenceSource, on_delete=models.CASCADE, related_name="evidence", db_index=False)
    score = models.FloatField(null=True)
    keyword = models.CharField(max_length=300, blank=True)  # the source's own word for it
    suggested = models.BooleanField(default=True, db_default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "label", "source"], name="dataset_evidence_unique"),
        ]

    def __str__(self) -> str:
        return f"image {self.image_id} label {self.label_id}: {self.score} from source {self.source_id}"


class ImportJobQuerySet(models.QuerySet["ImportJob"]):
    def rerunnable(self) -> ImportJobQuerySet:
        """Jobs that may be queued again: failed ones, and running ones whose worker was lost
        (no heartbeat for IMPORT_STALE_AFTER, by the database's clock, which the heartbeat uses)."""
        last_sign = Coalesce("heartbeat_at", "started_at", "created_at")
        stalled = models.Q(status=ImportJob.Status.RUNNING) & LessThan(last_sign, Now() - IMPORT_STALE_AFTER)
        return self.filter(models.Q(status=ImportJob.Status.FAILED) | stalled)


class ImportJob(models.Model):
    """One import, run by a Celery worker or a management command, with its progress."""

    class Kind(models.TextChoices):
        OPENIMAGES = "openimages", _("Open Images")
        CSV = "csv", _("CSV")
        FOLDER = "folder", _("folder of crawled images")
        LABELSTUDIO = "labelstudio", _("Label Studio export")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    kind = models.CharField(max_length=12, choices=Kind.choices)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=100, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life of the worker running it: set when it starts, bumped by every
    # progress write and by a heartbeat while it runs (importing/progress.py). A running job
    # whose heartbeat stopped for IMPORT_STALE_AFTER lost its worker and may be re-run.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))


class Snapshot(models.Model):
    """An immutable export of the dataset: manifest.jsonl + taxonomy.json in a folder.

    A row never changes: ``save()`` refuses an existing row, a database trigger (migration
    0005) refuses any UPDATE, and the user who made it cannot be deleted (PROTECT; a
    SET_NULL would rewrite the row).
    """

    path = models.CharField(max_length=1000)
    content_hash = models.CharField(max_length=64)
    image_count = models.PositiveIntegerField()
    label_count = models.PositiveIntegerField()
    positive_count = models.PositiveIntegerField()
    negative_count = models.PositiveIntegerField()
    train_count = models.PositiveIntegerField(default=0)
    val_count = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"snapshot {self.pk} ({self.image_count} images)"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("a snapshot never changes once written")
        super().save(*args, **kwargs)  # type: ignore[arg-type]
