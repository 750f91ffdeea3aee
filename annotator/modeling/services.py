"""Writes of the modeling app: start, cancel, resume and reap jobs; save threshold profiles.

Every state move is one conditional UPDATE (``filter(id=..., status=old).update(...)``)
acted on only when it changed one row, so two admins clicking at once, a worker and the
reaper, or a redelivered task never move a job twice. Tasks are queued in
``transaction.on_commit``: a worker never sees a job row that is not committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from annotator.dataset.models import Snapshot
from annotator.modeling.models import JOB_STALE_AFTER, Job, ModelVersion, ThresholdProfile
from annotator.modeling.thresholds import ThresholdTarget, pick_for_version

logger = logging.getLogger(__name__)

#: The three recipes of the ablation (training.ablate.RECIPES), by name.
RECIPE_CHANGES: dict[str, dict[str, Any]] = {
    "baseline": {"loss": "bce", "sampler": "none"},
    "rfs": {"loss": "bce", "sampler": "rfs"},
    "rfs_focal": {"loss": "focal", "sampler": "rfs"},
    "custom": {},
}
#: Largest custom YAML accepted (a recipe is a few dozen lines).
CUSTOM_YAML_MAX_CHARS = 20_000
#: Task names by job kind; settings.CELERY_TASK_ROUTES sends all three to the ``gpu`` queue.
TASK_NAMES = {
    Job.Kind.TRAIN: "annotator.modeling.tasks.train_job_run",
    Job.Kind.PREDICT: "annotator.modeling.tasks.predict_job_run",
    Job.Kind.ABLATE: "annotator.modeling.tasks.ablate_job_run",
}
LOST_WORKER_ERROR = (
    "The worker running this job stopped giving signs of life (no heartbeat for {seconds} s): "
    "it was killed, crashed or lost its connection. Resume continues from the last checkpoint."
)


class JobInputError(ValueError):
    """A job that cannot be started as asked; ``field`` names the input at fault. Nothing was queued."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class JobRequest:
    """What an admin asks for (the start form and the start API both build one)."""

    kind: str
    snapshot_id: int | None = None
    make_snapshot: bool = False
    recipe: str = "baseline"
    backbone: str = ""
    epochs: int | None = None
    custom_yaml: str = ""
    version_id: int | None = None


def _parse_custom_yaml(text: str) -> dict[str, Any]:
    if len(text) > CUSTOM_YAML_MAX_CHARS:
        raise JobInputError(f"custom YAML: longer than {CUSTOM_YAML_MAX_CHARS} characters", field="custom_yaml")
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise JobInputError(f"custom YAML is not valid YAML: {exc}", field="custom_yaml") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise JobInputError(
            f"custom YAML must be a mapping of key: value, got {type(data).__name__}", field="custom_yaml"
        )
    return data


def training_config_resolve(request: JobRequest) -> dict[str, Any]:
    """The full training config for ``request``: defaults, recipe, the form's backbone / epochs, then custom YAML.

    Checked by ``training.config`` exactly as a run would check it; raises JobInputError naming
    the key (and the layer it came from) when anything is wrong.
    """
    from training.config import DEFAULTS_PATH, ConfigError, build_config, read_yaml_mapping
    from training.models import available_backbones

    if request.recipe not in RECIPE_CHANGES:
        raise JobInputError(f"unknown recipe {request.recipe!r}", field="recipe")
    custom = _parse_custom_yaml(request.custom_yaml)
    if request.recipe == "custom" and not custom:
        raise JobInputError("the custom recipe needs its YAML settings", field="custom_yaml")
    layers: list[tuple[str, dict[str, Any]]] = [(f"recipe {request.recipe}", RECIPE_CHANGES[request.recipe])]
    form: dict[str, Any] = {}
    if request.backbone:
        form["backbone"] = request.backbone
    if request.epochs is not None:
        if request.epochs < 1:
            raise JobInputError(f"epochs must be at least 1, got {request.epochs}", field="epochs")
        form["epochs"] = request.epochs
    if form:
        layers.append(("the form", form))
    if custom:
        layers.append(("custom YAML", custom))  # the most specific input wins
    try:
        config = build_config(read_yaml_mapping(DEFAULTS_PATH), layers)
    except ConfigError as exc:
        raise JobInputError(str(exc), field="custom_yaml" if custom else "backbone") from None
    if config.backbone not in available_backbones():
        raise JobInputError(f"unknown backbone {config.backbone!r}", field="backbone")
    return config.to_dict()


def _latest_version() -> ModelVersion | None:
    return ModelVersion.objects.defer("pr_curves").order_by("-created_at", "-id").first()


def job_start(*, user: Any, request: JobRequest) -> Job:
    """Validate ``request``, create the job (queued) and queue its task once committed.

    Raises JobInputError (nothing created, nothing queued) for a bad snapshot, recipe,
    YAML, backbone, epochs or version.
    """
    if request.kind not in Job.Kind.values:
        raise JobInputError(f"unknown job kind {request.kind!r}", field="kind")
    job = Job(kind=request.kind, created_by=user if getattr(user, "pk", None) else None)
    if request.kind == Job.Kind.PREDICT:
        version = (
            ModelVersion.objects.defer("pr_curves").filter(pk=request.version_id).first()
            if request.version_id
            else None
        )
        if version is None:
            raise JobInputError("choose the model version to re-predict with", field="version")
        job.version = version
        job.config = version.config
        job.backbone = str(version.config.get("backbone", ""))
    else:
        if request.make_snapshot:
            job.make_snapshot = True
        else:
            snapshot = Snapshot.objects.filter(pk=request.snapshot_id).first() if request.snapshot_id else None
            if snapshot is None:
                raise JobInputError("choose a snapshot, or make one now", field="snapshot")
            job.snapshot = snapshot
        job.config = training_config_resolve(request)
        job.recipe = request.recipe
        job.custom_yaml = request.custom_yaml
        job.backbone = job.config["backbone"]
        job.epochs = job.config["epochs"]
        job.version = _latest_version() if request.kind == Job.Kind.TRAIN else None
    with transaction.atomic():
        job.save()
        job.run_dir = str(settings.MODEL_RUNS_ROOT / f"job-{job.pk}")
        Job.objects.filter(pk=job.pk).update(run_dir=job.run_dir)
        job_enqueue(job=job)
    logger.info("modeling job %s (%s) queued by %s", job.pk, job.kind, job.created_by)
    return job


def job_enqueue(*, job: Job) -> None:
    """Send the job's task (by name, so the web needs no torch import) once the transaction commits."""
    from annotator.celery import app

    name, job_id = TASK_NAMES[Job.Kind(job.kind)], job.pk
    transaction.on_commit(lambda: app.send_task(name, args=[job_id]))


def job_cancel(*, job_id: int) -> str:
    """Cancel a queued job at once, or ask a running one to stop at its next progress report.

    Returns ``"cancelled"``, ``"requested"`` or ``""`` (already finished: nothing done).
    """
    if Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=Now(), phase="cancelled"
    ):
        return "cancelled"
    if Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(cancel_requested=True):
        return "requested"
    return ""


def job_resume(*, job_id: int) -> bool:
    """Queue a failed or cancelled job again; its worker continues from the run folder's checkpoint.

    One conditional UPDATE: two clicks queue it once. False (nothing done) for any other job.
    """
    with transaction.atomic():
        moved = Job.objects.filter(pk=job_id, status__in=(Job.Status.FAILED, Job.Status.CANCELLED)).update(
            status=Job.Status.QUEUED,
            cancel_requested=False,
            error="",
            phase="queued again",
            finished_at=None,
            heartbeat_at=None,
        )
        if moved != 1:
            return False
        job_enqueue(job=Job.objects.get(pk=job_id))
    return True


def jobs_reap() -> int:
    """Fail every running job whose heartbeat is older than JOB_STALE_AFTER; returns how many.

    Compares with the database's clock, as the heartbeat writes it. A worker that is in fact
    alive finds its job no longer running at its next progress write and stops.
    """
    seconds = int(JOB_STALE_AFTER.total_seconds())
    reaped = Job.objects.filter(
        Q(heartbeat_at__lt=Now() - JOB_STALE_AFTER)
        | Q(heartbeat_at__isnull=True, started_at__lt=Now() - JOB_STALE_AFTER),
        status=Job.Status.RUNNING,
    ).update(
        status=Job.Status.FAILED,
        error=LOST_WORKER_ERROR.format(seconds=seconds),
        finished_at=Now(),
        phase="worker lost",
    )
    if reaped:
        logger.warning("%d modeling job(s) failed: their worker stopped beating", reaped)
    return reaped


def profile_save(
    *, user: Any, version: ModelVersion, name: str, targets: dict[str, ThresholdTarget]
) -> ThresholdProfile:
    """Save (or overwrite) the named profile of ``version`` from per-label targets.

    Thresholds are computed here from the version's stored PR curves (the page computes the
    same numbers for display); labels whose target cannot be met are left out (disabled).
    """
    name = name.strip()
    if not name:
        raise JobInputError("a profile needs a name", field="name")
    if len(name) > 100:
        raise JobInputError("profile names are at most 100 characters", field="name")
    unknown = sorted(set(targets) - set(version.label_keys))
    if unknown:
        raise JobInputError(f"labels not in {version.name}: {', '.join(unknown[:10])}", field="targets")
    picked = pick_for_version(version=version, targets=targets)
    labels = {key: point for key, point in picked.items() if point["threshold"] is not None}
    profile, _ = ThresholdProfile.objects.update_or_create(
        version=version,
        name=name,
        defaults={"labels": labels, "created_by": user if getattr(user, "pk", None) else None},
    )
    return profile
