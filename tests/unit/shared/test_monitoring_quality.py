"""Closed-loop quality with intervals and the label-free CBPE estimate, on a planted calibrated fraud model: windows
of the baseline's quality never alarm, a degraded model does, the intervals cover the population value, and CBPE
follows a covariate shift that keeps the scores calibrated."""

import json
import math

import numpy as np
import pytest
from cd4ml_shared.bootstrap import Ranking, bounds, ranked_metrics, resampled
from cd4ml_shared.monitoring_quality import (
    Baseline,
    BaselineFormatError,
    QualityInputError,
    QualityPolicy,
    closed_loop,
    estimate,
)

THRESHOLD = 0.2
SLOPE, INTERCEPT = 2.5, -6.5  # a latent risk through this logistic map: about 1.7% fraud, PR AUC about 0.37


def window(seed: int, rows: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores and labels drawn from them: P(fraud | score) = score. `shift` moves the latent risk of
    the traffic (a covariate shift: the mix of requests changes, the relation of score to fraud does not)."""
    rng = np.random.default_rng(seed)
    scores = 1.0 / (1.0 + np.exp(-(SLOPE * (rng.normal(size=rows) + shift) + INTERCEPT)))
    labels = (rng.random(rows) < scores).astype(np.int64)
    return labels, scores


def evaluation_document(labels: np.ndarray, scores: np.ndarray, resamples: int = 50) -> dict:
    """evaluation.json in the shape model/cd4ml_model/evaluate.py writes, from the same bootstrap code."""
    point = ranked_metrics(Ranking.of(labels, scores), THRESHOLD, np.ones((1, len(labels))))
    (draws,) = resampled(labels, [(scores, THRESHOLD)], resamples, seed=1)
    names = ("pr_auc", "auc", "precision", "recall", "f1", "accuracy", "brier_score")
    return {
        "binary_classification_metrics": {
            **{name: {"value": float(point[name][0]), "standard_deviation": "NaN"} for name in names},
            "threshold": {"value": THRESHOLD, "standard_deviation": "NaN"},
        },
        "dataset": {"rows": len(labels), "positives": int(labels.sum())},
        "sampling_intervals": {
            "resamples": resamples,
            "confidence": 0.95,
            "metrics": {name: dict(zip(("lower", "upper"), bounds(draws[name], 0.95), strict=True)) for name in names},
        },
    }


@pytest.fixture(scope="module")
def population() -> tuple[Baseline, dict[str, float]]:
    """The baseline evaluated on a large sample of the law, and the law's metrics (a far larger sample)."""
    baseline = Baseline.from_evaluation(evaluation_document(*window(0, 200_000)))
    labels, scores = window(1, 2_000_000)
    point = ranked_metrics(Ranking.of(labels, scores), THRESHOLD, np.ones((1, len(labels))))
    return baseline, {name: float(values[0]) for name, values in point.items()}


def test_the_baseline_is_read_from_the_evaluation_document():
    labels, scores = window(0, 20_000)
    document = evaluation_document(labels, scores)
    baseline = Baseline.from_evaluation(document)
    assert baseline.threshold == THRESHOLD
    assert baseline.positive_rate == pytest.approx(labels.mean())
    assert baseline.values["pr_auc"] == document["binary_classification_metrics"]["pr_auc"]["value"]
    lower, upper = baseline.intervals["auc"]
    assert lower < baseline.values["auc"] < upper
    del document["binary_classification_metrics"]["recall"]
    with pytest.raises(BaselineFormatError, match=r"binary_classification_metrics\.recall\.value"):
        Baseline.from_evaluation(document)
    with pytest.raises(BaselineFormatError, match="binary_classification_metrics"):
        Baseline.from_evaluation({"dataset": {}})


def test_twenty_windows_of_300_labels_of_the_baselines_quality_raise_no_alarm(population):
    baseline, _ = population
    judged = 0
    for seed in range(100, 120):
        report = closed_loop(*window(seed, 300), THRESHOLD, baseline)
        assert report.degraded == [], [m.why for m in report.metrics if m.degraded]
        judged += report.judged
    assert judged >= 10  # most windows hold the 5 frauds needed, so the silence above is a judgement, not a skip


def test_a_degraded_model_is_found_in_a_window_of_5000_labels(population):
    baseline, _ = population
    labels, scores = window(7, 5_000)
    served = scores.copy()
    part = np.random.default_rng(8).random(len(served)) < 0.6  # 60% of the scores shuffled among themselves
    served[part] = np.random.default_rng(9).permutation(served[part])
    report = closed_loop(labels, served, THRESHOLD, baseline)
    assert report.judged
    assert {"pr_auc", "auc"} <= set(report.degraded)
    pr = report.to_dict()["metrics"]["pr_auc"]
    assert pr["upper"] < pr["baseline"] - pr["margin"]
    assert pr["why"].startswith("PR AUC ") and "is below the baseline" in pr["why"]
    healthy = closed_loop(labels, scores, THRESHOLD, baseline)  # the same labels with the model's own scores
    assert healthy.degraded == []


def test_intervals_contain_the_population_value_in_about_95_percent_of_windows(population):
    _, truth = population
    names = ("pr_auc", "auc", "precision", "recall", "brier_score")
    covered = dict.fromkeys(names, 0)
    policy = QualityPolicy(resamples=300)
    baseline = Baseline({}, {}, None, None)
    for seed in range(200, 240):
        # 10,000 labels, about 170 frauds: at 5,000 the ranking metrics' percentile intervals cover about 89%
        report = closed_loop(*window(seed, 10_000), THRESHOLD, baseline, policy)
        for m in report.metrics:
            if m.name in covered:
                covered[m.name] += m.lower <= truth[m.name] <= m.upper
    rates = {name: hits / 40 for name, hits in covered.items()}
    print("coverage of the population value over 40 windows of 10,000 labels:", rates)
    assert all(0.85 <= rate <= 1.0 for rate in rates.values()), rates


def test_the_calibration_error_and_reliability_table_of_planted_scores():
    scores = np.repeat([0.05, 0.3], [1000, 1000])
    labels = np.zeros(2000, dtype=np.int64)
    labels[:50] = 1  # 5% of the 0.05 scores: calibrated there
    labels[1000:1100] = 1  # 10% of the 0.3 scores: 0.2 too high there
    report = closed_loop(labels, scores, THRESHOLD, Baseline({}, {}, None, None))
    assert report.expected_calibration_error == pytest.approx(0.5 * 0.2)
    # ties keep each score in one bin: two bins hold the rows, not ten
    table = [(b.mean_score, b.observed_rate, b.rows) for b in report.bins]
    assert table == [(pytest.approx(0.05), 0.05, 1000), (pytest.approx(0.3), 0.1, 1000)]
    ece = report.to_dict()["metrics"]["calibration_error"]
    assert ece["lower"] > 0.05 and ece["degraded"]  # above a calibrated model's 0 by more than the margin 0.05
    assert ece["baseline"] == 0.0 and ece["direction"] == "lower"


def test_cbpe_intervals_contain_the_realised_precision_and_recall(population):
    baseline, _ = population
    covered = {"precision": 0, "recall": 0}
    for seed in range(300, 340):
        labels, scores = window(seed, 5_000)
        report = estimate(scores, THRESHOLD, baseline, QualityPolicy(resamples=400))
        flagged = scores >= THRESHOLD
        realised = {"precision": labels[flagged].mean(), "recall": labels[flagged].sum() / labels.sum()}
        for m in report.metrics:
            if m.name in covered:
                covered[m.name] += m.lower <= realised[m.name] <= m.upper
    assert all(hits >= 34 for hits in covered.values()), covered  # >= 85% of 40


def test_cbpe_follows_a_covariate_shift_that_keeps_the_scores_calibrated(population):
    baseline, truth = population
    labels, scores = window(11, 20_000, shift=-0.8)  # fewer risky requests: the flagged ones sit nearer the threshold
    report = estimate(scores, THRESHOLD, baseline)
    measured = closed_loop(labels, scores, THRESHOLD, baseline)
    estimated = {m.name: m for m in report.metrics}
    realised = {m.name: m for m in measured.metrics}
    assert realised["recall"].value < truth["recall"] - 0.15  # the drop is real
    for name in ("precision", "recall", "auc"):
        assert estimated[name].lower <= realised[name].value <= estimated[name].upper, name
    assert "recall" in report.degraded and "recall" in measured.degraded
    unshifted = estimate(window(12, 20_000)[1], THRESHOLD, baseline)
    assert unshifted.degraded == []
    document = report.to_dict()
    assert document["estimated"] is True and document["method"].startswith("CBPE")
    assert all(m["why"].startswith("estimated ") for m in document["metrics"].values())


def test_a_window_with_too_few_labels_or_frauds_is_not_judged(population):
    baseline, _ = population
    labels, scores = window(20, 150)
    report = closed_loop(labels, 1.0 - scores, THRESHOLD, baseline)  # inverted scores: awful, but too few labels
    assert not report.judged and report.degraded == []
    assert "150 labels" in report.why_not_judged and "200" in report.why_not_judged
    assert all("not judged" in m.why for m in report.metrics)
    labels = np.zeros(1000, dtype=np.int64)
    labels[:3] = 1
    scores = np.full(1000, 0.01)
    few = closed_loop(labels, scores, THRESHOLD, baseline)
    assert not few.judged and "3 fraud label(s)" in few.why_not_judged
    quiet = estimate(np.full(1000, 0.001), THRESHOLD, baseline)  # one fraud expected
    assert not quiet.judged and "1.0 frauds expected" in quiet.why_not_judged


def test_reports_are_json_safe_when_metrics_are_undefined(population):
    baseline, _ = population
    no_fraud = closed_loop(np.zeros(500, dtype=np.int64), np.full(500, 0.01), THRESHOLD, baseline)
    document = no_fraud.to_dict()
    json.dumps(document, allow_nan=False)
    assert document["metrics"]["pr_auc"]["value"] is None and document["metrics"]["pr_auc"]["lower"] is None
    assert set(document["metrics"]) == {"pr_auc", "auc", "precision", "recall", "brier_score", "calibration_error"}
    assert set(document["metrics"]["auc"]) == {
        "value", "lower", "upper", "baseline", "baseline_lower", "baseline_upper", "margin", "direction", "degraded",
        "why",
    }  # fmt: skip
    nothing_flagged = estimate(np.full(500, 0.05), THRESHOLD, baseline).to_dict()
    json.dumps(nothing_flagged, allow_nan=False)
    assert nothing_flagged["metrics"]["precision"]["value"] is None
    assert set(nothing_flagged["metrics"]) == {"precision", "recall", "positive_rate", "auc"}
    rate = nothing_flagged["metrics"]["positive_rate"]
    assert rate["value"] == pytest.approx(0.05) and rate["margin"] is None and not rate["degraded"]


def test_empty_or_malformed_windows_are_refused(population):
    baseline, _ = population
    with pytest.raises(QualityInputError, match="no rows"):
        closed_loop([], [], THRESHOLD, baseline)
    with pytest.raises(QualityInputError, match="no rows"):
        estimate([], THRESHOLD, baseline)
    with pytest.raises(QualityInputError, match="same length"):
        closed_loop([0, 1], [0.1, 0.2, 0.3], THRESHOLD, baseline)
    with pytest.raises(QualityInputError, match=r"\[0, 1\].*1\.5"):
        estimate([0.1, 1.5], THRESHOLD, baseline)
    with pytest.raises(QualityInputError, match="labels must be 0 or 1"):
        closed_loop([0, 2], [0.1, 0.2], THRESHOLD, baseline)
    with pytest.raises(QualityInputError, match="threshold"):
        estimate([0.1, 0.2], math.nan, baseline)


def test_a_large_window_is_resampled_within_the_policys_budget():
    policy = QualityPolicy()
    assert policy.resamples_for(10_000) == 1000
    assert policy.resamples_for(100_000) == 200
    assert policy.resamples_for(10_000_000) == policy.min_resamples
    with pytest.raises(QualityInputError, match="confidence"):
        QualityPolicy(confidence=1.0)
    with pytest.raises(QualityInputError, match="pr_auc"):
        QualityPolicy(margins={"pr_auc": -0.1})


def test_the_shared_bootstrap_core_gives_known_point_values_and_keeps_the_class_counts():
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    point = ranked_metrics(Ranking.of(labels, scores), 0.85, np.ones((1, 4)))
    assert point["auc"][0] == pytest.approx(3 / 4)  # the 0.7 fraud outranks one of the two legitimate requests
    assert point["pr_auc"][0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert (point["precision"][0], point["recall"][0]) == (1.0, 0.5)  # only the 0.9 is flagged at 0.85
    seen = []

    def measure(ranking: Ranking, weights: np.ndarray) -> dict[str, np.ndarray]:
        seen.append(weights[:, ranking.positives].sum(axis=1))
        return {"weight": weights.sum(axis=1)}

    (draws,) = resampled(labels, [(scores, 0.75)], 50, seed=3, measure=measure)
    assert (np.concatenate(seen) == 2).all() and (draws["weight"] == 4).all()  # every resample keeps 2 frauds of 4
