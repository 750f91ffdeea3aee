"""manage.py load_taxonomy / export_taxonomy: files in, files out, clear errors."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotator.taxonomy.models import Label, LabelRelation
from annotator.taxonomy.services import taxonomy_export
from tests.taxonomy.sample import sample_taxonomy

pytestmark = pytest.mark.django_db


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _load(path: Path) -> str:
    out = StringIO()
    call_command("load_taxonomy", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_load_then_export_to_a_file_gives_the_same_file(tmp_path):
    source = _write(tmp_path / "taxonomy.json", sample_taxonomy())
    assert "16 created" in _load(source)
    call_command("export_taxonomy", "--out", str(tmp_path / "out.json"), stderr=StringIO())
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == sample_taxonomy()


def test_export_writes_to_stdout_by_default(taxonomy):
    out = StringIO()
    call_command("export_taxonomy", stdout=out)
    assert json.loads(out.getvalue()) == taxonomy_export()
    assert "折耳猫" in out.getvalue()  # readable Chinese, not \\u escapes


def test_loading_the_same_file_again_reports_nothing_to_change(tmp_path):
    source = _write(tmp_path / "taxonomy.json", sample_taxonomy())
    _load(source)
    assert "nothing to change" in _load(source)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"labels": [', "not JSON: Expecting value at line 1, column 13"),
        ('{"labels": []}'.encode("utf-16"), "not UTF-8 text"),
        (b'{"labels": [{"key": "caf\xe9", "name_en": "Cafe"}]}', "not UTF-8 text: byte 0xe9 at offset 24"),
        (b"[1, 2]", "expected a JSON object with 'labels', got a list"),
        (json.dumps({"labels": [{"key": "cat"}]}).encode(), "labels[0] (cat) field 'name_en': missing"),
        (
            json.dumps({"labels": [{"key": "lynx", "name_en": "Lynx", "parent": "felid"}]}).encode(),
            "labels[0] (lynx) field 'parent': unknown label 'felid'",
        ),
        (
            json.dumps(
                {"labels": [{"key": "a", "name_en": "A", "parent": "b"}, {"key": "b", "name_en": "B", "parent": "a"}]}
            ).encode(),
            "cycle in the parent tree: a's parent is b, b's parent is a",
        ),
    ],
    ids=["not-json", "utf16", "latin1", "not-object", "missing-field", "unknown-parent", "cycle"],
)
def test_a_bad_file_is_refused_naming_the_file_and_changes_nothing(taxonomy, tmp_path, content, expected):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    before = (Label.objects.count(), LabelRelation.objects.count(), taxonomy_export())
    with pytest.raises(CommandError) as error:
        _load(bad)
    message = str(error.value)
    assert message.startswith(f"{bad}: ")
    assert expected in message
    assert message.endswith("Nothing was changed.")
    assert (Label.objects.count(), LabelRelation.objects.count(), taxonomy_export()) == before


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="missing.json: cannot read"):
        _load(tmp_path / "missing.json")


def test_dry_run_checks_without_writing(tmp_path):
    out = StringIO()
    call_command("load_taxonomy", str(_write(tmp_path / "t.json", sample_taxonomy())), "--dry-run", stdout=out)
    assert "dry run" in out.getvalue()
    assert Label.objects.count() == 0
