"""The model's features, defined once: their names and order, the windows, and one order's vector from its customer.

The feature job (`cd4ml_model.features`, vectorised over a whole dataset) and the `decide` function (one order at a
time, the customer's history in DynamoDB) both take their definition from here: the names and their order, the
plain conversions (`PLAIN_FEATURES`), the one-hot categories of the contract, and the windows of the rolling
customer features. This module computes them for ONE order; the feature job computes the same thing with numpy,
and `tests/unit/model/test_feature_parity.py` replays generated orders through both and requires equal vectors.

The rolling features look at the customer's orders placed in strictly earlier seconds (orders within one second
do not see each other), and at most the latest `MAX_HISTORY_ORDERS` of them: the 30-day and 24-hour windows start
exactly 30 days / 24 hours before the order's second, inclusive. The cap bounds the state kept per customer (a
bot's thousands of orders a day would otherwise outgrow a DynamoDB item); the offline job applies the same cap, so
both paths agree even for such a customer, whose counts then stop at the cap.

Standard library only (plus the contract's dataclasses): the decide function imports this on its cold start, and a
single order needs no numpy.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cd4ml_shared.contract import ORDERS, Column, DatasetContract

DAY_S = 86_400
HOUR_S = 3_600
WINDOW_30D_S = 30 * DAY_S
WINDOW_24H_S = DAY_S
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0, as in datetime.weekday()
MAX_HISTORY_ORDERS = 1_000  # the rolling features use at most this many of the customer's latest earlier orders
_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The contract's columns, by meaning: importing fails if the contract stops declaring one of them.
CUSTOMER = ORDERS.by_role("entity")[0].name
TIMESTAMP = ORDERS.timestamp.name
AMOUNT = "order_amount"

Transform = Literal["value", "log1p", "hour_of_day", "day_of_week"]


@dataclass(frozen=True)
class PlainFeature:
    """A feature read from one column of the order itself.

    `value`: the number (a boolean as 0/1; NaN for a null where the contract allows one); `log1p`: log(1 + v) of
    the value floored at 0; `hour_of_day` / `day_of_week` (Monday 0): of the timestamp's second, in UTC.
    """

    name: str
    column: str
    transform: Transform


PLAIN_FEATURES: tuple[PlainFeature, ...] = (
    PlainFeature(AMOUNT, AMOUNT, "value"),
    PlainFeature("log1p_order_amount", AMOUNT, "log1p"),
    PlainFeature("account_tenure_days", "account_tenure_days", "value"),
    PlainFeature("num_items", "num_items", "value"),
    PlainFeature("shipping_distance_km", "shipping_distance_km", "value"),
    PlainFeature("billing_shipping_match", "billing_shipping_match", "value"),
    PlainFeature("hour_of_day", TIMESTAMP, "hour_of_day"),
    PlainFeature("day_of_week", TIMESTAMP, "day_of_week"),
)

ROLLING_FEATURES = (
    "customer_orders_24h",
    "customer_orders_30d",
    "customer_amount_30d",
    "amount_to_customer_mean_30d",
    "seconds_since_previous_order",
)

for _feature in PLAIN_FEATURES:
    ORDERS.column(_feature.column)


class OrderFieldError(ValueError):
    """An order lacks a field the features need, or holds a value of another type; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"order field {field!r}: {problem}")
        self.field = field


class StateItemError(ValueError):
    """A DynamoDB item is not a customer state this definition can read (another version, a missing attribute)."""


def category_columns(contract: DatasetContract = ORDERS) -> list[Column]:
    return [c for c in contract.columns if c.dtype == "category" and c.role == "feature"]


def feature_names(contract: DatasetContract = ORDERS) -> list[str]:
    """The model's feature columns, in order; one-hot columns are named `<column>=<category>`."""
    one_hot = [f"{c.name}={value}" for c in category_columns(contract) for value in c.categories or ()]
    return [*(f.name for f in PLAIN_FEATURES), *ROLLING_FEATURES, *one_hot]


# ---- the customer's state ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerState:
    """What the rolling features need of a customer's past: the retained orders, oldest first, and two seconds.

    Retained: the orders of the last 30 days before `last_s` (the latest order's second), at most
    `MAX_HISTORY_ORDERS` of those before `last_s` and at most as many at `last_s`, so at most 2,000 orders. That is
    exactly enough for any order placed at or after `last_s`. `dropped_s` is the latest second of an order no
    longer retained, the "previous order" of a customer whose retained orders are all in the current second.
    `seen` counts the orders folded in (a writer can make its update conditional on it).
    """

    seconds: tuple[int, ...] = ()
    amounts: tuple[float, ...] = ()
    last_s: int | None = None
    dropped_s: int | None = None
    seen: int = 0


EMPTY = CustomerState()


def order_second(order: Mapping[str, Any]) -> int:
    """The order's timestamp as whole seconds since the epoch (floored, as the feature job does); naive is UTC."""
    value = _field(order, TIMESTAMP)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise OrderFieldError(TIMESTAMP, f"{value!r} is not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime):
        raise OrderFieldError(TIMESTAMP, f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return ((moment - _EPOCH) // timedelta(microseconds=1)) // _US


def features_for(order: Mapping[str, Any], state: CustomerState, contract: DatasetContract = ORDERS) -> list[float]:
    """The order's feature vector, in `feature_names()` order, from the order and its customer's state before it.

    Exact for an order at or after the customer's latest second (the normal case); an order that arrives later
    than an order placed after it sees only what the state still retains (fewer orders in its windows at worst).
    OrderFieldError names the first field that is missing or has the wrong type.
    """
    second = order_second(order)
    amount = _amount(order)
    vector = [_plain(feature, order, second, contract) for feature in PLAIN_FEATURES]
    vector += _rolling(state, second, amount)
    for column in category_columns(contract):
        value = order.get(column.name)
        if value is not None and not isinstance(value, str):
            raise OrderFieldError(column.name, f"expected text or null, got {type(value).__name__}")
        vector += [1.0 if value == category else 0.0 for category in column.categories or ()]
    return vector


def updated(state: CustomerState, order: Mapping[str, Any]) -> CustomerState:
    """The state after `order`: added after the orders of its second, then trimmed to the window and the caps."""
    second, amount = order_second(order), _amount(order)
    at = bisect_right(state.seconds, second)
    seconds = [*state.seconds[:at], second, *state.seconds[at:]]
    amounts = [*state.amounts[:at], amount, *state.amounts[at:]]
    last_s = second if state.last_s is None else max(state.last_s, second)
    dropped_s = state.dropped_s

    keep_from = bisect_left(seconds, last_s - WINDOW_30D_S)  # outside every window of a future order
    current = bisect_left(seconds, last_s)  # orders before the latest second, then those in it
    keep_from = max(keep_from, current - MAX_HISTORY_ORDERS)
    if keep_from > 0:
        dropped_s = seconds[keep_from - 1] if dropped_s is None else max(dropped_s, seconds[keep_from - 1])
    # past the cap within the latest second, the earliest of that second go: a later order sees only the latest
    # MAX_HISTORY_ORDERS, and the retained ones of that second still give it its previous order
    current_end = max(current, len(seconds) - MAX_HISTORY_ORDERS)
    seconds = seconds[keep_from:current] + seconds[current_end:]
    amounts = amounts[keep_from:current] + amounts[current_end:]
    return CustomerState(tuple(seconds), tuple(amounts), last_s, dropped_s, state.seen + 1)


def _rolling(state: CustomerState, second: int, amount: float) -> list[float]:
    seconds = state.seconds
    end = bisect_left(seconds, second)  # the retained orders of strictly earlier seconds
    lowest = max(0, end - MAX_HISTORY_ORDERS)
    start_30d = max(lowest, bisect_left(seconds, second - WINDOW_30D_S, 0, end))
    start_24h = max(lowest, bisect_left(seconds, second - WINDOW_24H_S, 0, end))
    count_30d = float(end - start_30d)
    total_30d = math.fsum(state.amounts[start_30d:end])  # correctly rounded, as the job's compensated sums
    mean_30d = total_30d / count_30d if count_30d else math.nan
    ratio = amount / mean_30d if count_30d and mean_30d > 0 else math.nan
    if end:
        previous: int | None = seconds[end - 1]
    else:
        previous = state.dropped_s if state.dropped_s is not None and state.dropped_s < second else None
    since_previous = float(second - previous) if previous is not None else math.nan
    return [float(end - start_24h), count_30d, total_30d, ratio, since_previous]


def _plain(feature: PlainFeature, order: Mapping[str, Any], second: int, contract: DatasetContract) -> float:
    if feature.transform == "hour_of_day":
        return float((second // HOUR_S) % 24)
    if feature.transform == "day_of_week":
        return float((second // DAY_S + EPOCH_WEEKDAY) % 7)
    value = _number(order, feature.column, nullable=contract.column(feature.column).nullable)
    if feature.transform == "value":
        return value
    if feature.transform == "log1p":
        return value if math.isnan(value) else math.log1p(max(value, 0.0))
    raise ValueError(f"feature {feature.name!r} has an unknown transform {feature.transform!r}")


def _field(order: Mapping[str, Any], name: str) -> Any:
    if name not in order:
        raise OrderFieldError(name, "missing")
    return order[name]


def _number(order: Mapping[str, Any], name: str, *, nullable: bool) -> float:
    """A number or boolean as a float, NaN for a null where allowed; non-finite numbers are refused."""
    value = _field(order, name)
    if value is None:
        if nullable:
            return math.nan
        raise OrderFieldError(name, "null, but a value is required")
    if not isinstance(value, int | float):  # bool is an int: True/False are 1/0, as in the feature job
        raise OrderFieldError(name, f"expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise OrderFieldError(name, f"{value!r} is not a finite number")
    return number


def _amount(order: Mapping[str, Any]) -> float:
    amount = _number(order, AMOUNT, nullable=False)
    if isinstance(order[AMOUNT], bool):
        raise OrderFieldError(AMOUNT, "expected a number, got bool")
    return amount


# ---- the state as a DynamoDB item -------------------------------------------------------------------------------
STATE_VERSION = 1  # bump when the retained history's meaning changes: older items are then refused, not misread
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit


def to_item(customer_id: str, state: CustomerState, key: str = CUSTOMER) -> dict[str, Any]:
    """The state as a low-level DynamoDB item (`PutItem`'s `Item`), compact: two lists of numbers.

    `age_s` holds each retained order's age in seconds before `last_s` (at most 30 days: 7 digits) and `amount`
    its amount, oldest first. At the bounds (2,000 orders, amounts of 17 significant digits) the item is about
    34 KB, far below DynamoDB's 400 KB; a state past the limit cannot be built by `updated`, and `to_item`
    refuses one with a ValueError rather than let the write fail.
    """
    item: dict[str, Any] = {
        key: {"S": customer_id},
        "v": {"N": str(STATE_VERSION)},
        "seen": {"N": str(state.seen)},
        "age_s": {"L": [{"N": str(state.last_s - s)} for s in state.seconds] if state.last_s is not None else []},
        "amount": {"L": [{"N": repr(a)} for a in state.amounts]},
    }
    if state.last_s is not None:
        item["last_s"] = {"N": str(state.last_s)}
    if state.dropped_s is not None:
        item["dropped_s"] = {"N": str(state.dropped_s)}
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ValueError(f"the state of customer {customer_id!r} takes {size:,} bytes, past DynamoDB's 400 KB")
    return item


def from_item(item: Mapping[str, Any] | None) -> CustomerState:
    """The state of a low-level DynamoDB item (`GetItem`'s `Item`); no item (a new customer) is the empty state."""
    if not item:
        return EMPTY
    try:
        version = int(item["v"]["N"])
        if version != STATE_VERSION:
            raise StateItemError(f"customer state version {version}, this code reads version {STATE_VERSION}")
        last_s = int(item["last_s"]["N"]) if "last_s" in item else None
        ages = [int(entry["N"]) for entry in item["age_s"]["L"]]
        amounts = tuple(float(entry["N"]) for entry in item["amount"]["L"])
        dropped_s = int(item["dropped_s"]["N"]) if "dropped_s" in item else None
        seen = int(item["seen"]["N"])
    except StateItemError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise StateItemError(f"not a customer state item: {type(error).__name__} {error}") from None
    if len(ages) != len(amounts) or (ages and last_s is None):
        raise StateItemError(f"not a customer state item: {len(ages)} ages, {len(amounts)} amounts, last_s {last_s}")
    seconds = tuple(last_s - age for age in ages) if last_s is not None else ()
    return CustomerState(seconds, amounts, last_s, dropped_s, seen)


def item_size(item: Mapping[str, Any]) -> int:
    """DynamoDB's size of a low-level item (its documented rules; numbers at 1 byte per 2 significant digits + 1)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = content.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0") or "0"
        return min(21, (len(digits) + 1) // 2 + 1)
    if kind == "L":
        return 3 + sum(1 + _value_size(entry) for entry in content)
    raise ValueError(f"item_size does not size attributes of type {kind!r}")
