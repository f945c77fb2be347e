"""The feature job: rolling customer features without leakage, the fixed column set, the time split, the job's files."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cd4ml_model.features import (
    FeatureInputError,
    SplitError,
    build_features,
    feature_names,
    main,
    rolling_customer_features,
    split_by_time,
)
from cd4ml_shared.contract import ORDERS

from cd4ml.data.orders import arrow_schema, generate_orders, write_dataset

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def order(customer: str, at: datetime, amount: float = 10.0, **values: Any) -> dict[str, Any]:
    row = {
        "order_id": f"o-{customer}-{at.timestamp()}-{amount}",
        "customer_id": customer,
        "order_ts": at,
        "order_amount": amount,
        "currency": "USD",
        "payment_method": "card",
        "merchant_category": "home",
        "country": "US",
        "device_type": "mobile",
        "account_tenure_days": 100,
        "num_items": 1,
        "shipping_distance_km": 12.5,
        "billing_shipping_match": True,
        "is_fraud": 0,
    }
    row.update(values)
    return row


def table_of(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=arrow_schema())


def feature_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    features, _ = build_features(table_of(rows))
    return features.to_pylist()


def same(value: float, expected: float) -> bool:
    return (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(expected, rel=1e-6)


# ---- rolling customer features ------------------------------------------------------------------------------------
def test_rolling_total_only_counts_earlier_orders_of_the_same_customer():
    rows = feature_rows(
        [
            order("a", T0, 10.0),
            order("b", T0 + 0.5 * HOUR, 1000.0),  # another customer: never part of a's history
            order("a", T0 + HOUR, 20.0),
            order("a", T0 + 2 * DAY, 30.0),
            order("a", T0 + 2 * DAY + HOUR, 40.0),
        ]
    )
    a1, b1, a2, a3, a4 = rows
    assert (a1["customer_orders_30d"], a1["customer_amount_30d"]) == (0, 0)
    assert (b1["customer_orders_30d"], b1["customer_amount_30d"]) == (0, 0)
    assert (a2["customer_orders_30d"], a2["customer_amount_30d"]) == (1, 10.0)
    assert (a3["customer_orders_30d"], a3["customer_amount_30d"]) == (2, 30.0)
    assert (a4["customer_orders_30d"], a4["customer_amount_30d"]) == (3, 60.0)  # its own 40.0 is not included


def test_24_hour_count_only_sees_the_last_day():
    rows = feature_rows([order("a", T0), order("a", T0 + 2 * HOUR), order("a", T0 + 25 * HOUR)])
    assert [r["customer_orders_24h"] for r in rows] == [0, 1, 1]
    assert [r["customer_orders_30d"] for r in rows] == [0, 1, 2]


def test_30_day_window_starts_exactly_30_days_before_the_order():
    rows = feature_rows(
        [
            order("a", T0, 5.0),
            order("a", T0 + 30 * DAY, 7.0),  # exactly 30 days later: the first order is in its window
            order("a", T0 + 30 * DAY + timedelta(seconds=1), 9.0),  # one second more: the first order has left
        ]
    )
    assert [r["customer_orders_30d"] for r in rows] == [0, 1, 1]
    assert [r["customer_amount_30d"] for r in rows] == [0.0, 5.0, 7.0]


def test_orders_in_the_same_second_do_not_see_each_other():
    rows = feature_rows([order("a", T0, 10.0), order("a", T0, 20.0), order("a", T0 + HOUR, 30.0)])
    assert [r["customer_orders_30d"] for r in rows] == [0, 0, 2]
    assert math.isnan(rows[1]["seconds_since_previous_order"])


def test_seconds_since_previous_order_is_nan_for_a_first_order():
    rows = feature_rows([order("a", T0), order("a", T0 + 90 * DAY), order("b", T0 + DAY)])
    assert math.isnan(rows[0]["seconds_since_previous_order"])
    assert rows[1]["seconds_since_previous_order"] == pytest.approx(90 * 86_400)
    assert math.isnan(rows[2]["seconds_since_previous_order"])
    assert rows[1]["customer_orders_30d"] == 0  # 90 days apart: outside the window, still the previous order


def test_amount_ratio_compares_with_the_customers_30_day_mean_and_is_nan_without_history():
    rows = feature_rows([order("a", T0, 10.0), order("a", T0 + HOUR, 30.0), order("a", T0 + 2 * HOUR, 60.0)])
    assert math.isnan(rows[0]["amount_to_customer_mean_30d"])
    assert rows[1]["amount_to_customer_mean_30d"] == pytest.approx(3.0)  # 30 / mean(10)
    assert rows[2]["amount_to_customer_mean_30d"] == pytest.approx(3.0)  # 60 / mean(10, 30)


def test_features_keep_the_input_row_order_whatever_the_order_of_the_timestamps():
    ordered = [order(c, T0 + i * HOUR, float(i + 1)) for i, c in enumerate("abaabcab")]
    shuffled = [ordered[i] for i in np.random.default_rng(3).permutation(len(ordered))]
    by_id = {r["order_id"]: f for r, f in zip(ordered, feature_rows(ordered), strict=True)}
    for row, features in zip(shuffled, feature_rows(shuffled), strict=True):
        expected = by_id[row["order_id"]]
        assert all(same(features[k], expected[k]) for k in expected), row["order_id"]


def brute_force(customer: np.ndarray, seconds: np.ndarray, amount: np.ndarray) -> dict[str, np.ndarray]:
    """The rolling features the slow, obvious way: one row at a time."""
    out: dict[str, list[float]] = {
        k: [] for k in ("customer_orders_24h", "customer_orders_30d", "customer_amount_30d", "gap", "ratio")
    }
    for i in range(len(customer)):
        earlier = (customer == customer[i]) & (seconds < seconds[i])
        in_30d = earlier & (seconds >= seconds[i] - 30 * 86_400)
        out["customer_orders_24h"].append(float((earlier & (seconds >= seconds[i] - 86_400)).sum()))
        out["customer_orders_30d"].append(float(in_30d.sum()))
        total = float(amount[in_30d].sum())
        out["customer_amount_30d"].append(total)
        out["gap"].append(float(seconds[i] - seconds[earlier].max()) if earlier.any() else math.nan)
        out["ratio"].append(amount[i] / (total / in_30d.sum()) if in_30d.any() else math.nan)
    return {k: np.array(v) for k, v in out.items()}


def test_rolling_features_match_a_row_by_row_computation_on_generated_orders():
    rng = np.random.default_rng(11)
    rows = 600
    customer = rng.integers(0, 40, rows)
    seconds = 1_700_000_000 + np.sort(rng.integers(0, 120 * 86_400, rows))[rng.permutation(rows)]
    seconds[5] = seconds[6]  # some simultaneous orders
    customer[5] = customer[6]
    amount = np.round(rng.lognormal(3, 1, rows), 2)
    fast = rolling_customer_features(customer.astype(np.int64), seconds.astype(np.int64), amount)
    slow = brute_force(customer, seconds, amount)
    for name in ("customer_orders_24h", "customer_orders_30d", "customer_amount_30d"):
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-9, err_msg=name)
    np.testing.assert_allclose(fast["seconds_since_previous_order"], slow["gap"], rtol=1e-12)
    np.testing.assert_allclose(fast["amount_to_customer_mean_30d"], slow["ratio"], rtol=1e-9)


# ---- the other features -------------------------------------------------------------------------------------------
def test_one_hot_columns_follow_the_contract_whatever_values_the_data_holds():
    rows = [order("a", T0, country="JP"), order("b", T0 + HOUR, country="XX", device_type=None)]
    features, names = build_features(table_of(rows))
    country_columns = [n for n in names if n.startswith("country=")]
    assert country_columns == [f"country={c}" for c in ORDERS.column("country").categories or ()]
    first, unknown = features.to_pylist()
    assert first["country=JP"] == 1 and sum(first[c] for c in country_columns) == 1
    assert sum(unknown[c] for c in country_columns) == 0  # undeclared value: every country column 0
    assert sum(unknown[n] for n in names if n.startswith("device_type=")) == 0  # null: every device column 0


def test_feature_table_has_the_label_first_then_float32_features_in_a_fixed_order():
    features, names = build_features(table_of([order("a", T0, is_fraud=1), order("a", T0 + HOUR)]))
    assert names == feature_names()
    assert features.column_names == ["is_fraud", *names]
    assert features.schema.field("is_fraud").type == pa.int64()
    assert {features.schema.field(n).type for n in names} == {pa.float32()}
    assert features.column("is_fraud").to_pylist() == [1, 0]


def test_plain_features_are_converted_as_declared():
    rows = feature_rows(
        [
            order("a", T0, 99.0, shipping_distance_km=None, billing_shipping_match=False, num_items=3),
            order("a", T0 + 5 * DAY + 3 * HOUR, 1.0, account_tenure_days=7),
        ]
    )
    first, second = rows
    assert math.isnan(first["shipping_distance_km"])  # nullable: missing stays missing for XGBoost
    assert first["billing_shipping_match"] == 0 and second["billing_shipping_match"] == 1
    assert first["order_amount"] == 99.0 and first["log1p_order_amount"] == pytest.approx(math.log1p(99.0))
    assert first["num_items"] == 3 and second["account_tenure_days"] == 7
    assert (first["hour_of_day"], first["day_of_week"]) == (9, 0)  # UTC hour, Monday
    assert (second["hour_of_day"], second["day_of_week"]) == (12, 5)  # Saturday


def test_a_missing_or_null_required_column_is_a_feature_input_error():
    with pytest.raises(FeatureInputError, match="order_amount"):
        build_features(table_of([order("a", T0)]).drop_columns(["order_amount"]))
    with pytest.raises(FeatureInputError, match="null"):
        build_features(table_of([order("a", T0, num_items=None)]))


# ---- the time split -----------------------------------------------------------------------------------------------
def timed_table(days: list[float], fraud: list[int]) -> tuple[pa.Table, pa.Array]:
    rows = [order(f"c{i}", T0 + d * DAY, is_fraud=f) for i, (d, f) in enumerate(zip(days, fraud, strict=True))]
    table = table_of(rows)
    return build_features(table)[0], table.column("order_ts")


def test_split_cuts_by_time_not_by_row_counts():
    # 100 days; most rows in the last days: a row-count split would put the cuts near the end
    days = [0, 10, 20, 30, 40, 50, 60, 70, 80, 84, 86, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100]
    fraud = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    features, timestamps = timed_table(days, fraud)
    split = split_by_time(features, timestamps, validation_fraction=0.1, test_fraction=0.1)
    assert split.test_start == T0 + 90 * DAY and split.validation_start == T0 + 80 * DAY
    assert (split.train.num_rows, split.validation.num_rows, split.test.num_rows) == (8, 3, 10)


def test_split_fails_when_a_split_has_no_positive_label():
    features, timestamps = timed_table([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
    with pytest.raises(SplitError, match=r"the validation split .* 0 positive labels"):
        split_by_time(features, timestamps, validation_fraction=0.2, test_fraction=0.2)


def test_split_rejects_fractions_that_leave_no_training_time():
    features, timestamps = timed_table([0, 1], [1, 0])
    with pytest.raises(SplitError, match=r"validation_fraction=0\.6, test_fraction=0\.5"):
        split_by_time(features, timestamps, validation_fraction=0.6, test_fraction=0.5)


# ---- the job ------------------------------------------------------------------------------------------------------
@pytest.fixture
def failure_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "failure"
    monkeypatch.setenv("CD4ML_FAILURE_FILE", str(path))
    return path


def generated(tmp_path: Path, name: str, fraud_rate: float = 0.05) -> Path:
    folder = tmp_path / "input"
    folder.mkdir(exist_ok=True)
    table = generate_orders(3_000, seed=5, start=datetime(2026, 1, 1), days=40, fraud_rate=fraud_rate)
    if name.lower().endswith(".gz"):  # a gzipped CSV, as the validation accepts it
        write_dataset(table, tmp_path / "orders.csv")
        (folder / name).write_bytes(gzip.compress((tmp_path / "orders.csv").read_bytes()))
    else:
        write_dataset(table, folder / name)
    return folder


@pytest.mark.parametrize("name", ["orders.csv", "orders.parquet", "orders.csv.gz", "ORDERS.CSV"])
def test_job_writes_the_three_splits_and_their_metadata(tmp_path, failure_file, capsys, name):
    output = tmp_path / "output"
    assert main(["--input-dir", str(generated(tmp_path, name)), "--output-dir", str(output)]) == 0
    meta = json.loads((output / "meta" / "features.json").read_text())
    assert meta["label"] == "is_fraud" and meta["features"] == feature_names()
    assert sum(meta["rows"].values()) == meta["dataset_rows"] == 3_000
    for split in ("train", "validation", "test"):
        table = pq.read_table(output / split / f"{split}.parquet")
        assert table.column_names == ["is_fraud", *meta["features"]]
        assert table.num_rows == meta["rows"][split] and meta["positives"][split] > 0
    test_start = datetime.fromisoformat(meta["cut_points"]["test_start"])
    assert datetime.fromisoformat(meta["cut_points"]["validation_start"]) < test_start
    assert "read 3,000 rows" in capsys.readouterr().out and not failure_file.exists()


def test_job_fails_with_a_reason_when_the_input_has_several_data_files(tmp_path, failure_file):
    folder = generated(tmp_path, "a.parquet")
    (folder / "b.csv").write_text("order_id\n")
    assert main(["--input-dir", str(folder), "--output-dir", str(tmp_path / "out")]) == 1
    assert "expected exactly one" in failure_file.read_text() and "b.csv" in failure_file.read_text()


def test_job_fails_with_a_reason_when_a_split_has_no_fraud(tmp_path, failure_file):
    folder = generated(tmp_path, "orders.parquet", fraud_rate=0.0)
    assert main(["--input-dir", str(folder), "--output-dir", str(tmp_path / "out")]) == 1
    assert "the train split" in failure_file.read_text() and "0 positive labels" in failure_file.read_text()
