"""Synthetic card-payment orders for the fraud workload: a deterministic generator, its fault switches, and writers.

The columns, their types, ranges and categories come from the dataset contract (`cd4ml_shared.contract.ORDERS`);
this module only knows what each column means. Everything is drawn with numpy's PCG64 from seeds derived with
`SeedSequence`, vectorised over rows, and floats are rounded (cents, tenths of a kilometre, whole seconds) so that a
last-bit difference in a platform's `exp` or `log` cannot reach the output: the same arguments give the same bytes.

The model, in short (docs/data.md has the long version):
- a population of customers, its size proportional to the daily order volume, each with a home country (and so a
  currency and a time zone), an account creation time, a preferred device and payment method, a mix of merchant
  categories, a spending level (amounts are lognormal around it) and an activity rate; a share are sign-ups whose
  accounts open during the window, and a few are fraudsters;
- orders spread over the window with a local-time daily profile and a weekly one, plus bursts of several orders from
  one customer within hours: genuine sprees, fraudsters soon after sign-up, and established accounts taken over;
- a fraud label drawn from a logistic model of the order (new account, amount far above the customer's usual spend,
  burst, billing/shipping mismatch, long shipping distance, risky categories and payment methods, night time) and a
  hidden per-customer risk, with its intercept solved for the requested rate, then label noise (missed fraud and
  friendly fraud), so that a good model learns it well but not perfectly.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from cd4ml_shared.contract import ORDERS, Column, DatasetContract
from cd4ml_shared.data_quality import ARROW_TYPES

__all__ = [
    "ARROW_TYPES",
    "DATASET_SUFFIXES",
    "Fault",
    "GeneratorContractError",
    "UnsupportedDatasetFormat",
    "arrow_schema",
    "dataset_format",
    "generate_orders",
    "recent_start",
    "write_dataset",
]

T = TypeVar("T")
IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

DATASET_SUFFIXES = (".csv", ".parquet")


class GeneratorContractError(RuntimeError):
    """The contract declares something (a category, a column) that the generator does not model."""


class UnsupportedDatasetFormat(ValueError):
    """A dataset path whose suffix names no format the writers know."""


def arrow_schema(contract: DatasetContract = ORDERS) -> pa.Schema:
    """The Arrow schema of a clean dataset: the contract's columns, in order, with their Arrow types.

    Every field is nullable in Arrow terms: which columns may hold nulls is the contract's to say (and the validator's
    to check), and a schema that refused nulls could not even carry a faulty dataset to the check.
    """
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.dtype]) for c in contract.columns])


# ---- the contract's columns, by meaning ---------------------------------------------------------------------------
_KEY = ORDERS.key
_CUSTOMER = ORDERS.by_role("entity")[0]
_TS = ORDERS.timestamp
_LABEL = ORDERS.label
_AMOUNT = ORDERS.column("order_amount")
_CURRENCY = ORDERS.column("currency")
_PAYMENT = ORDERS.column("payment_method")
_CATEGORY = ORDERS.column("merchant_category")
_COUNTRY = ORDERS.column("country")
_DEVICE = ORDERS.column("device_type")
_TENURE = ORDERS.column("account_tenure_days")
_ITEMS = ORDERS.column("num_items")
_DISTANCE = ORDERS.column("shipping_distance_km")
_MATCH = ORDERS.column("billing_shipping_match")


def _categories(column: Column) -> tuple[str, ...]:
    if not column.categories:
        raise GeneratorContractError(f"column {column.name!r} declares no categories")
    return column.categories


def _bound(value: float | None, column: Column, which: str) -> float:
    if value is None:
        raise GeneratorContractError(f"column {column.name!r} declares no {which}")
    return value


def _per_category(column: Column, profiles: Mapping[str, T]) -> list[T]:
    """The generator's parameters for each of the contract's categories of `column`, in the contract's order."""
    missing = [c for c in _categories(column) if c not in profiles]
    if missing:
        raise GeneratorContractError(f"the generator has no profile for {column.name} categories {missing}")
    return [profiles[c] for c in _categories(column)]


# ---- domain parameters, keyed by the contract's category values ---------------------------------------------------
class _Country(NamedTuple):
    share: float  # of customers
    currency: str
    utc_offset_h: int  # for the local-time daily profile (no daylight saving: it would not change what is learnt)


class _Merchant(NamedTuple):
    share: float  # of orders, before each customer's own mix
    amount_factor: float  # typical basket relative to the customer's spending level
    extra_items: float  # mean of num_items - 1
    fraud_log_odds: float
    ships: bool  # digital goods are not shipped: no shipping distance


class _Option(NamedTuple):
    share: float
    fraud_log_odds: float


_COUNTRIES = _per_category(
    _COUNTRY,
    {
        "US": _Country(0.33, "USD", -5),
        "GB": _Country(0.12, "GBP", 0),
        "DE": _Country(0.11, "EUR", 1),
        "FR": _Country(0.08, "EUR", 1),
        "ES": _Country(0.05, "EUR", 1),
        "IT": _Country(0.05, "EUR", 1),
        "NL": _Country(0.04, "EUR", 1),
        "CA": _Country(0.07, "CAD", -5),
        "AU": _Country(0.05, "AUD", 10),
        "JP": _Country(0.10, "JPY", 9),
    },
)
_MERCHANTS = _per_category(
    _CATEGORY,
    {
        "electronics": _Merchant(0.13, 3.2, 0.3, 0.9, True),
        "fashion": _Merchant(0.22, 1.1, 1.0, 0.0, True),
        "grocery": _Merchant(0.25, 0.9, 7.0, -1.0, True),
        "travel": _Merchant(0.06, 5.0, 0.6, 0.4, True),
        "digital_goods": _Merchant(0.13, 0.4, 0.0, 1.0, False),
        "home": _Merchant(0.21, 1.8, 0.8, -0.2, True),
    },
)
_DEVICES = _per_category(
    _DEVICE, {"mobile": _Option(0.58, 0.25), "desktop": _Option(0.32, 0.0), "tablet": _Option(0.10, -0.1)}
)
_PAYMENTS = _per_category(
    _PAYMENT, {"card": _Option(0.68, 0.45), "wallet": _Option(0.24, -0.2), "bank_transfer": _Option(0.08, -1.2)}
)
_unknown_currencies = {c.currency for c in _COUNTRIES} - set(_categories(_CURRENCY))
if _unknown_currencies:
    raise GeneratorContractError(
        f"country profiles pay in currencies the contract does not know: {_unknown_currencies}"
    )
_COUNTRY_CURRENCY = np.array([_categories(_CURRENCY).index(c.currency) for c in _COUNTRIES], dtype=np.int64)

# Local-time shape of a day (hour 0..23) and of a week (Monday..Sunday): evenings and weekends are busiest.
_HOURLY = np.array(
    [
        *(0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.8, 0.95, 1.0, 1.05),  # 00-11
        *(1.15, 1.1, 1.0, 0.95, 0.95, 1.05, 1.2, 1.35, 1.45, 1.35, 1.0, 0.65),  # 12-23
    ]
)
_WEEKLY = np.array([1.0, 0.95, 0.95, 0.97, 1.03, 1.12, 1.2])

_DAY_S = 86_400
_HOUR_S = 3_600
_MAX_ROWS = 100_000_000  # string offsets are 32-bit: ids of more rows would not fit one Arrow string array

# The population
_DAYS_BETWEEN_ORDERS = 12.0  # customers = daily volume x this: a typical customer orders a few times a month
_SIGNUP_SHARE = 0.3  # of customers, accounts opened from 60 days before the reference date to the horizon
_SIGNUP_LEAD_DAYS = 60
_MIN_HORIZON_DAYS = 365
_ESTABLISHED_TENURE_DAYS = (700.0, 1.0, 45, 25 * 365)  # lognormal median and sigma, clipped to [min, max]
_FRAUDSTER_SHARE = (0.04, 0.002)  # of sign-ups, of established accounts (sleepers); takeovers are bursts, below
_SPEND_MEDIAN, _SPEND_SIGMA = 45.0, 0.6
_ACTIVITY_SHAPE = 0.7  # gamma: a few customers order far more often than most
_CATEGORY_CONCENTRATION = 4.0  # Dirichlet: how close each customer's category mix is to the overall one
_STICKINESS = 0.85  # share of a customer's orders on their preferred device / payment method

# Orders
_BURST_SHARE = 0.04  # of rows
_BURST_EXTRA_ORDERS = 2.5  # a burst has 2 + Poisson(this) orders ...
_BURST_SPAN_S = 8 * _HOUR_S  # ... within these hours
_BURST_KINDS = (0.4, 0.35, 0.25)  # shares of bursts: genuine sprees, new-account fraud, account takeover
_TAKEOVER_MIN_TENURE_S = 180 * _DAY_S
_TAKEOVER_RISK = 3.0  # in the label's log-odds: a taken-over account's orders are mostly fraud
_FRAUD_BURST_DELAY_S = 3 * _DAY_S  # mean
_AMOUNT_SIGMA = 0.55
_FRAUD_AMOUNT_BOOST = 0.9  # log: fraudsters buy more than the account usually does
_MISMATCH_RATE = (0.05, 0.35)  # billing and shipping addresses differ: usual, fraud burst
_LONG_HAUL_RATE = (0.01, 0.2)  # shipped abroad: usual, fraud burst

# The label
_FRAUD_MISSED = 0.08  # fraud never reported as such
_FRIENDLY_FRAUD = 0.0003  # genuine orders disputed as fraud
_HIDDEN_RISK_SIGMA = 0.6
_FRAUDSTER_RISK = 2.5


class Fault(enum.StrEnum):
    """A fault switch: one way a dataset goes wrong upstream, which the data-quality checks must catch.

    Several combine; each draws from its own random stream, so a fault leaves the clean rows it does not touch exactly
    as they are without it. `fault.effect` says what it does.
    """

    MISSING_VALUES = "missing_values"  # nulls where the contract allows none
    OUT_OF_RANGE = "out_of_range"  # values outside the contract's ranges and categories
    STALE_COLUMN = "stale_column"  # a feature stuck at one value (the talk's tenure of 54 days)
    SCHEMA_CHANGE = "schema_change"  # a renamed column, a changed type, an unexpected column
    DUPLICATE_ROWS = "duplicate_rows"  # rows delivered twice
    LABEL_LEAKAGE = "label_leakage"  # a column known only after the fact that nearly equals the label
    DISTRIBUTION_DRIFT = "distribution_drift"  # amounts, countries and devices unlike the reference

    @property
    def effect(self) -> str:
        return _FAULT_EFFECTS[self]


# What each fault does; the constants below are the knobs.
_MISSING_SHARE = 0.05
_MISSING_COLUMNS = (_CUSTOMER, _AMOUNT, _COUNTRY)
_NEGATIVE_AMOUNT_SHARE = 0.02
_TENURE_OVERFLOW_SHARE = 0.01
_MISCASED_CATEGORY_SHARE = 0.01
_STALE_TENURE_DAYS = 54
_RENAMED = {_AMOUNT.name: "amount"}
_RETYPED_TO_STRING = (_ITEMS,)
_NEW_COLUMN = "promo_code"
_DUPLICATE_SHARE = 0.03
_LEAK_COLUMN = "chargeback_flag"
_LEAK_DISAGREEMENT = 0.005
_DRIFT_AMOUNT_FACTOR = 2.0
_DRIFT_REDRAWN_SHARE = 0.6

_FAULT_EFFECTS: Mapping[Fault, str] = {
    Fault.MISSING_VALUES: (
        f"{_MISSING_SHARE:.0%} nulls in each of the non-nullable columns " + ", ".join(c.name for c in _MISSING_COLUMNS)
    ),
    Fault.OUT_OF_RANGE: (
        f"{_NEGATIVE_AMOUNT_SHARE:.0%} negative {_AMOUNT.name}, {_TENURE_OVERFLOW_SHARE:.0%} {_TENURE.name} above its "
        f"maximum, and {_MISCASED_CATEGORY_SHARE:.0%} of each category column in the wrong case (unknown values)"
    ),
    Fault.STALE_COLUMN: f"{_TENURE.name} stuck at {_STALE_TENURE_DAYS} for every row, day after day",
    Fault.SCHEMA_CHANGE: (
        ", ".join(f"{old} renamed to {new}" for old, new in _RENAMED.items())
        + ", "
        + ", ".join(f"{c.name} written as strings" for c in _RETYPED_TO_STRING)
        + f", and a new column {_NEW_COLUMN}"
    ),
    Fault.DUPLICATE_ROWS: f"{_DUPLICATE_SHARE:.0%} of the rows delivered twice (same {_KEY.name}, same values)",
    Fault.LABEL_LEAKAGE: (
        f"a new column {_LEAK_COLUMN} that equals {_LABEL.name} for {1 - _LEAK_DISAGREEMENT:.1%} of the rows "
        "(it is only known after the fact)"
    ),
    Fault.DISTRIBUTION_DRIFT: (
        f"{_AMOUNT.name} x{_DRIFT_AMOUNT_FACTOR:g}, and {_DRIFT_REDRAWN_SHARE:.0%} of the rows' {_COUNTRY.name} "
        f"(with its {_CURRENCY.name}) and {_DEVICE.name} redrawn from the inverse of the usual mix"
    ),
}

# Independent random streams: what one draws never shifts what another draws.
_STREAM_CUSTOMERS, _STREAM_ORDERS, _STREAM_FAULTS = 1, 2, 3


def _stream(*entropy: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(e) for e in entropy])


def _fault(name: Fault | str) -> Fault:
    try:
        return Fault(name)
    except ValueError:
        raise ValueError(f"unknown fault {name!r}; the faults are {', '.join(f.value for f in Fault)}") from None


def _epoch_s(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


# ---- the population -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Population:
    ids: pa.Array
    created_s: IntArray
    country: IntArray
    device: IntArray
    payment: IntArray
    category_cdf: FloatArray  # (customers, categories), each row ending at 1
    spend_log: FloatArray
    activity: FloatArray
    home_km: FloatArray
    fraudster: BoolArray
    risk: FloatArray  # hidden: never in the data, part of why the label cannot be learnt perfectly


def _shares(profiles: Sequence[_Country] | Sequence[_Merchant] | Sequence[_Option]) -> FloatArray:
    shares = np.array([p.share for p in profiles], dtype=np.float64)
    return shares / shares.sum()


def _population(count: int, seed: int, reference_s: int, horizon_days: int) -> _Population:
    seeds = _stream(seed, _STREAM_CUSTOMERS, reference_s, count, horizon_days)
    rng = np.random.Generator(np.random.PCG64(seeds))
    (id_key,) = seeds.generate_state(1, np.uint64)

    signup = rng.permutation(count) < int(count * _SIGNUP_SHARE)  # never all: someone can always order
    median, sigma, low, high = _ESTABLISHED_TENURE_DAYS
    tenure_s = np.clip(rng.lognormal(math.log(median), sigma, count), low, high) * _DAY_S
    opened_s = rng.uniform(-_SIGNUP_LEAD_DAYS, horizon_days, count) * _DAY_S
    created_s = reference_s + np.floor(np.where(signup, opened_s, -tenure_s)).astype(np.int64)

    preferences = rng.gamma(_CATEGORY_CONCENTRATION * _shares(_MERCHANTS), size=(count, len(_MERCHANTS)))
    category_cdf = np.cumsum(preferences / preferences.sum(axis=1, keepdims=True), axis=1)
    category_cdf[:, -1] = 1.0
    fraudster = rng.random(count) < np.where(signup, _FRAUDSTER_SHARE[0], _FRAUDSTER_SHARE[1])
    return _Population(
        ids=_hex_ids("c", id_key, count),
        created_s=created_s,
        country=rng.choice(len(_COUNTRIES), size=count, p=_shares(_COUNTRIES)),
        device=rng.choice(len(_DEVICES), size=count, p=_shares(_DEVICES)),
        payment=rng.choice(len(_PAYMENTS), size=count, p=_shares(_PAYMENTS)),
        category_cdf=category_cdf,
        spend_log=rng.normal(math.log(_SPEND_MEDIAN), _SPEND_SIGMA, count),
        activity=rng.gamma(_ACTIVITY_SHAPE, 1 / _ACTIVITY_SHAPE, count),
        home_km=rng.lognormal(math.log(25.0), 0.9, count),
        fraudster=fraudster,
        risk=rng.normal(0.0, _HIDDEN_RISK_SIGMA, count) + np.where(fraudster, _FRAUDSTER_RISK, 0.0),
    )


_HEX_PAIRS = np.frombuffer("".join(f"{byte:02x}" for byte in range(256)).encode(), dtype=np.uint8).reshape(256, 2)


def _hex_ids(prefix: str, key: np.uint64, count: int) -> pa.Array:
    """`count` distinct ids, `prefix` + 16 hex digits: a bijective mix (splitmix64's finaliser) of key + 0..count-1."""
    with np.errstate(over="ignore"):
        z = np.arange(count, dtype=np.uint64) + key
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    digits = _HEX_PAIRS[z.astype(">u8").view(np.uint8).reshape(count, 8)].reshape(count, 16)  # big-endian: everywhere
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (count, len(prefix)))
    width = len(prefix) + 16
    data = np.ascontiguousarray(np.concatenate([head, digits], axis=1))
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


# ---- time -------------------------------------------------------------------------------------------------------
class _Calendar:
    """Order intensity per hour of the window, per country (local time), and sampling from it above a lower bound."""

    def __init__(self, start_s: int, days: int, rng: np.random.Generator) -> None:
        hours = days * 24
        self.start_s, self.hours, self.end_s = start_s, hours, start_s + hours * _HOUR_S
        self.edges = np.arange(hours + 1, dtype=np.float64)
        day_factor = rng.lognormal(0.0, 0.1, days + 2)  # promotions, weather: some days are simply busier
        utc_hour = start_s // _HOUR_S + np.arange(hours, dtype=np.int64)
        self.cdf = np.empty((len(_COUNTRIES), hours + 1))
        for index, country in enumerate(_COUNTRIES):
            local_hour = utc_hour + country.utc_offset_h
            weekday = (local_hour // 24 + 3) % 7  # 1970-01-01 was a Thursday
            utc_day = (utc_hour - utc_hour[0]) // 24
            weight = _HOURLY[local_hour % 24] * _WEEKLY[weekday] * day_factor[utc_day]
            cumulative = np.concatenate([[0.0], np.cumsum(weight)])
            self.cdf[index] = cumulative / cumulative[-1]

    def sample(self, country: IntArray, not_before_s: IntArray, uniform: FloatArray) -> IntArray:
        """Epoch seconds in [max(start, not_before), end), following the country's intensity (one uniform each)."""
        hours = np.empty(len(country))
        lower = np.clip((not_before_s - self.start_s) / _HOUR_S, 0.0, self.hours)
        for index in range(len(_COUNTRIES)):
            rows = country == index
            floor = np.interp(lower[rows], self.edges, self.cdf[index])
            hours[rows] = np.interp(floor + (1.0 - floor) * uniform[rows], self.cdf[index], self.edges)
        seconds = self.start_s + np.floor(hours * _HOUR_S).astype(np.int64)
        return np.clip(seconds, np.maximum(not_before_s, self.start_s), self.start_s + self.hours * _HOUR_S - 1)


# ---- orders -------------------------------------------------------------------------------------------------------
def _choose(rng: np.random.Generator, cdf: FloatArray) -> IntArray:
    """One index per row of `cdf` (cumulative probabilities, last column 1)."""
    uniform = rng.random(cdf.shape[0])
    return np.minimum((uniform[:, None] >= cdf).sum(axis=1), cdf.shape[1] - 1).astype(np.int64)


def _sticky(
    rng: np.random.Generator, preferred: IntArray, shares: FloatArray, fraud_shares: FloatArray, fraud: BoolArray
) -> IntArray:
    """The customer's preferred option most of the time, otherwise one drawn from the shares (fraud's own in sprees)."""
    usual = rng.random(len(preferred)) < _STICKINESS
    other = np.where(
        fraud,
        _choose(rng, np.broadcast_to(np.cumsum(fraud_shares), (len(preferred), len(shares)))),
        _choose(rng, np.broadcast_to(np.cumsum(shares), (len(preferred), len(shares)))),
    )
    return np.where(usual & ~fraud, preferred, other)


def _fraud_tilt(profiles: Sequence[_Merchant] | Sequence[_Option]) -> FloatArray:
    """Fraudsters' own mix: the usual one, tilted toward what the label model finds risky."""
    tilted = _shares(profiles) * np.exp(2.0 * np.array([p.fraud_log_odds for p in profiles]))
    return tilted / tilted.sum()


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def _intercept_for(logit: FloatArray, rate: float) -> float:
    """The intercept that makes the mean fraud probability `rate` (bisection: monotone, deterministic)."""
    low, high = -60.0, 60.0
    for _ in range(60):
        middle = (low + high) / 2
        if _sigmoid(middle + logit).mean() < rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


class _Bursts(NamedTuple):
    """Orders placed in bursts (one row per order)."""

    customer: IntArray
    ts: IntArray
    fraudulent: BoolArray  # a fraudster's spree or a taken-over account's: the fraudster's choices, not the customer's
    takeover: BoolArray


def _bursts(
    rng: np.random.Generator, customers: _Population, calendar: _Calendar, weight: FloatArray, rows: int
) -> _Bursts:
    """`rows` orders in bursts of 2 + Poisson orders from one customer within hours, of three kinds: shopping sprees
    (genuine), fraudsters within days of opening their account, and established accounts taken over by a fraudster
    (only the amounts, the order count and the context give those away, not the tenure)."""
    sizes = 2 + rng.poisson(_BURST_EXTRA_ORDERS, size=rows // 2 + 1)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), rows)) + 1]
    sizes[-1] -= int(sizes.sum()) - rows  # the last burst is cut to the number of rows
    sizes = sizes[sizes > 0]
    count = len(sizes)
    fraudsters = np.where(customers.fraudster & (weight > 0), 1.0, 0.0)
    established = np.where(customers.created_s < calendar.start_s - _TAKEOVER_MIN_TENURE_S, weight, 0.0)
    shares = np.array([_BURST_KINDS[0], _BURST_KINDS[1] * fraudsters.any(), _BURST_KINDS[2] * established.any()])
    kind = rng.choice(3, size=count, p=shares / shares.sum())  # 0 spree, 1 new-account fraud, 2 takeover
    pools = [p if p.any() else weight for p in (weight, fraudsters, established)]
    candidates = np.stack([rng.choice(len(weight), size=count, p=pool / pool.sum()) for pool in pools])
    customer = candidates[kind, np.arange(count)]
    created = customers.created_s[customer]
    soon = created + np.floor(rng.exponential(_FRAUD_BURST_DELAY_S, count)).astype(np.int64)
    anywhere = calendar.sample(customers.country[customer], np.maximum(created, calendar.start_s), rng.random(count))
    first = np.where((kind == 1) & (soon >= calendar.start_s) & (soon < calendar.end_s), soon, anywhere)
    burst = np.repeat(np.arange(count), sizes)
    span = np.minimum(_BURST_SPAN_S, calendar.end_s - first[burst])
    ts = first[burst] + np.floor(rng.random(len(burst)) * span).astype(np.int64)
    return _Bursts(customer[burst], ts, kind[burst] > 0, kind[burst] == 2)


def recent_start(days: int, *, today: date | None = None) -> datetime:
    """The `start` of a `days`-day window that ends at today's midnight (UTC): data generated for it is fresh for the
    validation's freshness limit (`DatasetMaxAgeDays`, 7 by default) and holds no order after now."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    day = today or datetime.now(UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=days)


def generate_orders(
    rows: int,
    *,
    seed: int,
    start: datetime,
    days: int,
    faults: Sequence[Fault | str] = (),
    fraud_rate: float = 0.01,
    reference_date: datetime | date | None = None,
) -> pa.Table:
    """`rows` orders placed in the `days` days from `start`, as an Arrow table with the contract's columns and types.

    Deterministic: the same arguments give the same table on every run and machine. Naive datetimes are UTC.
    `fraud_rate` is the expected share of `is_fraud` (the realised one varies as a binomial does).
    `reference_date` anchors the customer population (account creation times are drawn relative to it; sign-ups keep
    opening accounts for a year after it); it defaults to `start`. Windows generated with the same seed,
    reference date and daily volume (rows / days) share their customers, who are older in the later window.
    `faults` (names or `Fault`s, any order, repeats ignored) corrupt the clean table; see `Fault`.
    """
    if not 1 <= rows <= _MAX_ROWS:
        raise ValueError(f"rows must be between 1 and {_MAX_ROWS:,}, got {rows}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if not 0.0 <= fraud_rate <= 0.5:
        raise ValueError(f"fraud_rate must be between 0 and 0.5, got {fraud_rate}")
    chosen = {_fault(f) for f in ((faults,) if isinstance(faults, str) else faults)}
    start_s = _epoch_s(start)
    if isinstance(reference_date, datetime):
        reference_s = _epoch_s(reference_date)
    elif isinstance(reference_date, date):
        reference_s = _epoch_s(datetime(reference_date.year, reference_date.month, reference_date.day))
    else:
        reference_s = start_s
    if start_s < 0 or reference_s < 0:
        raise ValueError("start and reference_date must not be before 1970")
    if reference_s > start_s:
        raise ValueError(f"reference_date ({reference_date}) must not be after start ({start})")
    end_s = start_s + days * _DAY_S
    horizon_days = max(_MIN_HORIZON_DAYS, -(-(end_s - reference_s) // _DAY_S))

    customers = _population(max(1, round(rows / days * _DAYS_BETWEEN_ORDERS)), seed, reference_s, horizon_days)
    seeds = _stream(seed, _STREAM_ORDERS, start_s, days, rows)
    columns = _clean_orders(customers, rows, start_s, end_s, fraud_rate, seeds)
    for fault in _APPLICATION_ORDER:
        if fault in chosen:
            fault_rng = np.random.Generator(
                np.random.PCG64(_stream(seed, _STREAM_FAULTS, start_s, days, rows, list(Fault).index(fault)))
            )
            columns = _FAULTS[fault](columns, fault_rng)
    return pa.table(columns)


def _clean_orders(
    customers: _Population, rows: int, start_s: int, end_s: int, fraud_rate: float, seeds: np.random.SeedSequence
) -> dict[str, pa.Array]:
    rng = np.random.Generator(np.random.PCG64(seeds))
    (id_key,) = seeds.generate_state(1, np.uint64)
    calendar = _Calendar(start_s, (end_s - start_s) // _DAY_S, rng)
    active_from = np.maximum(customers.created_s, start_s)
    weight = customers.activity * np.clip(end_s - active_from, 0, None)

    bursts = _bursts(rng, customers, calendar, weight, int(rows * _BURST_SHARE))
    regular = rows - len(bursts.ts)
    regular_customer = rng.choice(len(weight), size=regular, p=weight / weight.sum())
    regular_ts = calendar.sample(
        customers.country[regular_customer], active_from[regular_customer], rng.random(regular)
    )
    order = np.argsort(np.concatenate([regular_ts, bursts.ts]), kind="stable")
    ts = np.concatenate([regular_ts, bursts.ts])[order]
    customer = np.concatenate([regular_customer, bursts.customer])[order]
    in_burst = np.concatenate([np.zeros(regular, dtype=bool), np.ones(len(bursts.ts), dtype=bool)])[order]
    fraud_spree = np.concatenate([np.zeros(regular, dtype=bool), bursts.fraudulent])[order]
    takeover = np.concatenate([np.zeros(regular, dtype=bool), bursts.takeover])[order]

    # What each order looks like: mostly the customer's habits; in a fraudster's spree, the fraudster's.
    country = customers.country[customer]
    currency = _COUNTRY_CURRENCY[country]
    device = _sticky(rng, customers.device[customer], _shares(_DEVICES), _fraud_tilt(_DEVICES), fraud_spree)
    payment = _sticky(rng, customers.payment[customer], _shares(_PAYMENTS), _fraud_tilt(_PAYMENTS), fraud_spree)
    fraud_cdf = np.broadcast_to(np.cumsum(_fraud_tilt(_MERCHANTS)), (rows, len(_MERCHANTS)))
    category = _choose(rng, np.where(fraud_spree[:, None], fraud_cdf, customers.category_cdf[customer]))
    merchant_amount = np.log([m.amount_factor for m in _MERCHANTS])[category]
    items = 1 + rng.poisson(np.array([m.extra_items for m in _MERCHANTS])[category])
    items = np.clip(items, _bound(_ITEMS.minimum, _ITEMS, "minimum"), _bound(_ITEMS.maximum, _ITEMS, "maximum"))
    surprise = rng.normal(0.0, _AMOUNT_SIGMA, rows) + np.where(fraud_spree, _FRAUD_AMOUNT_BOOST, 0.0)
    log_amount = customers.spend_log[customer] + merchant_amount + 0.25 * np.log(items) + surprise
    amount = np.clip(np.round(np.exp(log_amount), 2), 1.0, _bound(_AMOUNT.maximum, _AMOUNT, "maximum"))

    mismatch = rng.random(rows) < np.where(fraud_spree, _MISMATCH_RATE[1], _MISMATCH_RATE[0])
    long_haul = rng.random(rows) < np.where(fraud_spree, _LONG_HAUL_RATE[1], _LONG_HAUL_RATE[0])
    home = customers.home_km[customer] * rng.lognormal(0.0, 0.25, rows)
    elsewhere = rng.lognormal(math.log(250.0), 1.2, rows)
    abroad = rng.uniform(1_000.0, 12_000.0, rows)
    distance = np.where(long_haul, abroad, np.where(mismatch, elsewhere, home))
    distance = np.clip(np.round(distance, 1), 0.1, _bound(_DISTANCE.maximum, _DISTANCE, "maximum"))
    ships = np.array([m.ships for m in _MERCHANTS])[category]
    tenure_days = (ts - customers.created_s[customer]) // _DAY_S

    # The label: a logistic model of what the order shows and what it hides, solved for the requested rate.
    local_hour = (ts // _HOUR_S + np.array([c.utc_offset_h for c in _COUNTRIES])[country]) % 24
    logit = (
        1.8 * np.exp(-tenure_days / 20.0)
        + 0.5 * (tenure_days < 90)
        + 1.0 * np.clip(surprise, -1.5, 3.0)
        + 0.6 * in_burst
        + _TAKEOVER_RISK * takeover
        + 1.1 * mismatch
        + 0.35 * np.where(ships, np.clip(np.log10(distance / 50.0), 0.0, 3.0), 0.0)
        + np.array([m.fraud_log_odds for m in _MERCHANTS])[category]
        + np.array([p.fraud_log_odds for p in _PAYMENTS])[payment]
        + np.array([d.fraud_log_odds for d in _DEVICES])[device]
        + 0.4 * (local_hour < 6)
        + customers.risk[customer]
    )
    noise = rng.random((2, rows))
    if fraud_rate > 0:
        signal_rate = (fraud_rate - _FRIENDLY_FRAUD) / (1.0 - _FRAUD_MISSED - _FRIENDLY_FRAUD)
        probability = _sigmoid(_intercept_for(logit, max(signal_rate, 1e-9)) + logit)
        fraud = ((noise[0] < probability) & (noise[1] >= _FRAUD_MISSED)) | (
            (noise[0] >= probability) & (noise[1] < _FRIENDLY_FRAUD)
        )
    else:
        fraud = np.zeros(rows, dtype=bool)

    values: dict[str, pa.Array] = {
        _KEY.name: _hex_ids("o", id_key, rows),
        _CUSTOMER.name: customers.ids.take(_arrow(customer)),
        _TS.name: _arrow(ts * 1_000_000).view(ARROW_TYPES[_TS.dtype]),
        _AMOUNT.name: _arrow(amount),
        _CURRENCY.name: _labels(_CURRENCY, currency),
        _PAYMENT.name: _labels(_PAYMENT, payment),
        _CATEGORY.name: _labels(_CATEGORY, category),
        _COUNTRY.name: _labels(_COUNTRY, country),
        _DEVICE.name: _labels(_DEVICE, device),
        _TENURE.name: _arrow(tenure_days),
        _ITEMS.name: _arrow(items),
        _DISTANCE.name: _arrow(distance, valid=ships),
        _MATCH.name: _arrow(~mismatch),
        _LABEL.name: _arrow(fraud.astype(np.int64)),
    }
    unmodelled = set(ORDERS.names) - set(values)
    if unmodelled:
        raise GeneratorContractError(f"the generator does not produce the contract's columns {sorted(unmodelled)}")
    return {c.name: values[c.name].cast(ARROW_TYPES[c.dtype]) for c in ORDERS.columns}


_NUMPY_TO_ARROW = {np.dtype(np.int64): pa.int64(), np.dtype(np.float64): pa.float64(), np.dtype(np.bool_): pa.bool_()}


def _arrow(values: np.ndarray[Any, Any], valid: BoolArray | None = None) -> pa.Array:
    """A numpy array as an Arrow array, from its buffers (`pa.array` would import pandas, seconds, where installed)."""
    values = np.ascontiguousarray(values, dtype=np.int64 if values.dtype.kind in "iu" else values.dtype)
    arrow_type = _NUMPY_TO_ARROW[values.dtype]
    data = np.packbits(values, bitorder="little") if values.dtype == np.bool_ else values
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else len(values) - int(np.count_nonzero(valid))
    return pa.Array.from_buffers(arrow_type, len(values), [bitmap, pa.py_buffer(data)], null_count=nulls)


def _numpy(array: pa.Array) -> np.ndarray[Any, Any]:
    """The values of a null-free int64 or float64 Arrow array, as numpy (without `to_numpy`, for the same reason)."""
    if array.null_count:
        raise ValueError(f"expected no nulls in a {array.type} array, found {array.null_count}")
    dtype = {pa.int64(): np.int64, pa.float64(): np.float64}[array.type]
    return np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset : array.offset + len(array)]


def _strings(values: Sequence[str]) -> pa.Array:
    encoded = [v.encode() for v in values]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in encoded])]).astype(np.int32)
    return pa.Array.from_buffers(
        pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def _labels(column: Column, index: IntArray) -> pa.Array:
    return _strings(_categories(column)).take(_arrow(index))


# ---- faults -------------------------------------------------------------------------------------------------------
Columns = dict[str, pa.Array]


def _replace(array: pa.Array, mask: BoolArray, values: pa.Array) -> pa.Array:
    return pc.if_else(_arrow(mask), values, array)


def _missing_values(columns: Columns, rng: np.random.Generator) -> Columns:
    for column in _MISSING_COLUMNS:
        array = columns[column.name]
        columns[column.name] = _replace(
            array, rng.random(len(array)) < _MISSING_SHARE, pa.nulls(len(array), array.type)
        )
    return columns


def _out_of_range(columns: Columns, rng: np.random.Generator) -> Columns:
    amount = columns[_AMOUNT.name]
    columns[_AMOUNT.name] = _replace(amount, rng.random(len(amount)) < _NEGATIVE_AMOUNT_SHARE, pc.negate(amount))
    tenure = columns[_TENURE.name]
    too_old = _bound(_TENURE.maximum, _TENURE, "maximum") + 1 + rng.integers(0, 30_000, len(tenure))
    columns[_TENURE.name] = _replace(tenure, rng.random(len(tenure)) < _TENURE_OVERFLOW_SHARE, _arrow(too_old))
    for column in ORDERS.columns:
        if column.dtype == "category":
            # An upstream release that changes the case of a code: 'MOBILE', 'usd' are not in the contract.
            array = columns[column.name]
            miscased = pc.utf8_swapcase(array)
            columns[column.name] = _replace(array, rng.random(len(array)) < _MISCASED_CATEGORY_SHARE, miscased)
    return columns


def _stale_column(columns: Columns, rng: np.random.Generator) -> Columns:
    tenure = columns[_TENURE.name]
    columns[_TENURE.name] = _arrow(np.full(len(tenure), _STALE_TENURE_DAYS, dtype=np.int64))
    return columns


def _schema_change(columns: Columns, rng: np.random.Generator) -> Columns:
    for column in _RETYPED_TO_STRING:
        columns[column.name] = columns[column.name].cast(pa.string())
    renamed = {_RENAMED.get(name, name): array for name, array in columns.items()}
    rows = len(columns[_KEY.name])
    codes = _strings(("WELCOME10", "SPRING24", "FREESHIP")).take(_arrow(rng.integers(0, 3, rows)))
    renamed[_NEW_COLUMN] = _replace(codes, rng.random(rows) >= 0.15, pa.nulls(rows, pa.string()))
    return renamed


def _duplicate_rows(columns: Columns, rng: np.random.Generator) -> Columns:
    rows = len(columns[_KEY.name])
    again = rng.choice(rows, size=max(1, round(rows * _DUPLICATE_SHARE)), replace=False)
    order = _arrow(np.sort(np.concatenate([np.arange(rows), again]), kind="stable"))  # each copy beside its twin
    return {name: array.take(order) for name, array in columns.items()}


def _label_leakage(columns: Columns, rng: np.random.Generator) -> Columns:
    label = _numpy(columns[_LABEL.name]).astype(bool)
    flipped = rng.random(len(label)) < _LEAK_DISAGREEMENT
    leaked: Columns = {}
    for name, array in columns.items():
        leaked[name] = array
        if name == _LABEL.name:
            leaked[_LEAK_COLUMN] = _arrow(label ^ flipped)
    return leaked


def _distribution_drift(columns: Columns, rng: np.random.Generator) -> Columns:
    amount = _numpy(columns[_AMOUNT.name])
    maximum = _bound(_AMOUNT.maximum, _AMOUNT, "maximum")
    columns[_AMOUNT.name] = _arrow(np.minimum(np.round(amount * _DRIFT_AMOUNT_FACTOR, 2), maximum))
    rows = len(amount)
    inverse = 1.0 / _shares(_COUNTRIES)
    country = rng.choice(len(_COUNTRIES), size=rows, p=inverse / inverse.sum())
    redrawn = _arrow(rng.random(rows) < _DRIFT_REDRAWN_SHARE)
    columns[_COUNTRY.name] = pc.if_else(redrawn, _labels(_COUNTRY, country), columns[_COUNTRY.name])
    currency = _labels(_CURRENCY, _COUNTRY_CURRENCY[country])
    columns[_CURRENCY.name] = pc.if_else(redrawn, currency, columns[_CURRENCY.name])
    inverse = 1.0 / _shares(_DEVICES)
    device = _labels(_DEVICE, rng.choice(len(_DEVICES), size=rows, p=inverse / inverse.sum()))
    columns[_DEVICE.name] = _replace(columns[_DEVICE.name], rng.random(rows) < _DRIFT_REDRAWN_SHARE, device)
    return columns


_FAULTS = {
    Fault.MISSING_VALUES: _missing_values,
    Fault.OUT_OF_RANGE: _out_of_range,
    Fault.STALE_COLUMN: _stale_column,
    Fault.SCHEMA_CHANGE: _schema_change,
    Fault.DUPLICATE_ROWS: _duplicate_rows,
    Fault.LABEL_LEAKAGE: _label_leakage,
    Fault.DISTRIBUTION_DRIFT: _distribution_drift,
}
# Drift reshapes clean values first; corruptions of values next (missing last, so nothing overwrites its nulls); then
# the leaked column, so duplicates copy it; the schema changes last, so every other fault finds the contract's names.
_APPLICATION_ORDER = (
    Fault.DISTRIBUTION_DRIFT,
    Fault.STALE_COLUMN,
    Fault.OUT_OF_RANGE,
    Fault.MISSING_VALUES,
    Fault.LABEL_LEAKAGE,
    Fault.DUPLICATE_ROWS,
    Fault.SCHEMA_CHANGE,
)
assert set(_APPLICATION_ORDER) == set(Fault) == set(_FAULTS) == set(_FAULT_EFFECTS)


# ---- writers ------------------------------------------------------------------------------------------------------
def dataset_format(path: str | Path) -> str:
    """'csv' or 'parquet', from the path's suffix; anything else is an `UnsupportedDatasetFormat`."""
    suffix = Path(path).suffix.lower()
    if suffix not in DATASET_SUFFIXES:
        raise UnsupportedDatasetFormat(
            f"{path}: unsupported dataset format {suffix or '(no suffix)'!r}; use one of {', '.join(DATASET_SUFFIXES)}"
        )
    return suffix[1:]


def write_dataset(table: pa.Table, path: str | Path) -> int:
    """Write `table` to `path` as CSV or Parquet (by suffix) and return the file's size in bytes.

    CSV: a header row, nulls as empty fields, timestamps as ISO-8601 UTC with a `Z` (whole seconds when every value
    is, microseconds otherwise). Parquet: zstd-compressed, with the Arrow schema.
    """
    target = Path(path)
    if dataset_format(target) == "parquet":
        pq.write_table(table, target, compression="zstd")
    else:
        pa_csv.write_csv(_iso_timestamps(table), target)
    return target.stat().st_size


def _iso_timestamps(table: pa.Table) -> pa.Table:
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            column = table.column(index).cast(pa.timestamp(field.type.unit, tz="UTC"))  # naive means UTC
            try:
                text = pc.strftime(column.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
            except pa.ArrowInvalid:  # sub-second values: %S writes the column's own fraction digits
                text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
            table = table.set_column(index, field.name, text)
    return table
