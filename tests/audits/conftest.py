from __future__ import annotations

import pytest

from tests.audits.gold_support import GOLD_IMAGES
from tests.audits.support import decided
from tests.cleaning.support import World, evidence, world_make


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _english_after():
    """A page a user who chose Chinese opened leaves Chinese active in this thread (the
    language middleware activates it per request); the next test starts in English."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture
def world(db, tmp_path) -> World:
    return world_make(tmp_path / "images", images=40)


@pytest.fixture(autouse=True)
def _no_cached_gold_labels():
    from annotator.cleaning.gold import gold_label_ids_forget

    gold_label_ids_forget()
    yield
    gold_label_ids_forget()


@pytest.fixture
def golds(world, zelda, qa_user):
    from annotator.audits.models import GoldItem
    from annotator.audits.services.gold import gold_shown_fields
    from annotator.cleaning.models import Verdict
    from annotator.cleaning.services import queues_rerank

    """Six gold "cat" items zelda decided (present on even images, absent on odd ones) and 34
    open "cat" items the model suggests."""
    cat = world.label("cat")
    out = []
    for i in GOLD_IMAGES:
        answer = Verdict.PRESENT if i % 2 == 0 else Verdict.ABSENT
        decision = decided(user=zelda, image=world.images[i], label=cat, verdict=answer)
        out.append(
            GoldItem.objects.create(
                review_item_id=decision.item_id,
                answer=answer,
                shown_state=decision.previous_state,
                created_by=qa_user,
                **gold_shown_fields(item_id=decision.item_id, shown_state=decision.previous_state),
            )
        )
    for image in world.images[6:]:
        evidence(image, cat, world.model, 0.7)
    queues_rerank()
    return out


@pytest.fixture
def zelda(db):
    from annotator.accounts.roles import Role
    from annotator.accounts.services import user_create_with_role

    return user_create_with_role(username="zelda_annotates", password="x-Pass-1234", role=Role.ANNOTATOR)
