"""Running a modeling job on a worker: claim, heartbeat, progress, the work, the outcome.

``job_execute`` is what the Celery tasks call. It claims the job with one conditional UPDATE
(queued → running), so a second delivery or a second worker finds nothing to do; a heartbeat
thread bumps ``heartbeat_at`` every HEARTBEAT_INTERVAL; progress goes to the job row at most
once per PROGRESS_MIN_INTERVAL, and the same UPDATE says whether the job was cancelled or
taken away (reaped), in which case the training callback raises and the run stops, its last
epoch's checkpoint kept for resume. The outcome moves running → succeeded / failed /
cancelled conditionally; a training job's version is registered in the very transaction
that marks it succeeded.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now

from annotator.dataset.models import Image, Snapshot
from annotator.dataset.partitions import evidence_partition_prepare
from annotator.modeling.evidence import EvidenceSpool, evidence_replace
from annotator.modeling.models import HEARTBEAT_INTERVAL, Job, ModelVersion
from annotator.modeling.versions import version_register
from annotator.taxonomy.models import Label

logger = logging.getLogger(__name__)

#: At most one progress write per second: a page polls once a second, and a fast GPU
#: reporting every few iterations would otherwise write dozens of rows a second.
PROGRESS_MIN_INTERVAL = 1.0
#: Lines of log kept on the job row for the page.
LOG_TAIL_LINES = 40
#: Images per prediction chunk: a few seconds of GPU work, so progress and cancel are
#: checked often, and the chunk's manifest and path → id map stay small.
PREDICT_CHUNK = 10_000
RERANK_TASK = "annotator.cleaning.tasks.queues_rerank"


class JobStoppedError(Exception):
    """The job was cancelled or taken away from this worker; stop without touching its state."""


class LogTail(logging.Handler):
    """Keeps the last LOG_TAIL_LINES log lines of the run (training and modeling loggers)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a log line must never break the run
            self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


class Heartbeat:
    """A thread bumping the job's heartbeat_at (the database's clock) while the job runs."""

    def __init__(self, job_id: int, interval: float = HEARTBEAT_INTERVAL) -> None:
        self.job_id = job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), name=f"job-{job_id}-heartbeat", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        try:
            while not self._stop.wait(interval):
                try:
                    Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING).update(heartbeat_at=Now())
                except DatabaseError as exc:
                    logger.warning("job %s: heartbeat failed (%s)", self.job_id, exc)
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Progress:
    """Writes progress to the job row (throttled) and stops the run when the job is no longer ours."""

    def __init__(self, job_id: int, tail: LogTail) -> None:
        self.job_id = job_id
        self.tail = tail
        self._last = 0.0

    def write(self, *, force: bool = False, **fields: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_MIN_INTERVAL:
            return
        self._last = now
        moved = Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING, cancel_requested=False).update(
            heartbeat_at=Now(), log_tail=self.tail.text(), **fields
        )
        if moved != 1:
            raise JobStoppedError

    def training_callback(self, *, stage: int = 0, stages: int = 1, label: str = "") -> Any:
        state = {"epoch": -1}

        def callback(report: dict[str, Any]) -> None:
            epoch, epochs, step, total = report["epoch"], report["epochs"], report["step"], report["total"]
            new_epoch = epoch != state["epoch"]
            if new_epoch:
                state["epoch"] = epoch
                logger.info("%sepoch %d/%d", f"{label}: " if label else "", epoch + 1, epochs)
            per_stage = epochs * total
            self.write(
                force=new_epoch or step == total,
                phase=(f"{label} · " if label else "") + "training",
                epoch=epoch + 1,
                step=step,
                steps_total=total,
                loss=_finite(report["loss"]),
                lr=_finite(report["lr"]),
                images_per_s=_finite(report["images_per_s"]),
                eta_s=_finite(report["eta_s"]),
                progress_done=stage * per_stage + epoch * total + step,
                progress_total=stages * per_stage,
            )

        return callback


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def _claim(job_id: int) -> bool:
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return (
        Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.RUNNING,
            started_at=Now(),
            heartbeat_at=Now(),
            attempts=F("attempts") + 1,
            worker=worker[:200],
            phase="starting",
            error="",
        )
        == 1
    )


def _device_describe(preference: str) -> str:
    import torch

    from training.distributed import resolve_device

    device = resolve_device(preference)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if preference == "auto":
        logger.warning("this worker has no CUDA GPU: the job runs on the CPU")
    return str(device)


def job_execute(*, job_id: int) -> str:
    """Run job ``job_id`` if it is queued; returns its final status ("" when it was not ours)."""
    if not _claim(job_id):
        logger.info("modeling job %s is not queued (already run, running elsewhere or cancelled): skipped", job_id)
        return ""
    job = Job.objects.select_related("snapshot", "version").get(pk=job_id)
    tail = LogTail()
    watched = [logging.getLogger("training"), logging.getLogger("annotator.modeling")]
    for watched_logger in watched:
        watched_logger.addHandler(tail)
    heartbeat = Heartbeat(job_id)
    progress = Progress(job_id, tail)
    try:
        if job.kind == Job.Kind.PREDICT:
            _run_predict(job, progress)
        elif job.kind == Job.Kind.ABLATE:
            _run_ablate(job, progress)
        else:
            _run_train(job, progress)
    except JobStoppedError:
        _stopped(job_id, tail)
    except BaseException as exc:
        logger.exception("modeling job %s failed", job_id)
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED,
            error=f"{exc.__class__.__name__}: {exc}"[:5000],
            finished_at=Now(),
            log_tail=tail.text(),
        )
        if not isinstance(exc, Exception):
            raise  # SystemExit, KeyboardInterrupt: the worker is going down
    finally:
        heartbeat.stop()
        for watched_logger in watched:
            watched_logger.removeHandler(tail)
    status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first() or ""
    logger.info("modeling job %s ended %s", job_id, status)
    return status


def _stopped(job_id: int, tail: LogTail) -> None:
    """Cancelled: record it. Reaped (no longer running): leave the row as the reaper wrote it."""
    if Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, cancel_requested=True).update(
        status=Job.Status.CANCELLED, finished_at=Now(), phase="cancelled", log_tail=tail.text()
    ):
        logger.info("modeling job %s cancelled; its last checkpoint stays for resume", job_id)
    else:
        logger.warning("modeling job %s was taken away from this worker (marked failed); stopped", job_id)


def _succeed(job_id: int, tail: LogTail, **fields: Any) -> bool:
    """running → succeeded, in the caller's transaction; False when the job is no longer ours."""
    return (
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, cancel_requested=False).update(
            status=Job.Status.SUCCEEDED, finished_at=Now(), phase="done", log_tail=tail.text(), **fields
        )
        == 1
    )


def _snapshot_for(job: Job, progress: Progress) -> Snapshot:
    if job.snapshot is not None:
        return job.snapshot
    from annotator.dataset.snapshots import snapshot_create

    progress.write(force=True, phase="writing snapshot")
    snapshot = snapshot_create(user=job.created_by, note=f"for modeling job {job.pk}")
    Job.objects.filter(pk=job.pk).update(snapshot=snapshot)
    job.snapshot = snapshot
    return snapshot


def _snapshot_files(snapshot: Snapshot) -> dict[str, Path]:
    folder = Path(snapshot.path)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    return {
        "manifest": folder / "manifest.jsonl",
        "taxonomy": folder / "taxonomy.json",
        "images_root": Path(meta.get("images_root") or "/"),
    }


def _train_config(job: Job, progress: Progress) -> Any:
    from training.config import build_config

    config = build_config(job.config, [])
    device = _device_describe(config.device)
    progress.write(force=True, device=device[:200])
    return config


def _run_train(job: Job, progress: Progress) -> None:
    from training.runs import train_run

    files = _snapshot_for_files(job, progress)
    config = _train_config(job, progress)
    run_dir = Path(job.run_dir)
    resume = (run_dir / "checkpoint.pt").exists()
    if resume:
        logger.info("resuming from the checkpoint in %s", run_dir)
    train_run(config, run_dir=run_dir, resume=resume, callback=progress.training_callback(), **files)
    progress.write(force=True, phase="registering the version")
    with transaction.atomic():
        if not _succeed(job.pk, progress.tail):
            raise JobStoppedError
        version = version_register(job=job, run_dir=run_dir)
        Job.objects.filter(pk=job.pk).update(results={"version": version.name, "mAP": version.map})
    logger.info("modeling job %s registered %s (mAP %s)", job.pk, version.name, version.map)


def _snapshot_for_files(job: Job, progress: Progress) -> dict[str, Path]:
    return _snapshot_files(_snapshot_for(job, progress))


def _run_ablate(job: Job, progress: Progress) -> None:
    from training import checkpoint as ckpt
    from training.ablate import HEAD_TAIL_NOTE, RECIPES, format_table, summarize
    from training.runs import train_run

    files = _snapshot_for_files(job, progress)
    config = _train_config(job, progress)
    out = Path(job.run_dir)
    rows: list[dict[str, Any]] = list((job.results or {}).get("rows", []))
    done = {row["recipe"] for row in rows}
    for stage, (name, changes) in enumerate(RECIPES):
        if name in done:
            continue
        run_dir = out / name
        result = train_run(
            config.replace(**changes),
            run_dir=run_dir,
            resume=(run_dir / "checkpoint.pt").exists(),
            callback=progress.training_callback(stage=stage, stages=len(RECIPES), label=name),
            **files,
        )
        if result.evaluation is None:
            raise RuntimeError(f"recipe {name}: the snapshot has no val images, nothing to compare")
        row = {"recipe": name, **changes, **summarize(result.evaluation, result.train_label_counts)}
        rows.append(_json_safe(row))
        # Kept on the row at once: a resumed ablation skips the recipes already done.
        Job.objects.filter(pk=job.pk).update(results={"rows": rows, "note": HEAD_TAIL_NOTE})
    ckpt.write_json(out / "ablation.json", {"note": HEAD_TAIL_NOTE, "rows": rows})
    (out / "ablation.md").write_text(format_table(rows), encoding="utf-8")
    with transaction.atomic():
        if not _succeed(job.pk, progress.tail, results={"rows": rows, "note": HEAD_TAIL_NOTE}):
            raise JobStoppedError


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


def _label_columns(version: ModelVersion) -> np.ndarray:
    ids = dict(Label.objects.filter(key__in=version.label_keys).values_list("key", "id"))
    return np.asarray([ids.get(key, -1) for key in version.label_keys], dtype=np.int64)


def _image_chunks() -> Any:
    """(id, absolute path, split) of every image, in id order, PREDICT_CHUNK at a time."""
    chunk: list[tuple[int, str, str]] = []
    rows = Image.objects.order_by("id").values_list("id", "storage_root", "relative_path", "split")
    for image_id, root, relative, split in rows.iterator(chunk_size=PREDICT_CHUNK):
        chunk.append((image_id, os.path.join(root, relative), split or "train"))
        if len(chunk) == PREDICT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_predict(job: Job, progress: Progress) -> None:
    from training.runs import predict_run

    if job.version_id is None:
        raise ValueError("a re-predict job needs its model version")
    version = ModelVersion.objects.defer("pr_curves").select_related("source").get(pk=job.version_id)
    config = _train_config(job, progress)
    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    columns = _label_columns(version)
    total = Image.objects.count()
    floor = float(settings.MODEL_EVIDENCE_SCORE_FLOOR)
    spool = EvidenceSpool(run_dir / "evidence.copy", source_id=version.source_id, label_ids=columns, floor=floor)
    scored = skipped = 0
    progress.write(force=True, phase="scoring", progress_done=0, progress_total=total)
    try:
        for chunk in _image_chunks():
            manifest = run_dir / "chunk.jsonl"
            with open(manifest, "w", encoding="utf-8") as handle:
                for _, path, split in chunk:
                    handle.write(json.dumps({"image": path, "labels": [], "split": split}) + "\n")
            ids_by_path = {path: image_id for image_id, path, _ in chunk}
            out = run_dir / "chunk-predictions.jsonl"
            stats = predict_run(
                version.run_dir, manifest=manifest, images_root="/", out=out, overrides=[f"device={config.device}"]
            )
            skipped += stats.skipped
            ids: list[int] = []
            scores: list[list[float]] = []
            with open(out, encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    ids.append(ids_by_path[record["image"]])
                    scores.append(list(record["scores"].values()))
            spool.add(ids, np.asarray(scores, dtype=np.float64).reshape(len(ids), len(columns)))
            scored += len(chunk)
            progress.write(
                force=True,
                phase="scoring",
                progress_done=scored,
                progress_total=total,
                images_per_s=_finite(stats.images_per_s),
            )
    finally:
        image_ids = spool.close()
    progress.write(force=True, phase="writing evidence")
    # Its own short transaction: the swap's must not hold the default partition's lock throughout.
    evidence_partition_prepare(source_id=version.source_id)
    with transaction.atomic():
        counts = evidence_replace(
            source=version.source,
            spool_path=spool.path,
            image_ids=image_ids,
            label_ids=columns.tolist(),
            rows=spool.counts.rows,
        )
        results = {
            "version": version.name,
            "images": spool.counts.images,
            "unreadable": skipped,
            "rows": counts["written"],
            "suggested": spool.counts.suggested,
            "replaced": counts["deleted"],
            "floor": floor,
        }
        if not _succeed(job.pk, progress.tail, results=results, progress_done=total, progress_total=total):
            raise JobStoppedError
        # The cleaning queues re-rank with the new evidence (by name: no import of that app).
        transaction.on_commit(lambda: current_app.send_task(RERANK_TASK))
    spool.path.unlink(missing_ok=True)
    logger.info("modeling job %s: evidence of %s replaced: %s", job.pk, version.name, results)
