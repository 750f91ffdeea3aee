"""The ranking of a cleaning queue: how likely is the dataset wrong about (image, label)?

One formula, in two forms that must agree (tests/cleaning/test_ranking.py checks it):

- ``priority_array`` / ``reasons_array``: vectorised numpy, for the benchmark and tests;
- ``priority_sql`` / ``reasons_sql``: the same as a PostgreSQL expression, for the set-based
  rerank (services/rerank.py) over millions of items.

The model (docs/cleaning.md, "Ranking"): the log-odds that the image carries the label are a
sum of evidence,

    z = prior[state]                                  dataset: positive / verified negative / unknown
      + model_weight * (scale * logit(clip(model_score)) + shift)
                                                       current model version (0 when there is none),
                                                       calibrated per label (scale, shift; see below)
      + competitor_weight * competitor_score           a competitor's mapped label claims it
      + other_weight * other_score                     crawled candidate / imported machine label
      + relation_weight * [label implied but missing]  child positive without parent, forest without tree
      - excluded_weight * [excluded pair both positive]

    p_present = sigmoid(z)
    priority  = 1 - p_present   if the dataset says positive
                p_present       otherwise (verified negative or unknown)

so ``priority`` is the estimated probability that the dataset's state is wrong. A model
version keeps the scores of every label above a floor: an image the current model scored
below it gets ``MODEL_FLOOR_SCORE``; when no model version exists the model term is 0.
Scores are clipped to [SCORE_CLIP, 1 - SCORE_CLIP] so one source can never decide alone.
Evidence with no score (a crawled candidate) counts as ``CLAIM_DEFAULT_SCORE``.

Calibration: a model's scores are rarely probabilities. ``fit_platt`` fits, per label, the
(scale, shift) of Platt scaling from the people's verdicts on that label's items (present /
absent against the model score the item had), pulled towards (1, 0) so that a handful of
decisions moves it little; labels with fewer than ``CALIBRATION_MIN_DECISIONS`` keep (1, 0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Stands for "unknown" (no ImageLabel row) in the arrays; the SQL side uses NULL.
STATE_UNKNOWN = -1
#: Below this the model version keeps no score: an image missing from its evidence scored less.
MODEL_FLOOR_SCORE = 0.02
#: Scores are clipped to [SCORE_CLIP, 1 - SCORE_CLIP] before the logit.
SCORE_CLIP = 0.01
#: A claim without a score (crawled candidate, some imports) weighs like this score.
CLAIM_DEFAULT_SCORE = 0.8
#: Fewer verdicts than this on a label (or only one kind): its model scores stay uncalibrated.
CALIBRATION_MIN_DECISIONS = 30
#: Strength of the pull of (scale, shift) towards (1, 0), in pseudo-decisions.
CALIBRATION_PRIOR = 10.0
#: "The model disagrees" when the dataset says positive and the model scores below this, or
#: the dataset does not say positive and the model scores at least this.
MODEL_DISAGREE_AT = 0.5


class Source(enum.IntFlag):
    """Which sources say the image might carry the label (ReviewItem.sources)."""

    DATASET = 1  # the dataset's truth is positive
    MODEL = 2  # the current model version suggests it (top 5, score >= 0.5)
    COMPETITOR = 4  # a competitor's label mapped to it
    CRAWL = 8  # a crawled candidate for it
    IMPORT = 16  # imported machine evidence (e.g. Open Images machine labels)
    RELATION = 32  # a relation rule says it should be there, or that it clashes
    ANNOTATOR = 64  # a person added it from the image page


class Reason(enum.IntFlag):
    """Why an item is in the queue and ranked where it is (ReviewItem.reasons)."""

    PARENT_MISSING = 1  # a child label is positive, this (its ancestor) is not
    IMPLIED_MISSING = 2  # a label that implies this one is positive, this one is not
    EXCLUDED_PAIR = 4  # positive together with a label it excludes
    MODEL_DISAGREES = 8  # the model's score contradicts the dataset's state
    SOURCES_DISAGREE = 16  # a competitor / crawl / import claims it, the dataset does not say positive
    NEGATIVE_CLAIMED = 32  # verified negative, yet some source claims it
    UNSUPPORTED_POSITIVE = 64  # positive, a model exists, and no other source claims it


@dataclass(frozen=True)
class RankingWeights:
    """The formula's constants. The defaults are what the queues use (docs/cleaning.md)."""

    prior_positive: float = 1.5  # ~82 % of a dataset's positives are right before any evidence
    prior_negative: float = -3.0  # a verified negative was looked at by a person
    prior_unknown: float = -1.5  # an unlabelled image rarely carries a given label
    model_weight: float = 1.0  # the model's logit as it is (temperature 1)
    competitor_weight: float = 1.5
    other_weight: float = 1.0
    relation_weight: float = 4.0
    excluded_weight: float = 1.5


DEFAULT_WEIGHTS = RankingWeights()

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _logit(p: FloatArray) -> FloatArray:
    clipped = np.clip(p, SCORE_CLIP, 1.0 - SCORE_CLIP)
    return np.asarray(np.log(clipped / (1.0 - clipped)), dtype=np.float64)


def priority_array(
    *,
    state: npt.ArrayLike,
    model_score: npt.ArrayLike,
    competitor_score: npt.ArrayLike,
    other_score: npt.ArrayLike,
    reasons: npt.ArrayLike,
    weights: RankingWeights = DEFAULT_WEIGHTS,
    model_scale: npt.ArrayLike = 1.0,
    model_shift: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Priorities (probability the dataset is wrong) for arrays of items.

    ``state``: 1, 0 or STATE_UNKNOWN. ``model_score``: NaN when there is no model version
    (MODEL_FLOOR_SCORE where the version has no score for the image). ``competitor_score``,
    ``other_score``: NaN when no such source claims the label. ``reasons``: Reason bits; only
    the relation bits (PARENT_MISSING, IMPLIED_MISSING, EXCLUDED_PAIR) enter the formula.
    ``model_scale`` / ``model_shift``: the per-item (i.e. per-label) calibration, scalars or arrays.
    """
    st = np.asarray(state, dtype=np.int64)
    model = np.asarray(model_score, dtype=np.float64)
    comp = np.asarray(competitor_score, dtype=np.float64)
    other = np.asarray(other_score, dtype=np.float64)
    bits = np.asarray(reasons, dtype=np.int64)
    prior = np.where(
        st == 1, weights.prior_positive, np.where(st == 0, weights.prior_negative, weights.prior_unknown)
    ).astype(np.float64)
    z = prior
    calibrated = np.asarray(model_scale, dtype=np.float64) * _logit(np.nan_to_num(model, nan=0.5)) + np.asarray(
        model_shift, dtype=np.float64
    )
    z = z + np.where(np.isnan(model), 0.0, weights.model_weight * calibrated)
    z = z + np.where(np.isnan(comp), 0.0, weights.competitor_weight * np.clip(np.nan_to_num(comp), 0.0, 1.0))
    z = z + np.where(np.isnan(other), 0.0, weights.other_weight * np.clip(np.nan_to_num(other), 0.0, 1.0))
    implied = (bits & (Reason.PARENT_MISSING | Reason.IMPLIED_MISSING)) != 0
    z = z + np.where(implied, weights.relation_weight, 0.0)
    z = z - np.where((bits & Reason.EXCLUDED_PAIR) != 0, weights.excluded_weight, 0.0)
    p_present = 1.0 / (1.0 + np.exp(-z))
    return np.asarray(np.where(st == 1, 1.0 - p_present, p_present), dtype=np.float64)


def reasons_array(
    *,
    state: npt.ArrayLike,
    model_score: npt.ArrayLike,
    competitor_score: npt.ArrayLike,
    other_score: npt.ArrayLike,
    relation_reasons: npt.ArrayLike,
) -> IntArray:
    """Reason bits: the relation bits given, plus those read off the sources (see Reason)."""
    st = np.asarray(state, dtype=np.int64)
    model = np.asarray(model_score, dtype=np.float64)
    claimed = ~np.isnan(np.asarray(competitor_score, dtype=np.float64)) | ~np.isnan(
        np.asarray(other_score, dtype=np.float64)
    )
    bits = np.asarray(relation_reasons, dtype=np.int64) & (
        Reason.PARENT_MISSING | Reason.IMPLIED_MISSING | Reason.EXCLUDED_PAIR
    )
    has_model = ~np.isnan(model)
    m = np.nan_to_num(model, nan=0.5)
    disagree = has_model & np.where(st == 1, m < MODEL_DISAGREE_AT, m >= MODEL_DISAGREE_AT)
    bits = bits | np.where(disagree, int(Reason.MODEL_DISAGREES), 0)
    bits = bits | np.where(claimed & (st != 1), int(Reason.SOURCES_DISAGREE), 0)
    bits = bits | np.where(claimed & (st == 0), int(Reason.NEGATIVE_CLAIMED), 0)
    bits = bits | np.where(
        has_model & ~claimed & (st == 1) & (m < MODEL_DISAGREE_AT), int(Reason.UNSUPPORTED_POSITIVE), 0
    )
    return np.asarray(bits, dtype=np.int64)


def priority_one(
    *,
    state: int | None,
    model_score: float | None,
    competitor_score: float | None = None,
    other_score: float | None = None,
    reasons: int = 0,
    weights: RankingWeights = DEFAULT_WEIGHTS,
) -> float:
    """``priority_array`` for a single item (None for unknown / no such source)."""

    def nan(value: float | None) -> float:
        return float("nan") if value is None else float(value)

    return float(
        priority_array(
            state=[STATE_UNKNOWN if state is None else state],
            model_score=[nan(model_score)],
            competitor_score=[nan(competitor_score)],
            other_score=[nan(other_score)],
            reasons=[reasons],
            weights=weights,
        )[0]
    )


# --- The same in SQL ------------------------------------------------------------------------


def _sql_logit(expr: str) -> str:
    clipped = f"least(greatest({expr}, {SCORE_CLIP!r}::float8), {1.0 - SCORE_CLIP!r}::float8)"
    return f"ln({clipped} / (1.0 - {clipped}))"


def priority_sql(
    *,
    state: str = "state",
    model_score: str = "model_score",
    competitor_score: str = "competitor_score",
    other_score: str = "other_score",
    reasons: str = "reasons",
    weights: RankingWeights = DEFAULT_WEIGHTS,
    model_scale: str = "1.0",
    model_shift: str = "0.0",
) -> str:
    """``priority_array`` as a PostgreSQL float8 expression over the named columns (NULL = NaN)."""
    w = weights
    z = (
        f"(CASE WHEN {state} = 1 THEN {w.prior_positive!r} WHEN {state} = 0 THEN {w.prior_negative!r} "
        f"ELSE {w.prior_unknown!r} END)::float8"
        # GREATEST / LEAST skip NULLs, so "no such source" is tested first, never clipped into a score.
        f" + (CASE WHEN {model_score} IS NULL THEN 0.0"
        f" ELSE {w.model_weight!r} * (({model_scale}) * {_sql_logit(model_score)} + ({model_shift})) END)"
        f" + (CASE WHEN {competitor_score} IS NULL THEN 0.0"
        f" ELSE {w.competitor_weight!r} * least(greatest({competitor_score}, 0.0), 1.0) END)"
        f" + (CASE WHEN {other_score} IS NULL THEN 0.0"
        f" ELSE {w.other_weight!r} * least(greatest({other_score}, 0.0), 1.0) END)"
        f" + (CASE WHEN ({reasons} & {int(Reason.PARENT_MISSING | Reason.IMPLIED_MISSING)}) <> 0"
        f" THEN {w.relation_weight!r} ELSE 0.0 END)"
        f" - (CASE WHEN ({reasons} & {int(Reason.EXCLUDED_PAIR)}) <> 0 THEN {w.excluded_weight!r} ELSE 0.0 END)"
    )
    p_present = f"(1.0 / (1.0 + exp(-({z}))))"
    return f"(CASE WHEN {state} = 1 THEN 1.0 - {p_present} ELSE {p_present} END)"


def reasons_sql(
    *,
    state: str = "state",
    model_score: str = "model_score",
    competitor_score: str = "competitor_score",
    other_score: str = "other_score",
    relation_reasons: str = "relation_reasons",
) -> str:
    """``reasons_array`` as a PostgreSQL integer expression."""
    claimed = f"({competitor_score} IS NOT NULL OR {other_score} IS NOT NULL)"
    st = f"coalesce({state}, {STATE_UNKNOWN})"
    rel = int(Reason.PARENT_MISSING | Reason.IMPLIED_MISSING | Reason.EXCLUDED_PAIR)
    cut = repr(MODEL_DISAGREE_AT)
    return (
        f"(({relation_reasons} & {rel})"
        f" | (CASE WHEN {model_score} IS NOT NULL AND"
        f" (({st} = 1 AND {model_score} < {cut}) OR ({st} <> 1 AND {model_score} >= {cut}))"
        f" THEN {int(Reason.MODEL_DISAGREES)} ELSE 0 END)"
        f" | (CASE WHEN {claimed} AND {st} <> 1 THEN {int(Reason.SOURCES_DISAGREE)} ELSE 0 END)"
        f" | (CASE WHEN {claimed} AND {st} = 0 THEN {int(Reason.NEGATIVE_CLAIMED)} ELSE 0 END)"
        f" | (CASE WHEN {model_score} IS NOT NULL AND NOT {claimed} AND {st} = 1 AND {model_score} < {cut}"
        f" THEN {int(Reason.UNSUPPORTED_POSITIVE)} ELSE 0 END))"
    )


def fit_platt(
    scores: npt.ArrayLike,
    present: npt.ArrayLike,
    *,
    min_decisions: int = CALIBRATION_MIN_DECISIONS,
    prior: float = CALIBRATION_PRIOR,
) -> tuple[float, float]:
    """(scale, shift) such that sigmoid(scale * logit(score) + shift) ≈ P(present | score).

    A logistic regression on the clipped logit of the scores, fitted by Newton's method with a
    Gaussian prior centred on (1, 0) worth ``prior`` pseudo-decisions. Too few verdicts, or
    verdicts of one kind only: (1, 0).
    """
    x = _logit(np.asarray(scores, dtype=np.float64))
    y = np.asarray(present, dtype=np.float64)
    keep = ~np.isnan(x)
    x, y = x[keep], y[keep]
    if len(x) < min_decisions or y.min(initial=1.0) == y.max(initial=0.0):
        return 1.0, 0.0
    features = np.stack([x, np.ones_like(x)], axis=1)
    centre = np.array([1.0, 0.0])
    penalty = 0.25 * prior  # the curvature of ``prior`` decisions at p = 0.5

    def objective(theta: FloatArray) -> float:
        z = features @ theta
        # -log-likelihood of the verdicts (stable form) plus the prior's penalty
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * penalty * np.sum((theta - centre) ** 2))

    theta = centre.copy()
    current = objective(theta)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(features @ theta)))
        gradient = features.T @ (p - y) + penalty * (theta - centre)
        hessian = (features * (p * (1 - p))[:, None]).T @ features + penalty * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        # Damped Newton: halve the step until the objective falls (plain Newton can oscillate
        # when every score is the same and the fit saturates).
        length = 1.0
        while length > 1e-6:
            candidate = theta - length * step
            value = objective(candidate)
            if value <= current:
                break
            length /= 2
        else:
            break
        moved = float(np.abs(candidate - theta).max())
        theta, current = candidate, value
        if moved < 1e-9:
            break
    scale, shift = float(theta[0]), float(theta[1])
    # A negative scale would rank "the model is sure it is there" as evidence against: never.
    return (max(scale, 0.05), shift)
