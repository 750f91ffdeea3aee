"""CSV importer: ``image,labels[,split]`` rows naming images below a root and their positives.

Job params: ``file``, ``images_root``, ``origin`` (default ``internal``).

- ``image``: path relative to the images root;
- ``labels``: ``|``-separated keys of existing labels (may be empty); each is a positive,
  expanded through the closure; an unknown key is an error naming row and field;
- ``split`` (optional column): ``train``, ``val`` or empty (the splitter decides). An
  image keeps the split it has: a different split in the file is an error, because the
  val split is the fixed regression set.

An image on several rows gets the union of their labels.
"""

from __future__ import annotations

from annotator.dataset.importing.errors import ImportFailed
from annotator.dataset.importing.images import ImageSpec, images_root_check, register_images
from annotator.dataset.importing.jobs import ImportContext
from annotator.dataset.importing.textfiles import csv_rows, header_columns, input_file_check
from annotator.dataset.importing.truth import apply_truth
from annotator.dataset.models import Image, LabelState
from annotator.taxonomy.models import Label

REQUIRED = ("image", "labels")
OPTIONAL = ("split",)
LABEL_SEPARATOR = "|"


def run(*, ctx: ImportContext) -> dict[str, int]:
    """Import one CSV file (see the module docstring); returns counts."""
    params = ctx.params
    file = input_file_check(params.get("file"), param="file")
    root = images_root_check(params.get("images_root") or "")
    origin = params.get("origin") or Image.Origin.INTERNAL
    if origin not in Image.Origin.values:
        raise ImportFailed(f'unknown origin "{origin}" (one of {", ".join(Image.Origin.values)})', field="origin")
    keys = dict(Label.objects.values_list("key", "id"))

    ctx.progress("read file", 0, 0)
    specs: list[ImageSpec] = []
    positives: list[tuple[str, int]] = []
    columns: dict[str, int] = {}
    for row_number, row in csv_rows(file, header=True):
        if row_number == 1:
            columns = header_columns(file, row, REQUIRED, optional=OPTIONAL)
            continue
        if not row or not "".join(row).strip():
            continue
        if len(row) < len(columns):
            raise ImportFailed(f"expected {len(columns)} fields, found {len(row)}", file=file, row=row_number)
        path = row[columns["image"]].strip()
        if not path:
            raise ImportFailed("empty image path", file=file, row=row_number, field="image")
        split = row[columns["split"]].strip() if "split" in columns else ""
        if split not in ("", *Image.Split.values):
            raise ImportFailed(
                f'unknown split "{split}" (train, val or empty)', file=file, row=row_number, field="split"
            )
        for key in filter(None, (k.strip() for k in row[columns["labels"]].split(LABEL_SEPARATOR))):
            if key not in keys:
                raise ImportFailed(f'unknown label "{key}"', file=file, row=row_number, field="labels")
            positives.append((path, keys[key]))
        specs.append(
            ImageSpec(
                path=path, origin=origin, origin_ref=path, file=str(file), row=row_number, field="image", split=split
            )
        )
    if not specs:
        raise ImportFailed("no rows after the header", file=file, row=2)

    counts: dict[str, int] = {"rows": len(specs)}
    images = register_images(root, specs, progress=ctx.progress, counts=counts)
    ctx.progress("labels", 0, 1)
    counts.update(
        apply_truth(
            ((images[path], label_id, LabelState.POSITIVE) for path, label_id in positives),
            source_ref=ctx.source_ref,
            reason=f"csv {file.name}",
            user_id=ctx.user_id,
        )
    )
    ctx.progress("labels", 1, 1)
    return counts
