"""The monitor's watched columns from feature vectors: one-hot groups folded back into their categorical column, the
reference built the same way, and drift found where it was planted (a merchant-mix shift, an amount shift)."""

from datetime import UTC, datetime

import numpy as np
import pytest
from cd4ml_model.features import build_features
from cd4ml_shared.drift import Profile
from cd4ml_shared.monitoring_drift import CategoricalValues, DriftReference, check_drift
from cd4ml_shared.monitoring_features import FeatureLayoutError, drift_columns, feature_profile, monitoring_reference

from cd4ml.data import generate_orders

NAMES = ["order_amount", "log1p_order_amount", "merchant=grocery", "merchant=travel", "merchant=home"]


def test_one_hot_groups_fold_back_into_categorical_codes_and_all_zeros_is_missing():
    vectors = np.array(
        [
            [10.0, 2.4, 1.0, 0.0, 0.0],
            [20.0, 3.0, 0.0, 0.0, 1.0],
            [30.0, 3.4, 0.0, 0.0, 0.0],  # an unknown category or a null: every column of the group is 0
            [np.nan, np.nan, 0.0, 1.0, 0.0],
        ]
    )
    columns = drift_columns(NAMES, vectors)
    assert set(columns) == {"order_amount", "merchant"}  # log1p_order_amount would count the same test twice
    merchant = columns["merchant"]
    assert isinstance(merchant, CategoricalValues)
    assert merchant.categories == ("grocery", "travel", "home")
    assert merchant.codes.tolist() == [0, 2, -1, 1]
    assert np.isnan(columns["order_amount"][3])


def test_vectors_of_another_width_are_refused_with_the_shapes():
    with pytest.raises(FeatureLayoutError, match=r"\(2, 3\).*5 feature names"):
        drift_columns(NAMES, np.zeros((2, 3)))


def test_the_reference_round_trips_as_a_profile_and_holds_category_shares():
    rng = np.random.default_rng(3)
    merchant = rng.choice(3, size=1000, p=[0.5, 0.3, 0.2])
    vectors = np.column_stack([rng.lognormal(3, 1, 1000), np.zeros(1000), *(merchant == k for k in range(3))])
    profile = Profile.from_json(feature_profile(NAMES, vectors, dataset="orders").to_json())
    assert profile.rows == 1000 and set(profile.columns) == {"order_amount", "merchant"}
    shares = profile.columns["merchant"].shares
    assert shares["grocery"] == pytest.approx(np.mean(merchant == 0))
    assert sum(shares.values()) == pytest.approx(1.0)


def test_a_merchant_mix_shift_and_an_amount_shift_are_found_and_nothing_else_in_real_features():
    """The evaluation job's reference (its test split) against later orders of the same customers: no drift; with
    half the grocery orders moved to travel and the amounts x 1.5, those two columns drift."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    # 45 days: past the first 30, every customer's 30-day window is full, so the rolling features are stationary
    orders = generate_orders(30_000, seed=1, start=start, days=45).sort_by("order_ts")
    features, names = build_features(orders)
    matrix = np.column_stack([features.column(n).to_numpy() for n in names]).astype(np.float64)
    test, live = matrix[22_000:26_000], matrix[26_000:]  # live: the last days, after the held-out rows
    document = monitoring_reference(names, test, np.full(len(test), 0.5), features.column("is_fraud").to_numpy()[:4000])
    reference = DriftReference.from_profile(Profile.from_dict(document["profile"]))
    assert document["features"] == names and "score" in reference.columns

    healthy = check_drift(reference, drift_columns(names, live))
    assert healthy.drifted == []

    shifted = live.copy()
    grocery, travel = names.index("merchant_category=grocery"), names.index("merchant_category=travel")
    moved = np.flatnonzero(shifted[:, grocery] == 1)[::2]  # half the grocery orders become travel orders
    shifted[moved, grocery], shifted[moved, travel] = 0.0, 1.0
    shifted[:, names.index("order_amount")] *= 1.5
    drifted = check_drift(reference, drift_columns(names, shifted))
    assert {"merchant_category", "order_amount"} <= set(drifted.drifted)
    # the customer's totals were computed from the unshifted amounts: only their ratio to the order moved
    assert set(drifted.drifted) <= {"merchant_category", "order_amount", "amount_to_customer_mean_30d"}
