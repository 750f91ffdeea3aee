"""Guidelines: rendering a label's markdown guideline, and writing its guideline examples.

The example helpers are the part of a taxonomy load that touches the dataset's images and
the media storage; ``taxonomy_load`` (loading.py) calls them inside its transaction.
"""

from __future__ import annotations

import markdown
import nh3
from django.core.files.storage import default_storage
from django.utils.safestring import SafeString, mark_safe

from annotator.dataset.models import Image
from annotator.taxonomy.models import GuidelineExample, Label
from annotator.taxonomy.selectors import guideline_example_rows
from annotator.taxonomy.validation import ExampleEntry, TaxonomyData

# ---------------------------------------------------------------------------------------
# Guideline examples, written by a taxonomy load


def _examples_resolve(parsed: TaxonomyData) -> tuple[dict[str, int], list[str]]:
    """Image ids by content hash for the file's examples, and the references that resolve to nothing."""
    entries = [(label, example) for label in parsed.labels for example in label.examples or ()]
    hashes = {example.image for _, example in entries if example.image is not None}
    image_ids = dict(Image.objects.filter(content_hash__in=hashes).values_list("content_hash", "id")) if hashes else {}
    problems = []
    for label, example in entries:
        where = f"labels[{label.index}] ({label.key}) examples[{example.index}]"
        if example.image is not None and example.image not in image_ids:
            problems.append(f"{where} field 'image': no dataset image has content hash {example.image!r}")
        if example.upload is not None and not default_storage.exists(example.upload):
            problems.append(f"{where} field 'upload': no file {example.upload!r} in the media folder (MEDIA_ROOT)")
    return image_ids, problems


def _examples_write(parsed: TaxonomyData, image_ids: dict[str, int]) -> int:
    """Replace the examples of each label whose entry lists ``examples`` different from the stored ones.

    Returns how many labels had theirs replaced. Examples are compared in the order the
    label page and the export use (kind, then position), so loading an export changes nothing.
    """

    def in_page_order(examples: tuple[ExampleEntry, ...]) -> list[ExampleEntry]:
        return sorted(examples, key=lambda example: example.kind)  # stable: keeps the file's order per kind

    wanted = {entry.key: in_page_order(entry.examples) for entry in parsed.labels if entry.examples is not None}
    if not wanted:
        return 0
    id_by_key = dict(Label.objects.filter(key__in=wanted).values_list("key", "id"))
    stored = guideline_example_rows(label_ids=id_by_key.values())
    changed = [
        key
        for key, examples in wanted.items()
        if [(e.kind, e.caption, e.image, e.upload) for e in examples] != stored.get(id_by_key[key], [])
    ]
    if not changed:
        return 0
    # Rows only: the uploaded files stay, the new rows may point at the same ones.
    GuidelineExample.objects.filter(label_id__in=[id_by_key[key] for key in changed]).delete()
    GuidelineExample.objects.bulk_create(
        GuidelineExample(
            label_id=id_by_key[key],
            kind=example.kind,
            caption=example.caption,
            image_id=image_ids[example.image] if example.image is not None else None,
            upload=example.upload or "",
        )
        for key in changed
        for example in wanted[key]
    )
    return len(changed)


# ---------------------------------------------------------------------------------------
# Rendering

GUIDELINE_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li",
    "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
GUIDELINE_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}, "td": {"align"}}
GUIDELINE_URL_SCHEMES = {"http", "https", "mailto"}


def label_guideline_html(label: Label) -> SafeString:
    """The label's markdown guideline as HTML that is safe to put into a page.

    Markdown may contain raw HTML; nh3 keeps only a small set of tags and attributes
    and drops scripts, event handlers and ``javascript:`` links.
    """
    html = markdown.markdown(label.guideline or "", extensions=["tables", "sane_lists"], output_format="html")
    cleaned = nh3.clean(
        html,
        tags=GUIDELINE_TAGS,
        attributes=GUIDELINE_ATTRIBUTES,
        url_schemes=GUIDELINE_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above
