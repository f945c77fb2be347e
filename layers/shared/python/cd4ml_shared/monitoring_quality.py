"""Closed-loop quality of a monitoring window against the model's evaluation baseline, and its label-free estimate.

A window of 300 labels at a 2% fraud rate holds about six frauds: its PR AUC can fall far below the test split's
by chance alone. So every metric carries an interval: a stratified bootstrap (`bootstrap.py`, the evaluation's
own code; the Brier score and calibration error with the class counts redrawn), and Wilson's score interval for
precision and recall at the threshold. A metric is degraded only when its whole interval lies beyond the baseline
by more than the policy's margin: higher-is-better metrics when `upper < baseline - margin`, lower-is-better
ones (Brier score, calibration error) when `lower > baseline + margin`. Below `min_labels` labels or
`min_positives` frauds nothing is judged.

For recent windows whose labels have not arrived, `estimate` applies confidence-based performance estimation
(CBPE, as NannyML does): the served scores are calibrated probabilities, so the expected confusion matrix at the
threshold is a sum of scores, and the interval is that of the realised metric when labels are drawn as
Bernoulli(score). Numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from .bootstrap import BOOTSTRAP_SEED, CHUNK_CELLS, FloatArray, Measure, Ranking, bounds, ranked_metrics, resampled

Direction = Literal["higher", "lower"]
JSONValue: TypeAlias = Any

QUALITY_METRICS = ("pr_auc", "auc", "precision", "recall", "brier_score", "calibration_error")
ESTIMATED_METRICS = ("precision", "recall", "positive_rate", "auc")
LOWER_IS_BETTER = frozenset({"brier_score", "calibration_error"})
# what the reader sees in a sentence of the report
TITLES = {
    "pr_auc": "PR AUC",
    "auc": "ROC AUC",
    "precision": "precision",
    "recall": "recall",
    "brier_score": "Brier score",
    "calibration_error": "expected calibration error",
    "positive_rate": "fraud rate",
}
# How far below the baseline a metric may fall before it is a loss worth retraining for (interval wholly beyond):
# - pr_auc 0.05: equal-quality models trained on other seeds spread over about 0.15 of test PR AUC at a 2% fraud
#   rate (issue 11 §3), so a confident drop of 0.05 beyond the interval is a real loss, not the luck of a split;
# - auc 0.03: ROC AUC is far less noisy than PR AUC at a low base rate, and 0.03 is a visible loss of ranking;
# - precision, recall 0.1 at the threshold: ten points more false alarms, or ten points more fraud let through;
# - brier_score 0.02: about the Brier score of predicting the 2% base rate for every request, so a rise that large
#   costs as much as all the scores' information;
# - calibration_error 0.05: five points between the score served and the fraud rate seen, enough to mislead the
#   decision rules that read the score as a probability.
DEFAULT_MARGINS: Mapping[str, float] = {
    "pr_auc": 0.05,
    "auc": 0.03,
    "precision": 0.1,
    "recall": 0.1,
    "brier_score": 0.02,
    "calibration_error": 0.05,
}
CALIBRATION_BINS = 10
CBPE_METHOD = (
    "CBPE: expected confusion matrix from the calibrated scores (TP = sum of flagged scores, FP = sum of their "
    "complements, FN = sum of unflagged scores); intervals from labels simulated as Bernoulli(score)"
)


class QualityInputError(ValueError):
    """A window that cannot be measured: no rows, arrays of different lengths, labels other than 0/1, scores
    outside [0, 1], or a threshold or policy that is not a number it can use."""


class BaselineFormatError(ValueError):
    """The evaluation document lacks a figure the monitor compares with; the message names the missing key."""


@dataclass(frozen=True)
class QualityPolicy:
    """When a window's quality counts as degraded, and how its intervals are drawn.

    `max_cells` bounds resamples x rows, so a window of 100,000 labels is measured in about a second on two
    cores: a window so large that the full `resamples` would exceed it is resampled fewer times (never fewer than
    `min_resamples`). Its interval is narrow at that size, and the Monte Carlo error of a 2.5th percentile taken
    from 200 resamples is about 0.19 standard deviations of the metric, some 5% of the interval's width (from
    1000: 2%)."""

    margins: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MARGINS))
    min_labels: int = 200
    min_positives: int = 5
    confidence: float = 0.95
    resamples: int = 1000
    seed: int = BOOTSTRAP_SEED
    max_cells: int = 20_000_000
    min_resamples: int = 200

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0:
            raise QualityInputError(f"confidence must lie strictly between 0 and 1, got {self.confidence}")
        if self.resamples < 1 or self.min_resamples < 1:
            raise QualityInputError(f"resamples must be at least 1, got {self.resamples} (min {self.min_resamples})")
        bad = {name: m for name, m in self.margins.items() if not (math.isfinite(m) and m >= 0.0)}
        if bad:
            raise QualityInputError(f"margins must be finite and non-negative, got {bad}")

    def resamples_for(self, rows: int) -> int:
        """The resamples a window of `rows` rows gets within `max_cells`."""
        return min(self.resamples, max(self.min_resamples, self.max_cells // max(1, rows)))


@dataclass(frozen=True)
class Baseline:
    """The figures of the model version's evaluation (its test split) that a window is compared with."""

    values: Mapping[str, float]
    intervals: Mapping[str, tuple[float, float]]
    threshold: float | None
    positive_rate: float | None

    @classmethod
    def from_evaluation(cls, document: Mapping[str, Any]) -> Baseline:
        """Read `evaluation.json` as `model/cd4ml_model/evaluate.py` writes it: the point values under
        `binary_classification_metrics.<name>.value`, the bootstrap intervals under
        `sampling_intervals.metrics.<name>` (absent from older documents), the threshold and the test split's size."""
        metrics = document.get("binary_classification_metrics")
        if not isinstance(metrics, Mapping):
            raise BaselineFormatError("the evaluation lacks 'binary_classification_metrics'")
        values: dict[str, float] = {}
        for name in ("pr_auc", "auc", "precision", "recall", "brier_score", "f1", "accuracy", "calibration_error"):
            entry = metrics.get(name)
            if entry is None and name in ("f1", "accuracy", "calibration_error"):
                continue  # not compared, or not written by every evaluation
            values[name] = _number(entry, "value", f"binary_classification_metrics.{name}.value")
        threshold = None
        if "threshold" in metrics:
            threshold = _number(metrics["threshold"], "value", "binary_classification_metrics.threshold.value")
        intervals: dict[str, tuple[float, float]] = {}
        sampled = document.get("sampling_intervals", {}).get("metrics", {})
        for name, interval in sampled.items():
            where = f"sampling_intervals.metrics.{name}"
            intervals[name] = (
                _number(interval, "lower", f"{where}.lower"),
                _number(interval, "upper", f"{where}.upper"),
            )
        dataset = document.get("dataset", {})
        positive_rate = None
        if dataset.get("rows"):
            positive_rate = _number(dataset, "positives", "dataset.positives") / float(dataset["rows"])
        return cls(values, intervals, threshold, positive_rate)


def _number(entry: Any, key: str, where: str) -> float:
    if not isinstance(entry, Mapping) or key not in entry:
        raise BaselineFormatError(f"the evaluation lacks '{where}'")
    try:
        return float(entry[key])
    except (TypeError, ValueError) as error:
        raise BaselineFormatError(f"'{where}' is not a number: {entry[key]!r}") from error


@dataclass(frozen=True)
class MetricJudgement:
    """One metric of a window: its value and interval beside the baseline's, and whether it is degraded, and why."""

    name: str
    value: float | None
    lower: float | None
    upper: float | None
    baseline: float | None
    baseline_lower: float | None
    baseline_upper: float | None
    margin: float | None
    direction: Direction
    degraded: bool
    why: str

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "value": _finite(self.value),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "baseline": _finite(self.baseline),
            "baseline_lower": _finite(self.baseline_lower),
            "baseline_upper": _finite(self.baseline_upper),
            "margin": _finite(self.margin),
            "direction": self.direction,
            "degraded": self.degraded,
            "why": self.why,
        }


@dataclass(frozen=True)
class CalibrationBin:
    """One equal-count bin of scores in the reliability table: the mean score served and the fraud rate seen."""

    mean_score: float
    observed_rate: float
    rows: int


@dataclass(frozen=True)
class QualityReport:
    """The closed-loop quality of one labelled window."""

    labels: int
    positives: int
    threshold: float
    confidence: float
    resamples: int
    judged: bool
    why_not_judged: str | None
    metrics: tuple[MetricJudgement, ...]
    bins: tuple[CalibrationBin, ...]
    expected_calibration_error: float | None

    @property
    def degraded(self) -> list[str]:
        return [m.name for m in self.metrics if m.degraded]

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "labels": self.labels,
            "positives": self.positives,
            "threshold": float(self.threshold),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "judged": self.judged,
            "why_not_judged": self.why_not_judged,
            "metrics": {m.name: m.to_dict() for m in self.metrics},
            "calibration": {
                "bins": [
                    {"mean_score": _finite(b.mean_score), "observed_rate": _finite(b.observed_rate), "rows": b.rows}
                    for b in self.bins
                ],
                "expected_calibration_error": _finite(self.expected_calibration_error),
            },
            "degraded": self.degraded,
        }


@dataclass(frozen=True)
class EstimateReport:
    """The label-free (CBPE) estimate of one window's quality; every figure in it is estimated, none measured."""

    rows: int
    threshold: float
    confidence: float
    resamples: int
    judged: bool
    why_not_judged: str | None
    metrics: tuple[MetricJudgement, ...]

    @property
    def degraded(self) -> list[str]:
        return [m.name for m in self.metrics if m.degraded]

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "rows": self.rows,
            "threshold": float(self.threshold),
            "estimated": True,
            "method": CBPE_METHOD,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "judged": self.judged,
            "why_not_judged": self.why_not_judged,
            "metrics": {m.name: m.to_dict() for m in self.metrics},
            "degraded": self.degraded,
        }


def _finite(value: float | None) -> float | None:
    # JSON has no NaN or infinity: an undefined figure is null
    return float(value) if value is not None and math.isfinite(value) else None


def _scores(scores: npt.ArrayLike, threshold: float) -> FloatArray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise QualityInputError(f"scores must be 1-D, got shape {s.shape}")
    if len(s) == 0:
        raise QualityInputError("the window has no rows to measure")
    outside = ~((s >= 0.0) & (s <= 1.0))  # NaN fails both comparisons
    if outside.any():
        raise QualityInputError(
            f"{int(outside.sum())} score(s) are not probabilities in [0, 1], e.g. {float(s[outside][0])}"
        )
    if not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise QualityInputError(f"threshold must be a probability in [0, 1], got {threshold}")
    return s


def _labels(labels: npt.ArrayLike, rows: int) -> npt.NDArray[np.int64]:
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != rows:
        raise QualityInputError(f"labels {y.shape} and scores ({rows},) must be 1-D and of the same length")
    values = np.unique(y)
    if not np.isin(values, [0, 1]).all():
        raise QualityInputError(f"labels must be 0 or 1, found {values[:5].tolist()}")
    return y.astype(np.int64)


def _judge(
    name: str,
    value: float | None,
    interval: tuple[float, float] | None,
    baseline: Baseline,
    policy: QualityPolicy,
    why_not_judged: str | None,
    *,
    estimated: bool = False,
    baseline_value: float | None = None,
) -> MetricJudgement:
    direction: Direction = "lower" if name in LOWER_IS_BETTER else "higher"
    reference = baseline.values.get(name) if baseline_value is None else baseline_value
    reference_interval = baseline.intervals.get(name)
    margin = policy.margins.get(name)
    lower, upper = interval if interval is not None else (None, None)
    title = f"estimated {TITLES[name]}" if estimated else TITLES[name]
    shown = f"{title} {_shown(value)} [{_shown(lower)}, {_shown(upper)}]"
    degraded = False
    if why_not_judged is not None:
        why = f"{shown}: not judged, {why_not_judged}"
    elif reference is None or not math.isfinite(reference):
        why = f"{shown}: not judged, the evaluation has no baseline {TITLES[name]}"
    elif margin is None:
        why = f"{shown} against the baseline {reference:.3f}: reported, not judged (no margin in the policy)"
    elif lower is None or upper is None or not (math.isfinite(lower) and math.isfinite(upper)):
        why = f"{shown}: not judged, the window does not define it"
    elif direction == "higher":
        degraded = upper < reference - margin
        relation = "is below" if degraded else "is not confidently below"
        why = f"{shown} {relation} the baseline {reference:.3f} by more than the margin {margin:g}"
    else:
        degraded = lower > reference + margin
        relation = "is above" if degraded else "is not confidently above"
        why = f"{shown} {relation} the baseline {reference:.3f} by more than the margin {margin:g}"
    return MetricJudgement(
        name=name,
        value=value,
        lower=lower,
        upper=upper,
        baseline=reference,
        baseline_lower=reference_interval[0] if reference_interval else None,
        baseline_upper=reference_interval[1] if reference_interval else None,
        margin=margin,
        direction=direction,
        degraded=degraded,
        why=why,
    )


def _shown(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


# ---- closed loop ------------------------------------------------------------------------------------------------


def _calibration_bins(ranking: Ranking, bins: int) -> npt.NDArray[np.intp]:
    """Each sorted row's bin among `bins` equal-count bins of score, rows of one score always in one bin (so a bin
    can hold more or fewer rows than its share, or none, when scores are tied)."""
    rows = len(ranking.scores)
    ascending = rows - 1 - np.arange(rows)  # rank from the lowest score, in the ranking's descending order
    by_rank = np.minimum(ascending * bins // rows, bins - 1)
    # a run of equal scores takes the bin of its last (lowest-ranked) row
    run = np.searchsorted(ranking.last, np.arange(rows))
    return by_rank[ranking.last[run]]


def _row_sums(ranking: Ranking, bin_of: npt.NDArray[np.intp], bins: int) -> FloatArray:
    """A rows x (3 bins + 1) matrix: weights @ it gives a resample's rows, frauds and score sum in each calibration
    bin, and its Brier score's numerator."""
    onehot = np.zeros((len(bin_of), bins), dtype=np.float64)
    onehot[np.arange(len(bin_of)), bin_of] = 1.0
    ys, ss = ranking.labels[:, None], ranking.scores[:, None]
    return np.concatenate([onehot, onehot * ys, onehot * ss, (ss - ys) ** 2], axis=1)


def _calibration(ranking: Ranking) -> tuple[FloatArray, FloatArray, float]:
    bin_of = _calibration_bins(ranking, CALIBRATION_BINS)
    row_sums = _row_sums(ranking, bin_of, CALIBRATION_BINS)
    point_sums = row_sums.sum(axis=0)[None, :]
    return row_sums, point_sums, float(_calibration_error(point_sums, CALIBRATION_BINS)[0])


def expected_calibration_error(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """The expected calibration error over 10 equal-count score bins, as `closed_loop` measures a window's: the
    evaluation job writes the test split's, the baseline a window's is compared with."""
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if not len(y) or len(y) != len(s):
        raise QualityInputError(f"need as many labels as scores, at least one: got {len(y)} and {len(s)}")
    return _calibration(Ranking.of(y, s))[2]


def _calibration_error(sums: FloatArray, bins: int) -> FloatArray:
    """ECE per resample from its per-bin sums: sum over bins of |score sum - fraud count|, over the rows."""
    rows, frauds, scores = sums[:, :bins], sums[:, bins : 2 * bins], sums[:, 2 * bins : 3 * bins]
    return np.abs(scores - frauds).sum(axis=1) / rows.sum(axis=1)


def _class_count_measure(ranking: Ranking, row_sums: FloatArray, rng: np.random.Generator, bins: int) -> Measure:
    """The Brier score and calibration error of each resample with the window's class counts redrawn.

    The stratified bootstrap keeps the window's count of frauds in every resample, which the ranking metrics need
    but which hides the largest part of the Brier score's and the calibration error's sampling noise: another
    window of the same traffic holds another count of frauds (their intervals covered the population's Brier score
    in half the windows only). An unstratified bootstrap is exactly a stratified one whose class counts are drawn
    Binomial(rows, fraud rate), so each class's sums are rescaled by its redrawn count over its own."""
    rows = len(ranking.labels)
    frauds = len(ranking.positives)
    positive_sums_of = row_sums[ranking.positives]

    def measure(_: Ranking, weights: FloatArray) -> dict[str, FloatArray]:
        positive = weights[:, ranking.positives] @ positive_sums_of
        negative = weights @ row_sums - positive
        redrawn = rng.binomial(rows, frauds / rows, size=len(weights)).astype(np.float64)
        sums = (redrawn / frauds)[:, None] * positive + ((rows - redrawn) / (rows - frauds))[:, None] * negative
        # named as the bootstrap's own Brier score, which it replaces
        return {"brier_score": sums[:, -1] / rows, "calibration_error": _calibration_error(sums, bins)}

    return measure


def closed_loop(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    threshold: float,
    baseline: Baseline,
    policy: QualityPolicy | None = None,
) -> QualityReport:
    """PR AUC, ROC AUC, precision and recall at `threshold`, Brier score and expected calibration error of a
    labelled window (its served, calibrated scores and the labels that arrived), each with an interval, judged
    against the evaluation's baseline: a stratified bootstrap of the window's rows (the evaluation's own code) for
    the ranking metrics, the Brier score and the calibration error, Wilson's score interval for precision and
    recall at the threshold (proportions of a handful of rows, where the bootstrap collapses)."""
    policy = policy or QualityPolicy()
    s = _scores(scores, threshold)
    y = _labels(labels, len(s))
    rows, positives = len(y), int(y.sum())
    why_not = None
    if rows < policy.min_labels:
        why_not = f"only {rows} labels in the window (at least {policy.min_labels} needed)"
    elif positives < policy.min_positives:
        why_not = f"only {positives} fraud label(s) in the window (at least {policy.min_positives} needed)"
    ranking = Ranking.of(y, s)
    row_sums, point_sums, ece = _calibration(ranking)
    counts = point_sums[0, :CALIBRATION_BINS]
    table = tuple(
        CalibrationBin(
            mean_score=float(point_sums[0, 2 * CALIBRATION_BINS + b] / counts[b]),
            observed_rate=float(point_sums[0, CALIBRATION_BINS + b] / counts[b]),
            rows=int(counts[b]),
        )
        for b in range(CALIBRATION_BINS)
        if counts[b] > 0
    )
    values: dict[str, float | None] = dict.fromkeys(QUALITY_METRICS)
    intervals: dict[str, tuple[float, float] | None] = dict.fromkeys(QUALITY_METRICS)
    values["calibration_error"] = ece
    resamples = policy.resamples_for(rows)
    if 0 < positives < rows:  # both classes: the ranking metrics are defined and the strata can be resampled
        point = ranked_metrics(ranking, threshold, np.ones((1, rows)))
        values.update({name: float(point[name][0]) for name in QUALITY_METRICS if name in point})
        counts_rng = np.random.default_rng([policy.seed, 1])  # its own stream: the resamples stay the evaluation's
        measure = _class_count_measure(ranking, row_sums, counts_rng, CALIBRATION_BINS)
        (draws,) = resampled(y, [(s, threshold)], resamples, policy.seed, measure=measure)
        intervals = {name: bounds(draws[name], policy.confidence) for name in QUALITY_METRICS}
        # Precision and recall at the threshold are proportions of a few rows (at 300 labels, two or three flagged
        # ones and six frauds): a window that caught none of them bootstraps to [0, 0], an alarm on noise. Their
        # Wilson score interval keeps the uncertainty of so few rows (its upper bound with 0 of 6 is 0.39).
        flagged = int(np.count_nonzero(s >= threshold))
        caught = int(np.count_nonzero(y[s >= threshold]))
        values["precision"] = caught / flagged if flagged else None
        intervals["precision"] = _wilson(caught, flagged, policy.confidence) if flagged else None
        intervals["recall"] = _wilson(caught, positives, policy.confidence)
    judgements = tuple(
        _judge(
            name,
            values[name],
            intervals[name],
            baseline,
            policy,
            why_not,
            # the test split's, from evaluations since it is written; before, the calibrated scores' ideal: 0
            baseline_value=baseline.values.get(name, 0.0) if name == "calibration_error" else None,
        )
        for name in QUALITY_METRICS
    )
    return QualityReport(
        labels=rows,
        positives=positives,
        threshold=threshold,
        confidence=policy.confidence,
        resamples=resamples,
        judged=why_not is None,
        why_not_judged=why_not,
        metrics=judgements,
        bins=table,
        expected_calibration_error=ece,
    )


def _wilson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Wilson's score interval of a binomial proportion (Wilson 1927), which stays inside [0, 1] and does not
    collapse to a point at 0 or all successes, as a bootstrap or the normal approximation do."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    share, z2 = successes / trials, z * z / trials
    centre = (share + z2 / 2.0) / (1.0 + z2)
    half = z / (1.0 + z2) * math.sqrt(share * (1.0 - share) / trials + z2 / (4.0 * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


# ---- label-free estimate (CBPE) ---------------------------------------------------------------------------------


def _expected_auc(ranking: Ranking, midranks: FloatArray) -> float:
    """ROC AUC's expectation under labels ~ Bernoulli(score), as a ratio of expectations (Mann-Whitney: the pairs a
    fraud outranks are its midrank minus the frauds at or below it), exact up to O(1 / frauds)."""
    s = ranking.scores
    frauds, spread = float(s.sum()), float((s * (1.0 - s)).sum())
    second_moment = spread + frauds**2
    numerator = float(s @ midranks) - (second_moment + frauds) / 2.0
    pairs = len(s) * frauds - second_moment
    return numerator / pairs if pairs > 0 else math.nan


def estimate(
    scores: npt.ArrayLike,
    threshold: float,
    baseline: Baseline,
    policy: QualityPolicy | None = None,
) -> EstimateReport:
    """Precision and recall at `threshold`, the fraud rate and ROC AUC of an unlabelled window, estimated from its
    served scores by CBPE, with intervals, judged against the baseline with the closed loop's margin rule.

    CBPE's assumption: the scores stay calibrated on this window (P(fraud | score) is what it was when the model
    was calibrated). It holds under covariate shift (the mix of requests moves, the relation of features to fraud
    does not) and fails under concept drift (fraudsters change what fraud looks like): then only labels tell, so
    the closed loop remains the judge once they arrive. The interval is the spread of the realised metric when
    labels are drawn as Bernoulli(score); it says nothing of a calibration that no longer holds."""
    policy = policy or QualityPolicy()
    s = _scores(scores, threshold)
    rows = len(s)
    expected_frauds = float(s.sum())
    why_not = None
    if rows < policy.min_labels:
        why_not = f"only {rows} rows in the window (at least {policy.min_labels} needed)"
    elif expected_frauds < policy.min_positives:
        why_not = f"only {expected_frauds:.1f} frauds expected in the window (at least {policy.min_positives} needed)"
    ranking = Ranking.of(np.zeros(rows, dtype=np.int64), s)
    ss = ranking.scores
    flagged = int(np.count_nonzero(ss >= threshold))  # a prefix of the descending order
    true_positives = float(ss[:flagged].sum())
    values: dict[str, float | None] = {
        "precision": true_positives / flagged if flagged else None,
        "recall": true_positives / expected_frauds if expected_frauds > 0 else None,
        "positive_rate": expected_frauds / rows,
    }
    # midranks in ascending order of score (ties share their mean rank), in the descending ranking's positions
    run = np.searchsorted(ranking.last, np.arange(rows))
    first = np.r_[0, ranking.last[:-1] + 1]
    midranks = rows + 1.0 - (first[run] + ranking.last[run] + 2.0) / 2.0
    values["auc"] = _expected_auc(ranking, midranks)
    simulations = policy.resamples_for(rows)
    draws = _simulated(ss, midranks, flagged, simulations, policy.seed)
    intervals = {name: bounds(draws[name], policy.confidence) for name in ESTIMATED_METRICS}
    judgements = tuple(
        _judge(
            name,
            values[name],
            intervals[name],
            baseline,
            policy,
            why_not,
            estimated=True,
            baseline_value=baseline.positive_rate if name == "positive_rate" else None,
        )
        for name in ESTIMATED_METRICS
    )
    return EstimateReport(
        rows=rows,
        threshold=threshold,
        confidence=policy.confidence,
        resamples=simulations,
        judged=why_not is None,
        why_not_judged=why_not,
        metrics=judgements,
    )


def _simulated(
    ss: FloatArray, midranks: FloatArray, flagged: int, simulations: int, seed: int
) -> dict[str, FloatArray]:
    """The realised precision, recall, fraud rate and ROC AUC of `simulations` label draws ~ Bernoulli(score), in
    blocks of rows x draws within `CHUNK_CELLS` (a draw without a fraud leaves recall and AUC undefined: NaN)."""
    rows = len(ss)
    rng = np.random.default_rng(seed)
    block = max(1, CHUNK_CELLS // rows)
    threshold32 = ss.astype(np.float32)
    parts: dict[str, list[FloatArray]] = {name: [] for name in ESTIMATED_METRICS}
    for start in range(0, simulations, block):
        count = min(block, simulations - start)
        frauds = rng.random((count, rows), dtype=np.float32) < threshold32
        caught = np.count_nonzero(frauds[:, :flagged], axis=1).astype(np.float64)
        total = np.count_nonzero(frauds, axis=1).astype(np.float64)
        rank_sum = frauds.astype(np.float64) @ midranks
        with np.errstate(divide="ignore", invalid="ignore"):
            parts["precision"].append(caught / flagged if flagged else np.full(count, np.nan))
            parts["recall"].append(caught / total)
            parts["positive_rate"].append(total / rows)
            parts["auc"].append((rank_sum - total * (total + 1.0) / 2.0) / (total * (rows - total)))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}
