"""The evaluation's sampling intervals, the paired bootstrap of a difference, and the Platt calibration of scores."""

import numpy as np
import pytest
from cd4ml_model.artifacts import Calibration, ModelArtifactsError
from cd4ml_model.metrics import evaluate_scores, fit_calibration, paired_comparison, sampling_intervals
from sklearn.metrics import brier_score_loss


def scored(seed: int, rows: int = 4000, rate: float = 0.05, signal: float = 2.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < rate).astype(np.int64)
    margin = rng.normal(size=rows) + signal * y
    return y, margin


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_intervals_hold_the_point_value_and_are_reproducible():
    y, margin = scored(1)
    s = np.round(sigmoid(margin), 2)  # ties, as a booster's leaves give
    point = evaluate_scores(y, s, 0.5)["binary_classification_metrics"]
    first = sampling_intervals(y, s, 0.5, resamples=300)
    assert first == sampling_intervals(y, s, 0.5, resamples=300)  # seeded
    for name, interval in first.items():
        assert interval["lower"] <= point[name]["value"] <= interval["upper"], name
        assert interval["standard_deviation"] > 0, name
    assert 0.01 < first["pr_auc"]["upper"] - first["pr_auc"]["lower"] < 0.3


def test_the_paired_difference_of_a_model_with_itself_is_exactly_zero_and_of_a_worse_one_is_below_zero():
    y, margin = scored(2)
    same = paired_comparison(y, (sigmoid(margin), 0.5), (sigmoid(margin), 0.5), resamples=200)
    assert all(entry["lower"] == entry["upper"] == entry["difference"] == 0.0 for entry in same.values())
    noisy = margin + np.random.default_rng(3).normal(scale=2.0, size=len(y))
    worse = paired_comparison(y, (sigmoid(noisy), 0.5), (sigmoid(margin), 0.5), resamples=200)["pr_auc"]
    assert worse["upper"] < 0 and worse["lower"] <= worse["difference"] <= worse["upper"]
    assert worse["difference"] == pytest.approx(worse["challenger"] - worse["champion"])


def test_the_paired_interval_is_narrower_than_the_difference_of_two_unpaired_intervals():
    y, margin = scored(4)
    other = margin + np.random.default_rng(5).normal(scale=0.3, size=len(y))
    pr = paired_comparison(y, (sigmoid(other), 0.5), (sigmoid(margin), 0.5), resamples=300)["pr_auc"]
    alone = sampling_intervals(y, sigmoid(margin), 0.5, resamples=300)["pr_auc"]
    assert pr["upper"] - pr["lower"] < (alone["upper"] - alone["lower"]) / 2


def test_platt_calibration_undoes_a_class_weighting_skew_and_keeps_the_ranking():
    y, margin = scored(6, rows=20000, rate=0.02)
    skewed = margin + np.log(49.0)  # what scale_pos_weight = negatives / positives does to the log-odds
    calibration = fit_calibration(y, skewed)
    calibrated = calibration.apply(skewed)
    assert calibration.slope > 0 and np.all((calibrated >= 0) & (calibrated <= 1))
    assert brier_score_loss(y, calibrated) < brier_score_loss(y, sigmoid(skewed)) / 3
    assert np.array_equal(np.argsort(calibrated, kind="stable"), np.argsort(skewed, kind="stable"))
    assert abs(calibrated.mean() - y.mean()) < 0.005


def test_a_calibration_document_round_trips_and_a_bad_one_is_refused():
    calibration = Calibration(slope=1.5, intercept=-2.0)
    assert Calibration.from_dict(calibration.to_dict()) == calibration
    for document in ({"method": "isotonic"}, {"method": "platt", "slope": -1.0, "intercept": 0.0}):
        with pytest.raises(ModelArtifactsError):
            Calibration.from_dict(document)


def test_a_model_without_signal_is_calibrated_to_about_the_base_rate_keeping_its_order():
    rng = np.random.default_rng(7)
    y = (rng.random(5000) < 0.02).astype(np.int64)
    margin = rng.normal(size=5000) - 3.0 * y  # anti-informative: a fitted slope would be negative
    calibration = fit_calibration(y, margin + np.log(49.0))
    calibrated = calibration.apply(margin + np.log(49.0))
    assert calibration.slope > 0 and abs(calibrated.mean() - y.mean()) < 0.002
    assert np.all(np.diff(calibrated[np.argsort(margin)]) >= 0)
