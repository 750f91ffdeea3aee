"""Label Studio importer: the JSON export of an image-classification (choices) project.

``job.params``:

- ``export`` (required): path of the JSON export (a list of tasks);
- ``images_root`` (required): absolute folder the task images are resolved under;
- ``from_name`` (optional): only ``choices`` results of this control are read (needed when
  the project has several ``<Choices>`` controls); by default every ``choices`` result is;
- ``mapping`` (optional): path of a CSV ``choice,key`` (a ``choice,key`` header is allowed);
- ``data_key`` (default ``image``): the task data field holding the image;
- ``origin`` (default ``internal``): the Image.Origin of images not seen before.

Rules (docs/imports-ui.md explains them for admins):

- **Image paths** (``data.<data_key>``), resolved under ``images_root``:
  ``/data/local-files/?d=sub/x.jpg`` → ``sub/x.jpg``;
  ``/data/upload/<project>/<file>`` → ``<file>``, else ``upload/<project>/<file>``;
  a URL (``http(s)://``, ``s3://``, ``gs://`` …) → its path, else its basename (a URL to a
  Label Studio server's ``/data/...`` follows the two rules above); nothing is downloaded,
  and a URL with no such file fails naming the task; an absolute path must lie under the
  root; anything else is a path relative to the root. Every task's image is registered.
- **Choices → labels**: a ``mapping`` CSV row for the choice wins; else the
  ExternalLabelMapping rows with ``source="labelstudio"``; else the label whose key is the
  choice. An unknown choice fails the import naming the task and the field.
- **Truth**: the latest non-cancelled annotation of a task (by ``updated_at``, then
  ``created_at``, then id) makes its chosen labels positive, closure included. Nothing is
  made negative: the export does not carry the project's full list of choices, and in a
  single-choice project an unchosen choice is not a verified absence.
- **Predictions** become Evidence of the source ``import:labelstudio:predictions``, the
  score being the result's ``score``, else the prediction's, else null; a score under a
  mapping's ``min_score`` is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from annotator.dataset.importers.folder import images_root_resolve, origin_check
from annotator.dataset.importing.textfiles import csv_rows, input_file_check, json_read
from annotator.dataset.ingest import (
    ImageSpec,
    ImportContext,
    ImportFailed,
    apply_evidence,
    apply_truth,
    evidence_source_get_or_create,
    register_images,
)
from annotator.dataset.models import EvidenceSource, Image
from annotator.taxonomy.models import ExternalLabelMapping, Label

MAPPING_SOURCE = "labelstudio"
PREDICTIONS_SOURCE_NAME = "labelstudio:predictions"


@dataclass(frozen=True)
class LabelTarget:
    """One project label a choice stands for; evidence scored under ``min_score`` is dropped."""

    label_id: int
    min_score: float = 0.0


ChoiceMap = dict[str, list[LabelTarget]]


@dataclass(frozen=True)
class Choice:
    """One chosen value, where it was written in the export (for error messages)."""

    value: str
    field: str
    score: float | None = None


@dataclass
class ParsedTask:
    """What one task contributes: its image path, the truth choices and the predicted ones."""

    row: int
    task_id: object
    image_path: str
    truth: list[Choice]
    predictions: list[Choice]


def _task_name(row: int, task_id: object) -> str:
    return f"task {row} (id {task_id})" if task_id is not None else f"task {row}"


# --- image paths -------------------------------------------------------------------------


def image_path_candidates(value: str, *, root: Path) -> list[str]:
    """Paths relative to ``root`` that may hold the image ``value`` names, best first."""
    parts = urlsplit(value)
    if parts.scheme and parts.scheme.lower() != "file" and len(parts.scheme) > 1:
        if parts.scheme.lower() in ("http", "https") and parts.path.startswith("/data/"):
            return _label_studio_candidates(parts.path, parts.query)
        key = unquote(parts.path).lstrip("/")
        return [c for c in dict.fromkeys((key, PurePosixPath(key).name)) if c]
    if parts.path.startswith("/data/"):
        return _label_studio_candidates(parts.path, parts.query)
    path = unquote(parts.path) if parts.scheme.lower() == "file" else value
    if Path(path).is_absolute():
        resolved = Path(path).resolve()
        return [resolved.relative_to(root).as_posix()] if resolved.is_relative_to(root) else []
    return [path]


def _label_studio_candidates(path: str, query: str) -> list[str]:
    """Label Studio's own URLs: local files (``?d=``) and uploads."""
    if path.rstrip("/").endswith("/local-files"):
        documents = parse_qs(query).get("d", [])
        return [documents[0].lstrip("/")] if documents else []
    relative = unquote(path[len("/data/") :])
    return [c for c in dict.fromkeys((PurePosixPath(relative).name, relative)) if c]


def image_path_resolve(value: object, *, root: Path, file: str, row: int, task_id: object, field: str) -> str:
    """The path relative to ``root`` of the task's image; ImportFailed when no file is found."""
    where = _task_name(row, task_id)
    if not isinstance(value, str) or not value.strip():
        raise ImportFailed(f"{where}: no image path", file=file, row=row, field=field)
    value = value.strip()
    if value.startswith("data:"):
        raise ImportFailed(f"{where}: inline (data:) images cannot be imported", file=file, row=row, field=field)
    candidates = image_path_candidates(value, root=root)
    for candidate in candidates:
        if (root / candidate).is_file():
            return candidate
    tried = ", ".join(f'"{c}"' for c in candidates) or "nothing (outside the images root)"
    hint = "; nothing is downloaded: put remote images below the images root first" if "://" in value else ""
    raise ImportFailed(
        f'{where}: image "{value}" not found under "{root}" (tried {tried}){hint}',
        file=file,
        row=row,
        field=field,
    )


# --- choices -> labels -------------------------------------------------------------------


def choice_map_build(*, mapping_file: Path | None) -> ChoiceMap:
    """Every known choice → its labels: the mapping CSV, then the labelstudio mappings."""
    choices: ChoiceMap = {}
    for external_id, label_id, min_score in ExternalLabelMapping.objects.filter(source=MAPPING_SOURCE).values_list(
        "external_id", "label_id", "min_score"
    ):
        choices.setdefault(external_id, []).append(LabelTarget(label_id, min_score))
    if mapping_file is not None:
        # The file given with this import replaces the stored mapping for its choices.
        choices.update(_mapping_csv_read(mapping_file))
    return choices


def _mapping_csv_read(path: Path) -> ChoiceMap:
    """``choice,key`` rows (an optional ``choice,key`` header); ImportFailed naming row and field."""
    file = input_file_check(path, param="mapping")
    keys = dict(Label.objects.values_list("key", "id"))
    out: ChoiceMap = {}
    for row, record in csv_rows(file, names=("choice", "key")):
        if not any(cell.strip() for cell in record):
            continue
        if row == 1 and [cell.strip().lower() for cell in record[:2]] == ["choice", "key"]:
            continue
        if len(record) < 2 or not record[0].strip():
            raise ImportFailed("expected two columns: choice,key", file=file, row=row, field="choice")
        choice, key = record[0].strip(), record[1].strip()
        if key not in keys:
            raise ImportFailed(f'unknown label key "{key}"', file=file, row=row, field="key")
        targets = out.setdefault(choice, [])
        if all(target.label_id != keys[key] for target in targets):
            targets.append(LabelTarget(keys[key]))
    if not out:
        raise ImportFailed("the mapping has no rows", file=file)
    return out


def choice_targets(
    choice: Choice, *, choices: ChoiceMap, keys: dict[str, int], file: str, row: int, task_id: object
) -> list[LabelTarget]:
    """The labels a choice stands for: mapped, else the label with that key."""
    targets = choices.get(choice.value)
    if targets:
        return targets
    if choice.value in keys:
        return [LabelTarget(keys[choice.value])]
    raise ImportFailed(
        f'{_task_name(row, task_id)}: unknown choice "{choice.value}" (no label with that key, no '
        f'"{MAPPING_SOURCE}" mapping and no row in the mapping file)',
        file=file,
        row=row,
        field=choice.field,
    )


# --- the export ----------------------------------------------------------------------------


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Naive timestamps are compared as UTC so they sort beside aware ones.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _latest_annotation(annotations: list[Any]) -> tuple[int, dict[str, Any]] | None:
    """Index and body of the latest non-cancelled annotation, None when there is none."""
    best: tuple[tuple[Any, ...], int, dict[str, Any]] | None = None
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
            continue
        stamp = _timestamp(annotation.get("updated_at")) or _timestamp(annotation.get("created_at"))
        ident = annotation.get("id") if isinstance(annotation.get("id"), int) else -1
        key = (stamp is not None, stamp.timestamp() if stamp else 0.0, ident, index)
        if best is None or key > best[0]:
            best = (key, index, annotation)
    return (best[1], best[2]) if best else None


def _score(value: object, *, file: str, row: int, field: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ImportFailed(f"{where}: score {value} is not a number between 0 and 1", file=file, row=row, field=field)
    return float(value)


def _choices_in(
    results: object,
    *,
    prefix: str,
    from_name: str,
    seen: set[str],
    file: str,
    row: int,
    where: str,
    default_score: float | None,
) -> Iterator[Choice]:
    """The chosen values in a list of results, each naming the field it came from."""
    if not isinstance(results, list):
        raise ImportFailed(f"{where}: result is not a list", file=file, row=row, field=f"{prefix}.result")
    for index, result in enumerate(results):
        if not isinstance(result, dict) or result.get("type") != "choices":
            continue
        name = str(result.get("from_name", ""))
        seen.add(name)
        if from_name and name != from_name:
            continue
        field = f"{prefix}.result[{index}].value.choices"
        values = (result.get("value") or {}).get("choices") if isinstance(result.get("value"), dict) else None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ImportFailed(f"{where}: choices is not a list of strings", file=file, row=row, field=field)
        score = _score(result.get("score"), file=file, row=row, field=f"{prefix}.result[{index}].score", where=where)
        for value in values:
            yield Choice(value=value, field=field, score=score if score is not None else default_score)


def export_read(path: Path) -> list[Any]:
    """The export's list of tasks; ImportFailed for a missing, unreadable or non-list JSON file."""
    data = json_read(input_file_check(path, param="export"))
    if not isinstance(data, list):
        raise ImportFailed("expected a JSON list of tasks (Label Studio's JSON export)", file=path)
    if not data:
        raise ImportFailed("the export has no tasks", file=path)
    return data


def task_parse(
    task: object, *, row: int, root: Path, file: str, data_key: str, from_name: str, seen: set[str]
) -> ParsedTask:
    """Validate one task and pull out its image and choices."""
    if not isinstance(task, dict):
        raise ImportFailed(f"task {row} is not an object", file=file, row=row)
    task_id = task.get("id")
    where = _task_name(row, task_id)
    data = task.get("data")
    if not isinstance(data, dict):
        raise ImportFailed(f"{where}: no data", file=file, row=row, field="data")
    image_path = image_path_resolve(
        data.get(data_key), root=root, file=file, row=row, task_id=task_id, field=f"data.{data_key}"
    )
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise ImportFailed(f"{where}: annotations is not a list", file=file, row=row, field="annotations")
    truth: list[Choice] = []
    latest = _latest_annotation(annotations)
    if latest is not None:
        index, annotation = latest
        truth = list(
            _choices_in(
                annotation.get("result", []),
                prefix=f"annotations[{index}]",
                from_name=from_name,
                seen=seen,
                file=file,
                row=row,
                where=where,
                default_score=None,
            )
        )
    predictions_in = task.get("predictions") or []
    if not isinstance(predictions_in, list):
        raise ImportFailed(f"{where}: predictions is not a list", file=file, row=row, field="predictions")
    predictions: list[Choice] = []
    for index, prediction in enumerate(predictions_in):
        if not isinstance(prediction, dict):
            continue
        prefix = f"predictions[{index}]"
        score = _score(prediction.get("score"), file=file, row=row, field=f"{prefix}.score", where=where)
        predictions.extend(
            _choices_in(
                prediction.get("result", []),
                prefix=prefix,
                from_name=from_name,
                seen=seen,
                file=file,
                row=row,
                where=where,
                default_score=score,
            )
        )
    return ParsedTask(row=row, task_id=task_id, image_path=image_path, truth=truth, predictions=predictions)


def run(*, ctx: ImportContext) -> dict[str, int]:
    """Import the export: images, truth from the latest annotations, evidence from predictions."""
    params = ctx.params
    root = images_root_resolve(params.get("images_root"), field="images_root")
    export_value = params.get("export")
    if not isinstance(export_value, str) or not export_value:
        raise ImportFailed("a Label Studio JSON export is required", field="export")
    export = Path(export_value)
    mapping = Path(params["mapping"]) if params.get("mapping") else None
    from_name = str(params.get("from_name") or "").strip()
    data_key = str(params.get("data_key") or "image")
    origin = origin_check(params.get("origin"), default=Image.Origin.INTERNAL)
    file = str(export)

    ctx.progress("reading export", 0, 0)
    tasks = export_read(export)
    choices = choice_map_build(mapping_file=mapping)
    keys = dict(Label.objects.values_list("key", "id"))
    seen: set[str] = set()
    parsed: list[ParsedTask] = []
    for row, task in enumerate(tasks, start=1):
        parsed.append(
            task_parse(task, row=row, root=root, file=file, data_key=data_key, from_name=from_name, seen=seen)
        )
        if row % 1000 == 0:
            ctx.progress("reading export", row, len(tasks))
    if from_name and seen and from_name not in seen:
        names = ", ".join(sorted(seen))
        raise ImportFailed(
            f'no choices result uses from_name "{from_name}" (the export has: {names})', file=file, field="from_name"
        )

    truth_targets: list[tuple[ParsedTask, list[int]]] = []
    prediction_targets: list[tuple[ParsedTask, list[tuple[int, float | None, str]]]] = []
    for task in parsed:
        ids: list[int] = []
        for choice in task.truth:
            found = choice_targets(choice, choices=choices, keys=keys, file=file, row=task.row, task_id=task.task_id)
            ids.extend(target.label_id for target in found)
        truth_targets.append((task, ids))
        scored: list[tuple[int, float | None, str]] = []
        for choice in task.predictions:
            found = choice_targets(choice, choices=choices, keys=keys, file=file, row=task.row, task_id=task.task_id)
            scored.extend(
                (target.label_id, choice.score, choice.value)
                for target in found
                if choice.score is None or choice.score >= target.min_score
            )
        prediction_targets.append((task, scored))

    specs: dict[str, ImageSpec] = {}
    for task in parsed:
        specs.setdefault(
            task.image_path,
            ImageSpec(
                path=task.image_path,
                origin=origin,
                origin_ref=f"labelstudio:{task.task_id}" if task.task_id is not None else "",
                file=file,
                row=task.row,
                field=f"data.{data_key}",
            ),
        )
    counts: dict[str, int] = {"tasks": len(parsed)}
    image_ids = register_images(root, specs.values(), progress=ctx.progress, counts=counts)
    counts["images"] = len(set(image_ids.values()))

    ctx.progress("writing labels", 0, len(parsed))
    truth_rows = {
        (image_ids[task.image_path], label_id, 1) for task, label_ids in truth_targets for label_id in label_ids
    }
    counts["annotated_tasks"] = sum(1 for task, label_ids in truth_targets if label_ids)
    counts.update(
        apply_truth(
            sorted(truth_rows),
            source_ref=ctx.source_ref,
            reason=f"Label Studio export {export.name}",
            user_id=ctx.user_id,
        )
    )
    evidence_rows = [
        (image_ids[task.image_path], label_id, score, keyword)
        for task, scored in prediction_targets
        for label_id, score, keyword in scored
    ]
    if evidence_rows:
        source = evidence_source_get_or_create(kind=EvidenceSource.Kind.IMPORT, name=PREDICTIONS_SOURCE_NAME)
        counts.update(apply_evidence(evidence_rows, source=source))
    ctx.progress("writing labels", len(parsed), len(parsed))
    return counts
