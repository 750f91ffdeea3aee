"""Open Images import: real class descriptions and hierarchy, real (tiny) JPEGs."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from annotator.dataset.ingest import import_job_execute
from annotator.dataset.models import (
    Evidence,
    HistorySource,
    Image,
    ImageLabel,
    ImportJob,
    LabelHistory,
    LabelState,
)
from annotator.dataset.services import image_labels_set
from annotator.taxonomy.models import ExternalLabelMapping, Label, LabelRelation
from tests.dataset.imports_support import (
    BEAR,
    CAR,
    CAT,
    CLASSES,
    DOG,
    HIERARCHY,
    TEDDY_BEAR,
    TORTOISE,
    labels_of,
    oi_import,
    oi_write,
    parent_chain,
    table_counts,
)

pytestmark = pytest.mark.django_db

ROWS = [
    f"00000000000000a1,verification,{CAT},1",
    f"00000000000000a1,crowdsource-verified,{DOG},0",
    f"00000000000000b2,machine,{CAT},0.73",
    f"00000000000000c3,human,{CAR},1",
]


def image(ref: str) -> Image:
    return Image.objects.get(origin_ref=ref)


def test_cat_gets_its_ancestors_negatives_stay_machine_rows_are_evidence(tmp_path):
    oi_write(tmp_path, ROWS)
    out = oi_import(tmp_path)

    assert parent_chain("cat") == ["cat", "carnivore", "mammal", "animal"]
    a1 = image("00000000000000a1")
    assert labels_of(a1.pk) == {"cat", "carnivore", "mammal", "animal"}
    assert labels_of(a1.pk, LabelState.NEGATIVE) == {"dog"}
    assert labels_of(image("00000000000000c3").pk) == {"car", "land_vehicle", "vehicle"}

    b2 = image("00000000000000b2")
    assert not ImageLabel.objects.filter(image=b2).exists()
    evidence = Evidence.objects.get(image=b2)
    assert (evidence.label.key, evidence.score, str(evidence.source)) == ("cat", 0.73, "import:openimages:machine")

    history = {h.label.key: h for h in LabelHistory.objects.filter(image=a1).select_related("label")}
    assert (history["cat"].source, history["cat"].old_state, history["cat"].new_state) == ("import", None, 1)
    assert (history["mammal"].source, history["mammal"].reason) == ("relation", "implied by cat")
    assert history["dog"].new_state == LabelState.NEGATIVE
    assert {h.source_ref for h in history.values()} == {f"import:{ImportJob.objects.get().pk}"}

    assert (a1.origin, a1.relative_path, a1.storage_root) == (
        "public",
        "00000000000000a1.jpg",
        str(tmp_path / "images"),
    )
    assert (a1.width, a1.height, len(a1.content_hash)) == (32, 24, 64)
    assert Label.objects.get(key="cat").name_en == "Cat"
    assert ExternalLabelMapping.objects.get(source="openimages", external_id=CAT).label.key == "cat"
    assert "truth_created" in out and "evidence_created" in out


def test_importing_the_same_files_twice_changes_nothing(tmp_path):
    oi_write(tmp_path, ROWS)
    oi_import(tmp_path)
    before = table_counts()
    history_before = list(LabelHistory.objects.values_list("id", flat=True))

    out = oi_import(tmp_path)

    assert table_counts() == before
    assert list(LabelHistory.objects.values_list("id", flat=True)) == history_before
    counts = ImportJob.objects.order_by("-id").first().counts
    assert counts["truth_created"] == counts["truth_changed"] == counts["evidence_created"] == 0
    assert counts["images_created"] == counts["images_checked"] == 0  # size + mtime unchanged: not read again
    assert "truth_unchanged" in out


def test_a_class_with_several_parents_implies_the_others(tmp_path):
    # In the hierarchy, Teddy bear sits under Toy and under Bear.
    oi_write(tmp_path, [f"00000000000000d4,verification,{TEDDY_BEAR},1"])
    oi_import(tmp_path)

    assert parent_chain("teddy_bear") == ["teddy_bear", "toy"]
    assert LabelRelation.objects.filter(kind="implies", src__key="teddy_bear", dst__key="bear").exists()
    assert labels_of(image("00000000000000d4").pk) == {"teddy_bear", "toy", "bear", "carnivore", "mammal", "animal"}


def test_the_entity_root_is_no_label_and_its_children_are_roots(tmp_path):
    oi_write(tmp_path, [f"00000000000000e5,verification,{TORTOISE},1"])
    oi_import(tmp_path)

    assert not Label.objects.filter(name_en="Entity").exists()
    assert Label.objects.get(key="animal").parent is None


def test_without_hierarchy_classes_are_flat_labels(tmp_path):
    oi_write(tmp_path, [f"00000000000000a1,verification,{CAT},1"])
    oi_import(tmp_path, hierarchy=False)

    assert parent_chain("cat") == ["cat"]
    assert labels_of(image("00000000000000a1").pk) == {"cat"}


def test_class_descriptions_with_a_header_line_v6(tmp_path):
    classes = tmp_path / "oidv6-class-descriptions.csv"
    classes.write_text(f"LabelName,DisplayName\n{CAT},Cat\n{DOG},Dog\n", encoding="utf-8")
    oi_write(tmp_path, [f"00000000000000a1,verification,{CAT},1"])
    oi_import(tmp_path, hierarchy=False, classes=classes)

    assert set(Label.objects.values_list("key", flat=True)) == {"cat"}


def test_mapping_onto_an_existing_taxonomy_reports_unmapped_classes(tmp_path):
    pets = Label.objects.create(key="pets", name_en="Pets")
    Label.objects.create(key="kitty", name_en="Cat", parent=pets)
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"MID,key\n{CAT},kitty\n", encoding="utf-8")
    oi_write(
        tmp_path,
        [
            f"00000000000000a1,verification,{CAT},1",
            f"00000000000000a1,verification,{DOG},1",
            f"00000000000000b2,machine,{DOG},0.4",
        ],
    )
    out = oi_import(tmp_path, mapping=mapping)

    counts = ImportJob.objects.get().counts
    assert (counts["unmapped_classes"], counts["unmapped_rows"]) == (1, 2)
    assert counts[f"unmapped {DOG} (Dog)"] == 2
    assert f"{DOG} (Dog): 2" in out
    assert labels_of(image("00000000000000a1").pk) == {"kitty", "pets"}
    assert set(Label.objects.values_list("key", flat=True)) == {"pets", "kitty"}  # nothing created
    assert ExternalLabelMapping.objects.get(external_id=CAT).label.key == "kitty"


def test_the_same_bytes_under_two_image_ids_are_one_image(tmp_path):
    oi_write(tmp_path, [f"00000000000000a1,verification,{CAT},1", f"00000000000000a2,verification,{DOG},1"])
    (tmp_path / "images" / "00000000000000a2.jpg").write_bytes(
        (tmp_path / "images" / "00000000000000a1.jpg").read_bytes()
    )
    oi_import(tmp_path, hierarchy=False)

    only = Image.objects.get()
    assert labels_of(only.pk) == {"cat", "dog"}


def test_a_reimport_keeps_what_an_annotator_decided(tmp_path, annotator_user):
    oi_write(tmp_path, ROWS)
    oi_import(tmp_path)
    a1, cat = image("00000000000000a1"), Label.objects.get(key="cat")
    image_labels_set(
        image_id=a1.pk, states={cat.pk: LabelState.NEGATIVE}, source=HistorySource.ANNOTATOR, user=annotator_user
    )

    oi_import(tmp_path)

    assert ImageLabel.objects.get(image=a1, label=cat).state == LabelState.NEGATIVE
    assert ImportJob.objects.order_by("-id").first().counts["kept_decisions"] == 1


def test_changed_label_in_a_new_file_is_recorded_as_a_change(tmp_path):
    oi_write(tmp_path, ROWS)
    oi_import(tmp_path)
    oi_write(tmp_path, [f"00000000000000a1,verification,{DOG},1"], images=False)

    oi_import(tmp_path)

    a1 = image("00000000000000a1")
    change = LabelHistory.objects.filter(image=a1, label__key="dog").order_by("id").last()
    assert (change.old_state, change.new_state, change.source) == (0, 1, "import")
    assert "dog" in labels_of(a1.pk)


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_other_connections_while_the_import_runs(tmp_path):
    oi_write(tmp_path, ROWS)
    params = {
        "labels": str(tmp_path / "labels.csv"),
        "classes": str(CLASSES),
        "hierarchy": str(HIERARCHY),
        "images_root": str(tmp_path / "images"),
    }
    job = ImportJob.objects.create(kind=ImportJob.Kind.OPENIMAGES, params=params)
    seen: list[tuple[str, str]] = []
    dsn = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")}

    def probe(phase: str, done: int, total: int) -> None:
        if phase == "truth" and not seen:
            with psycopg.connect(**dsn) as other:
                status, shown = other.execute(
                    "SELECT status, phase FROM dataset_importjob WHERE id = %s", [job.pk]
                ).fetchone()
                images = other.execute("SELECT count(*) FROM dataset_image").fetchone()[0]
            seen.append((status, shown))
            assert images == 0  # the import's own writes stay invisible until it commits

    import_job_execute(job_id=job.pk, progress=probe)

    assert seen == [("running", "truth")]
    job.refresh_from_db()
    assert (job.status, job.percent, job.error) == ("succeeded", 100, "")
    assert job.started_at is not None and job.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_1_with_the_message_on_stderr(tmp_path):
    oi_write(tmp_path, ["00000000000000a1,verification,/m/nonsense,1"])
    env = {**os.environ, "DATABASE_URL": _database_url()}
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_openimages",
            "--labels",
            str(tmp_path / "labels.csv"),
            "--classes",
            str(CLASSES),
            "--images-root",
            str(tmp_path / "images"),
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert 'labels.csv, row 2, field "LabelName": unknown class "/m/nonsense"' in done.stderr
    assert ImportJob.objects.get().status == "failed"


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def test_a_bear_row_needs_no_relation(tmp_path):
    oi_write(tmp_path, [f"00000000000000f6,verification,{BEAR},1"])
    oi_import(tmp_path)

    assert not LabelRelation.objects.exists()
    assert labels_of(image("00000000000000f6").pk) == {"bear", "carnivore", "mammal", "animal"}


def test_running_a_succeeded_job_again_changes_nothing(tmp_path):
    oi_write(tmp_path, ROWS)
    oi_import(tmp_path)
    job = ImportJob.objects.get()
    before, counts = table_counts(), dict(job.counts)

    import_job_execute(job_id=job.pk)  # a retried or redelivered task

    job.refresh_from_db()
    assert (job.status, job.counts) == ("succeeded", counts)
    assert table_counts() == before
