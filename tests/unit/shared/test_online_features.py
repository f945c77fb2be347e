"""The online feature definition for one order: its inputs' errors, the state's bounds and its DynamoDB item."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cd4ml_shared import online_features as online
from cd4ml_shared.online_features import (
    EMPTY,
    MAX_HISTORY_ORDERS,
    MAX_ITEM_BYTES,
    CustomerState,
    OrderFieldError,
    StateItemError,
    feature_names,
    features_for,
    from_item,
    item_size,
    to_item,
    updated,
)

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday


def order(at: datetime | str = T0, amount: Any = 10.0, **values: Any) -> dict[str, Any]:
    row = {
        "order_id": "o-1",
        "customer_id": "c-1",
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
    }
    row.update(values)
    return row


def named(vector: list[float]) -> dict[str, float]:
    return dict(zip(feature_names(), vector, strict=True))


def test_a_first_order_has_no_history_and_its_own_plain_features():
    features = named(features_for(order(), EMPTY))
    assert len(features) == len(feature_names())
    assert features["customer_orders_30d"] == 0 and features["customer_amount_30d"] == 0
    assert math.isnan(features["seconds_since_previous_order"]) and math.isnan(features["amount_to_customer_mean_30d"])
    assert (features["hour_of_day"], features["day_of_week"], features["billing_shipping_match"]) == (9, 0, 1)
    assert features["log1p_order_amount"] == pytest.approx(math.log1p(10.0))
    assert features["country=US"] == 1 and features["country=GB"] == 0


def test_an_iso_timestamp_string_is_the_same_moment_as_the_datetime_and_naive_means_utc():
    state = updated(EMPTY, order(T0 - timedelta(hours=1)))
    expected = features_for(order(T0), state)
    assert features_for(order("2026-03-02T09:30:00Z"), state) == expected
    assert features_for(order("2026-03-02T10:30:00.999+01:00"), state) == expected  # floored to the second
    assert features_for(order(T0.replace(tzinfo=None)), state) == expected


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({"order_amount": None}, "order_amount", "null"),
        ({"order_amount": "12.50"}, "order_amount", "expected a number, got str"),
        ({"order_amount": True}, "order_amount", "got bool"),
        ({"order_amount": math.inf}, "order_amount", "not a finite number"),
        ({"order_ts": "yesterday"}, "order_ts", "not an ISO 8601 timestamp"),
        ({"order_ts": 1_767_225_600}, "order_ts", "got int"),
        ({"num_items": None}, "num_items", "null"),
        ({"country": 49}, "country", "expected text or null"),
    ],
)
def test_a_bad_field_is_an_error_naming_it(values, field, problem):
    with pytest.raises(OrderFieldError, match=problem) as raised:
        features_for(order(**values), EMPTY)
    assert raised.value.field == field and field in str(raised.value)


def test_a_missing_field_is_named_and_nullable_or_unknown_values_are_not_errors():
    incomplete = order()
    del incomplete["account_tenure_days"]
    with pytest.raises(OrderFieldError, match="'account_tenure_days': missing"):
        features_for(incomplete, EMPTY)
    features = named(features_for(order(shipping_distance_km=None, country="XX", device_type=None), EMPTY))
    assert math.isnan(features["shipping_distance_km"])
    assert sum(v for k, v in features.items() if k.startswith(("country=", "device_type="))) == 0


def test_the_state_stays_within_its_bounds_for_a_customer_with_thousands_of_orders():
    state = EMPTY
    for k in range(2_500):  # one order a minute, then a burst of the cap and more in one second
        state = updated(state, order(T0 + timedelta(minutes=k), 1.0))
    for _ in range(MAX_HISTORY_ORDERS + 300):
        state = updated(state, order(T0 + timedelta(days=2), 2.0))
    assert len(state.seconds) == len(state.amounts) == 2 * MAX_HISTORY_ORDERS
    assert state.seen == 2_500 + MAX_HISTORY_ORDERS + 300
    features = named(features_for(order(T0 + timedelta(days=2, seconds=1)), state))
    assert features["customer_orders_30d"] == MAX_HISTORY_ORDERS  # the cap: the latest 1,000 earlier orders
    assert features["customer_amount_30d"] == 2.0 * MAX_HISTORY_ORDERS
    same_second = named(features_for(order(T0 + timedelta(days=2)), state))
    assert same_second["customer_orders_30d"] == MAX_HISTORY_ORDERS and same_second["customer_amount_30d"] == 1000


def test_old_orders_leave_the_state_but_the_previous_orders_second_stays():
    state = updated(updated(EMPTY, order(T0, 5.0)), order(T0 + timedelta(days=31), 7.0))
    assert state.seconds == (int((T0 + timedelta(days=31)).timestamp()),) and state.dropped_s == int(T0.timestamp())
    features = named(features_for(order(T0 + timedelta(days=31)), state))  # same second as the latest
    assert features["seconds_since_previous_order"] == 31 * 86_400 and features["customer_orders_30d"] == 0


def test_a_late_order_sees_what_the_state_retains_before_it():
    state = updated(updated(EMPTY, order(T0, 5.0)), order(T0 + timedelta(hours=2), 7.0))
    late = named(features_for(order(T0 + timedelta(hours=1)), state))
    assert (late["customer_orders_30d"], late["customer_amount_30d"], late["seconds_since_previous_order"]) == (
        1,
        5.0,
        3_600,
    )
    after = updated(state, order(T0 + timedelta(hours=1), 6.0))
    assert after.amounts == (5.0, 6.0, 7.0) and after.last_s == state.last_s


def test_the_item_round_trips_exactly_and_is_compact():
    state = EMPTY
    for k, amount in enumerate([0.1, 1 / 3, 99_999.99, 12.5, 0.0]):
        state = updated(state, order(T0 + timedelta(hours=k), amount))
    item = to_item("c-1", state)
    assert from_item(item) == state
    assert item["customer_id"] == {"S": "c-1"} and item["age_s"]["L"][0] == {"N": str(4 * 3_600)}
    assert item_size(item) < 200
    assert from_item(None) == EMPTY and from_item({}) == EMPTY
    assert from_item(to_item("c-2", EMPTY)) == EMPTY


def test_the_largest_state_fits_a_dynamodb_item_and_a_larger_one_is_refused():
    last = 1_767_225_600
    ages = range(2 * MAX_HISTORY_ORDERS)
    largest = CustomerState(
        seconds=tuple(last - 30 * 86_400 + (a % 2) for a in ages),  # 7-digit ages
        amounts=tuple(12_345.678901234567 for _ in ages),  # 17 significant digits
        last_s=last,
        dropped_s=last - 40 * 86_400,
        seen=10**12,
    )
    size = item_size(to_item("c" * 64, largest))
    assert 30_000 < size < 40_000 < MAX_ITEM_BYTES  # about 34 KB, as the docs say
    oversized = CustomerState(largest.seconds * 15, largest.amounts * 15, last, None, 1)
    with pytest.raises(ValueError, match="past DynamoDB's 400 KB"):
        to_item("c-1", oversized)


def test_an_item_of_another_version_or_shape_is_refused_not_misread():
    item = to_item("c-1", updated(EMPTY, order()))
    with pytest.raises(StateItemError, match="version 0"):
        from_item({**item, "v": {"N": "0"}})
    with pytest.raises(StateItemError, match="not a customer state item"):
        from_item({k: v for k, v in item.items() if k != "amount"})
    with pytest.raises(StateItemError, match="1 ages, 0 amounts"):
        from_item({**item, "amount": {"L": []}})


def test_the_module_imports_only_the_standard_library_and_the_contract():
    probe = (
        "import json, sys; before = set(sys.modules); import cd4ml_shared.online_features; "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(done.stdout))
    assert loaded.isdisjoint({"numpy", "pyarrow", "pydantic", "boto3", "botocore"}), loaded
    assert online.__name__ == "cd4ml_shared.online_features"
