"""The stratified, seeded, vectorised bootstrap of a binary classifier's metrics, shared by evaluation and monitoring.

A resample is a matrix row of multiplicities (how many times each row was drawn), so every metric of a block of
resamples is a few cumulative sums and matrix products over the rows sorted once by score, instead of a Python loop
over resamples. Positives and negatives are resampled separately (stratified): with a few dozen frauds an
unstratified draw can hold none, and PR AUC is then undefined. Numpy only: the evaluation job and the monitoring
Lambda compute the same intervals with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20_240_601  # fixed: evaluating the same model on the same rows gives the same interval
CONFIDENCE = 0.95
INTERVAL_METRICS = ("pr_auc", "auc", "brier_score", "precision", "recall", "f1", "accuracy")
CHUNK_CELLS = 4_000_000  # resamples x rows per block: bounds the weight matrix to about 32 MB


class BootstrapInputError(ValueError):
    """A bootstrap that cannot be drawn: no resamples, or labels and scores that do not fit together."""


@dataclass(frozen=True)
class Ranking:
    """The rows of one model sorted by descending score (ties kept in row order), computed once for all blocks."""

    order: IntArray  # sorted position -> original row
    labels: FloatArray  # labels in sorted order, as 0.0/1.0
    scores: FloatArray  # scores in sorted order
    last: IntArray  # sorted position of the last row of each run of equal scores
    positives: IntArray  # sorted positions of the positive rows
    positives_through_last: IntArray  # how many positives lie at or before each `last` position

    @classmethod
    def of(cls, labels: npt.NDArray[Any], scores: FloatArray) -> Ranking:
        order = np.argsort(-scores, kind="mergesort")
        ys, ss = labels[order].astype(np.float64), scores[order]
        last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]
        positives = np.flatnonzero(ys == 1)
        through = np.asarray(np.searchsorted(positives, last, side="right"), dtype=np.intp)
        return cls(order, ys, ss, last, positives, through)


# A measure adds statistics of its own to each resample: it gets the ranking and the block's weights in that
# ranking's order (resamples x rows) and returns one value per resample for each name.
Measure: TypeAlias = Callable[[Ranking, FloatArray], dict[str, FloatArray]]


def stratified_weights(
    y: npt.NDArray[Any], count: int, rng: np.random.Generator, columns: IntArray | None = None
) -> FloatArray:
    """`count` bootstrap resamples as row multiplicities (count x rows), each keeping the rows' class counts.

    `columns` places row i in column `columns[i]` (a ranking's inverse order), which saves gathering the matrix
    into sorted order afterwards; the draws are the same either way."""
    # column-major, the layout the evaluation's gathered weights always had: BLAS sums the Brier score in the
    # layout's order, so this keeps its intervals bit for bit, and a model paired with itself (read through a
    # column gather, which keeps the layout) gets a difference of exactly 0
    weights = np.zeros((count, len(y)), dtype=np.float64, order="F")
    offsets = np.arange(count)[:, None]
    for members in (np.flatnonzero(y == 1), np.flatnonzero(y == 0)):
        size = len(members)
        draws = rng.integers(0, size, size=(count, size)) + offsets * size
        target = members if columns is None else columns[members]
        weights[:, target] = np.bincount(draws.ravel(), minlength=count * size).reshape(count, size)
    return weights


def ranked_metrics(ranking: Ranking, threshold: float, w: FloatArray) -> dict[str, FloatArray]:
    """The metrics of `INTERVAL_METRICS` for each row of `w` (multiplicities in the ranking's order), all at once.

    PR AUC is average precision as scikit-learn computes it (sum of recall steps times precision over the distinct
    scores, ties together) and ROC AUC the trapezoid under the ROC curve, so weights of ones reproduce the point
    values exactly."""
    ys, ss, last = ranking.labels, ranking.scores, ranking.last
    # the cumulative positive weight only moves at positive rows: summing those few columns is exact (integer
    # multiplicities) and saves a pass over the whole matrix
    positive_running = np.cumsum(w[:, ranking.positives], axis=1)
    tp = np.concatenate([np.zeros((len(w), 1)), positive_running], axis=1)[:, ranking.positives_through_last]
    fp = np.cumsum(w, axis=1)[:, last] - tp
    positives, negatives = tp[:, -1:], fp[:, -1:]
    recall = tp / positives
    with np.errstate(divide="ignore", invalid="ignore"):
        precision_curve = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
    pr_auc = np.sum(np.diff(recall, axis=1, prepend=0.0) * precision_curve, axis=1)
    fpr = fp / negatives
    tpr_before = np.concatenate([np.zeros((len(w), 1)), recall[:, :-1]], axis=1)
    auc = np.sum(np.diff(fpr, axis=1, prepend=0.0) * (recall + tpr_before) / 2.0, axis=1)
    predicted = (ss >= threshold).astype(np.float64)
    hit = w @ (ys * predicted)
    flagged = w @ predicted
    total = w.sum(axis=1)
    p, n = positives[:, 0], negatives[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(flagged > 0, hit / flagged, 0.0)
        recall_at = hit / p
        f1 = np.where(precision + recall_at > 0, 2 * precision * recall_at / (precision + recall_at), 0.0)
    correct_negatives = n - (flagged - hit)
    return {
        "pr_auc": pr_auc,
        "auc": auc,
        "brier_score": (w @ (ss - ys) ** 2) / total,
        "precision": precision,
        "recall": recall_at,
        "f1": f1,
        "accuracy": (hit + correct_negatives) / total,
    }


def weighted_metrics(
    y: npt.NDArray[Any], s: FloatArray, threshold: float, weights: FloatArray
) -> dict[str, FloatArray]:
    """`ranked_metrics` for weights in the rows' own order (a row of ones gives the point values)."""
    ranking = Ranking.of(y, s)
    return ranked_metrics(ranking, threshold, weights[:, ranking.order])


def resampled(
    y: npt.NDArray[Any],
    models: Sequence[tuple[FloatArray, float]],
    resamples: int,
    seed: int,
    measure: Measure | None = None,
) -> list[dict[str, FloatArray]]:
    """Each model's metrics (and `measure`'s statistics) over the same `resamples` stratified draws, in blocks."""
    if resamples < 1:
        raise BootstrapInputError(f"resamples must be at least 1, got {resamples}")
    if not models:
        raise BootstrapInputError("resampled needs at least one model's scores")
    rankings = [Ranking.of(y, scores) for scores, _ in models]
    columns = np.empty_like(rankings[0].order)
    columns[rankings[0].order] = np.arange(len(y))  # row -> its column in the first model's sorted order
    # the other models read the same draws through their own order
    gathers = [None, *(columns[r.order] for r in rankings[1:])]
    rng = np.random.default_rng(seed)
    block = max(1, CHUNK_CELLS // max(1, len(y)))
    parts: list[list[dict[str, FloatArray]]] = [[] for _ in models]
    for start in range(0, resamples, block):
        first = stratified_weights(y, min(block, resamples - start), rng, columns)
        for index, ((_, threshold), ranking, gather) in enumerate(zip(models, rankings, gathers, strict=True)):
            w = first if gather is None else first[:, gather]
            values = ranked_metrics(ranking, threshold, w)
            if measure is not None:
                values.update(measure(ranking, w))
            parts[index].append(values)
    return [{name: np.concatenate([p[name] for p in chunks]) for name in chunks[0]} for chunks in parts]


def bounds(values: FloatArray, confidence: float) -> tuple[float, float]:
    """The central percentile interval of the resampled values (resamples where a metric is undefined are left out)."""
    if np.isnan(values).all():  # e.g. the recall of simulated windows that all lack a fraud
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0 * 100.0
    lower, upper = np.nanpercentile(values, [tail, 100.0 - tail])
    return float(lower), float(upper)
