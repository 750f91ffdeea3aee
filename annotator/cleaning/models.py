"""Cleaning queues: one ReviewItem per (image, label) some source says might carry the label.

A queue is the set of ReviewItems of one label, highest ``priority`` first. ``priority`` is
the estimated probability that the dataset is wrong about the item (annotator/cleaning/
ranking.py); ``queues_rerank`` (services/rerank.py) recomputes items and priorities from the
current truth and evidence. An annotator takes a Lease on a batch of one label's open items
and records a Decision per item; decisions change the dataset truth through
``annotator.dataset.services.image_labels_set`` (one LabelHistory row per change).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ItemStatus(models.IntegerChoices):
    OPEN = 0, _("open")
    DECIDED = 1, _("decided")
    UNSURE = 2, _("unsure")
    # Two people decided it differently: kept, surfaced to QA leads, truth left as the first set it.
    CONFLICT = 3, _("second opinion differs")
    # No source supports it any more (and nobody decided it); reopened when one does again.
    CLOSED = 4, _("closed")


class Verdict(models.IntegerChoices):
    ABSENT = 0, _("absent")
    PRESENT = 1, _("present")
    UNSURE = 2, _("unsure")


class Lease(models.Model):
    """A batch of one label's items held by one annotator until ``expires_at``.

    The items point back with ``ReviewItem.lease``; their ``lease_expires_at`` and
    ``leased_by`` mirror this row so that the queue scan needs no join.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cleaning_leases")
    label = models.ForeignKey("taxonomy.Label", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0)
    # Gold items shown among the batch (GoldShown rows); 0 spares the page a look-up.
    gold_shown = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                fields=["user", "label", "-expires_at"],
                condition=models.Q(released_at__isnull=True),
                name="cleaning_lease_active_idx",
            )
        ]

    def __str__(self) -> str:
        return f"lease {self.pk} of {self.user_id} on label {self.label_id}"


class ReviewItem(models.Model):
    """One (image, label) of a queue, with what the ranking saw and its priority.

    ``dataset_state`` (1, 0 or null for unknown), ``model_score``, ``competitor_score`` and
    ``other_score`` (crawl / imported machine evidence) are the inputs the last rerank used;
    ``sources`` and ``reasons`` are bit sets (ranking.Source, ranking.Reason). The review page
    reads the current truth and each source's keyword beside them.
    """

    image = models.ForeignKey("dataset.Image", on_delete=models.CASCADE, related_name="+", db_index=False)
    label = models.ForeignKey("taxonomy.Label", on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.SmallIntegerField(choices=ItemStatus.choices, default=ItemStatus.OPEN)
    priority = models.FloatField(default=0.0)
    dataset_state = models.SmallIntegerField(null=True, blank=True)
    model_score = models.FloatField(null=True, blank=True)
    competitor_score = models.FloatField(null=True, blank=True)
    other_score = models.FloatField(null=True, blank=True)
    sources = models.IntegerField(default=0)
    reasons = models.IntegerField(default=0)
    ranked_at = models.DateTimeField(null=True, blank=True)
    lease = models.ForeignKey(
        Lease, null=True, blank=True, on_delete=models.SET_NULL, related_name="items", db_index=False
    )
    leased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "label"], name="cleaning_reviewitem_unique")]
        indexes = [
            # The queue scan: "label L, open, highest priority first" walks this index in order
            # and skips leased rows; it holds only open items, so decided work costs it nothing.
            models.Index(
                "label",
                models.F("priority").desc(),
                "id",
                condition=models.Q(status=0),
                name="cleaning_item_queue_idx",
            ),
            # A lease's items (renew, release); only the few leased rows are in it.
            models.Index(fields=["lease"], condition=models.Q(lease__isnull=False), name="cleaning_item_lease_idx"),
            # Per-label counts by status (queue list, label health).
            models.Index(fields=["label", "status"], name="cleaning_item_label_status"),
        ]

    def __str__(self) -> str:
        return f"image {self.image_id} label {self.label_id} ({self.get_status_display()}, {self.priority:.3f})"


class Decision(models.Model):
    """One person's verdict on one item, with the dataset state before and after it.

    ``kind`` tells a first decision from a change of one's own mind and from a second
    opinion (someone else had decided the item already: kept beside the first, truth untouched),
    and from an answer on a gold item (audits.GoldItem): ``agrees`` says whether it matches the
    known answer; it never touches the truth nor the item's status, and ``previous_state`` /
    ``new_state`` both hold the dataset state the tile showed.
    ``conflicts`` lists the keys of labels the image now carries that the decided label
    excludes (flagged back to the annotator). ``undone_at`` is set by undo, which restores the
    states this decision changed (history rows of source ``revert``).
    """

    class Kind(models.IntegerChoices):
        FIRST = 0, _("decision")
        CHANGE = 1, _("changed own decision")
        SECOND_OPINION = 2, _("second opinion")
        GOLD = 3, _("gold item answer")

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cleaning_decisions")
    lease = models.ForeignKey(Lease, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    verdict = models.SmallIntegerField(choices=Verdict.choices)
    kind = models.SmallIntegerField(choices=Kind.choices, default=Kind.FIRST)
    previous_state = models.SmallIntegerField(null=True, blank=True)
    new_state = models.SmallIntegerField(null=True, blank=True)
    # Second opinions: same verdict as the decision before; gold answers: same as the known answer.
    agrees = models.BooleanField(null=True, blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    conflicts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["user", "-id"], name="cleaning_decision_user_idx"),
            # Per-person counts by day (annotator home, QA).
            models.Index(fields=["user", "created_at"], name="cleaning_decision_user_time"),
        ]

    def __str__(self) -> str:
        return f"decision {self.pk}: {self.get_verdict_display()} on item {self.item_id}"


class GoldShown(models.Model):
    """A gold item (audits.GoldItem) shown among a lease's tiles, at ``position`` in the batch.

    ``shown_state`` is the dataset state the tile shows: the one the item had before it was
    decided, not the verified answer the truth now holds.
    """

    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="gold")
    review_item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    shown_state = models.SmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lease", "review_item"], name="cleaning_goldshown_unique")]
        # The decision's lock query looks up "shown to this user's live lease" by item.
        indexes = [models.Index(fields=["review_item"], name="cleaning_goldshown_item_idx")]

    def __str__(self) -> str:
        return f"gold item {self.review_item_id} in lease {self.lease_id}"


class LabelQueue(models.Model):
    """Per-label settings of a queue. A label without a row uses the defaults.

    ``opened``: an admin opened the queue although the label has "enough data" (more positives
    than CLEANING_ENOUGH_DATA_COUNT), above which a queue is not offered by default.
    """

    label = models.OneToOneField("taxonomy.Label", on_delete=models.CASCADE, related_name="cleaning_queue")
    opened = models.BooleanField(default=False)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"queue of label {self.label_id} ({'opened' if self.opened else 'default'})"
