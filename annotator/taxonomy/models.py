from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Label(models.Model):
    """A project label. Labels form a tree; the roots are the categories."""

    key = models.SlugField(_("key"), max_length=100, unique=True)
    name_en = models.CharField(_("English name"), max_length=200)
    name_zh = models.CharField(_("Chinese name"), max_length=200, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    guideline = models.TextField(_("guideline (markdown)"), blank=True)
    is_small_object = models.BooleanField(_("small object"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = _("label")
        verbose_name_plural = _("labels")
        constraints = [
            models.CheckConstraint(condition=~models.Q(parent=models.F("id")), name="taxonomy_label_not_own_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.name_en} / {self.name_zh}" if self.name_zh else self.name_en

    def clean(self) -> None:
        """Refuse a parent that would make a cycle or break a relation rule (admin, forms)."""
        super().clean()
        from annotator.taxonomy.services import label_change_validate
        from annotator.taxonomy.validation import TaxonomyError

        try:
            label_change_validate(label=self)
        except TaxonomyError as exc:
            raise ValidationError(exc.problems) from exc


class GuidelineExample(models.Model):
    """An example image shown with a label's guideline: what counts, what does not."""

    class Kind(models.TextChoices):
        POSITIVE = "positive", _("positive example")
        NEGATIVE = "negative", _("negative example")

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="examples")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.POSITIVE)
    image = models.ForeignKey("dataset.Image", null=True, blank=True, on_delete=models.CASCADE)
    upload = models.ImageField(upload_to="guidelines/", blank=True)
    caption = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["label", "kind", "id"]

    def __str__(self) -> str:
        return f"{self.label_id}: {self.get_kind_display()} {self.caption or self.pk}"


class LabelRelation(models.Model):
    """A rule between two labels.

    implies: src present ⇒ dst present (forest ⇒ tree).
    excludes: src and dst never both present (symmetric).
    overlaps: src and dst may both be present without one containing the other
    (drawing / cartoon); informational, shown to annotators.
    """

    class Kind(models.TextChoices):
        IMPLIES = "implies", _("implies")
        EXCLUDES = "excludes", _("excludes")
        OVERLAPS = "overlaps", _("overlaps")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    src = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="relations_out")
    dst = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="relations_in")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "src", "dst"], name="taxonomy_relation_unique"),
            models.CheckConstraint(condition=~models.Q(src=models.F("dst")), name="taxonomy_relation_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.src.key} {self.kind} {self.dst.key}"

    def clean(self) -> None:
        """Refuse a relation that would make a cycle or contradict another (admin, forms)."""
        super().clean()
        if self.src_id is None or self.dst_id is None or not self.kind:
            return  # the field errors already say what is missing
        from annotator.taxonomy.services import relation_change_validate
        from annotator.taxonomy.validation import TaxonomyError

        try:
            relation_change_validate(relation=self)
        except TaxonomyError as exc:
            raise ValidationError(exc.problems) from exc


class ExternalLabelMapping(models.Model):
    """Maps a label of an outside vocabulary onto a project label.

    ``source`` names the vocabulary (``openimages`` for MIDs, ``labelstudio``,
    ``baidu``, ``google``); ``external_id`` is the MID or keyword. Evidence whose
    score is below ``min_score`` is not mapped.
    """

    source = models.CharField(max_length=40)
    external_id = models.CharField(max_length=200)
    external_name = models.CharField(max_length=300, blank=True)
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="external_mappings")
    min_score = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id", "label"], name="taxonomy_mapping_unique"),
        ]
        indexes = [models.Index(fields=["source", "external_id"])]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id} → {self.label.key}"
