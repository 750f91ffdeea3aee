"""Bad input: a clear error naming file, row and field, exit non-zero, and nothing changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import CommandError
from django.test import override_settings

from annotator.dataset.models import ImportJob
from annotator.taxonomy.models import Label
from tests.dataset.imports_support import CAT, DOG, OI_HEADER, jpeg, oi_import, oi_write, table_counts

pytestmark = pytest.mark.django_db

GOOD = [f"00000000000000a1,verification,{CAT},1", f"00000000000000b2,machine,{DOG},0.5"]


@pytest.fixture
def seeded(tmp_path_factory) -> dict[str, int]:
    """A dataset that already holds an import, so "nothing changed" is checked against real rows."""
    seed = tmp_path_factory.mktemp("seed")
    oi_write(seed, [f"00000000000000ff,verification,{CAT},1", f"00000000000000fe,machine,{DOG},0.9"])
    oi_import(seed)
    return table_counts()


def fails(tmp_path: Path, seeded: dict[str, int], expected: str, **kwargs: object) -> str:
    """Run the import; assert it fails with ``expected`` in the message and changed nothing."""
    with pytest.raises(CommandError) as caught:
        oi_import(tmp_path, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert expected in message
    assert "nothing was changed" in message
    assert table_counts() == seeded
    job = ImportJob.objects.order_by("-id").first()
    assert job.status == "failed" and expected in job.error
    return message


def test_missing_column(tmp_path, seeded):
    oi_write(tmp_path, [f"00000000000000a1,verification,{CAT}"], header="ImageID,Source,LabelName")
    fails(tmp_path, seeded, 'labels.csv, row 1, field "Confidence": missing column "Confidence"')


def test_unknown_class(tmp_path, seeded):
    oi_write(tmp_path, [*GOOD, "00000000000000c3,verification,/m/0kat,1"])
    fails(tmp_path, seeded, 'labels.csv, row 4, field "LabelName": unknown class "/m/0kat"')


@pytest.mark.parametrize(
    ("row", "detail"),
    [
        (f"00000000000000c3,verification,{CAT},0.5", '"0.5" must be 0 or 1 for a human-verified row'),
        (f"00000000000000c3,machine,{CAT},1.7", '"1.7" is not a number between 0 and 1'),
        (f"00000000000000c3,machine,{CAT},high", '"high" is not a number between 0 and 1'),
    ],
)
def test_confidence_out_of_range(tmp_path, seeded, row, detail):
    oi_write(tmp_path, [*GOOD, row])
    fails(tmp_path, seeded, f'labels.csv, row 4, field "Confidence": {detail}')


def test_a_row_with_too_many_fields(tmp_path, seeded):
    oi_write(tmp_path, [*GOOD, f"00000000000000c3,verification,{CAT},1,extra"])
    fails(tmp_path, seeded, "labels.csv, row 4: expected 4 fields, found 5")


def test_non_utf8_labels_file(tmp_path, seeded):
    labels = oi_write(tmp_path, [*GOOD, f"00000000000000c3,caf\u00e9,{CAT},1"])
    labels.write_bytes(labels.read_bytes().replace("café".encode(), "café".encode("latin-1")))
    fails(tmp_path, seeded, 'labels.csv, row 4, field "Source": not UTF-8 text (byte 0xe9)')


def test_non_utf8_class_descriptions(tmp_path, seeded):
    classes = tmp_path / "classes.csv"
    classes.write_bytes(f"{CAT},Cat\n{DOG},D\xf6g\n".encode("latin-1"))
    oi_write(tmp_path, GOOD)
    fails(tmp_path, seeded, 'classes.csv, row 2, field "DisplayName": not UTF-8 text', classes=classes)


def test_empty_labels_file(tmp_path, seeded):
    oi_write(tmp_path, GOOD)
    (tmp_path / "labels.csv").write_bytes(b"")
    fails(tmp_path, seeded, "labels.csv: the file is empty")


def test_header_only(tmp_path, seeded):
    oi_write(tmp_path, [])
    fails(tmp_path, seeded, "labels.csv, row 2: no label rows after the header")


def test_empty_image_id(tmp_path, seeded):
    oi_write(tmp_path, [*GOOD, f",verification,{CAT},1"])
    fails(tmp_path, seeded, 'labels.csv, row 4, field "ImageID": empty ImageID')


def test_missing_image(tmp_path, seeded):
    oi_write(tmp_path, GOOD)
    (tmp_path / "images" / "00000000000000b2.jpg").unlink()
    fails(tmp_path, seeded, 'labels.csv, row 3, field "ImageID": image "00000000000000b2.jpg" not found')


def test_unreadable_image(tmp_path, seeded, monkeypatch):
    oi_write(tmp_path, GOOD)
    bad = tmp_path / "images" / "00000000000000b2.jpg"
    if os.geteuid() == 0:  # root reads any file: make this one fail to open instead
        import annotator.dataset.importing.images as images_module

        real_open = open

        def guarded_open(path, *args, **kwargs):
            if str(path) == str(bad):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(images_module, "open", guarded_open, raising=False)
    else:
        bad.chmod(0)
    fails(tmp_path, seeded, 'labels.csv, row 3, field "ImageID": image "00000000000000b2.jpg": unreadable')


def test_corrupt_image(tmp_path, seeded):
    oi_write(tmp_path, GOOD)
    (tmp_path / "images" / "00000000000000b2.jpg").write_bytes(b"<html>not a picture</html>")
    fails(tmp_path, seeded, 'row 3, field "ImageID": image "00000000000000b2.jpg": not an image')


def test_truncated_image(tmp_path, seeded):
    oi_write(tmp_path, GOOD)
    path = jpeg(tmp_path / "images" / "00000000000000b2.jpg", size=(400, 300))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    fails(tmp_path, seeded, 'row 3, field "ImageID": image "00000000000000b2.jpg": corrupt or truncated image')


def test_decompression_bomb(tmp_path, seeded):
    oi_write(tmp_path, GOOD)
    with override_settings(MAX_IMAGE_PIXELS=500):  # the test images are 32x24 = 768 pixels
        message = fails(tmp_path, seeded, 'row 2, field "ImageID": image "00000000000000a1.jpg": decompression bomb')
    assert "768 pixels" in message and "500" in message


def test_image_path_outside_the_root(tmp_path, seeded):
    oi_write(tmp_path, [*GOOD, f"../outside,verification,{CAT},1"])
    jpeg(tmp_path / "outside.jpg")
    fails(tmp_path, seeded, 'row 4, field "ImageID": image path "../outside.jpg" is outside the images root')


def test_symlink_escaping_the_root(tmp_path, seeded):
    oi_write(tmp_path, GOOD)
    secret = jpeg(tmp_path / "elsewhere" / "secret.jpg")
    link = tmp_path / "images" / "00000000000000b2.jpg"
    link.unlink()
    link.symlink_to(secret)
    fails(tmp_path, seeded, 'row 3, field "ImageID": image path "00000000000000b2.jpg" is outside the images root')


def test_images_root_missing(tmp_path, seeded):
    oi_write(tmp_path, GOOD)
    fails(tmp_path, seeded, 'field "images_root": images root', images_root=tmp_path / "nope")


def test_broken_hierarchy_json(tmp_path, seeded):
    hierarchy = tmp_path / "hierarchy.json"
    hierarchy.write_text('{"LabelName": "/m/0bl9f",\n "Subcategory": [\n  {"LabelName": }]}', encoding="utf-8")
    oi_write(tmp_path, GOOD)
    fails(tmp_path, seeded, "hierarchy.json, row 3: not valid JSON", hierarchy=hierarchy)


def test_mapping_to_an_unknown_label(tmp_path, seeded):
    Label.objects.create(key="kitty", name_en="Cat")
    seeded = table_counts()
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"MID,key\n{CAT},kitty\n{DOG},doggo\n", encoding="utf-8")
    oi_write(tmp_path, GOOD)
    fails(tmp_path, seeded, 'map.csv, row 3, field "key": unknown label "doggo"', mapping=mapping)


def test_the_first_bad_row_is_named_among_many(tmp_path, seeded):
    rows = [f"{i:016x},verification,{CAT},1" for i in range(300)]
    rows[250] = f"{250:016x},verification,{CAT},7"
    oi_write(tmp_path, rows, header=OI_HEADER)
    fails(tmp_path, seeded, 'labels.csv, row 252, field "Confidence"')
