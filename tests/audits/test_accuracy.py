"""Accuracy and its Wilson interval equal the hand computation of tests/audits/accuracy_fixture.py,
grouped per person, day, week and label; weakest labels; still-to-audit counts; the CSV rows."""

from __future__ import annotations

import pytest

from annotator.audits.selectors import (
    accuracy_by_annotator,
    accuracy_by_label,
    accuracy_csv_rows,
    accuracy_trend,
    annotator_accuracy,
    team_accuracy,
    wilson_interval,
)
from tests.audits.accuracy_fixture import END, MON, NEXT_MON, START, TUE, audited_world_make


@pytest.fixture
def audited(world, annotator_user, qa_user):
    return audited_world_make(world, ann=annotator_user, qa=qa_user)


def figures(acc):
    low, high = acc.interval
    return acc.audited, acc.agreed, round(acc.value, 4), round(low, 4), round(high, 4)


def test_wilson_interval_matches_the_hand_computation():
    assert [round(x, 4) for x in wilson_interval(8, 10)] == [0.4902, 0.9433]
    assert [round(x, 4) for x in wilson_interval(5, 5)] == [0.5655, 1.0]
    assert [round(x, 4) for x in wilson_interval(0, 3)] == [0.0, 0.5615]
    assert wilson_interval(0, 0) is None


def test_person_and_team_accuracy(audited):
    assert figures(annotator_accuracy(user_id=audited.ann.pk, start=START, end=END)) == (10, 8, 0.8, 0.4902, 0.9433)
    assert figures(annotator_accuracy(user_id=audited.bea.pk, start=START, end=END)) == (5, 5, 1.0, 0.5655, 1.0)
    assert figures(team_accuracy(start=START, end=END)) == (15, 13, 0.8667, 0.6212, 0.9626)
    # the range is honoured: only the second week
    assert figures(team_accuracy(start=NEXT_MON, end=END)) == (3, 2, 0.6667, 0.2077, 0.9385)


def test_trend_per_day_and_per_week(audited):
    days = accuracy_trend(start=START, end=END, period="day")[audited.ann.pk]
    assert [(day, *figures(acc)) for day, acc in days] == [
        (MON, 4, 3, 0.75, 0.3006, 0.9544),
        (TUE, 3, 3, 1.0, 0.4385, 1.0),
        (NEXT_MON, 3, 2, 0.6667, 0.2077, 0.9385),
    ]
    weeks = accuracy_trend(start=START, end=END, period="week")[audited.ann.pk]
    assert [(day, *figures(acc)) for day, acc in weeks] == [
        (MON, 7, 6, 0.8571, 0.4869, 0.9743),
        (NEXT_MON, 3, 2, 0.6667, 0.2077, 0.9385),
    ]
    # a week that starts before the range is labelled by its Monday but counts only days in range
    partial = accuracy_trend(start=TUE, end=END, period="week")[audited.ann.pk]
    assert [(day, acc.audited, acc.agreed) for day, acc in partial] == [(MON, 3, 3), (NEXT_MON, 3, 2)]
    only_bea = accuracy_trend(start=START, end=END, period="week", annotator_ids=[audited.bea.pk])
    assert list(only_bea) == [audited.bea.pk]
    with pytest.raises(ValueError):
        accuracy_trend(start=START, end=END, period="month")


def test_accuracy_per_label(audited):
    rows = accuracy_by_label(annotator_id=audited.ann.pk, start=START, end=END)
    assert [(label.key, *figures(acc)) for label, acc in rows] == [
        ("cat", 5, 3, 0.6, 0.2307, 0.8824),
        ("tree", 5, 5, 1.0, 0.5655, 1.0),
    ]


def test_rows_per_annotator_weakest_labels_and_still_to_audit(audited):
    rows = accuracy_by_annotator(start=START, end=END)
    assert [row.username for row in rows] == ["ann", "bea"]  # worst first
    ann, bea = rows
    assert figures(ann.accuracy) == (10, 8, 0.8, 0.4902, 0.9433)
    assert ann.accuracy.below_target and not bea.accuracy.below_target
    # cat: 5 audits, 3 agreed; tree has no mistake, so it is not among the weakest
    assert [(label.key, acc.audited, acc.agreed) for label, acc in ann.weakest] == [("cat", 5, 3)]
    assert bea.weakest == []
    assert ann.pending == 1  # the disagreement still waiting for QA's reason
    assert bea.pending == 1  # the Tuesday decision not audited yet


def test_csv_rows_per_person_and_day(audited):
    rows = accuracy_csv_rows(start=START, end=END)
    assert rows == [
        ["annotator", "day", "audited", "agreed", "accuracy", "wilson_low", "wilson_high"],
        ["ann", "2024-03-04", 4, 3, "0.7500", "0.3006", "0.9544"],
        ["bea", "2024-03-04", 5, 5, "1.0000", "0.5655", "1.0000"],
        ["ann", "2024-03-05", 3, 3, "1.0000", "0.4385", "1.0000"],
        ["ann", "2024-03-11", 3, 2, "0.6667", "0.2077", "0.9385"],
    ]


def test_csv_cells_never_start_a_spreadsheet_formula(audited):
    audited.bea.username = "=bea"
    audited.bea.save()
    rows = accuracy_csv_rows(start=MON, end=MON)
    assert [row[0] for row in rows[1:]] == ["ann", "'=bea"]


def test_csv_rows_per_week_and_per_label(audited):
    # By hand (accuracy_fixture.py): ann's week of 03-04 is 6 of 7, of 03-11 2 of 3; bea 5 of 5.
    rows = accuracy_csv_rows(start=START, end=END, period="week")
    assert rows == [
        ["annotator", "week", "audited", "agreed", "accuracy", "wilson_low", "wilson_high"],
        ["ann", "2024-03-04", 7, 6, "0.8571", "0.4869", "0.9743"],
        ["bea", "2024-03-04", 5, 5, "1.0000", "0.5655", "1.0000"],
        ["ann", "2024-03-11", 3, 2, "0.6667", "0.2077", "0.9385"],
    ]
    by_label = accuracy_csv_rows(start=START, end=END, period="week", by_label=True)
    assert by_label[0][:3] == ["annotator", "week", "label"]
    ann = {(row[1], row[2]): (row[3], row[4]) for row in by_label[1:] if row[0] == "ann"}
    # cat: Mon 2/1 + Tue 1/1 in the first week, 2/1 in the second; tree: 2/2 + 2/2, then 1/1.
    assert ann == {
        ("2024-03-04", "cat"): (3, 2),
        ("2024-03-04", "tree"): (4, 4),
        ("2024-03-11", "cat"): (2, 1),
        ("2024-03-11", "tree"): (1, 1),
    }
