"""One definition, two paths: the feature job's vectors equal the online path's, replayed order by order.

The offline side is the feature job's own code over a table (`feature_columns`, float64 before the job's float32).
The online side is what `decide` does per order: read the customer's item, `features_for`, `updated`, write the
item back, here with a dict standing in for the DynamoDB table and every state round-tripped through its item.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from cd4ml_model import features as offline
from cd4ml_shared import online_features as online
from cd4ml_shared.online_features import ROLLING_FEATURES, feature_names

from cd4ml.data.orders import arrow_schema, generate_orders

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
# compared to 1e-9 relative: sums, means and the logarithm (numpy's and math's may differ in the last bit)
APPROXIMATE = {"customer_amount_30d", "amount_to_customer_mean_30d", "log1p_order_amount"}


def crafted(customer: str, at: datetime, amount: float = 25.0, **values: Any) -> dict[str, Any]:
    row = {
        "order_id": f"x-{customer}-{at.timestamp()}-{amount}-{values}",
        "customer_id": customer,
        "order_ts": at,
        "order_amount": amount,
        "currency": "EUR",
        "payment_method": "wallet",
        "merchant_category": "travel",
        "country": "DE",
        "device_type": "desktop",
        "account_tenure_days": 400,
        "num_items": 2,
        "shipping_distance_km": 3.5,
        "billing_shipping_match": False,
        "is_fraud": 0,
    }
    row.update(values)
    return row


def edge_orders(start: datetime) -> list[dict[str, Any]]:
    """Orders at the definition's edges: exactly 30 days / 24 hours apart and a second more, same-second bursts
    (whole and fractional seconds), a gap past the window, zero amounts, nulls and undeclared categories."""
    rows = [
        crafted("edge-30d", start, 5.0),
        crafted("edge-30d", start + 30 * DAY, 7.0),
        crafted("edge-30d", start + 30 * DAY + SECOND, 9.0),
        crafted("edge-30d", start + 75 * DAY, 11.0),  # its previous order is outside every window...
        crafted("edge-30d", start + 75 * DAY, 12.0),  # ...and no longer in the state: only its second is
        crafted("edge-30d-again", start, 6.0),
        crafted("edge-30d-again", start + 30 * DAY, 8.0),  # the state must still hold the order 30 days back...
        crafted("edge-30d-again", start + 30 * DAY, 10.0),  # ...for another order in the same second
        crafted("edge-24h", start, 1.0),
        crafted("edge-24h", start + DAY - SECOND, 2.0),
        crafted("edge-24h", start + DAY, 3.0),
        crafted("edge-24h", start + DAY + SECOND, 4.0),
        crafted("zero", start, 0.0),
        crafted("zero", start + SECOND, 0.0),  # a 30-day mean of 0: the ratio is unknown
        crafted("zero", start + 2 * SECOND, 8.0, shipping_distance_km=None, country="XX", device_type=None),
        crafted("zero", start + 3 * SECOND, 8.0, country="de", currency="eur", billing_shipping_match=True),
    ]
    for k in range(6):  # a burst: six orders in one second, then more within the next, at fractions of it
        rows.append(crafted("burst", start + 3 * DAY, 10.0 + k))
        rows.append(crafted("burst", start + 3 * DAY + SECOND + timedelta(microseconds=150_000 * k), 20.0 + k))
    rows.append(crafted("burst", start + 4 * DAY, 99.0))
    return rows


def orders_table(rows: int, seed: int, days: int, extra: list[dict[str, Any]]) -> pa.Table:
    generated = generate_orders(rows, seed=seed, start=T0.replace(tzinfo=None), days=days, fraud_rate=0.02)
    edges = pa.Table.from_pylist(extra, schema=arrow_schema())
    return pa.concat_tables([generated, edges.cast(generated.schema)])


def replay(table: pa.Table) -> list[list[float]]:
    """The online path: each order in time order (ties in row order, as the job sorts them) through the state."""
    orders = table.to_pylist()
    items: dict[str, dict[str, Any]] = {}  # stands in for the DynamoDB table
    vectors: list[list[float]] = [[] for _ in orders]
    for row in sorted(range(len(orders)), key=lambda i: (online.order_second(orders[i]), i)):
        order = orders[row]
        customer = order["customer_id"]
        state = online.from_item(items.get(customer))
        vectors[row] = online.features_for(order, state)
        items[customer] = online.to_item(customer, online.updated(state, order))
    return vectors


def mismatches(table: pa.Table) -> list[str]:
    columns = offline.feature_columns(table)
    assert list(columns) == feature_names()
    expected = np.column_stack(list(columns.values()))
    actual = np.array(replay(table))
    problems = []
    for k, name in enumerate(columns):
        a, e = actual[:, k], expected[:, k]
        both_nan = np.isnan(a) & np.isnan(e)
        same = np.isclose(a, e, rtol=1e-9, atol=0.0) if name in APPROXIMATE else a == e
        equal = both_nan | same
        for row in np.flatnonzero(~equal)[:3]:
            problems.append(f"{name} row {row}: online {a[row]!r}, offline {e[row]!r}")
    return problems


@pytest.fixture(scope="module")
def stream() -> pa.Table:
    # 40 days of orders from about 1,000 customers (several a day; fraud sprees come in bursts), plus the edges
    return orders_table(4_000, seed=21, days=40, extra=edge_orders(T0 + 2 * DAY))


def test_the_stream_reaches_the_edges_the_parity_is_about(stream):
    columns = offline.feature_columns(stream)
    seconds = np.floor_divide(offline.epoch_microseconds(stream.column("order_ts")), 1_000_000)
    customer = np.array(stream.column("customer_id").to_pylist())
    same_second = len(set(zip(customer.tolist(), seconds.tolist(), strict=True))) < stream.num_rows
    assert same_second  # some customers order twice within one second
    assert np.nanmax(columns["customer_orders_30d"]) >= 10  # customers with real history
    assert np.isnan(columns["seconds_since_previous_order"]).sum() > 500  # first orders
    assert (columns["seconds_since_previous_order"] > 30 * 86_400).any()  # a previous order outside the window
    assert np.isnan(columns["amount_to_customer_mean_30d"][columns["customer_orders_30d"] > 0]).any()  # mean 0


def test_online_vectors_equal_the_feature_jobs_for_every_order(stream):
    assert mismatches(stream) == []


def test_the_parity_holds_where_the_history_cap_bites(monkeypatch):
    # the cap at 1,000 would need thousands of orders per customer; the same definition at 7 keeps this fast
    monkeypatch.setattr(online, "MAX_HISTORY_ORDERS", 7)
    monkeypatch.setattr(offline, "MAX_HISTORY_ORDERS", 7)
    heavy = [crafted("bot", T0 + k * 600 * SECOND, 1.0 + k % 5) for k in range(40)]  # 40 orders in under 7 hours
    heavy += [crafted("bot", T0 + DAY, 3.0 + k) for k in range(12)]  # more than the cap in one second
    heavy += [crafted("bot", T0 + DAY + SECOND, 50.0), crafted("bot", T0 + 40 * DAY, 1.0)]
    table = orders_table(1_500, seed=4, days=20, extra=heavy + edge_orders(T0))
    columns = offline.feature_columns(table)
    assert np.nanmax(columns["customer_orders_24h"]) == 7  # the cap is reached
    assert mismatches(table) == []


def test_window_totals_stay_exact_when_the_running_total_is_large():
    # a job's running total over a million orders reaches about 1e8: a small window's total must not lose digits
    customer = np.array([0] * 2_000 + [1] * 50, dtype=np.int64)
    seconds = np.arange(2_050, dtype=np.int64) * 60 + 1_767_225_600
    amount = np.concatenate([np.full(2_000, 99_999.99), 1.0 + np.arange(50) / 100 + 1 / 3])
    totals = offline.rolling_customer_features(customer, seconds, amount)["customer_amount_30d"]
    exact = [math.fsum(amount[2_000 : 2_000 + k]) for k in range(50)]
    np.testing.assert_allclose(totals[2_000:], exact, rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", ROLLING_FEATURES)
def test_every_rolling_feature_is_compared(name, stream):
    # guard against a comparison that passes because a feature is constant or absent on both sides
    values = offline.feature_columns(stream)[name]
    assert len(np.unique(values[~np.isnan(values)])) > 1, name
    assert not math.isnan(float(np.nanmax(values)))
