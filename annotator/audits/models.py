"""QA audits: a daily random sample of each annotator's decisions, judged again by a QA lead.

An AuditSample is drawn once per day (the day the decisions were made, in TIME_ZONE) by
``services.sampling.sample_draw``; it holds one AuditItem per sampled Decision. A QA lead
judges each item blind (present / absent), then sees the annotator's verdict; when they
differ, the QA lead gives a reason (and may write a note), the dataset truth is corrected
(LabelHistory rows of source ``audit``) and the decision counts as wrong. A disputed item
may get a second look from another QA lead, whose verdict settles it.

Accuracy (selectors) is agreed ÷ audited over finished items, with a Wilson 95 % interval.

A GoldItem is a review item whose answer a QA lead knows (marked from the audit page); the
review page mixes gold items into batches at LABELLOOP_GOLD_RATE, and answers on them
(cleaning Decisions of kind GOLD) give a gold accuracy reported apart from audit accuracy.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditSample(models.Model):
    """The sample of one day's decisions; there is at most one per day (drawing twice draws once)."""

    day = models.DateField(unique=True)
    seed = models.BigIntegerField()
    rate = models.FloatField()
    minimum = models.PositiveIntegerField()
    decisions_seen = models.PositiveIntegerField(default=0)  # decisions of the day that could be drawn
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"audit sample of {self.day} ({self.size} of {self.decisions_seen})"


class Reason(models.TextChoices):
    """Why the annotator got it wrong, as the QA lead sees it."""

    GUIDELINE = "guideline", _("misread the guideline")
    SCOPE = "scope", _("confused with a parent or child label")
    OVERLAP = "overlap", _("confused with an overlapping label")
    MISSED = "missed", _("missed a small or hidden instance")
    AMBIGUOUS = "ambiguous", _("the image is ambiguous")
    SLIP = "slip", _("slip of the key")
    OTHER = "other", _("other")


class AuditItem(models.Model):
    """One sampled decision and what QA made of it.

    ``annotator``, ``label``, ``image`` and ``annotator_verdict`` are copied from the decision
    when the sample is drawn, so the dashboards read one table. ``agrees`` is the outcome:
    True when the annotator's verdict stands, False when QA overturned it, null until judged.
    """

    class Status(models.IntegerChoices):
        PENDING = 0, _("to audit")
        AWAITING_REASON = 1, _("disagreement, reason to give")
        DONE = 2, _("audited")
        # The annotator undid the decision after it was drawn: nothing left to audit.
        VOID = 3, _("withdrawn by the annotator")

    sample = models.ForeignKey(AuditSample, on_delete=models.CASCADE, related_name="items")
    decision = models.OneToOneField("cleaning.Decision", on_delete=models.CASCADE, related_name="audit")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audited_items")
    label = models.ForeignKey("taxonomy.Label", on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey("dataset.Image", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    position = models.PositiveIntegerField(default=0)  # order of drawing within the annotator's share
    annotator_verdict = models.SmallIntegerField()
    status = models.SmallIntegerField(choices=Status.choices, default=Status.PENDING)
    qa_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    qa_verdict = models.SmallIntegerField(null=True, blank=True)
    judged_at = models.DateTimeField(null=True, blank=True)
    agrees = models.BooleanField(null=True, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    note = models.TextField(blank=True)
    corrected = models.BooleanField(default=False)  # the dataset truth was changed by this audit
    second_look_requested = models.BooleanField(default=False)
    second_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    second_verdict = models.SmallIntegerField(null=True, blank=True)
    second_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # Who is looking at the item right now (services/claims.py): two QA leads are not handed the
    # same item; the claim lapses by itself.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["day", "annotator_id", "position"]
        indexes = [
            models.Index(fields=["annotator", "day"], name="audits_item_annotator_day"),
            models.Index(fields=["status", "day"], name="audits_item_status_day"),
            models.Index(fields=["label", "day"], name="audits_item_label_day"),
        ]

    def __str__(self) -> str:
        return f"audit of decision {self.decision_id} ({self.get_status_display()})"


class GoldItem(models.Model):
    """A review item with a known answer, shown among other people's batches to measure them.

    ``answer`` is present or absent (cleaning.Verdict); ``shown_state`` is the dataset state
    its tile shows (the one the item had before it was decided, not the verified answer);
    ``shown_reasons`` / ``shown_priority`` are the reasons (ranking.Reason bits) and priority
    the ranking gives the item at that state, computed when it is marked (the item's own are
    recomputed from today's truth, which holds the answer). Null for items marked before they
    were kept: the tile derives them from the stored scores.
    """

    review_item = models.OneToOneField("cleaning.ReviewItem", on_delete=models.CASCADE, related_name="gold_item")
    answer = models.SmallIntegerField()
    shown_state = models.SmallIntegerField(null=True, blank=True)
    shown_reasons = models.IntegerField(null=True, blank=True)
    shown_priority = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"gold item {self.review_item_id} ({'active' if self.active else 'inactive'})"
