"""The one error every import raises for bad input, and the progress callback type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

#: ``progress(phase, done, total)``; ``total`` is 0 when unknown. Called often: cheap callers only.
ProgressFn = Callable[[str, int, int], None]


def progress_none(phase: str, done: int, total: int) -> None:
    """A ProgressFn that does nothing."""


class ImportFailed(Exception):  # noqa: N818 (the name is the agreed interface)
    """Bad input: names the file, the row (1-based line number, header = row 1) and the field.

    ``str()`` reads ``labels.csv, row 17, field "labels": unknown label "kat"``; the parts
    that are unknown are left out (``classes.csv: the file is empty``). ``file`` is shown
    by its base name; the full path is kept in ``path``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PurePath | None = None,
        row: int | None = None,
        field: str | None = None,
        subject: str | None = None,
    ) -> None:
        #: The value at fault when known (e.g. the image path), so a caller can find its row later.
        self.subject = subject
        self.path = str(file) if file is not None else None
        self.file = PurePath(file).name if file is not None else None
        self.row = row
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [
            part
            for part in (
                self.file,
                f"row {self.row}" if self.row is not None else None,
                f'field "{self.field}"' if self.field else None,
            )
            if part
        ]
        return f"{', '.join(where)}: {self.message}" if where else self.message
