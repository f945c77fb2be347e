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
            "threshold": _metric(threshold),
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": fpr_points,
                "true_positive_rates": tpr_points,
            },
            "precision_recall_curve": {"precisions": precision_points, "recalls": recall_points},
        },
        "dataset": {"rows": len(y), "positives": int(y.sum())},
    }
