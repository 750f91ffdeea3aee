"""Annotators taking batches of the same label at the same moment, each on its own PostgreSQL
connection (threads, committed transactions), never hold the same item."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.cleaning.leases import lease_take
from annotator.cleaning.models import Lease, ReviewItem
from annotator.cleaning.services import queues_rerank
from tests.cleaning.support import evidence, images_make, world_make

pytestmark = pytest.mark.django_db(transaction=True)

ANNOTATORS = 6
ITEMS = 400


def test_parallel_annotators_never_share_an_item(tmp_path, settings):
    settings.CLEANING_BATCH_SIZE = 24
    world = world_make(tmp_path / "images", images=0)
    cat = world.label("cat")
    for i, image in enumerate(images_make(world.root, ITEMS)):
        evidence(image, cat, world.model, 0.5 + (i % 97) / 200)
    queues_rerank(label_ids=[cat.pk])
    users = [
        user_create_with_role(username=f"ann{i}", password="x-password-1", role=Role.ANNOTATOR)
        for i in range(ANNOTATORS)
    ]
    start = threading.Barrier(ANNOTATORS)
    taken: dict[int, list[int]] = {user.pk: [] for user in users}
    backends: set[int] = set()
    errors: list[BaseException] = []

    def work(user) -> None:
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                backends.add(cur.fetchone()[0])
            start.wait()
            while True:
                lease = lease_take(user=user, label=cat)
                ids = list(ReviewItem.objects.filter(lease=lease).values_list("id", flat=True))
                if not ids:
                    return
                taken[user.pk].extend(ids)
                # Done with this batch but its items kept (as if all decided): the next take
                # is a fresh batch rather than this lease again (two live leases per label).
                Lease.objects.filter(pk=lease.pk).update(released_at=timezone.now())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(backends) == ANNOTATORS  # really separate connections
    counts = Counter(item_id for ids in taken.values() for item_id in ids)
    assert [item_id for item_id, n in counts.items() if n > 1] == []
    assert len(counts) == ITEMS  # every item handed out, exactly once
    assert sum(1 for ids in taken.values() if ids) > 1  # the work really was shared
    # The database agrees: each item is held by the one who was given it.
    holder = dict(ReviewItem.objects.filter(label=cat).values_list("id", "leased_by_id"))
    for user_id, ids in taken.items():
        assert all(holder[item_id] == user_id for item_id in ids)
