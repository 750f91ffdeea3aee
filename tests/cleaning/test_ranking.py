"""The ranking formula: the numpy and the SQL forms agree, and the order says what a person expects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import connection

from annotator.cleaning.ranking import (
    STATE_UNKNOWN,
    RankingWeights,
    Reason,
    fit_platt,
    priority_array,
    priority_one,
    priority_sql,
    reasons_array,
    reasons_sql,
)


def _random_items(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    state = rng.choice([1, 0, STATE_UNKNOWN], size=n)
    model = rng.random(n)
    model[rng.random(n) < 0.2] = np.nan
    model[rng.random(n) < 0.05] = 0.0  # clipped
    comp = np.where(rng.random(n) < 0.4, rng.random(n), np.nan)
    other = np.where(rng.random(n) < 0.3, rng.random(n), np.nan)
    rel = rng.choice([0, 1, 2, 4, 5, 6, 7], size=n)
    return {"state": state, "model": model, "comp": comp, "other": other, "rel": rel}


@pytest.mark.django_db
@pytest.mark.parametrize("weights", [RankingWeights(), RankingWeights(prior_positive=0.5, relation_weight=2.0)])
def test_numpy_and_sql_agree(weights):
    items = _random_items(3000)
    rng = np.random.default_rng(3)
    scale, shift = rng.uniform(0.3, 2.0, len(items["state"])), rng.uniform(-1.0, 1.0, len(items["state"]))
    expected_priority = priority_array(
        state=items["state"],
        model_score=items["model"],
        competitor_score=items["comp"],
        other_score=items["other"],
        reasons=items["rel"],
        weights=weights,
        model_scale=scale,
        model_shift=shift,
    )
    expected_reasons = reasons_array(
        state=items["state"],
        model_score=items["model"],
        competitor_score=items["comp"],
        other_score=items["other"],
        relation_reasons=items["rel"],
    )

    def sql_value(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE tt_rank (n int, state smallint, model_score float8, competitor_score float8,"
            " other_score float8, relation_reasons int, scale float8, shift float8)"
        )
        cur.executemany(
            "INSERT INTO tt_rank VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    i,
                    None if items["state"][i] == STATE_UNKNOWN else int(items["state"][i]),
                    sql_value(items["model"][i]),
                    sql_value(items["comp"][i]),
                    sql_value(items["other"][i]),
                    int(items["rel"][i]),
                    float(scale[i]),
                    float(shift[i]),
                )
                for i in range(len(items["state"]))
            ],
        )
        priority = priority_sql(reasons="relation_reasons", weights=weights, model_scale="scale", model_shift="shift")
        cur.execute(f"SELECT {priority}, {reasons_sql()} FROM tt_rank ORDER BY n")
        rows = cur.fetchall()
    got_priority = np.array([row[0] for row in rows])
    got_reasons = np.array([row[1] for row in rows])
    np.testing.assert_allclose(got_priority, expected_priority, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got_reasons, expected_reasons)
    assert len(set(np.round(got_priority, 6))) > 100  # the comparison is not between constants


def test_a_positive_the_model_rejects_ranks_above_one_it_confirms():
    doubtful = priority_one(state=1, model_score=0.03)
    confirmed = priority_one(state=1, model_score=0.95)
    assert doubtful > 0.5 > confirmed


def test_more_sources_claiming_a_missing_label_rank_it_higher():
    model_only = priority_one(state=None, model_score=0.7)
    model_and_competitor = priority_one(state=None, model_score=0.7, competitor_score=0.9)
    all_three = priority_one(state=None, model_score=0.7, competitor_score=0.9, other_score=0.8)
    assert model_only < model_and_competitor < all_three


def test_a_verified_negative_needs_more_evidence_than_an_unknown():
    assert priority_one(state=0, model_score=0.8) < priority_one(state=None, model_score=0.8)


def test_relation_breaks_raise_the_priority():
    plain = priority_one(state=None, model_score=0.3)
    parent_missing = priority_one(state=None, model_score=0.3, reasons=int(Reason.PARENT_MISSING))
    assert parent_missing > plain + 0.3
    positive = priority_one(state=1, model_score=0.6)
    clashing = priority_one(state=1, model_score=0.6, reasons=int(Reason.EXCLUDED_PAIR))
    assert clashing > positive


def test_without_a_model_the_model_term_is_neutral():
    assert priority_one(state=1, model_score=None) == pytest.approx(1 / (1 + math.exp(1.5)))


def test_reasons_read_off_the_sources():
    bits = reasons_array(
        state=[1, STATE_UNKNOWN, 0],
        model_score=[0.1, 0.9, np.nan],
        competitor_score=[np.nan, 0.8, 0.7],
        other_score=[np.nan, np.nan, np.nan],
        relation_reasons=[0, 0, 0],
    )
    assert bits[0] & Reason.MODEL_DISAGREES and bits[0] & Reason.UNSUPPORTED_POSITIVE
    assert bits[1] & Reason.MODEL_DISAGREES and bits[1] & Reason.SOURCES_DISAGREE
    assert bits[2] & Reason.NEGATIVE_CLAIMED and not bits[2] & Reason.MODEL_DISAGREES


def test_platt_fit_recovers_a_known_calibration():
    rng = np.random.default_rng(11)
    scores = rng.uniform(0.02, 0.98, 4000)
    logit = np.log(scores / (1 - scores))
    truly_present = rng.random(4000) < 1 / (1 + np.exp(-(0.5 * logit - 1.0)))  # overconfident, biased high
    scale, shift = fit_platt(scores, truly_present)
    assert scale == pytest.approx(0.5, abs=0.08) and shift == pytest.approx(-1.0, abs=0.15)


def test_platt_fit_needs_enough_verdicts_of_both_kinds():
    assert fit_platt([0.9] * 10, [1] * 5 + [0] * 5) == (1.0, 0.0)
    assert fit_platt([0.9] * 100, [1] * 100) == (1.0, 0.0)
