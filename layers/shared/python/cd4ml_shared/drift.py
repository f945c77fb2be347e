"""Distribution summaries of a dataset (Profile) and the statistics that compare them: PSI and single-feature ROC AUC.

The validation step compares a new dataset with the last accepted one's Profile; the monitoring step will compare
captured features with the training Profile the same way. Everything here is numpy over plain arrays: a Profile is
small, JSON-serialisable and knows nothing about pyarrow or the contract.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]

# A share of zero on either side would make PSI infinite (a category that appears for the first time); shares are
# floored at this value instead, so one new category among 10,000 rows adds a large but finite term.
PSI_EPSILON = 1e-4
# The version changes only when a reader of an older version would misread a newer document. Optional additions
# that older readers ignore keep it: the finer CDF of numeric columns (`cdf_edges`, `cdf`, for the monitor's KS
# statistic) is such an addition, absent from the profiles written before it and read as empty.
PROFILE_VERSION = 1
# Points of a numeric column's finer CDF: the percentiles, so that a KS statistic read at them misses the true
# maximum CDF difference by at most about a percentile's width of probability.
CDF_POINTS = 100


class ProfileMismatch(ValueError):
    """A Profile that cannot be read or compared: a wrong version or a malformed document (a programming error)."""


# ---- profiles -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NumericProfile:
    """A numeric column: right-closed bins at its quantiles, shares of all rows (missing values in null_share)."""

    edges: tuple[float, ...]  # ascending, distinct: bins are (-inf, e0], (e0, e1], ..., (e_last, inf)
    shares: tuple[float, ...]  # len(edges) + 1 bins
    null_share: float
    dominant: float | None  # the most frequent value and its share of all rows
    dominant_share: float
    minimum: float | None
    maximum: float | None
    mean: float | None
    kind: Literal["numeric"] = "numeric"
    # The finer CDF (empty in profiles written before it): distinct quantile values and the share of the finite
    # values at or below each, so the monitor compares the shape of a window with the reference without its rows.
    cdf_edges: tuple[float, ...] = ()
    cdf: tuple[float, ...] = ()


@dataclass(frozen=True)
class CategoricalProfile:
    """A categorical (or boolean) column: the share of all rows each value takes."""

    shares: Mapping[str, float]
    null_share: float
    dominant: str | None
    dominant_share: float
    kind: Literal["categorical"] = "categorical"


ColumnProfile: TypeAlias = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class Profile:
    """What the next dataset is compared with: a summary of every feature and the label of an accepted dataset."""

    dataset: str
    rows: int
    time_min: str | None  # ISO 8601, UTC
    time_max: str | None
    label_rate: float | None
    columns: Mapping[str, ColumnProfile] = field(default_factory=dict)
    version: int = PROFILE_VERSION

    def to_dict(self) -> dict[str, JSONValue]:
        columns: dict[str, JSONValue] = {}
        for name, column in self.columns.items():
            if isinstance(column, NumericProfile):
                numeric: dict[str, JSONValue] = {
                    "kind": column.kind,
                    "edges": list(column.edges),
                    "shares": list(column.shares),
                    "null_share": column.null_share,
                    "dominant": column.dominant,
                    "dominant_share": column.dominant_share,
                    "minimum": column.minimum,
                    "maximum": column.maximum,
                    "mean": column.mean,
                }
                if column.cdf_edges:  # a profile without the finer CDF is written as it was read
                    numeric["cdf_edges"] = list(column.cdf_edges)
                    numeric["cdf"] = list(column.cdf)
                columns[name] = numeric
            else:
                columns[name] = {
                    "kind": column.kind,
                    "shares": dict(column.shares),
                    "null_share": column.null_share,
                    "dominant": column.dominant,
                    "dominant_share": column.dominant_share,
                }
        return {
            "version": self.version,
            "dataset": self.dataset,
            "rows": self.rows,
            "time_min": self.time_min,
            "time_max": self.time_max,
            "label_rate": self.label_rate,
            "columns": columns,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Profile:
        if document.get("version") != PROFILE_VERSION:
            raise ProfileMismatch(f"profile version {document.get('version')!r}, expected {PROFILE_VERSION}")
        try:
            columns: dict[str, ColumnProfile] = {}
            for name, column in document["columns"].items():
                if column["kind"] == "numeric":
                    numeric_column = NumericProfile(
                        edges=tuple(float(e) for e in column["edges"]),
                        shares=tuple(float(s) for s in column["shares"]),
                        null_share=float(column["null_share"]),
                        dominant=_optional_float(column["dominant"]),
                        dominant_share=float(column["dominant_share"]),
                        minimum=_optional_float(column["minimum"]),
                        maximum=_optional_float(column["maximum"]),
                        mean=_optional_float(column["mean"]),
                        cdf_edges=tuple(float(e) for e in column.get("cdf_edges", ())),
                        cdf=tuple(float(c) for c in column.get("cdf", ())),
                    )
                    if len(numeric_column.cdf_edges) != len(numeric_column.cdf):
                        raise ProfileMismatch(
                            f"column {name!r} has {len(numeric_column.cdf)} CDF values "
                            f"for {len(numeric_column.cdf_edges)} CDF edges"
                        )
                    columns[name] = numeric_column
                elif column["kind"] == "categorical":
                    columns[name] = CategoricalProfile(
                        shares={str(k): float(v) for k, v in column["shares"].items()},
                        null_share=float(column["null_share"]),
                        dominant=column["dominant"],
                        dominant_share=float(column["dominant_share"]),
                    )
                else:
                    raise ProfileMismatch(f"column {name!r} has unknown kind {column['kind']!r}")
            return cls(
                dataset=str(document["dataset"]),
                rows=int(document["rows"]),
                time_min=document["time_min"],
                time_max=document["time_max"],
                label_rate=_optional_float(document.get("label_rate")),  # absent in the first profiles written
                columns=columns,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            if isinstance(error, ProfileMismatch):
                raise
            raise ProfileMismatch(f"malformed profile document: {error!r}") from error

    @classmethod
    def from_json(cls, text: str | bytes) -> Profile:
        return cls.from_dict(json.loads(text))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


# ---- summaries of one column ----------------------------------------------------------------------------------
def quantiles_of_sorted(values: FloatArray, qs: Sequence[float]) -> FloatArray:
    """np.quantile(values, qs) (linear interpolation) for values already sorted: no second pass over the data."""
    n = len(values)
    positions = np.asarray(qs, dtype=np.float64) * (n - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    weight = positions - low
    # Weighted sum, not low + (high - low) * w: the difference of two values near the float maximum overflows.
    result: FloatArray = np.clip(values[low] * (1 - weight) + values[high] * weight, values[low], values[high])
    return result


def quantile_edges(values_sorted: FloatArray, bins: int) -> tuple[float, ...]:
    """Interior quantile edges for `bins` equal-frequency bins; repeated edges (ties in discrete data) merged."""
    if len(values_sorted) == 0 or bins < 2:
        return ()
    edges = quantiles_of_sorted(values_sorted, [i / bins for i in range(1, bins)])
    return tuple(float(e) for e in np.unique(edges))


def bin_shares(values_sorted: FloatArray, edges: Sequence[float], rows: int) -> tuple[float, ...]:
    """Share of all `rows` in each right-closed bin of `edges`; values_sorted holds the non-missing values."""
    if rows == 0:
        return tuple(0.0 for _ in range(len(edges) + 1))
    at_or_below = np.searchsorted(values_sorted, np.asarray(edges, dtype=np.float64), side="right")
    counts = np.diff(np.concatenate(([0], at_or_below, [len(values_sorted)])))
    return tuple(float(c) / rows for c in counts)


def dominant_of_sorted(values_sorted: FloatArray) -> tuple[float | None, int]:
    """The most frequent value of a sorted array and how often it occurs (the smallest one on a tie)."""
    n = len(values_sorted)
    if n == 0:
        return None, 0
    starts = np.concatenate(([0], np.flatnonzero(values_sorted[1:] != values_sorted[:-1]) + 1))
    lengths = np.diff(np.append(starts, n))
    best = int(np.argmax(lengths))
    return float(values_sorted[starts[best]]), int(lengths[best])


def finite_part(values_sorted: FloatArray, missing: int) -> tuple[FloatArray, int]:
    """The finite values of a sorted array (a view) and the missing count with the infinities added to it.

    An infinity is no value a bin, a mean or a JSON document can hold; the range check has already reported it.
    """
    low = int(np.searchsorted(values_sorted, -np.inf, side="right"))
    high = int(np.searchsorted(values_sorted, np.inf, side="left"))
    return values_sorted[low:high], missing + len(values_sorted) - (high - low)


def numeric_profile(values_sorted: FloatArray, missing: int, bins: int, cdf_points: int = CDF_POINTS) -> NumericProfile:
    """Profile of a numeric column from its sorted non-missing values and the number of missing ones."""
    values, missing = finite_part(values_sorted, missing)
    rows = len(values) + missing
    edges = quantile_edges(values, bins)
    cdf_edges = quantile_edges(values, cdf_points)
    at_or_below = np.searchsorted(values, np.asarray(cdf_edges, dtype=np.float64), side="right")
    dominant, count = dominant_of_sorted(values)
    has_values = len(values) > 0
    return NumericProfile(
        edges=edges,
        shares=bin_shares(values, edges, rows),
        null_share=missing / rows if rows else 0.0,
        dominant=dominant,
        dominant_share=count / rows if rows else 0.0,
        minimum=float(values[0]) if has_values else None,
        maximum=float(values[-1]) if has_values else None,
        mean=_finite_mean(values),
        cdf_edges=cdf_edges,
        cdf=tuple(float(c) / len(values) for c in at_or_below),
    )


def _finite_mean(values: FloatArray) -> float | None:
    """The mean, or None when there is none or the sum overflows (values near the float maximum: the range check
    reports them, and a profile is JSON without infinities)."""
    if not len(values):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(values.mean())
    return mean if math.isfinite(mean) else None


def categorical_profile(counts: Mapping[str, int], missing: int) -> CategoricalProfile:
    """Profile of a categorical column from its value counts (nulls not among them) and the number of nulls."""
    rows = sum(counts.values()) + missing
    shares = {value: count / rows for value, count in sorted(counts.items()) if count}
    dominant = max(sorted(shares), key=lambda value: shares[value]) if shares else None
    return CategoricalProfile(
        shares=shares,
        null_share=missing / rows if rows else 0.0,
        dominant=dominant,
        dominant_share=shares[dominant] if dominant is not None else 0.0,
    )


# ---- population stability index ------------------------------------------------------------------------------
def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two share vectors over the same bins: sum((a - e) * ln(a / e)).

    Shares are floored at epsilon so that a bin empty on one side adds a finite term.
    """
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs shares over the same bins: {len(expected)} expected, {len(actual)} actual")
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class PsiResult:
    """PSI of one column and the bin that moved most (to tell a person where to look)."""

    value: float
    bins: int
    worst_bin: str
    expected_share: float
    actual_share: float


def _psi_result(labels: Sequence[str], expected: Sequence[float], actual: Sequence[float], epsilon: float) -> PsiResult:
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    terms = (a - e) * np.log(a / e)
    worst = int(np.argmax(terms))
    return PsiResult(
        value=float(terms.sum()),
        bins=len(labels),
        worst_bin=labels[worst],
        expected_share=float(expected[worst]),
        actual_share=float(actual[worst]),
    )


def numeric_psi(
    reference: NumericProfile, values_sorted: FloatArray, missing: int, epsilon: float = PSI_EPSILON
) -> PsiResult:
    """PSI of a numeric column against the reference's quantile bins (missing values are one more bin)."""
    values_sorted, missing = finite_part(values_sorted, missing)
    rows = len(values_sorted) + missing
    actual = [*bin_shares(values_sorted, reference.edges, rows), missing / rows if rows else 0.0]
    expected = [*reference.shares, reference.null_share]
    bounds = ["-inf", *(f"{edge:g}" for edge in reference.edges), "inf"]
    labels = [f"({bounds[i]}, {bounds[i + 1]}]" for i in range(len(bounds) - 1)] + ["missing"]
    return _psi_result(labels, expected, actual, epsilon)


def categorical_psi(
    reference: CategoricalProfile, current: CategoricalProfile, epsilon: float = PSI_EPSILON
) -> PsiResult:
    """PSI of a categorical column over the union of both sides' values (nulls are one more category)."""
    values = sorted(set(reference.shares) | set(current.shares))
    expected = [reference.shares.get(v, 0.0) for v in values] + [reference.null_share]
    actual = [current.shares.get(v, 0.0) for v in values] + [current.null_share]
    return _psi_result([*values, "missing"], expected, actual, epsilon)


# ---- ROC AUC of one feature -----------------------------------------------------------------------------------
def auc_of_sorted(
    all_sorted: FloatArray, positives_sorted: FloatArray, all_missing: int = 0, positives_missing: int = 0
) -> float:
    """ROC AUC of a score from the sorted scores of all rows and of the positive rows (mid-ranks for ties).

    For each positive, the negatives strictly below it count 1 and those equal to it 1/2: the Mann-Whitney U
    statistic over P * N, i.e. (sum of the positives' mid-ranks - P(P+1)/2) / (P * N), without ranking every row.
    Missing scores (counted apart, not in the sorted arrays) tie with each other below every present score.
    """
    p = len(positives_sorted) + positives_missing
    n = len(all_sorted) + all_missing - p
    if p == 0 or n == 0:
        return math.nan
    # negatives strictly below each present positive, and tied with it
    all_below = np.searchsorted(all_sorted, positives_sorted, side="left")
    all_at_or_below = np.searchsorted(all_sorted, positives_sorted, side="right")
    pos_below = np.searchsorted(positives_sorted, positives_sorted, side="left")
    pos_at_or_below = np.searchsorted(positives_sorted, positives_sorted, side="right")
    negatives_missing = all_missing - positives_missing
    below = float((all_below - pos_below).sum()) + len(positives_sorted) * negatives_missing
    tied = float(((all_at_or_below - all_below) - (pos_at_or_below - pos_below)).sum())
    tied += positives_missing * negatives_missing  # a missing positive ties with every missing negative
    return (below + 0.5 * tied) / (float(p) * float(n))


def auc_of_groups(scores: FloatArray, positives: FloatArray, totals: FloatArray) -> float:
    """ROC AUC when rows come in groups sharing one score (a category's positive rate): counts per group."""
    p = float(positives.sum())
    n = float(totals.sum()) - p
    if p == 0 or n == 0:
        return math.nan
    distinct, inverse = np.unique(scores, return_inverse=True)  # groups with equal scores are ties
    pos = np.bincount(inverse, weights=positives, minlength=len(distinct))
    neg = np.bincount(inverse, weights=totals, minlength=len(distinct)) - pos
    neg_below = np.cumsum(neg) - neg
    return float(((neg_below + 0.5 * neg) * pos).sum() / (p * n))


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """ROC AUC of `scores` for boolean `labels`; a missing score (NaN) ranks below every other value."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    missing = np.isnan(x)
    return auc_of_sorted(np.sort(x[~missing]), np.sort(x[y & ~missing]), int(missing.sum()), int((y & missing).sum()))
