"""Training / prediction jobs, the model versions they register, and threshold profiles.

A job row is the whole story of one piece of GPU work: what was asked (kind, snapshot,
recipe, resolved config), where it is (status, progress, heartbeat), where its files are
(``run_dir`` under DATA_DIR/runs) and how it ended (error, results). State moves only
through conditional UPDATEs in ``annotator.modeling.services``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

#: The worker bumps ``Job.heartbeat_at`` this often (seconds) while it runs a job.
HEARTBEAT_INTERVAL = 5.0
#: A running job whose heartbeat is older than this lost its worker: the reaper fails it.
#: Six missed beats, so a busy database never makes a live job look lost; with the reaper
#: running every 15 s a killed worker's job is failed within ~45 s.
JOB_STALE_AFTER = timedelta(seconds=30)


class Job(models.Model):
    """One training, re-prediction or recipe-ablation run, done by a worker on the ``gpu`` queue."""

    class Kind(models.TextChoices):
        TRAIN = "train", _("train")
        PREDICT = "predict", _("re-predict")
        ABLATE = "ablate", _("recipe comparison")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    class Recipe(models.TextChoices):
        BASELINE = "baseline", _("baseline (BCE)")
        RFS = "rfs", _("+ repeat-factor resampling")
        RFS_FOCAL = "rfs_focal", _("+ resampling + focal loss")
        CUSTOM = "custom", _("custom YAML")

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Train / ablate: the snapshot trained on (null until "make one now" has written it).
    snapshot = models.ForeignKey("dataset.Snapshot", null=True, blank=True, on_delete=models.PROTECT)
    make_snapshot = models.BooleanField(default=False)
    # Train: the version this one is compared with (the latest at start). Predict: the version scored.
    version = models.ForeignKey(
        "modeling.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    recipe = models.CharField(max_length=10, choices=Recipe.choices, default=Recipe.BASELINE)
    custom_yaml = models.TextField(blank=True)
    backbone = models.CharField(max_length=60, blank=True)
    epochs = models.PositiveIntegerField(default=0)
    # The resolved training configuration (training.config, every key), checked before queuing.
    config = models.JSONField(default=dict)
    device = models.CharField(max_length=200, blank=True)  # what the worker actually used
    worker = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    phase = models.CharField(max_length=100, blank=True)
    epoch = models.PositiveIntegerField(default=0)  # 1-based epoch in progress
    step = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=0)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    lr = models.FloatField(null=True, blank=True)
    images_per_s = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    log_tail = models.TextField(blank=True)
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    cancel_requested = models.BooleanField(default=False)
    run_dir = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life of the worker running it (the database's clock).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"], name="modeling_job_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return max(0, min(100, int(100 * self.progress_done / self.progress_total)))


class ModelVersion(models.Model):
    """A trained model: name v<major>.<minor>, its val metrics, PR curves and run folder.

    The minor number grows with each retrain on the same label set; a new label set (labels
    added or retired) starts a new major number. ``regressions`` lists the labels whose val
    AP dropped by more than the margin against ``parent``.
    """

    name = models.CharField(max_length=20, unique=True)
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    snapshot = models.ForeignKey("dataset.Snapshot", on_delete=models.PROTECT, related_name="+")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version")
    source = models.OneToOneField("dataset.EvidenceSource", on_delete=models.PROTECT, related_name="model_version")
    config = models.JSONField(default=dict)
    label_keys = models.JSONField(default=list)
    # metrics.json of the run (NaN stored as null): mAP, per-label ap, support, threshold, P/R.
    metrics = models.JSONField(default=dict)
    map = models.FloatField(null=True)
    train_counts = models.JSONField(default=dict)  # label key -> training images
    pr_curves = models.JSONField(default=dict)  # pr_curves.json; large, deferred on lists
    regressions = models.JSONField(default=list)  # [{label, parent_ap, ap, drop}]
    regression_margin = models.FloatField(default=0.0)
    run_dir = models.CharField(max_length=1000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-major", "-minor"]
        constraints = [models.UniqueConstraint(fields=["major", "minor"], name="modeling_version_number_unique")]

    def __str__(self) -> str:
        return self.name


class ThresholdProfile(models.Model):
    """Named per-label thresholds of one version (e.g. one customer's precision targets)."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="profiles")
    name = models.CharField(max_length=100)
    # label key -> {"mode", "target", "threshold", "precision", "recall"}; disabled labels absent.
    labels = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="modeling_profile_name_unique")]

    def __str__(self) -> str:
        return f"{self.version.name}: {self.name}"
