"""Label Studio JSON export: latest annotation is truth (with closure), predictions are evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from annotator.dataset.importers.labelstudio import image_path_candidates
from annotator.dataset.models import (
    Evidence,
    EvidenceSource,
    HistorySource,
    Image,
    ImageLabel,
    ImportJob,
    LabelHistory,
    LabelState,
)
from annotator.taxonomy.models import ExternalLabelMapping, Label, LabelRelation

# The command's progress goes through a second connection that must see the job row.
db_committed = pytest.mark.django_db(transaction=True)


def jpeg(path: Path, color: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (10, 10), color).save(path, "JPEG")
    return path


def _result(choices: list[str], *, from_name: str = "choice", **extra: Any) -> dict[str, Any]:
    return {
        "id": "r" + "".join(choices)[:8],
        "type": "choices",
        "from_name": from_name,
        "to_name": "image",
        "origin": "manual",
        "value": {"choices": choices},
        **extra,
    }


def _annotation(
    ident: int,
    choices: list[str],
    *,
    updated: str,
    cancelled: bool = False,
    extra_results: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": ident,
        "completed_by": 1,
        "result": [_result(choices), *(extra_results or [])] if choices else [],
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": updated,
        "updated_at": updated,
        "draft_created_at": None,
        "lead_time": 4.2,
        "prediction": {},
        "result_count": 1,
        "unique_id": f"a-{ident}",
        "import_id": None,
        "last_action": None,
        "task": None,
        "project": 3,
        "updated_by": 1,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


def _task(
    ident: int, image: str, annotations: list[dict[str, Any]], predictions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    for annotation in annotations:
        annotation["task"] = ident
    return {
        "id": ident,
        "annotations": annotations,
        "file_upload": image.rsplit("/", 1)[-1],
        "drafts": [],
        "predictions": predictions or [],
        "data": {"image": image},
        "meta": {},
        "created_at": "2024-03-01T09:00:00.000000Z",
        "updated_at": "2024-03-02T09:00:00.000000Z",
        "inner_id": ident,
        "total_annotations": len([a for a in annotations if not a["was_cancelled"]]),
        "cancelled_annotations": len([a for a in annotations if a["was_cancelled"]]),
        "total_predictions": len(predictions or []),
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 3,
        "updated_by": 1,
        "comment_authors": [],
    }


def label_studio_export() -> list[dict[str, Any]]:
    """An export of a multi-choice project with a second "quality" control, as Label Studio writes it."""
    quality = _result(["Sharp"], from_name="quality")
    return [
        # Local storage (LOCAL_FILES_DOCUMENT_ROOT), one annotation, a scored prediction.
        _task(
            101,
            "/data/local-files/?d=photos/cat-1.jpg",
            [_annotation(1, ["Cat"], updated="2024-03-02T10:00:00.000000Z", extra_results=[quality])],
            [{"id": 7, "model_version": "resnet-v3", "score": 0.5, "result": [_result(["Cat"], score=0.91)]}],
        ),
        # An upload; re-annotated later: the latest annotation wins (Forest, not Cat).
        _task(
            102,
            "/data/upload/3/8f2a1b3c-forest.jpg",
            [
                _annotation(3, ["Forest"], updated="2024-03-05T08:00:00.000000Z"),
                _annotation(2, ["Cat"], updated="2024-03-02T11:00:00.000000Z"),
            ],
        ),
        # Only a cancelled (skipped) annotation: no truth; the prediction is evidence.
        _task(
            103,
            "photos/dog-or-cat.jpg",
            [_annotation(4, ["Cat"], updated="2024-03-06T08:00:00.000000Z", cancelled=True)],
            [{"id": 8, "model_version": "resnet-v3", "score": 0.83, "result": [_result(["Cat"])]}],
        ),
        # A later cancelled annotation does not hide the earlier real one.
        _task(
            104,
            "https://cdn.example.com/crawl/2023/tree-9.jpg?sig=abc",
            [
                _annotation(5, ["tree"], updated="2024-03-02T12:00:00.000000Z"),
                _annotation(6, ["Forest"], updated="2024-03-07T12:00:00.000000Z", cancelled=True),
            ],
        ),
    ]


@pytest.fixture
def taxonomy() -> dict[str, Label]:
    labels = {}
    labels["animal"] = Label.objects.create(key="animal", name_en="Animal")
    labels["cat"] = Label.objects.create(key="cat", name_en="Cat", parent=labels["animal"])
    labels["plant"] = Label.objects.create(key="plant", name_en="Plant")
    labels["tree"] = Label.objects.create(key="tree", name_en="Tree", parent=labels["plant"])
    labels["forest"] = Label.objects.create(key="forest", name_en="Forest")
    LabelRelation.objects.create(kind=LabelRelation.Kind.IMPLIES, src=labels["forest"], dst=labels["tree"])
    # "Cat" comes through a stored mapping, "Forest" through the mapping file, "tree" is a key.
    ExternalLabelMapping.objects.create(source="labelstudio", external_id="Cat", label=labels["cat"])
    return labels


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "ls-media"
    jpeg(root / "photos" / "cat-1.jpg", (200, 0, 0))
    jpeg(root / "8f2a1b3c-forest.jpg", (0, 200, 0))
    jpeg(root / "photos" / "dog-or-cat.jpg", (0, 0, 200))
    jpeg(root / "tree-9.jpg", (100, 100, 0))
    export = tmp_path / "project-3-at-2024-03-08.json"
    export.write_text(json.dumps(label_studio_export(), indent=2))
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("choice,key\nForest,forest\n")
    return {"root": root, "export": export, "mapping": mapping}


def run_import(project: dict[str, Path], export: Path | None = None, *extra: str) -> None:
    call_command(
        "import_labelstudio",
        str(export or project["export"]),
        "--images-root",
        str(project["root"]),
        "--from-name",
        "choice",
        "--mapping",
        str(project["mapping"]),
        *extra,
    )


def truth() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path, key, state in ImageLabel.objects.values_list("image__relative_path", "label__key", "state"):
        assert state == LabelState.POSITIVE
        out.setdefault(path, set()).add(key)
    return out


@db_committed
def test_export_imports_latest_annotations_as_positives_with_closure(taxonomy, project):
    run_import(project)

    assert Image.objects.count() == 4
    assert set(Image.objects.values_list("origin", flat=True)) == {Image.Origin.INTERNAL}
    assert Image.objects.get(relative_path="photos/cat-1.jpg").origin_ref == "labelstudio:101"
    assert truth() == {
        "photos/cat-1.jpg": {"cat", "animal"},  # parent through the closure
        "8f2a1b3c-forest.jpg": {"forest", "tree", "plant"},  # implied + its parent; the older "Cat" is ignored
        "tree-9.jpg": {"tree", "plant"},  # URL resolved by basename; the later cancelled "Forest" is ignored
    }
    # Nothing is made negative, and the closure is recorded as such in the history.
    implied = LabelHistory.objects.get(image__relative_path="8f2a1b3c-forest.jpg", label__key="tree")
    assert (implied.source, implied.reason) == (HistorySource.RELATION, "implied by forest")
    direct = LabelHistory.objects.get(image__relative_path="photos/cat-1.jpg", label__key="cat")
    job = ImportJob.objects.get()
    assert (direct.source, direct.source_ref) == (HistorySource.IMPORT, f"import:{job.id}")
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.counts["tasks"] == 4 and job.counts["annotated_tasks"] == 3


@db_committed
def test_cancelled_annotations_are_ignored(taxonomy, project):
    run_import(project)

    assert not ImageLabel.objects.filter(image__relative_path="photos/dog-or-cat.jpg").exists()
    assert not ImageLabel.objects.filter(image__relative_path="tree-9.jpg", label__key="forest").exists()


@db_committed
def test_predictions_become_evidence(taxonomy, project):
    run_import(project)

    source = EvidenceSource.objects.get(kind=EvidenceSource.Kind.IMPORT, name="labelstudio:predictions")
    rows = set(
        Evidence.objects.filter(source=source).values_list("image__relative_path", "label__key", "score", "keyword")
    )
    assert {(path, key, round(score, 4), keyword) for path, key, score, keyword in rows} == {
        ("photos/cat-1.jpg", "cat", 0.91, "Cat"),  # the result's own score beats the prediction's
        ("photos/dog-or-cat.jpg", "cat", 0.83, "Cat"),
    }


@db_committed
def test_importing_the_same_export_twice_changes_nothing(taxonomy, project):
    run_import(project)
    before = (
        list(ImageLabel.objects.order_by("id").values_list()),
        list(LabelHistory.objects.order_by("id").values_list()),
        list(Evidence.objects.order_by("id").values_list()),
        list(Image.objects.order_by("id").values_list()),
    )
    run_import(project)
    after = (
        list(ImageLabel.objects.order_by("id").values_list()),
        list(LabelHistory.objects.order_by("id").values_list()),
        list(Evidence.objects.order_by("id").values_list()),
        list(Image.objects.order_by("id").values_list()),
    )
    assert after == before


@db_committed
def test_unknown_choice_fails_naming_the_task_and_field(taxonomy, project, tmp_path):
    tasks = label_studio_export()
    tasks[1]["annotations"][0]["result"][0]["value"]["choices"] = ["Forest", "Dog"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tasks))

    with pytest.raises(CommandError) as failure:
        run_import(project, bad)

    message = str(failure.value)
    assert 'bad.json, row 2, field "annotations[0].result[0].value.choices"' in message
    assert "task 2 (id 102)" in message and 'unknown choice "Dog"' in message
    assert not Image.objects.exists() and not ImageLabel.objects.exists() and not Evidence.objects.exists()
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


@db_committed
def test_without_from_name_every_choices_control_counts(taxonomy, project):
    # The "quality" control's "Sharp" is no label: reading every control fails on it.
    with pytest.raises(CommandError, match='unknown choice "Sharp"'):
        call_command(
            "import_labelstudio",
            str(project["export"]),
            "--images-root",
            str(project["root"]),
            "--mapping",
            str(project["mapping"]),
        )


@db_committed
def test_a_missing_image_fails_naming_the_task(taxonomy, project):
    (project["root"] / "tree-9.jpg").unlink()
    with pytest.raises(CommandError) as failure:
        run_import(project)
    message = str(failure.value)
    assert 'row 4, field "data.image"' in message and "task 4 (id 104)" in message
    assert "tree-9.jpg" in message and "nothing is downloaded" in message
    assert not Image.objects.exists()


@db_committed
def test_mapping_file_with_an_unknown_key_fails_naming_its_row(taxonomy, project):
    project["mapping"].write_text("choice,key\nForest,forest\nTree,tres\n")
    with pytest.raises(CommandError, match='mapping.csv, row 3, field "key": unknown label key "tres"'):
        run_import(project)


@db_committed
def test_not_an_export_is_a_clear_error(taxonomy, project, tmp_path):
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"tasks": []}))
    with pytest.raises(CommandError, match="expected a JSON list of tasks"):
        run_import(project, wrong)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": 1,\n "data": }]')
    with pytest.raises(CommandError, match="broken.json, row 2: not valid JSON"):
        run_import(project, broken)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/data/local-files/?d=photos/cat-1.jpg", ["photos/cat-1.jpg"]),
        ("/data/local-files/?d=photos%2Fa%20b.jpg", ["photos/a b.jpg"]),
        ("/data/upload/3/8f2a1b3c-forest.jpg", ["8f2a1b3c-forest.jpg", "upload/3/8f2a1b3c-forest.jpg"]),
        ("http://localhost:8080/data/upload/3/x.jpg", ["x.jpg", "upload/3/x.jpg"]),
        ("https://cdn.example.com/crawl/2023/tree-9.jpg?sig=abc", ["crawl/2023/tree-9.jpg", "tree-9.jpg"]),
        ("s3://bucket/photos/x.jpg", ["photos/x.jpg", "x.jpg"]),
        ("photos/x.jpg", ["photos/x.jpg"]),
        ("/elsewhere/x.jpg", []),
    ],
)
def test_image_path_rules(value, expected, tmp_path):
    assert image_path_candidates(value, root=tmp_path) == expected


def test_absolute_path_under_the_root_is_made_relative(tmp_path):
    assert image_path_candidates(str(tmp_path / "a" / "x.jpg"), root=tmp_path) == ["a/x.jpg"]
