"""The *shape* of a taxonomy file (the export format), checked before anything is written.

``taxonomy_file_parse`` turns bytes into a JSON object; ``taxonomy_data_parse`` checks
that every entry is an object, required fields are there and values have the right type.
Its messages name the source (file), the entry (``labels[3]``, ``labels[3] (cat)
examples[0]``) and the field. Whether a guideline example's image and upload exist is
for the loader to check (it needs the database and the media storage).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from annotator.taxonomy.validation.problems import RELATION_KINDS, TaxonomyError, relation_verb

KEY_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+\Z")  # what Label.key (a SlugField) accepts
KEY_MAX = 100
NAME_MAX = 200
NOTE_MAX = 300
CAPTION_MAX = 300  # GuidelineExample.caption
UPLOAD_MAX = 100  # GuidelineExample.upload: Django's FileField default max_length
CONTENT_HASH_PATTERN = re.compile(r"^[0-9a-f]{64}\Z")  # Image.content_hash: sha256, lowercase hex

LABEL_FIELDS = ("key", "name_en", "name_zh", "parent", "small_object", "active", "guideline", "examples")
LABEL_REQUIRED = ("key", "name_en")
RELATION_FIELDS = ("kind", "src", "dst", "note")
RELATION_REQUIRED = ("kind", "src", "dst")
EXAMPLE_KINDS = ("positive", "negative")  # GuidelineExample.Kind
EXAMPLE_FIELDS = ("kind", "caption", "image", "upload")
EXAMPLE_REQUIRED = ("kind",)
TOP_LEVEL_FIELDS = ("labels", "relations")


@dataclass(frozen=True)
class ExampleEntry:
    """One guideline example of a label entry: ``image`` is a dataset image's content hash,
    ``upload`` a path relative to MEDIA_ROOT; either may be ``None``."""

    index: int
    kind: str
    caption: str = ""
    image: str | None = None
    upload: str | None = None


@dataclass(frozen=True)
class LabelEntry:
    """One label of a taxonomy file; ``None`` means the field was absent (keep what is stored)."""

    index: int
    key: str
    name_en: str
    name_zh: str | None = None
    parent: str | None = None
    has_parent: bool = False
    small_object: bool | None = None
    active: bool | None = None
    guideline: str | None = None
    examples: tuple[ExampleEntry, ...] | None = None


@dataclass(frozen=True)
class RelationEntry:
    index: int
    kind: str
    src: str
    dst: str
    note: str | None = None


@dataclass
class TaxonomyData:
    """A taxonomy file whose shape has been checked."""

    labels: list[LabelEntry] = field(default_factory=list)
    relations: list[RelationEntry] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Files: bytes → JSON object


def taxonomy_file_parse(*, raw: bytes, source: str) -> dict[str, Any]:
    """Decode a taxonomy file (UTF-8, an optional BOM allowed) and parse its JSON."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaxonomyError(
            [f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be decoded"], source=source
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaxonomyError([f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"], source=source) from None
    if not isinstance(data, dict):
        raise TaxonomyError([f"expected a JSON object with 'labels', got {_json_type(data)}"], source=source)
    return data


# ---------------------------------------------------------------------------------------
# Shape: JSON object → TaxonomyData


def taxonomy_data_parse(data: Mapping[str, Any], *, source: str) -> TaxonomyData:
    """Check the shape of a taxonomy object; raise ``TaxonomyError`` naming entry and field."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise TaxonomyError([f"expected a JSON object with 'labels', got {_json_type(data)}"], source=source)
    for name in sorted(set(data) - set(TOP_LEVEL_FIELDS)):
        problems.append(f"field {name!r}: unknown (expected {', '.join(TOP_LEVEL_FIELDS)})")
    raw_labels = data.get("labels")
    raw_relations = data.get("relations", [])
    if raw_labels is None:
        problems.append("field 'labels': missing")
        raw_labels = []
    elif not isinstance(raw_labels, list):
        problems.append(f"field 'labels': expected a list, got {_json_type(raw_labels)}")
        raw_labels = []
    if not isinstance(raw_relations, list):
        problems.append(f"field 'relations': expected a list, got {_json_type(raw_relations)}")
        raw_relations = []

    parsed = TaxonomyData()
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_labels):
        entry = _label_entry_parse(index, raw, problems)
        if entry is None:
            continue
        if entry.key in first_index:
            problems.append(
                f"labels[{index}] ({entry.key}) field 'key': {entry.key!r} appears twice "
                f"(first at labels[{first_index[entry.key]}])"
            )
            continue
        first_index[entry.key] = index
        parsed.labels.append(entry)
    for index, raw in enumerate(raw_relations):
        relation = _relation_entry_parse(index, raw, problems)
        if relation is not None:
            parsed.relations.append(relation)
    if problems:
        raise TaxonomyError(problems, source=source)
    return parsed


def _label_entry_parse(index: int, raw: object, problems: list[str]) -> LabelEntry | None:
    where = f"labels[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected an object, got {_json_type(raw)}")
        return None
    key = raw.get("key")
    if isinstance(key, str) and key:
        where = f"labels[{index}] ({key})"
    before = len(problems)
    for name in sorted(set(raw) - set(LABEL_FIELDS)):
        problems.append(f"{where} field {name!r}: unknown (expected one of {', '.join(LABEL_FIELDS)})")
    for name in LABEL_REQUIRED:
        if name not in raw:
            problems.append(f"{where} field {name!r}: missing")
    if "key" in raw:
        if not isinstance(key, str):
            problems.append(f"{where} field 'key': expected a string, got {_json_type(key)}")
        elif not KEY_PATTERN.match(key) or len(key) > KEY_MAX:
            problems.append(
                f"{where} field 'key': {key!r} is not a valid key (letters, digits, '-' and '_', at most {KEY_MAX})"
            )
    _check_string(raw, "name_en", where, problems, max_length=NAME_MAX, required_non_empty=True)
    _check_string(raw, "name_zh", where, problems, max_length=NAME_MAX)
    _check_string(raw, "guideline", where, problems, max_length=None)
    parent = raw.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.append(f"{where} field 'parent': expected a label key or null, got {_json_type(parent)}")
    for name in ("small_object", "active"):
        if name in raw and not isinstance(raw[name], bool):
            problems.append(f"{where} field {name!r}: expected true or false, got {_json_type(raw[name])}")
    examples = _examples_parse(raw["examples"], where, problems) if "examples" in raw else None
    if len(problems) > before:
        return None
    return LabelEntry(
        index=index,
        key=str(key),
        name_en=raw["name_en"],
        name_zh=raw.get("name_zh"),
        parent=parent,
        has_parent="parent" in raw,
        small_object=raw.get("small_object"),
        active=raw.get("active"),
        guideline=raw.get("guideline"),
        examples=examples,
    )


def _examples_parse(raw: object, where: str, problems: list[str]) -> tuple[ExampleEntry, ...] | None:
    if not isinstance(raw, list):
        problems.append(f"{where} field 'examples': expected a list, got {_json_type(raw)}")
        return None
    before = len(problems)
    entries = [_example_parse(index, item, f"{where} examples[{index}]", problems) for index, item in enumerate(raw)]
    if len(problems) > before:
        return None
    return tuple(entry for entry in entries if entry is not None)


def _example_parse(index: int, raw: object, where: str, problems: list[str]) -> ExampleEntry | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected an object, got {_json_type(raw)}")
        return None
    before = len(problems)
    for name in sorted(set(raw) - set(EXAMPLE_FIELDS)):
        problems.append(f"{where} field {name!r}: unknown (expected one of {', '.join(EXAMPLE_FIELDS)})")
    for name in EXAMPLE_REQUIRED:
        if name not in raw:
            problems.append(f"{where} field {name!r}: missing")
    kind = raw.get("kind")
    if "kind" in raw and kind not in EXAMPLE_KINDS:
        problems.append(f"{where} field 'kind': {kind!r} is not one of {', '.join(EXAMPLE_KINDS)}")
    _check_string(raw, "caption", where, problems, max_length=CAPTION_MAX)
    image = raw.get("image")
    if image is not None and not (isinstance(image, str) and CONTENT_HASH_PATTERN.match(image)):
        problems.append(
            f"{where} field 'image': expected the content hash of a dataset image "
            f"(sha256, 64 lowercase hex digits) or null, got {image!r}"
        )
    upload = raw.get("upload")
    if upload is not None:
        problem = _upload_problem(upload)
        if problem:
            problems.append(f"{where} field 'upload': {problem}")
    if len(problems) > before:
        return None
    return ExampleEntry(index=index, kind=str(kind), caption=raw.get("caption") or "", image=image, upload=upload)


def _upload_problem(upload: object) -> str:
    """Why ``upload`` is not a plain path inside MEDIA_ROOT ('' when it is one)."""
    if not isinstance(upload, str) or not upload:
        return f"expected a path relative to MEDIA_ROOT or null, got {_json_type(upload)}"
    if len(upload) > UPLOAD_MAX:
        return f"longer than {UPLOAD_MAX} characters"
    # A stored file name outside MEDIA_ROOT would let the page serve any file of the server.
    plain = posixpath.normpath(upload) == upload and upload != "."
    if "\\" in upload or "\x00" in upload or upload.startswith("/") or not plain:
        return f"{upload!r} is not a plain path relative to MEDIA_ROOT (no leading '/', '..', '.' or '//')"
    if upload.split("/")[0] == "..":
        return f"{upload!r} points outside MEDIA_ROOT"
    return ""


def _relation_entry_parse(index: int, raw: object, problems: list[str]) -> RelationEntry | None:
    where = f"relations[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected an object, got {_json_type(raw)}")
        return None
    before = len(problems)
    for name in sorted(set(raw) - set(RELATION_FIELDS)):
        problems.append(f"{where} field {name!r}: unknown (expected one of {', '.join(RELATION_FIELDS)})")
    for name in RELATION_REQUIRED:
        if name not in raw:
            problems.append(f"{where} field {name!r}: missing")
    kind = raw.get("kind")
    if "kind" in raw and kind not in RELATION_KINDS:
        problems.append(f"{where} field 'kind': {kind!r} is not one of {', '.join(RELATION_KINDS)}")
    for name in ("src", "dst"):
        if name in raw and not (isinstance(raw[name], str) and raw[name]):
            problems.append(f"{where} field {name!r}: expected a label key, got {_json_type(raw[name])}")
    _check_string(raw, "note", where, problems, max_length=NOTE_MAX)
    if len(problems) > before:
        return None
    if raw["src"] == raw["dst"]:
        problems.append(f"{where}: {raw['src']!r} cannot {relation_verb(str(kind))} itself")
        return None
    return RelationEntry(index=index, kind=str(kind), src=raw["src"], dst=raw["dst"], note=raw.get("note"))


def _check_string(
    raw: dict[str, Any],
    name: str,
    where: str,
    problems: list[str],
    *,
    max_length: int | None,
    required_non_empty: bool = False,
) -> None:
    if name not in raw:
        return
    value = raw[name]
    if not isinstance(value, str):
        problems.append(f"{where} field {name!r}: expected a string, got {_json_type(value)}")
    elif required_non_empty and not value.strip():
        problems.append(f"{where} field {name!r}: must not be empty")
    elif max_length is not None and len(value) > max_length:
        problems.append(f"{where} field {name!r}: longer than {max_length} characters")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
