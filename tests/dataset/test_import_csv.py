"""CSV import: image,labels[,split] rows over images below a root."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotator.dataset.models import Image, ImportJob, LabelHistory, LabelState
from annotator.taxonomy.models import Label, LabelRelation
from tests.dataset.imports_support import jpeg, labels_of, table_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxonomy() -> None:
    animal = Label.objects.create(key="animal", name_en="Animal")
    cat = Label.objects.create(key="cat", name_en="Cat", parent=animal)
    Label.objects.create(key="scottish_fold", name_en="Scottish fold cat", parent=cat)
    forest = Label.objects.create(key="forest", name_en="Forest")
    tree = Label.objects.create(key="tree", name_en="Tree")
    LabelRelation.objects.create(kind="implies", src=forest, dst=tree)


@pytest.fixture
def root(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for n, name in enumerate(["a.jpg", "b.jpg", "c.jpg", "trip/d.jpg"]):
        jpeg(folder / name, color=(40 * n, 200 - 30 * n, 90))
    return folder


def csv_file(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_import(path: Path, root: Path, *extra: str) -> str:
    out = StringIO()
    call_command("import_csv", str(path), "--images-root", str(root), *extra, stdout=out, stderr=StringIO())
    return out.getvalue()


def image(path: str) -> Image:
    return Image.objects.get(relative_path=path)


def test_positives_are_expanded_through_the_tree_and_relations(tmp_path, taxonomy, root):
    path = csv_file(tmp_path, "image,labels\na.jpg,cat\nb.jpg,forest|scottish_fold\nc.jpg,\ntrip/d.jpg,tree\n")
    csv_import(path, root)

    assert labels_of(image("a.jpg").pk) == {"cat", "animal"}
    assert labels_of(image("b.jpg").pk) == {"forest", "tree", "scottish_fold", "cat", "animal"}
    assert labels_of(image("c.jpg").pk) == set()
    assert labels_of(image("trip/d.jpg").pk) == {"tree"}
    tree = LabelHistory.objects.get(image=image("b.jpg"), label__key="tree")
    assert (tree.source, tree.reason) == ("relation", "implied by forest")
    cat = LabelHistory.objects.get(image=image("b.jpg"), label__key="scottish_fold")
    assert (cat.source, cat.reason) == ("import", "csv labels.csv")
    assert image("a.jpg").origin == "internal"


def test_origin_option(tmp_path, taxonomy, root):
    csv_import(csv_file(tmp_path, "image,labels\na.jpg,cat\n"), root, "--origin", "crawled")
    assert image("a.jpg").origin == "crawled"


def test_an_image_on_two_rows_gets_both_rows_labels(tmp_path, taxonomy, root):
    csv_import(csv_file(tmp_path, "image,labels\na.jpg,cat\na.jpg,forest\n"), root)
    assert labels_of(image("a.jpg").pk) == {"cat", "animal", "forest", "tree"}


def test_importing_twice_changes_nothing(tmp_path, taxonomy, root):
    path = csv_file(tmp_path, "image,labels,split\na.jpg,cat,train\nb.jpg,forest,val\n")
    csv_import(path, root)
    before = table_counts()

    csv_import(path, root)

    assert table_counts() == before
    assert ImportJob.objects.order_by("-id").first().counts["truth_unchanged"] == 4


def test_split_column_sets_the_split_of_new_images(tmp_path, taxonomy, root):
    csv_import(csv_file(tmp_path, "image,labels,split\na.jpg,cat,train\nb.jpg,cat,val\nc.jpg,cat,\n"), root)
    assert [image(p).split for p in ("a.jpg", "b.jpg", "c.jpg")] == ["train", "val", ""]


def test_an_image_keeps_its_split_and_a_different_one_is_an_error(tmp_path, taxonomy, root):
    csv_import(csv_file(tmp_path, "image,labels,split\na.jpg,cat,val\n"), root)
    before = table_counts()
    again = csv_file(tmp_path, "image,labels,split\nb.jpg,cat,train\na.jpg,forest,train\n", name="second.csv")

    with pytest.raises(CommandError) as caught:
        csv_import(again, root)

    assert 'second.csv, row 3, field "split": image "a.jpg" is already in the val split' in str(caught.value)
    assert table_counts() == before
    # The same split, or none, is fine.
    csv_import(csv_file(tmp_path, "image,labels,split\na.jpg,forest,val\nb.jpg,cat,\n", name="third.csv"), root)
    assert (image("a.jpg").split, image("b.jpg").split) == ("val", "")


def test_unknown_label_names_row_and_field(tmp_path, taxonomy, root):
    path = csv_file(tmp_path, "image,labels\na.jpg,cat\nb.jpg,cat|kat\n")
    before = table_counts()

    with pytest.raises(CommandError) as caught:
        csv_import(path, root)

    assert str(caught.value).endswith('labels.csv, row 3, field "labels": unknown label "kat"')
    assert table_counts() == before


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("image\na.jpg\n", 'labels.csv, row 1, field "labels": missing column "labels"'),
        ("image,labels\na.jpg,cat\nnope.jpg,cat\n", 'row 3, field "image": image "nope.jpg" not found'),
        ("image,labels\n../outside.jpg,cat\n", 'row 2, field "image": image path "../outside.jpg" is outside'),
        ("image,labels\n/etc/hostname,cat\n", 'row 2, field "image": image path "/etc/hostname" is absolute'),
        ("image,labels\na.jpg,cat\nlinked/x.jpg,cat\n", 'row 3, field "image": image path "linked/x.jpg" is outside'),
        ("image,labels,split\na.jpg,cat,test\n", 'row 2, field "split": unknown split "test"'),
        ("image,labels\n", "labels.csv, row 2: no rows after the header"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(tmp_path, taxonomy, root, rows, expected):
    jpeg(tmp_path / "outside.jpg")
    jpeg(tmp_path / "elsewhere" / "x.jpg")
    (root / "linked").symlink_to(tmp_path / "elsewhere")  # a folder inside the root leading out of it
    before = table_counts()

    with pytest.raises(CommandError) as caught:
        csv_import(csv_file(tmp_path, rows), root)

    assert expected in str(caught.value)
    assert table_counts() == before


def test_non_utf8_csv(tmp_path, taxonomy, root):
    path = tmp_path / "labels.csv"
    path.write_bytes("image,labels\na.jpg,cat\nb.jpg,caf\u00e9\n".encode("latin-1"))
    before = table_counts()

    with pytest.raises(CommandError) as caught:
        csv_import(path, root)

    assert 'labels.csv, row 3, field "labels": not UTF-8 text (byte 0xe9)' in str(caught.value)
    assert table_counts() == before


def test_verified_negatives_from_other_sources_survive_a_csv_positive(tmp_path, taxonomy, root):
    """A CSV positive never turns a state a person set negative back (imports keep decisions)."""
    from annotator.dataset.services import image_labels_set

    csv_import(csv_file(tmp_path, "image,labels\na.jpg,forest\n"), root)
    a = image("a.jpg")
    image_labels_set(image_id=a.pk, states={Label.objects.get(key="tree").pk: LabelState.NEGATIVE}, source="annotator")
    csv_import(csv_file(tmp_path, "image,labels\na.jpg,forest\n", name="again.csv"), root)

    assert labels_of(a.pk, LabelState.NEGATIVE) == {"tree"}
