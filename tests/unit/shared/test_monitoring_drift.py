"""The open-loop drift check: planted shifts found, untouched columns quiet at any window size, exact bucketing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cd4ml_shared.drift import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    Profile,
    ProfileMismatch,
    categorical_profile,
    numeric_profile,
)
from cd4ml_shared.monitoring_drift import (
    CategoricalValues,
    DriftInputError,
    DriftPolicy,
    DriftReference,
    FloatArray,
    WindowColumn,
    _Bucketer,
    check_drift,
    chi2_sf,
    holm,
    kolmogorov_sf,
    score_profile,
)
from scipy import stats

MERCHANTS = ("electronics", "fashion", "grocery", "travel", "digital_goods", "home")
MERCHANT_SHARES = (0.2, 0.25, 0.3, 0.1, 0.1, 0.05)
DEVICES = ("mobile", "desktop", "tablet")


def _window(rng: np.random.Generator, rows: int, **shifts: float) -> dict[str, WindowColumn]:
    """Orders-like columns: normals, heavy tails, integers with ties, a nullable one, categoricals, and the score.

    `std` multiplies normal_0's deviation, `mean` moves normal_1 by that many sigmas, `travel` adds that share of
    travel orders, `missing` is the share of missing distances, `score` moves the score's beta distribution.
    """
    columns: dict[str, WindowColumn] = {}
    for i in range(9):
        columns[f"normal_{i}"] = rng.normal(size=rows)
    columns["normal_0"] = np.asarray(columns["normal_0"]) * shifts.get("std", 1.0)
    columns["normal_1"] = np.asarray(columns["normal_1"]) + shifts.get("mean", 0.0)
    columns["order_amount"] = rng.lognormal(3.5, 1.0, size=rows).round(2)
    columns["num_items"] = np.minimum(rng.geometric(0.45, size=rows), 500).astype(np.int64)  # ties at every edge
    columns["account_tenure_days"] = rng.integers(0, 3_000, size=rows).astype(np.float64)
    distance = rng.exponential(300.0, size=rows)
    distance[rng.random(rows) < shifts.get("missing", 0.05)] = np.nan
    columns["shipping_distance_km"] = distance
    columns["uniform"] = rng.random(rows)
    columns["student_t"] = rng.standard_t(4, size=rows)
    shares = np.asarray(MERCHANT_SHARES)
    shares[3] += shifts.get("travel", 0.0)
    columns["merchant_category"] = CategoricalValues(
        rng.choice(len(MERCHANTS), size=rows, p=shares / shares.sum()), MERCHANTS
    )
    device = rng.choice(len(DEVICES), size=rows, p=(0.6, 0.3, 0.1))
    device[rng.random(rows) < 0.01] = -1  # a missing device type
    columns["device_type"] = CategoricalValues(device, DEVICES)
    columns["currency"] = CategoricalValues(rng.choice(3, size=rows, p=(0.7, 0.299, 0.001)), ("USD", "EUR", "JPY"))
    columns["billing_shipping_match"] = CategoricalValues(rng.choice(2, size=rows, p=(0.1, 0.9)), ("false", "true"))
    columns["score"] = rng.beta(0.5, 8.0 - shifts.get("score", 0.0), size=rows)
    return columns


def _profile_of(column: WindowColumn) -> ColumnProfile:
    if isinstance(column, CategoricalValues):
        counts = np.bincount(column.codes + 1, minlength=len(column.categories) + 1)
        return categorical_profile(dict(zip(column.categories, map(int, counts[1:]), strict=True)), int(counts[0]))
    values = np.asarray(column, dtype=np.float64)
    missing = np.isnan(values)
    return numeric_profile(np.sort(values[~missing]), int(missing.sum()), bins=10)


def _reference(rows: int = 200_000, seed: int = 0) -> DriftReference:
    """The reference as the monitor gets it: a training Profile read back from JSON, and the score's profile."""
    window = _window(np.random.default_rng(seed), rows)
    features = {name: _profile_of(column) for name, column in window.items() if name != "score"}
    stored = Profile.from_json(Profile("orders", rows, None, None, 0.01, features).to_json())
    score = window["score"]
    assert not isinstance(score, CategoricalValues)
    return DriftReference.from_profile(stored).with_column("score", score_profile(score), rows)


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    return _reference()


def test_planted_shifts_are_found_and_the_untouched_columns_stay_quiet(reference: DriftReference) -> None:
    window = _window(np.random.default_rng(1), 100_000, std=1.1, mean=0.2)
    report = check_drift(reference, window)
    assert len(report.features) == 20
    assert report.drifted == ["normal_0", "normal_1"]
    by_name = {f.name: f for f in report.features}
    assert "KS" in by_name["normal_0"].why and "threshold" in by_name["normal_0"].why
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))  # JSON as it is, no NaN or infinity
    assert document["any_drift"] is True
    assert document["drifted"] == ["normal_0", "normal_1"]
    assert {t["statistic"] for t in document["features"][0]["tests"]} == {"psi", "ks"}


def test_false_alarms_counted_over_seeds_are_none_and_the_plants_are_found_every_time(
    reference: DriftReference,
) -> None:
    false_alarms, found = 0, 0
    for seed in range(2, 8):
        report = check_drift(reference, _window(np.random.default_rng(seed), 50_000, std=1.1, mean=0.2))
        false_alarms += len(set(report.drifted) - {"normal_0", "normal_1"})
        found += len(set(report.drifted) & {"normal_0", "normal_1"})
    assert false_alarms == 0
    assert found == 12


def test_small_windows_do_not_alarm_on_noise_yet_a_large_shift_is_seen(reference: DriftReference) -> None:
    alarms = 0
    naive = 0  # what raw p-values, uncorrected over the columns, would have said about the same windows
    for seed in range(20):
        report = check_drift(reference, _window(np.random.default_rng(100 + seed), 300))
        alarms += bool(report.drifted)
        naive += any(t.tail_probability < 0.05 for f in report.features for t in f.tests)
    assert alarms == 0
    assert naive >= 15  # the correction is needed: without it nearly every window alarms (18 of 20 here)
    shifted = check_drift(reference, _window(np.random.default_rng(99), 300, mean=1.0))
    assert shifted.drifted == ["normal_1"]


def test_a_change_beyond_noise_but_below_the_floor_is_not_drift() -> None:
    reference = _reference(rows=400_000, seed=3)
    report = check_drift(reference, _window(np.random.default_rng(4), 400_000, mean=0.02))
    normal_1 = next(f for f in report.features if f.name == "normal_1")
    assert not normal_1.drifted
    assert all(t.significant for t in normal_1.tests)  # a raw test at this size calls it a difference
    assert "below the floor" in normal_1.why
    assert report.drifted == []


def test_a_merchant_mix_shift_and_more_missing_distances_are_found(reference: DriftReference) -> None:
    report = check_drift(reference, _window(np.random.default_rng(5), 50_000, travel=0.05, missing=0.15))
    assert set(report.drifted) == {"shipping_distance_km", "merchant_category"}
    by_name = {f.name: f for f in report.features}
    assert by_name["merchant_category"].worst_bin == "travel"
    assert by_name["shipping_distance_km"].worst_bin == "missing"
    assert by_name["shipping_distance_km"].missing_share == pytest.approx(0.15, abs=0.01)


def test_a_category_never_seen_in_training_is_drift(reference: DriftReference) -> None:
    window = _window(np.random.default_rng(6), 20_000)
    codes = np.asarray(window["currency"].codes).copy()  # type: ignore[union-attr]
    codes[:400] = 3  # 2% of orders in a currency the model never saw
    window["currency"] = CategoricalValues(codes, ("USD", "EUR", "JPY", "CHF"))
    report = check_drift(reference, window)
    assert report.drifted == ["currency"]
    assert report.features[[f.name for f in report.features].index("currency")].worst_bin == "CHF"


def test_the_score_column_drifts_against_the_model_s_test_scores(reference: DriftReference) -> None:
    assert check_drift(reference, _window(np.random.default_rng(7), 50_000)).drifted == []
    report = check_drift(reference, _window(np.random.default_rng(7), 50_000, score=1.0))
    assert report.drifted == ["score"]


def test_the_bucketing_table_counts_exactly_as_a_binary_search() -> None:
    rng = np.random.default_rng(8)
    samples: list[FloatArray] = [
        rng.normal(size=50_000),
        rng.pareto(0.7, size=50_000),  # heavy tail: several edges share a grid cell
        rng.integers(0, 5, size=50_000).astype(np.float64),  # every value on an edge
        np.concatenate([rng.normal(size=1_000), [1e300, -1e300, 5e-324, 0.0]]),
    ]
    for values in samples:
        edges = np.unique(np.quantile(values, np.linspace(0.01, 0.99, 99)))
        window = np.concatenate([values, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])
        expected = np.bincount(np.searchsorted(edges, window, side="left"), minlength=len(edges) + 1)
        np.testing.assert_array_equal(_Bucketer(edges).counts(window), expected)
        np.testing.assert_array_equal(_Bucketer(edges, cells=16).counts(window), expected)  # crowded cells
    single = np.asarray([2.0])
    np.testing.assert_array_equal(_Bucketer(single).counts(np.asarray([1.0, 2.0, 3.0])), [2, 1])


def test_ks_read_at_the_stored_percentiles_is_close_to_scipy_s_and_never_larger() -> None:
    rng = np.random.default_rng(9)
    raw = rng.normal(size=100_000)
    reference = DriftReference({"x": numeric_profile(np.sort(raw), 0, 10)}, {"x": len(raw)})
    for scale, shift in ((1.0, 0.0), (1.1, 0.0), (1.0, 0.2), (1.3, -0.1)):
        current = rng.normal(size=100_000) * scale + shift
        ks = next(t for t in check_drift(reference, {"x": current}).features[0].tests if t.statistic == "ks")
        exact = stats.ks_2samp(raw, current).statistic
        assert ks.value <= exact + 1e-12
        assert ks.value == pytest.approx(exact, abs=0.006)


def test_a_profile_written_before_the_finer_cdf_is_read_and_checked_on_its_deciles() -> None:
    rng = np.random.default_rng(10)
    column = numeric_profile(np.sort(rng.normal(size=100_000)), 0, 10)
    document = Profile("orders", 100_000, None, None, None, {"x": column}).to_dict()
    old = json.loads(json.dumps(document))
    del old["columns"]["x"]["cdf_edges"], old["columns"]["x"]["cdf"]  # as version 1 profiles were written
    read = Profile.from_dict(old)
    assert isinstance(read.columns["x"], NumericProfile) and read.columns["x"].cdf_edges == ()
    assert "cdf" not in read.to_dict()["columns"]["x"]  # type: ignore[operator,index]
    assert Profile.from_dict(document).columns["x"] == column
    report = check_drift(DriftReference.from_profile(read), {"x": rng.normal(size=50_000) + 0.2})
    assert report.drifted == ["x"]
    assert "9-edge bins" in report.features[0].tests[1].null
    broken = json.loads(json.dumps(document))
    broken["columns"]["x"]["cdf"] = broken["columns"]["x"]["cdf"][:-1]
    with pytest.raises(ProfileMismatch, match="CDF values"):
        Profile.from_dict(broken)


def test_null_laws_match_scipy_and_holm_matches_its_definition() -> None:
    for df in (1, 2, 5, 9, 10, 30):
        for x in (0.5, 3.0, 12.0, 60.0):
            assert chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-300)
    for lam in (0.3, 0.8, 1.0, 1.2, 2.0, 3.0):
        assert kolmogorov_sf(lam) == pytest.approx(stats.kstwobign.sf(lam), rel=1e-9, abs=1e-300)
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_a_window_that_does_not_fit_the_reference_is_refused(reference: DriftReference) -> None:
    window = _window(np.random.default_rng(11), 1_000)
    with pytest.raises(DriftInputError, match="categorical in the reference"):
        check_drift(reference, {**window, "currency": np.zeros(1_000)})
    with pytest.raises(DriftInputError, match="numeric in the reference"):
        check_drift(reference, {**window, "uniform": CategoricalValues(np.zeros(1_000, dtype=np.int64), ("a",))})
    with pytest.raises(DriftInputError, match="differ in length"):
        check_drift(reference, {**window, "uniform": np.zeros(10)})
    partial = {k: v for k, v in window.items() if k != "uniform"}
    report = check_drift(reference, {**partial, "extra": np.zeros(1_000)}, DriftPolicy(alpha=0.05))
    assert report.skipped == ("uniform: not in the window", "extra: no reference")


def test_plain_category_values_are_encoded_with_none_as_missing() -> None:
    column = CategoricalValues.from_values(["b", None, "a", "b"])
    assert column.categories == ("a", "b")
    assert list(column.codes) == [1, -1, 0, 1]
    reference = DriftReference({"c": CategoricalProfile({"a": 0.25, "b": 0.5}, 0.25, "b", 0.5)}, {"c": 1_000})
    assert check_drift(reference, {"c": column}).drifted == []


def test_constant_and_all_missing_columns_are_compared_without_error() -> None:
    constant = numeric_profile(np.ones(10_000), 0, 10)  # one edge: every value on it
    reference = DriftReference({"flag": constant}, {"flag": 10_000})
    assert check_drift(reference, {"flag": np.ones(5_000)}).drifted == []
    moved = check_drift(reference, {"flag": np.full(5_000, 2.0)})
    assert moved.drifted == ["flag"]
    assert moved.features[0].worst_bin == "(1, inf]"
    gone = check_drift(reference, {"flag": np.full(5_000, np.nan)})
    assert gone.drifted == ["flag"]
    assert [t.statistic for t in gone.features[0].tests] == ["psi"]  # no finite value: no CDF to compare
    assert gone.features[0].worst_bin == "missing"
