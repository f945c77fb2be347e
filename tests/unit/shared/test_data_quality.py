"""Dataset validation: each problem of an orders upload is found with its code and numbers, and nothing else is."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from cd4ml_shared.contract import COUNTRIES, ORDERS
from cd4ml_shared.data_quality import (
    DatasetUnreadable,
    Finding,
    MalformedReport,
    NaiveDatetime,
    QualityReport,
    _scrub,
    read_table,
    validate,
    wilson_interval,
)
from cd4ml_shared.data_quality import profile as profile_of
from cd4ml_shared.drift import Profile, ProfileMismatch, psi, roc_auc

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROWS = 3_000
DAYS = 10


def orders(rows: int = ROWS, seed: int = 0, days: int = DAYS) -> pa.Table:
    """A clean orders table: every value valid, ~4 % fraud loosely tied to a billing/shipping mismatch."""
    rng = np.random.default_rng(seed)
    end_us = int(NOW.timestamp() * 1_000_000) - 3_600_000_000  # the newest order an hour before NOW
    ts = end_us - rng.integers(0, days * 86_400_000_000, rows)
    match = rng.random(rows) < 0.85
    fraud = rng.random(rows) < np.where(match, 0.03, 0.10)
    distance = rng.exponential(300.0, rows)
    return pa.table(
        {
            "order_id": [f"o-{seed}-{i:07d}" for i in range(rows)],
            "customer_id": [f"c-{k:05d}" for k in rng.integers(0, rows // 5, rows)],
            "order_ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "order_amount": np.round(np.minimum(rng.lognormal(3.5, 1.0, rows), 90_000.0), 2),
            "currency": rng.choice(
                ["USD", "EUR", "GBP", "JPY", "CAD", "AUD"], rows, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05]
            ),
            "payment_method": rng.choice(["card", "wallet", "bank_transfer"], rows, p=[0.7, 0.2, 0.1]),
            "merchant_category": rng.choice(
                ["electronics", "fashion", "grocery", "travel", "digital_goods", "home"], rows
            ),
            "country": rng.choice(list(COUNTRIES), rows),
            "device_type": rng.choice(["mobile", "desktop", "tablet"], rows, p=[0.6, 0.3, 0.1]),
            "account_tenure_days": rng.integers(0, 3_000, rows),
            "num_items": 1 + rng.poisson(1.5, rows),
            "shipping_distance_km": pa.array(distance, mask=rng.random(rows) < 0.05),
            "billing_shipping_match": match,
            "is_fraud": fraud.astype(np.int64),
        }
    )


def with_column(table: pa.Table, name: str, values: Any, type: pa.DataType | None = None) -> pa.Table:
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, type)
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, array)
    return table.append_column(name, array)


def codes(report: QualityReport) -> list[tuple[str, str | None]]:
    return [(f.code, f.column) for f in (*report.failures, *report.warnings)]


def only(report: QualityReport, code: str, column: str | None) -> Finding:
    """The report's one finding, which must have this code and column."""
    assert codes(report) == [(code, column)], [f.message for f in (*report.failures, *report.warnings)]
    return (*report.failures, *report.warnings)[0]


def to_csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pcsv.write_csv(table, sink)
    return sink.getvalue()


@pytest.fixture(scope="module")
def clean() -> pa.Table:
    return orders()


@pytest.fixture(scope="module")
def reference() -> Profile:
    return profile_of(orders(seed=1), ORDERS)


# ---- a clean dataset ------------------------------------------------------------------------------------------
def test_clean_orders_pass_with_no_findings(clean: pa.Table) -> None:
    report = validate(clean, ORDERS, now=NOW)
    assert report.passed
    assert codes(report) == []
    assert report.quarantine_reason() == ""
    assert report.stats["rows"] == ROWS and report.stats["columns"] == 14
    assert report.skipped == ()


def test_clean_orders_pass_against_a_reference_of_the_same_distribution(clean: pa.Table, reference: Profile) -> None:
    report = validate(clean, ORDERS, reference=reference, now=NOW)
    assert codes(report) == []
    assert report.reference == {"rows": ROWS, "time_min": reference.time_min, "time_max": reference.time_max}


def test_clean_orders_read_back_from_csv_and_parquet_pass(clean: pa.Table) -> None:
    from_csv = read_table(to_csv(clean), "csv")
    sink = io.BytesIO()
    pq.write_table(clean, sink)
    from_parquet = read_table(sink.getvalue(), "parquet")
    for table in (from_csv, from_parquet):
        assert codes(validate(table, ORDERS, now=NOW)) == []
    assert from_csv.schema.field("order_ts").type == pa.timestamp("us", tz="UTC")
    assert from_csv.schema.field("is_fraud").type == pa.int64()


def test_profile_summarises_every_feature_and_the_label(clean: pa.Table) -> None:
    summary = profile_of(clean, ORDERS)
    assert set(summary.columns) == {c.name for c in ORDERS.columns if c.role in ("feature", "label")}
    amount = summary.columns["order_amount"]
    assert amount.kind == "numeric" and len(amount.shares) == len(amount.edges) + 1 == ORDERS.drift.bins
    assert math.isclose(sum(amount.shares) + amount.null_share, 1.0)
    assert all(math.isclose(share, 0.1, abs_tol=0.002) for share in amount.shares)
    distance = summary.columns["shipping_distance_km"]
    assert distance.null_share == clean.column("shipping_distance_km").null_count / ROWS > 0
    device = summary.columns["device_type"]
    assert device.kind == "categorical" and device.dominant == "mobile"
    assert summary.label_rate == pytest.approx(clean.column("is_fraud").to_numpy().mean())
    assert summary.rows == ROWS and summary.time_max is not None and summary.time_max < NOW.isoformat()
    assert Profile.from_json(summary.to_json()) == summary


# ---- schema ---------------------------------------------------------------------------------------------------
def test_missing_column_fails(clean: pa.Table) -> None:
    finding = only(
        validate(clean.drop_columns(["device_type"]), ORDERS, now=NOW), "schema.missing_column", "device_type"
    )
    assert finding.severity == "fail"
    assert finding.numbers == {"expected_type": "category", "candidates": []}


def test_renamed_column_is_missing_and_its_new_name_unexpected(clean: pa.Table) -> None:
    renamed = clean.rename_columns(["amount" if n == "order_amount" else n for n in clean.column_names])
    report = validate(renamed, ORDERS, now=NOW)
    assert codes(report) == [("schema.missing_column", "order_amount"), ("schema.unexpected_column", "amount")]
    assert report.failures[0].numbers["candidates"] == ["amount"]
    assert "amount" in report.failures[0].message
    assert report.warnings[0].severity == "warn" and report.warnings[0].numbers == {"type": "double"}


def test_amounts_written_as_text_are_a_type_change(clean: pa.Table) -> None:
    as_text = with_column(clean, "order_amount", [f"{v:.2f}" for v in clean.column("order_amount").to_pylist()])
    finding = only(validate(as_text, ORDERS, now=NOW), "schema.wrong_type", "order_amount")
    assert finding.numbers == {"expected": "float", "found": "string", "unparseable": 0, "examples": []}


def test_csv_amounts_that_do_not_parse_are_reported_not_raised(clean: pa.Table) -> None:
    amounts = [f"{v:.2f}" for v in clean.column("order_amount").to_pylist()]
    amounts[7], amounts[2_000] = "12,50", "$3.10"
    table = read_table(to_csv(with_column(clean, "order_amount", amounts)), "csv")
    assert table.schema.field("order_amount").type == pa.string()
    assert table.schema.field("order_ts").type == pa.timestamp("us", tz="UTC")  # the other columns still typed
    finding = only(validate(table, ORDERS, now=NOW), "schema.wrong_type", "order_amount")
    assert finding.numbers["unparseable"] == 2
    assert sorted(finding.numbers["examples"]) == ["$3.10", "12,50"]
    assert "2 values of 3,000 do not read as float (e.g. " in finding.message


def test_csv_with_naive_timestamps_and_whole_number_floats_reads_as_the_contract_says(clean: pa.Table) -> None:
    tenure = [f"{v}.0" for v in clean.column("account_tenure_days").to_pylist()]  # as pandas writes ints with gaps
    text = to_csv(with_column(clean, "account_tenure_days", tenure)).decode()
    naive = text.replace("Z,", ",")  # the writer marks UTC with a trailing Z
    table = read_table(naive.encode(), "csv")
    assert table.schema.field("order_ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("account_tenure_days").type == pa.float64()  # whole numbers: validate accepts them
    report = validate(table, ORDERS, now=NOW)
    assert codes(report) == []
    assert report.profile.time_max == profile_of(clean, ORDERS).time_max


def test_csv_rows_with_the_wrong_number_of_fields_are_skipped_and_reported(clean: pa.Table) -> None:
    lines = to_csv(clean).decode().splitlines()
    lines.insert(10, "o-bad,c-1,2026-02-28")
    table = read_table("\n".join(lines).encode(), "csv")
    assert table.num_rows == ROWS
    finding = only(validate(table, ORDERS, now=NOW), "rows.malformed", None)
    # the row is located by its shape, never quoted: a reason holds no bytes of the file
    assert finding.numbers == {"count": 1, "expected": 14, "examples": [{"row": None, "fields": 3}]}
    assert "o-bad" not in finding.message and "expected 14" in finding.message


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02 not a table", b"PAR1 but not parquet"])
def test_input_that_is_not_a_table_is_unreadable(data: bytes) -> None:
    with pytest.raises(DatasetUnreadable):
        read_table(data, "parquet")
    if not data.startswith(b"PAR1"):
        with pytest.raises(DatasetUnreadable):
            read_table(data, "csv")


def test_format_comes_from_the_file_name(tmp_path: Any, clean: pa.Table) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(to_csv(clean))
    assert read_table(path).num_rows == ROWS
    pq.write_table(clean, tmp_path / "orders.parquet")
    assert read_table(str(tmp_path / "orders.parquet")).num_rows == ROWS


# ---- values ---------------------------------------------------------------------------------------------------
def test_nulls_in_a_required_column_fail_with_count_and_share(clean: pa.Table) -> None:
    amounts = clean.column("order_amount").to_numpy().copy()
    mask = np.zeros(ROWS, dtype=bool)
    mask[::20] = True  # 150 rows
    table = with_column(clean, "order_amount", pa.array(amounts, mask=mask))
    finding = only(validate(table, ORDERS, now=NOW), "values.null", "order_amount")
    assert finding.numbers == {"count": 150, "share": 0.05, "rows": ROWS}
    assert "150 of 3,000" in finding.message


def test_nulls_in_a_nullable_column_are_fine(clean: pa.Table) -> None:
    table = with_column(clean, "shipping_distance_km", pa.nulls(ROWS, pa.float64()))
    assert codes(validate(table, ORDERS, now=NOW)) == []


def test_values_out_of_range_fail_with_count_and_extremes(clean: pa.Table) -> None:
    amounts = clean.column("order_amount").to_numpy().copy()
    amounts[[3, 4, 5]] = [-5.0, -0.01, 250_000.0]
    finding = only(
        validate(with_column(clean, "order_amount", amounts), ORDERS, now=NOW), "values.out_of_range", "order_amount"
    )
    assert finding.numbers["count"] == 3 and finding.numbers["below"] == 2 and finding.numbers["above"] == 1
    assert finding.numbers["min_found"] == -5.0 and finding.numbers["max_found"] == 250_000.0
    assert finding.numbers["minimum"] == 0.0 and finding.numbers["maximum"] == 100_000.0


def test_unknown_categories_fail_with_count_and_examples(clean: pa.Table) -> None:
    currency = clean.column("currency").to_pylist()
    for i in range(10):
        currency[i] = "XXX" if i < 7 else "usd"
    finding = only(
        validate(with_column(clean, "currency", currency), ORDERS, now=NOW), "values.unknown_category", "currency"
    )
    assert finding.numbers == {"count": 10, "share": 10 / ROWS, "distinct": 2, "examples": ["XXX", "usd"]}


# ---- rows -----------------------------------------------------------------------------------------------------
def test_too_few_rows_fail(clean: pa.Table) -> None:
    report = validate(clean.slice(0, 600), ORDERS, now=NOW)
    finding = only(report, "rows.too_few", None)
    assert finding.numbers == {"rows": 600, "min_rows": 1_000}
    assert report.skipped and report.skipped[0].startswith("label.leakage")  # too few positives to judge


def test_an_empty_table_is_findings_not_a_crash(clean: pa.Table, reference: Profile) -> None:
    for compared_with in (None, reference):
        report = validate(clean.slice(0, 0), ORDERS, reference=compared_with, now=NOW)
        assert codes(report) == [("rows.too_few", None)]
        assert report.profile.rows == 0
        json.loads(report.to_json())


def test_duplicate_keys_fail_with_count_share_and_examples(clean: pa.Table) -> None:
    table = pa.concat_tables([clean, clean.slice(100, 30), clean.slice(100, 1)])
    finding = only(validate(table, ORDERS, now=NOW), "rows.duplicate_key", "order_id")
    assert finding.numbers["count"] == 31 and finding.numbers["keys"] == 30
    assert finding.numbers["share"] == pytest.approx(31 / (ROWS + 31))
    assert finding.numbers["examples"][0] == "o-0-0000100"  # the key repeated most comes first


# ---- label ----------------------------------------------------------------------------------------------------
def test_a_label_rate_too_low_fails(clean: pa.Table) -> None:
    table = with_column(clean, "is_fraud", np.zeros(ROWS, dtype=np.int64))
    finding = only(validate(table, ORDERS, now=NOW), "label.rate_out_of_bounds", "is_fraud")
    assert finding.numbers == {"rate": 0.0, "positives": 0, "rows": ROWS, "min_rate": 0.001, "max_rate": 0.2}


def test_a_label_rate_too_high_fails(clean: pa.Table) -> None:
    labels = (np.random.default_rng(5).random(ROWS) < 0.5).astype(np.int64)
    finding = only(
        validate(with_column(clean, "is_fraud", labels), ORDERS, now=NOW), "label.rate_out_of_bounds", "is_fraud"
    )
    assert finding.numbers["rate"] == pytest.approx(labels.mean())
    assert "above the maximum" in finding.message


# ---- time -----------------------------------------------------------------------------------------------------
def test_old_data_is_stale(clean: pa.Table) -> None:
    later = NOW + timedelta(days=30)
    finding = only(validate(clean, ORDERS, now=later), "time.stale_data", "order_ts")
    newest = clean.column("order_ts").to_numpy().max()
    assert finding.numbers["age_days"] == pytest.approx(
        (later - newest.astype(datetime).replace(tzinfo=UTC)) / timedelta(days=1)
    )
    assert finding.numbers["max_age_days"] == 7.0


def test_timestamps_in_the_future_fail(clean: pa.Table) -> None:
    ts = clean.column("order_ts").cast(pa.int64()).to_numpy().copy()
    ts[:4] = int((NOW + timedelta(days=2)).timestamp() * 1_000_000)
    table = with_column(clean, "order_ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    finding = only(validate(table, ORDERS, now=NOW), "time.future_timestamps", "order_ts")
    assert finding.numbers["count"] == 4
    assert finding.numbers["latest"] == (NOW + timedelta(days=2)).isoformat()


def test_now_without_a_timezone_is_a_programming_error(clean: pa.Table) -> None:
    with pytest.raises(NaiveDatetime):
        validate(clean, ORDERS, now=datetime(2026, 3, 1))


# ---- stale columns --------------------------------------------------------------------------------------------
def test_tenure_stuck_at_one_value_is_stale_against_a_reference_where_it_varied(
    clean: pa.Table, reference: Profile
) -> None:
    stuck = with_column(clean, "account_tenure_days", np.full(ROWS, 54, dtype=np.int64))
    finding = only(validate(stuck, ORDERS, reference=reference, now=NOW), "column.stale", "account_tenure_days")
    assert finding.severity == "fail"
    assert finding.numbers["value"] == 54 and finding.numbers["share"] == 1.0
    assert finding.numbers["reference_share"] < 0.01
    assert finding.numbers["days"] == finding.numbers["days_in_data"] == DAYS + 1  # 10 x 24 h over 11 dates
    assert finding.numbers["entities"] > 100
    assert "stuck at 54" in finding.message


def test_tenure_stuck_for_the_last_days_only_is_stale_against_a_reference(clean: pa.Table, reference: Profile) -> None:
    tenure = clean.column("account_tenure_days").to_numpy().copy()
    ts = clean.column("order_ts").cast(pa.int64()).to_numpy()
    recent = ts >= int((NOW - timedelta(days=3)).timestamp() * 1_000_000)
    tenure[recent] = 54
    report = validate(with_column(clean, "account_tenure_days", tenure), ORDERS, reference=reference, now=NOW)
    finding = only(report, "column.stale", "account_tenure_days")
    assert finding.numbers["share"] < 0.95 and finding.numbers["days"] >= 2


def test_tenure_constant_across_days_and_customers_is_stale_without_a_reference(clean: pa.Table) -> None:
    stuck = with_column(clean, "account_tenure_days", np.full(ROWS, 54, dtype=np.int64))
    finding = only(validate(stuck, ORDERS, now=NOW), "column.stale", "account_tenure_days")
    assert finding.numbers["reference_share"] is None and finding.numbers["days"] == DAYS + 1


def test_a_constant_value_on_a_single_day_is_not_called_stale_without_a_reference(clean: pa.Table) -> None:
    same_day = int(NOW.timestamp() * 1_000_000) - np.random.default_rng(1).integers(0, 10 * 3_600_000_000, ROWS)
    one_day = with_column(clean, "order_ts", pa.array(same_day, pa.timestamp("us", tz="UTC")))
    stuck = with_column(one_day, "account_tenure_days", np.full(ROWS, 54, dtype=np.int64))
    assert codes(validate(stuck, ORDERS, now=NOW)) == []


def test_a_column_that_was_constant_in_the_reference_too_is_not_stale(clean: pa.Table) -> None:
    constant = with_column(clean, "num_items", np.ones(ROWS, dtype=np.int64))
    reference = profile_of(with_column(orders(seed=1), "num_items", np.ones(ROWS, dtype=np.int64)), ORDERS)
    assert codes(validate(constant, ORDERS, reference=reference, now=NOW)) == []


# ---- drift ----------------------------------------------------------------------------------------------------
def test_a_shifted_numeric_feature_drifts(clean: pa.Table, reference: Profile) -> None:
    shifted = with_column(clean, "order_amount", np.round(clean.column("order_amount").to_numpy() * 2.5, 2))
    finding = only(validate(shifted, ORDERS, reference=reference, now=NOW), "drift.psi", "order_amount")
    assert finding.severity == "fail" and finding.numbers["psi"] > 0.25
    assert finding.numbers["bins"] == 11  # 10 quantile bins and one for missing values
    assert finding.numbers["share"] > finding.numbers["reference_share"]


def test_a_shifted_category_drifts(clean: pa.Table, reference: Profile) -> None:
    rng = np.random.default_rng(3)
    device = rng.choice(["mobile", "desktop", "tablet"], ROWS, p=[0.3, 0.3, 0.4])
    finding = only(
        validate(with_column(clean, "device_type", device), ORDERS, reference=reference, now=NOW),
        "drift.psi",
        "device_type",
    )
    assert finding.numbers["worst_bin"] == "tablet"
    assert finding.numbers["reference_share"] == pytest.approx(0.1, abs=0.02)
    assert finding.numbers["share"] == pytest.approx(0.4, abs=0.03)


def test_a_small_shift_warns(clean: pa.Table, reference: Profile) -> None:
    rng = np.random.default_rng(4)
    device = rng.choice(["mobile", "desktop", "tablet"], ROWS, p=[0.45, 0.3, 0.25])
    finding = only(
        validate(with_column(clean, "device_type", device), ORDERS, reference=reference, now=NOW),
        "drift.psi",
        "device_type",
    )
    assert finding.severity == "warn" and 0.1 <= finding.numbers["psi"] < 0.25
    assert validate(with_column(clean, "device_type", device), ORDERS, reference=reference, now=NOW).passed


def test_psi_is_small_for_resamples_of_the_same_distribution(reference: Profile) -> None:
    for seed in (7, 8, 9):
        assert codes(validate(orders(seed=seed), ORDERS, reference=reference, now=NOW)) == []


def test_psi_equals_the_hand_computed_value() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5), rel=1e-12)
    # an empty bin is floored at epsilon instead of making PSI infinite
    assert psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1]) == pytest.approx(
        -0.1 * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4), rel=1e-12
    )


def test_profile_psi_on_a_tiny_example_matches_the_hand_computed_value() -> None:
    contract = ORDERS
    base = orders(rows=8, days=1)
    before = with_column(base, "order_amount", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    after = with_column(base, "order_amount", [1.0, 1.0, 1.0, 1.0, 5.0, 6.0, 7.0, 8.0])
    edges = profile_of(before, contract).columns["order_amount"].edges
    assert edges == pytest.approx([1.7, 2.4, 3.1, 3.8, 4.5, 5.2, 5.9, 6.6, 7.3])
    report = validate(after, contract, reference=profile_of(before, contract), now=NOW)
    drift = [f for f in (*report.failures, *report.warnings) if f.code == "drift.psi" and f.column == "order_amount"]
    # right-closed bins (-inf, 1.7], (1.7, 2.4], ... (7.3, inf) and one for missing values:
    # before 1, 2, 3, -, 4, 5, -, 6, 7, 8 and none missing; after four 1s in the first bin, then 5, 6, 7, 8
    before_shares = [1 / 8, 1 / 8, 1 / 8, 0, 1 / 8, 1 / 8, 0, 1 / 8, 1 / 8, 1 / 8, 0]
    after_shares = [4 / 8, 0, 0, 0, 0, 1 / 8, 0, 1 / 8, 1 / 8, 1 / 8, 0]
    assert drift and drift[0].numbers["psi"] == pytest.approx(psi(before_shares, after_shares), rel=1e-9)


# ---- leakage --------------------------------------------------------------------------------------------------
def test_a_feature_that_encodes_the_label_leaks(clean: pa.Table) -> None:
    labels = clean.column("is_fraud").to_numpy()
    leaky = with_column(
        clean, "num_items", (1 + labels * 40 + np.random.default_rng(2).integers(0, 3, ROWS)).astype(np.int64)
    )
    finding = only(validate(leaky, ORDERS, now=NOW), "label.leakage", "num_items")
    assert finding.numbers["auc"] == 1.0 and finding.numbers["threshold"] == 0.98
    assert "higher values mean positive" in finding.message


def test_an_extra_column_filled_in_only_for_fraud_is_leakage_not_a_schema_warning(clean: pa.Table) -> None:
    labels = clean.column("is_fraud").to_numpy().astype(bool)
    amounts = np.random.default_rng(3).uniform(10, 500, ROWS)
    chargeback = pa.array(amounts, mask=~labels)
    finding = only(
        validate(with_column(clean, "chargeback_amount", chargeback), ORDERS, now=NOW),
        "label.leakage",
        "chargeback_amount",
    )
    assert finding.numbers["auc"] == 1.0
    assert "outside the contract" in finding.message


def test_an_extra_text_column_with_a_reason_only_for_fraud_leaks(clean: pa.Table) -> None:
    labels = clean.column("is_fraud").to_numpy().astype(bool)
    reason = np.where(labels, "chargeback", "none")
    finding = only(validate(with_column(clean, "dispute", reason), ORDERS, now=NOW), "label.leakage", "dispute")
    assert finding.numbers["scored_as"] == "category" and finding.numbers["auc"] == 1.0


def test_an_unrelated_extra_column_is_only_a_warning(clean: pa.Table) -> None:
    ids = [f"session-{i}" for i in range(ROWS)]
    report = validate(with_column(clean, "session_id", ids), ORDERS, now=NOW)
    finding = only(report, "schema.unexpected_column", "session_id")
    assert report.passed and finding.severity == "warn"


def test_auc_equals_the_hand_computed_value() -> None:
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ranked right
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    # a tie counts a half: positives {1, 3}, negatives {1, 2}: (0.5 + 0 + 1 + 1) / 4
    assert roc_auc([1, 1, 2, 3], [0, 1, 0, 1]) == 0.625
    # a missing score ranks lowest
    assert roc_auc([float("nan"), 1.0, 2.0], [0, 1, 1]) == 1.0
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=500), rng.random(500) < 0.3
    pairs = (scores[labels][:, None] > scores[~labels][None, :]).mean()
    assert roc_auc(scores, labels) == pytest.approx(pairs)


# ---- the report -----------------------------------------------------------------------------------------------
def test_report_json_round_trips_and_is_stable(clean: pa.Table, reference: Profile) -> None:
    broken = with_column(clean, "account_tenure_days", np.full(ROWS, 54, dtype=np.int64))
    broken = with_column(broken, "currency", ["XXX"] * 5 + clean.column("currency").to_pylist()[5:])
    report = validate(broken.append_column("note", pa.array(["x"] * ROWS)), ORDERS, reference=reference, now=NOW)
    text = report.to_json()
    assert QualityReport.from_json(text) == report
    assert QualityReport.from_json(text).to_json() == text
    document = json.loads(text)
    assert text == json.dumps(document, sort_keys=True, indent=2)
    assert document["passed"] is False
    assert document["quarantine_reason"] == report.quarantine_reason() == "column.stale,values.unknown_category"
    assert [f["code"] for f in document["warnings"]] == ["schema.unexpected_column"]
    assert Profile.from_dict(document["profile"]) == report.profile


def test_a_reference_of_another_dataset_is_refused(clean: pa.Table, reference: Profile) -> None:
    other = Profile(dataset="payments", rows=1, time_min=None, time_max=None, label_rate=None)
    with pytest.raises(ProfileMismatch):
        validate(clean, ORDERS, reference=other, now=NOW)


def test_profile_edges_are_numpy_quantiles_for_whole_numbers_and_floats(clean: pa.Table) -> None:
    summary = profile_of(clean, ORDERS)
    qs = [i / 10 for i in range(1, 10)]
    for name in ("account_tenure_days", "num_items", "order_amount"):
        values = clean.column(name).to_numpy()
        assert summary.columns[name].edges == pytest.approx(np.unique(np.quantile(values, qs)))
        dominant, count = np.unique(values, return_counts=True)
        assert summary.columns[name].dominant == dominant[np.argmax(count)]


def test_fractional_values_in_an_int_column_are_a_type_change(clean: pa.Table) -> None:
    tenure = clean.column("account_tenure_days").to_numpy().astype(np.float64)
    tenure[9] = 12.5
    finding = only(
        validate(with_column(clean, "account_tenure_days", tenure), ORDERS, now=NOW),
        "schema.wrong_type",
        "account_tenure_days",
    )
    assert finding.numbers == {"expected": "int", "found": "double"}


def test_one_worker_thread_gives_the_same_report(
    clean: pa.Table, reference: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cd4ml_shared.data_quality as data_quality

    broken = with_column(clean, "account_tenure_days", np.full(ROWS, 54, dtype=np.int64))
    threaded = validate(broken, ORDERS, reference=reference, now=NOW).to_dict()
    monkeypatch.setattr(data_quality, "_cores", lambda: 1)
    serial = validate(broken, ORDERS, reference=reference, now=NOW).to_dict()
    for document in (threaded, serial):
        document["stats"] = {**document["stats"], "seconds": 0}
    assert serial == threaded


def test_absurd_timestamps_and_huge_numbers_are_findings_not_crashes(clean: pa.Table) -> None:
    ts = clean.column("order_ts").cast(pa.int64()).to_numpy().copy()
    ts[0] = 2**62  # microseconds: a year near 146,000, beyond what datetime can show
    items = clean.column("num_items").to_numpy().copy()
    items[1] = 2**60  # beyond the integers float64 holds exactly
    table = with_column(clean, "order_ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    report = validate(with_column(table, "num_items", items), ORDERS, now=NOW)
    assert codes(report) == [("time.future_timestamps", "order_ts"), ("values.out_of_range", "num_items")]
    assert report.failures[0].numbers["count"] == 1
    assert "microseconds after 1970" in str(report.failures[0].numbers["latest"])
    json.loads(report.to_json())


def test_nanosecond_timestamps_are_read_to_the_microsecond(clean: pa.Table) -> None:
    ns = pa.array(clean.column("order_ts").cast(pa.int64()).to_numpy() * 1_000 + 7, pa.timestamp("ns", tz="UTC"))
    report = validate(with_column(clean, "order_ts", ns), ORDERS, now=NOW)
    assert codes(report) == []
    assert report.profile.time_max == profile_of(clean, ORDERS).time_max


def test_infinite_amounts_are_not_finite_out_of_range_and_kept_out_of_the_profile(
    clean: pa.Table, reference: Profile
) -> None:
    amounts = clean.column("order_amount").to_numpy().copy()
    amounts[:3] = [np.inf, np.inf, -np.inf]
    report = validate(with_column(clean, "order_amount", amounts), ORDERS, reference=reference, now=NOW)
    assert codes(report) == [("values.not_finite", "order_amount"), ("values.out_of_range", "order_amount")]
    not_finite, finding = report.failures
    assert not_finite.numbers == {"count": 3, "share": 3 / ROWS, "nan": 0, "inf": 2, "-inf": 1}
    assert finding.numbers["below"] == 1 and finding.numbers["above"] == 2
    assert finding.numbers["min_found"] is None and finding.numbers["max_found"] is None  # JSON has no infinity
    amount = report.profile.columns["order_amount"]
    assert amount.null_share == 3 / ROWS and amount.maximum == np.sort(amounts)[-3]
    assert QualityReport.from_json(report.to_json()) == report


def test_a_reference_without_rows_is_not_compared_with(clean: pa.Table) -> None:
    report = validate(clean, ORDERS, reference=profile_of(clean.slice(0, 0), ORDERS), now=NOW)
    assert codes(report) == []
    assert report.skipped == ("drift.psi: the reference profile has no rows",)


def test_a_report_of_another_version_is_refused(clean: pa.Table) -> None:
    document = validate(clean, ORDERS, now=NOW).to_dict()
    document["version"] = 2
    with pytest.raises(MalformedReport):
        QualityReport.from_dict(document)


# ---- reading any bytes: one boundary, readable reasons ----------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("order_id\n".encode("utf-16"), "UTF-16 (byte-order mark ff fe), not UTF-8"),
        ("ordér_id,x\n1,2\n".encode("latin-1"), "not valid UTF-8 (byte 0xe9 at offset 3, line 1"),
        (b"PAR1\x00\x00", "a Parquet file, not CSV text"),
        (b"", "empty (0 bytes)"),
    ],
)
def test_a_csv_that_is_not_utf8_text_is_unreadable_with_what_it_is(data: bytes, says: str) -> None:
    with pytest.raises(DatasetUnreadable) as raised:
        read_table(data, "csv", source="s3://raw/datasets/orders/d/orders.csv")
    assert says in raised.value.reason
    assert str(raised.value).startswith("cannot read s3://raw/datasets/orders/d/orders.csv as csv: ")


def test_a_utf8_byte_order_mark_is_read_as_utf8(clean: pa.Table) -> None:
    table = read_table(b"\xef\xbb\xbf" + to_csv(clean), "csv")
    assert table.column_names == clean.column_names and validate(table, ORDERS, now=NOW).passed


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # pyarrow decodes the row first
def test_a_reader_error_never_quotes_the_row() -> None:
    # pyarrow's own message is "CSV parse error: Expected 2 columns, got 4: secret-card-4111,..."
    with pytest.raises(DatasetUnreadable) as raised:
        read_table(b"a,b\n1,2\n" + b"secret-card-4111\xff," * 3 + b"\n", "csv")
    assert "secret" not in str(raised.value) and "not valid UTF-8 (byte 0xff at offset 24, line 3" in str(raised.value)
    assert _scrub("CSV parse error: Expected 2 columns, got 4: secret-card-4111,x\n") == (
        "CSV parse error: Expected 2 columns, got 4"
    )


def test_gzipped_csv_is_read_and_a_gz_that_is_not_gzip_is_unreadable(clean: pa.Table) -> None:
    import gzip

    assert read_table(gzip.compress(to_csv(clean)), "csv", compression="gzip").num_rows == ROWS
    with pytest.raises(DatasetUnreadable, match=r"named \.gz but not gzip-compressed"):
        read_table(to_csv(clean), "csv", compression="gzip")


# ---- values JSON cannot hold ------------------------------------------------------------------------------------
def test_nan_written_as_a_value_in_a_nullable_column_is_not_finite(clean: pa.Table) -> None:
    distance = pa.array([math.nan, *clean.column("shipping_distance_km").to_pylist()[1:]], pa.float64())
    finding = only(
        validate(with_column(clean, "shipping_distance_km", distance), ORDERS, now=NOW),
        "values.not_finite",
        "shipping_distance_km",
    )
    assert finding.numbers == {"count": 1, "share": 1 / ROWS, "nan": 1, "inf": 0, "-inf": 0}


def test_values_near_the_float_maximum_are_out_of_range_and_the_report_is_still_json(
    clean: pa.Table, reference: Profile
) -> None:
    amounts = np.full(ROWS, 1.7e308)
    report = validate(with_column(clean, "order_amount", amounts), ORDERS, reference=reference, now=NOW)
    assert "values.out_of_range" in report.quarantine_reason()
    document = json.loads(report.to_json())  # allow_nan=False: it raised before
    assert document["profile"]["columns"]["order_amount"]["mean"] is None  # the sum overflows: no mean
    assert math.isfinite(document["profile"]["columns"]["order_amount"]["maximum"])


# ---- time: the oldest order is bounded too ----------------------------------------------------------------------
def test_orders_at_the_epoch_are_too_old_and_the_finding_names_the_oldest_and_the_bound(clean: pa.Table) -> None:
    times = clean.column("order_ts").to_pylist()
    times[7] = datetime(1970, 1, 1, tzinfo=UTC)
    table = with_column(clean, "order_ts", pa.array(times, pa.timestamp("us", tz="UTC")))
    finding = only(validate(table, ORDERS, now=NOW), "time.too_old", "order_ts")
    bound = (NOW - timedelta(days=ORDERS.max_history_days)).isoformat()
    assert finding.numbers["oldest"] == "1970-01-01T00:00:00+00:00" and finding.numbers["bound"] == bound
    assert "1970-01-01T00:00:00+00:00" in finding.message and bound in finding.message


# ---- the label rate against the reference -----------------------------------------------------------------------
def labelled(table: pa.Table, rate: float, seed: int = 0) -> pa.Table:
    fraud = (np.random.default_rng(seed).random(table.num_rows) < rate).astype(np.int64)
    return with_column(table, "is_fraud", fraud)


def test_a_tenfold_label_rate_against_the_reference_fails_with_both_intervals(clean: pa.Table) -> None:
    reference = profile_of(labelled(orders(seed=1), 0.01), ORDERS)
    report = validate(labelled(clean, 0.10), ORDERS, reference=reference, now=NOW)
    shift = [f for f in report.failures if f.code == "label.rate_shift"]
    assert len(shift) == 1 and "above the reference's" in shift[0].message
    low, high = shift[0].numbers["allowed"]
    assert shift[0].numbers["interval"][0] > high > low  # type: ignore[index,operator]


def test_a_small_files_noise_in_the_label_rate_is_no_shift(clean: pa.Table) -> None:
    reference = profile_of(labelled(orders(seed=1), 0.01), ORDERS)
    small = labelled(clean.slice(0, 1_000), 0.025, seed=3)  # 2.5x the rate, on 1,000 rows: noise, not a shift
    assert "label.rate_shift" not in validate(small, ORDERS, reference=reference, now=NOW).quarantine_reason()


def test_the_wilson_interval_holds_the_rate_and_narrows_with_rows() -> None:
    low, high = wilson_interval(10, 1_000, 1.96)
    assert 0.005 < low < 0.01 < high < 0.02
    wide = wilson_interval(1, 100, 1.96)
    assert wide[1] - wide[0] > high - low and wilson_interval(0, 100, 1.96)[0] == 0.0


def test_a_profile_written_before_the_label_rate_still_loads(reference: Profile) -> None:
    document = reference.to_dict()
    del document["label_rate"]
    assert Profile.from_dict(document).label_rate is None
