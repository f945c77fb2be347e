"""Pure metric computation: the F1-optimal operating point and the evaluation document in SageMaker's format.

A score at or above the threshold is labelled fraud (1), as scikit-learn's `precision_recall_curve` counts it, so
the threshold training picks and the one evaluation and inference apply mean the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from cd4ml_shared.bootstrap import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    INTERVAL_METRICS,
    BootstrapInputError,
    bounds,
    resampled,
    weighted_metrics,
)
from cd4ml_shared.monitoring_quality import expected_calibration_error
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from cd4ml_model.artifacts import Calibration

MAX_CURVE_POINTS = 200
UNKNOWN = "NaN"  # SageMaker's model-quality format writes an unknown standard deviation as this string


class MetricInputError(ValueError):
    """Labels and scores that cannot be evaluated: mismatched lengths, labels other than 0/1, non-finite scores."""


class SingleClassError(MetricInputError):
    """Every label is the same class: ROC AUC, PR AUC and the operating point are undefined."""


def _checked(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
        raise MetricInputError(f"labels {y.shape} and scores {s.shape} must be 1-D and of the same length")
    if len(y) == 0:
        raise MetricInputError("no rows to evaluate")
    values = np.unique(y)
    if not np.isin(values, [0, 1]).all():
        raise MetricInputError(f"labels must be 0 or 1, found {values[:5].tolist()}")
    if not np.isfinite(s).all():
        raise MetricInputError(f"{int((~np.isfinite(s)).sum())} score(s) are not finite")
    if len(values) < 2:
        raise SingleClassError(f"all {len(y)} labels are {int(values[0])}: the metrics need both classes")
    return y.astype(np.int64), s


def best_f1_threshold(labels: npt.ArrayLike, scores: npt.ArrayLike) -> dict[str, float]:
    """The score threshold with the highest F1, with its precision and recall."""
    y, s = _checked(labels, scores)
    precision, recall, thresholds = precision_recall_curve(y, s)
    # the curve's last point (precision 1, recall 0) has no threshold
    p, r = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    best = int(np.argmax(f1))
    return {
        "threshold": float(thresholds[best]),
        "precision": float(p[best]),
        "recall": float(r[best]),
        "f1": float(f1[best]),
    }


def downsample_curve(
    xs: Sequence[float] | npt.ArrayLike, ys: Sequence[float] | npt.ArrayLike, max_points: int = MAX_CURVE_POINTS
) -> tuple[list[float], list[float]]:
    """At most `max_points` evenly spaced points of a curve, its first and last points always among them."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if len(x) != len(y):
        raise MetricInputError(f"a curve needs as many x ({len(x)}) as y ({len(y)}) values")
    if max_points < 2:
        raise MetricInputError(f"max_points must be at least 2, got {max_points}")
    if len(x) > max_points:
        keep = np.unique(np.round(np.linspace(0, len(x) - 1, max_points)).astype(np.int64))
        x, y = x[keep], y[keep]
    return [float(v) for v in x], [float(v) for v in y]


def _metric(value: float) -> dict[str, Any]:
    return {"value": float(value), "standard_deviation": UNKNOWN}


def evaluate_scores(labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> dict[str, Any]:
    """The evaluation document (SageMaker model-quality `binary_classification_metrics`, plus the dataset's size)."""
    if not math.isfinite(threshold):
        raise MetricInputError(f"threshold must be a finite number, got {threshold}")
    y, s = _checked(labels, scores)
    predicted = (s >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(y, predicted, labels=[0, 1]).tolist()
    fpr, tpr, _ = roc_curve(y, s)
    precisions, recalls, _ = precision_recall_curve(y, s)
    fpr_points, tpr_points = downsample_curve(fpr, tpr)
    precision_points, recall_points = downsample_curve(precisions, recalls)
    return {
        "binary_classification_metrics": {
            "confusion_matrix": {"0": {"0": int(tn), "1": int(fp)}, "1": {"0": int(fn), "1": int(tp)}},
            "recall": _metric(recall_score(y, predicted, zero_division=0)),
            "precision": _metric(precision_score(y, predicted, zero_division=0)),
            "accuracy": _metric(accuracy_score(y, predicted)),
            "f1": _metric(f1_score(y, predicted, zero_division=0)),
            "auc": _metric(roc_auc_score(y, s)),
            "pr_auc": _metric(average_precision_score(y, s)),
            "brier_score": _metric(brier_score_loss(y, s)),
            # the monitor's calibration baseline: the same 10 equal-count bins it measures a window with
            "calibration_error": _metric(expected_calibration_error(y, s)),
            "threshold": _metric(threshold),
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": fpr_points,
                "true_positive_rates": tpr_points,
            },
            "precision_recall_curve": {"precisions": precision_points, "recalls": recall_points},
        },
        "dataset": {"rows": len(y), "positives": int(y.sum())},
    }


# ---- sampling intervals -----------------------------------------------------------------------------------------
# A test split is a sample: its PR AUC moves by several points from one draw of similar data to the next. The gate
# judges a challenger with the interval of that noise (a bootstrap of the test rows), not its point value, and
# compares it with the champion on the very same rows and the very same resamples (a paired bootstrap), so the
# noise that both models share cancels out of the difference.
COMPARED_METRICS = ("pr_auc", "auc", "brier_score")


def _draws(
    y: np.ndarray[Any, Any], models: Sequence[tuple[np.ndarray[Any, Any], float]], resamples: int, seed: int
) -> list[dict[str, np.ndarray[Any, Any]]]:
    try:
        return resampled(y, models, resamples, seed)
    except BootstrapInputError as error:
        raise MetricInputError(str(error)) from error


def sampling_intervals(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    threshold: float,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals (stratified by class) and standard deviations of the test metrics."""
    y, s = _checked(labels, scores)
    (draws,) = _draws(y, [(s, threshold)], resamples, seed)
    intervals: dict[str, dict[str, float]] = {}
    for name in INTERVAL_METRICS:
        lower, upper = bounds(draws[name], confidence)
        intervals[name] = {"lower": lower, "upper": upper, "standard_deviation": float(np.nanstd(draws[name]))}
    return intervals


def paired_comparison(
    labels: npt.ArrayLike,
    challenger: tuple[npt.ArrayLike, float],
    champion: tuple[npt.ArrayLike, float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, dict[str, float]]:
    """Challenger minus champion, for each of `COMPARED_METRICS`, on the same rows: both values, the difference and
    its paired bootstrap interval (each resample scores both models on the same rows)."""
    y, s1 = _checked(labels, challenger[0])
    _, s0 = _checked(labels, champion[0])
    (one, zero) = _draws(y, [(s1, challenger[1]), (s0, champion[1])], resamples, seed)
    ones = np.ones((1, len(y)))
    point_one = weighted_metrics(y, s1, challenger[1], ones)
    point_zero = weighted_metrics(y, s0, champion[1], ones)
    comparison: dict[str, dict[str, float]] = {}
    for name in COMPARED_METRICS:
        lower, upper = bounds(one[name] - zero[name], confidence)
        value_one, value_zero = float(point_one[name][0]), float(point_zero[name][0])
        comparison[name] = {
            "challenger": value_one,
            "champion": value_zero,
            "difference": value_one - value_zero,
            "lower": lower,
            "upper": upper,
        }
    return comparison


# ---- calibration ------------------------------------------------------------------------------------------------


MIN_CALIBRATION_SLOPE = 1e-3  # the flattest map kept: below it the booster's ranking carries no calibrated signal


def fit_calibration(labels: npt.ArrayLike, margins: npt.ArrayLike, iterations: int = 50) -> Calibration:
    """Platt scaling of the booster's margins (log-odds) fitted by Newton's method, with Platt's smoothed targets
    ((positives + 1) / (positives + 2) and 1 / (negatives + 2)), which keep the fit finite on a validation split that
    the booster separates perfectly."""
    y, z = _checked(labels, margins)
    positives = float(y.sum())
    negatives = float(len(y)) - positives
    target = np.where(y == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    design = np.column_stack([z, np.ones_like(z)])

    def loss(params: np.ndarray[Any, Any]) -> float:
        logits = design @ params
        # log(1 + e^x) - target * x, stably
        return float(np.sum(np.logaddexp(0.0, logits) - target * logits))

    params = np.array([1.0, 0.0])
    current = loss(params)
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (design @ params)))
        gradient = design.T @ (p - target)
        hessian = design.T @ (design * (p * (1.0 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        # Newton with step halving: from a badly skewed start the full step can overshoot (Platt 1999; Lin et al.)
        scale = 1.0
        while scale > 1e-8:
            candidate = params - scale * step
            value = loss(candidate)
            if value <= current:
                break
            scale /= 2.0
        else:
            break
        params, moved, current = candidate, float(np.max(np.abs(scale * step))), value
        if moved < 1e-10:
            break
    slope, intercept = float(params[0]), float(params[1])
    if not (math.isfinite(slope) and math.isfinite(intercept)) or slope < MIN_CALIBRATION_SLOPE:
        # The validation split finds no increasing relation between the booster's margin and fraud (a model without
        # signal): serve about the base rate, still ordered as the booster ranks (the map must stay increasing).
        prior = (positives + 1.0) / (len(y) + 2.0)
        centre = float(np.mean(z))
        return Calibration(
            slope=MIN_CALIBRATION_SLOPE, intercept=math.log(prior / (1.0 - prior)) - MIN_CALIBRATION_SLOPE * centre
        )
    return Calibration(slope=slope, intercept=intercept)
