"""Leases: batches by priority, expiry, renewal, release on skip and on logout."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from annotator.cleaning.leases import lease_current_or_take, lease_release, lease_renew, lease_take
from annotator.cleaning.models import Lease, ReviewItem
from annotator.cleaning.services import queues_rerank
from tests.cleaning.support import evidence, images_make
from tests.conftest import PASSWORD


def _queue(world, n: int = 60):
    cat = world.label("cat")
    images = world.images + images_make(world.root, n - len(world.images), start=len(world.images))
    for i, image in enumerate(images):
        evidence(image, cat, world.model, 0.5 + i / (2 * n))
    queues_rerank(label_ids=[cat.pk])
    return cat


def test_a_batch_is_the_highest_priority_free_items(world, annotator_user, qa_user, settings):
    settings.CLEANING_BATCH_SIZE = 24
    cat = _queue(world)
    first = lease_take(user=annotator_user, label=cat)
    second = lease_take(user=qa_user, label=cat)
    mine = list(ReviewItem.objects.filter(lease=first).order_by("-priority").values_list("priority", flat=True))
    theirs = list(ReviewItem.objects.filter(lease=second).values_list("priority", flat=True))
    assert len(mine) == 24 and len(theirs) == 24
    assert min(mine) >= max(theirs)
    assert not set(ReviewItem.objects.filter(lease=first).values_list("id", flat=True)) & set(
        ReviewItem.objects.filter(lease=second).values_list("id", flat=True)
    )


def test_at_most_two_live_leases_per_label(world, annotator_user):
    cat = _queue(world)
    a = lease_take(user=annotator_user, label=cat)
    b = lease_take(user=annotator_user, label=cat)
    c = lease_take(user=annotator_user, label=cat)
    assert a.pk != b.pk and c.pk == b.pk
    assert Lease.objects.filter(user=annotator_user).count() == 2


def test_expired_items_go_to_the_next_annotator_and_renewal_keeps_them(world, annotator_user, qa_user, settings):
    settings.CLEANING_BATCH_SIZE = 24
    cat = _queue(world, n=24)
    mine = lease_take(user=annotator_user, label=cat)
    past = timezone.now() - timedelta(seconds=1)
    Lease.objects.filter(pk=mine.pk).update(expires_at=past)
    ReviewItem.objects.filter(lease=mine).update(lease_expires_at=past)

    theirs = lease_take(user=qa_user, label=cat)
    assert ReviewItem.objects.filter(lease=theirs, leased_by=qa_user).count() == 24
    assert not ReviewItem.objects.filter(leased_by=annotator_user).exists()

    renewed = lease_renew(user=qa_user, lease=theirs)
    assert renewed.expires_at > timezone.now() + timedelta(seconds=500)
    assert set(ReviewItem.objects.filter(lease=theirs).values_list("lease_expires_at", flat=True)) == {
        renewed.expires_at
    }


def test_release_and_resume(world, annotator_user):
    cat = _queue(world)
    lease = lease_current_or_take(user=annotator_user, label=cat)
    assert lease_current_or_take(user=annotator_user, label=cat).pk == lease.pk  # a reload resumes
    released = lease_release(user=annotator_user, lease=lease)
    assert released == lease.size > 0
    assert not ReviewItem.objects.filter(leased_by=annotator_user).exists()
    assert lease_current_or_take(user=annotator_user, label=cat).pk != lease.pk


def test_logout_releases_the_leases(world, annotator_user):
    cat = _queue(world)
    client = Client()
    assert client.login(username=annotator_user.username, password=PASSWORD)
    lease_take(user=annotator_user, label=cat)
    assert ReviewItem.objects.filter(leased_by=annotator_user).exists()
    client.post("/logout/")
    assert not ReviewItem.objects.filter(leased_by=annotator_user).exists()
    assert not Lease.objects.filter(user=annotator_user, released_at__isnull=True).exists()


def test_an_empty_batch_does_not_block_the_next_take(world, annotator_user, qa_user, settings):
    settings.CLEANING_BATCH_SIZE = 24
    cat = _queue(world, n=24)
    held = lease_take(user=qa_user, label=cat)
    dry = lease_take(user=annotator_user, label=cat)
    assert dry.size == 0
    lease_take(user=annotator_user, label=cat)  # still dry: a second empty lease
    lease_release(user=qa_user, lease=held)  # items come back
    fresh = lease_take(user=annotator_user, label=cat)
    assert fresh.size == 24
    assert ReviewItem.objects.filter(lease=fresh, leased_by=annotator_user).count() == 24


def test_skipped_items_go_to_others_not_straight_back(world, annotator_user, qa_user, settings):
    settings.CLEANING_BATCH_SIZE = 24
    cat = _queue(world, n=30)
    first = lease_take(user=annotator_user, label=cat)
    skipped = set(ReviewItem.objects.filter(lease=first).values_list("id", flat=True))
    lease_release(user=annotator_user, lease=first)
    again = lease_take(user=annotator_user, label=cat)
    mine = set(ReviewItem.objects.filter(lease=again).values_list("id", flat=True))
    assert len(mine) == 6 and not mine & skipped  # only the six nobody skipped
    theirs = lease_take(user=qa_user, label=cat)
    assert set(ReviewItem.objects.filter(lease=theirs).values_list("id", flat=True)) == skipped
