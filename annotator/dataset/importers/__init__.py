"""Importers, one module per ImportJob.Kind, each with ``run(*, ctx: ImportContext) -> dict[str, int]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from annotator.dataset.importing.jobs import ImportContext

Importer = Callable[..., dict[str, int]]

#: ImportJob.kind -> dotted path of the importer's ``run``; loaded on first use.
IMPORTERS: dict[str, str] = {
    "openimages": "annotator.dataset.importers.openimages.run",
    "csv": "annotator.dataset.importers.csvfile.run",
    "folder": "annotator.dataset.importers.folder.run",
    "labelstudio": "annotator.dataset.importers.labelstudio.run",
}


def importer_get(*, kind: str) -> Importer:
    """The ``run(*, ctx)`` function for an ImportJob kind; KeyError for an unknown kind."""
    return import_string(IMPORTERS[kind])


__all__ = ["IMPORTERS", "ImportContext", "Importer", "importer_get"]
