"""The columns the monitor watches for drift, from the model's feature vectors: the numbers as they are, each
one-hot group folded back into the categorical column it encodes; and the version's reference, built the same way
by the evaluation job from its test split, with the served scores (`monitoring_reference.json` beside
evaluation.json).

Why the test split and not the training split: the test split is the latest held-out data, with the longest
customer history before it. The rolling features of the training split's first days see a truncated history (the
dataset starts there), so against it a live window with full history drifts in every rolling feature: on generated
data, 4 of 5 rolling features flagged against the training split, none against the test split.

Why not the raw training dataset's profile: the endpoint captures the model's feature vector, not the order; the
rolling customer features exist only as features, and a window's categories arrive one-hot. Folding a group back
(`merchant_category=grocery`, `merchant_category=travel`, ... into `merchant_category`) gives one PSI over the
category mix instead of one 0/1 test per category, so a merchant-mix shift is one finding and Holm's correction
counts one test for it. A row whose group is all zeros (an unknown category or a missing value) is missing.

Left out: `log1p_order_amount` (a monotone transform of `order_amount` has the same PSI bins and the same KS, so it
would only count the same test twice), and the calendar features `hour_of_day` and `day_of_week`: their mix follows
the window, not the population (an hour's window holds one hour of the day, a weekday's one day of the week), so
against a training split of weeks they would drift in every window shorter than a week.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .drift import ColumnProfile, Profile, categorical_profile, numeric_profile
from .monitoring_drift import CategoricalValues, WindowColumn, score_profile

PROFILE_BINS = 10
NOT_WATCHED = frozenset({"log1p_order_amount", "hour_of_day", "day_of_week"})
MONITORING_REFERENCE_FILE = "monitoring_reference.json"
REFERENCE_VERSION = 1
SCORE = "score"


class FeatureLayoutError(ValueError):
    """Feature vectors that do not match the feature names (another model's width, a ragged row)."""


@dataclass(frozen=True)
class _Group:
    column: str
    categories: tuple[str, ...]
    positions: tuple[int, ...]


def _layout(names: Sequence[str]) -> tuple[list[tuple[str, int]], list[_Group]]:
    numeric: list[tuple[str, int]] = []
    groups: dict[str, _Group] = {}
    for position, name in enumerate(names):
        column, one_hot, category = name.partition("=")
        if not one_hot:
            if name not in NOT_WATCHED:
                numeric.append((name, position))
            continue
        group = groups.get(column, _Group(column, (), ()))
        groups[column] = _Group(column, (*group.categories, category), (*group.positions, position))
    return numeric, list(groups.values())


def _matrix(names: Sequence[str], vectors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, len(names))
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise FeatureLayoutError(f"feature vectors of shape {matrix.shape} do not match {len(names)} feature names")
    return matrix


def _codes(matrix: npt.NDArray[np.float64], group: _Group) -> npt.NDArray[np.int64]:
    block = matrix[:, list(group.positions)] > 0.5
    codes = np.argmax(block, axis=1).astype(np.int64)
    codes[~block.any(axis=1)] = -1
    return codes


def drift_columns(names: Sequence[str], vectors: npt.ArrayLike) -> dict[str, WindowColumn]:
    """The watched columns of a window's feature vectors (rows x features, in `names`' order)."""
    matrix = _matrix(names, vectors)
    numeric, groups = _layout(names)
    columns: dict[str, WindowColumn] = {name: np.ascontiguousarray(matrix[:, at]) for name, at in numeric}
    for group in groups:
        columns[group.column] = CategoricalValues(_codes(matrix, group), group.categories)
    return columns


def feature_profile(
    names: Sequence[str], vectors: npt.ArrayLike, *, dataset: str, label_rate: float | None = None
) -> Profile:
    """The reference of the watched columns: the drift library's `Profile` of the same columns `drift_columns` gives
    (numeric deciles and finer CDF; category shares), over the training split's feature vectors."""
    matrix = _matrix(names, vectors)
    numeric, groups = _layout(names)
    columns: dict[str, ColumnProfile] = {}
    for name, at in numeric:
        values = matrix[:, at]
        missing = np.isnan(values)
        columns[name] = numeric_profile(np.sort(values[~missing]), int(missing.sum()), PROFILE_BINS)
    for group in groups:
        codes = _codes(matrix, group)
        counts = np.bincount(codes[codes >= 0], minlength=len(group.categories))
        shares: Mapping[str, int] = {c: int(n) for c, n in zip(group.categories, counts, strict=True)}
        columns[group.column] = categorical_profile(shares, int((codes < 0).sum()))
    return Profile(
        dataset=dataset,
        rows=int(matrix.shape[0]),
        time_min=None,
        time_max=None,
        label_rate=label_rate,
        columns=columns,
    )


def monitoring_reference(
    names: Sequence[str], vectors: npt.ArrayLike, scores: npt.ArrayLike, labels: npt.ArrayLike
) -> dict[str, object]:
    """The document the evaluation job writes: the feature order the endpoint receives, and the profile of the
    watched columns and of the score (`score`) over the evaluated rows."""
    values = np.asarray(labels, dtype=np.float64)
    rate = float(np.nanmean(values)) if values.size else None
    profile = feature_profile(names, vectors, dataset="test split", label_rate=rate)
    score = score_profile(scores)
    document = Profile(profile.dataset, profile.rows, None, None, rate, {**profile.columns, SCORE: score}).to_dict()
    return {"version": REFERENCE_VERSION, "features": list(names), "profile": document}
