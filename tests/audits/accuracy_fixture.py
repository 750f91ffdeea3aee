"""A small audited history, judged through the real services, whose figures are worked out by hand.

Days (2024-03-04 and 2024-03-11 are Mondays):

  ann (annotator)            cat                  tree          day total
    Mon 2024-03-04           2 audited, 1 agreed  2, 2          4 audited, 3 agreed
    Tue 2024-03-05           1, 1                 2, 2          3, 3   (+1 still awaiting QA's reason)
    Mon 2024-03-11           2, 1                 1, 1          3, 2
    per label                5, 3 (0.6)           5, 5 (1.0)    10, 8 (0.8)
  bea (annotator)
    Mon 2024-03-04           5, 5                               5, 5   (+1 still to audit on Tue)

  team: 15 audited, 13 agreed.

Wilson 95 % with z = 1.959964 (z² = 3.841459):
  centre = (p + z²/2n) / (1 + z²/n),  half = z·sqrt(p(1−p)/n + z²/4n²) / (1 + z²/n)
  ann 8/10:  p = 0.8, 1 + z²/n = 1.384146, centre = (0.8 + 0.192073)/1.384146 = 0.716739,
             half = 1.959964·sqrt(0.016 + 0.009604)/1.384146 = 0.226572 -> (0.4902, 0.9433)
  bea 5/5:   p = 1, 1 + z²/n = 1.768292, centre = (1 + 0.384146)/1.768292 = 0.782758,
             half = 1.959964·sqrt(0 + 0.038415)/1.768292 = 0.217242 -> (0.5655, 1.0)
  team 13/15: p = 0.866667 -> (0.6212, 0.9626)
  ann week of 03-04: 6/7 = 0.8571 -> (0.4869, 0.9743); week of 03-11: 2/3 = 0.6667 -> (0.2077, 0.9385)
  ann day 03-04: 3/4 = 0.75 -> (0.3006, 0.9544); 03-05: 3/3 = 1 -> (0.4385, 1.0)
  ann cat: 3/5 = 0.6 -> (0.2307, 0.8824)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from annotator.accounts.roles import Role
from annotator.accounts.services import user_create_with_role
from annotator.audits.models import AuditItem, Reason
from annotator.audits.services.judging import audit_explain, audit_judge
from annotator.audits.services.sampling import sample_draw
from annotator.cleaning.models import Verdict
from tests.audits.support import decided
from tests.cleaning.support import World
from tests.conftest import PASSWORD

MON = date(2024, 3, 4)
TUE = date(2024, 3, 5)
NEXT_MON = date(2024, 3, 11)
START, END = MON, date(2024, 3, 17)
SCOPE_NOTE = "A Scottish fold is still a cat: tag both."


@dataclass
class Audited:
    ann: Any
    bea: Any
    qa: Any


# (person, day, label, QA agrees?) ; None: judged as a disagreement, reason not given yet
PLAN: list[tuple[str, date, str, bool | None]] = [
    ("ann", MON, "cat", True),
    ("ann", MON, "cat", False),
    ("ann", MON, "tree", True),
    ("ann", MON, "tree", True),
    ("ann", TUE, "cat", True),
    ("ann", TUE, "tree", True),
    ("ann", TUE, "tree", True),
    ("ann", TUE, "tree", None),
    ("ann", NEXT_MON, "cat", True),
    ("ann", NEXT_MON, "cat", False),
    ("ann", NEXT_MON, "tree", True),
    *[("bea", MON, "cat", True)] * 5,
]


def audited_world_make(world: World, *, ann: Any, qa: Any) -> Audited:
    """Decisions as PLAN says (all PRESENT), every decision of the day sampled, judged by ``qa``;
    plus one decision of bea's on Tuesday that is sampled but not audited."""
    bea = user_create_with_role(username="bea", password=PASSWORD, role=Role.ANNOTATOR)
    people = {"ann": ann, "bea": bea}
    images = iter(world.images)
    outcome: dict[int, bool | None] = {}
    for person, day, label, agrees in PLAN:
        decision = decided(user=people[person], image=next(images), label=world.label(label), day=day)
        outcome[decision.pk] = agrees
    decided(user=bea, image=next(images), label=world.label("tree"), day=TUE)
    for day in (MON, TUE, NEXT_MON):
        sample_draw(day=day, rate=1.0, minimum=100)
    for item in AuditItem.objects.filter(decision_id__in=outcome).order_by("id"):
        agrees = outcome[item.decision_id]
        judged = audit_judge(user=qa, item=item, verdict=Verdict.PRESENT if agrees else Verdict.ABSENT)
        if agrees is False:
            scope = item.day == NEXT_MON
            audit_explain(
                user=qa,
                item=judged,
                reason=Reason.SCOPE if scope else Reason.GUIDELINE,
                note=SCOPE_NOTE if scope else "",
            )
    return Audited(ann=ann, bea=bea, qa=qa)
