"""Reading the small text inputs (CSV, JSON) with errors that name file, row and field.

Row numbers are line numbers in the file (the header, when there is one, is row 1),
so a person can jump straight to them in an editor.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from annotator.dataset.importing.errors import ImportFailed

_BOM = "\ufeff"


def input_file_check(path: str | Path | None, *, param: str) -> Path:
    """The input file named by a job parameter; ImportFailed when missing, unreadable or empty."""
    if not path:
        raise ImportFailed(f'no file given for "{param}"', field=param)
    file = Path(path)
    if not file.is_file():
        raise ImportFailed("file not found", file=file, field=param)
    try:
        size = file.stat().st_size
        with file.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ImportFailed(f"unreadable ({exc.strerror})", file=file) from None
    if size == 0:
        raise ImportFailed("the file is empty", file=file)
    return file


def _bad_byte(text: str) -> str:
    raw = text.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"0x{raw[exc.start]:02x}"
    return "?"


def csv_rows(
    file: Path, *, names: Sequence[str] | None = None, header: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row number, fields)`` for every record of a UTF-8 CSV file (header included).

    ImportFailed for a byte sequence that is not UTF-8 (naming the field: by ``names``,
    or by the first row when ``header``, else by its 1-based position) and for NUL bytes.
    A UTF-8 BOM is dropped.
    """
    with file.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh)
        first = True
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFailed(f"not a readable CSV record ({exc})", file=file, row=reader.line_num + 1) from None
            if first and row and row[0].startswith(_BOM):
                row[0] = row[0][1:]
            first = False
            joined = "".join(row)
            if "\x00" in joined:
                index = next(i for i, value in enumerate(row) if "\x00" in value)
                field = names[index] if names and index < len(names) else f"column {index + 1}"
                raise ImportFailed("contains a NUL byte", file=file, row=reader.line_num, field=field)
            try:
                joined.encode("utf-8")
            except UnicodeEncodeError:
                for index, value in enumerate(row):
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError:
                        field = names[index] if names and index < len(names) else f"column {index + 1}"
                        raise ImportFailed(
                            f"not UTF-8 text (byte {_bad_byte(value)}); save the file as UTF-8",
                            file=file,
                            row=reader.line_num,
                            field=field,
                        ) from None
            if header and names is None:
                names = [name.strip() for name in row]
            yield reader.line_num, row


def header_columns(
    file: Path, row: list[str], required: Sequence[str], *, optional: Sequence[str] = ()
) -> dict[str, int]:
    """Map column name -> index from a header row; ImportFailed naming a missing or repeated column."""
    columns: dict[str, int] = {}
    for index, name in enumerate(row):
        name = name.strip()
        if name in columns and name in (*required, *optional):
            raise ImportFailed(f'column "{name}" appears twice in the header', file=file, row=1, field=name)
        columns.setdefault(name, index)
    for name in required:
        if name not in columns:
            found = ", ".join(c for c in row if c) or "nothing"
            raise ImportFailed(f'missing column "{name}" (the header has {found})', file=file, row=1, field=name)
    return columns


def json_read(file: Path) -> Any:
    """Parse a UTF-8 JSON file; ImportFailed with the line of a decoding or syntax error."""
    data = file.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", file=file, row=line) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"not valid JSON ({exc.msg}, column {exc.colno})", file=file, row=exc.lineno) from None
