"""The dataset contract, declared once: the columns of an orders dataset and the checks a dataset must pass.

The generator (cd4ml.data), the validation Lambda and the feature job all read this declaration; nothing else
lists the columns. Plain dataclasses keep the Lambda's cold start free of heavier imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

ColumnType = Literal["string", "int", "float", "bool", "timestamp", "category"]
ColumnRole = Literal["key", "entity", "timestamp", "feature", "label"]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: ColumnType
    role: ColumnRole = "feature"
    nullable: bool = False
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DriftThresholds:
    """Population stability index bands (the usual 0.1 / 0.25 rule of thumb)."""

    warn: float = 0.1
    fail: float = 0.25
    bins: int = 10


@dataclass(frozen=True)
class DatasetContract:
    name: str
    columns: tuple[Column, ...]
    min_rows: int
    label_min_rate: float  # a dataset with fewer positives than this cannot train a fraud model
    label_max_rate: float  # more than this smells of a labelling or join error
    max_duplicate_rate: float = 0.0  # share of rows whose key repeats
    max_age_days: float = 7.0  # freshness: the newest timestamp may be at most this old at validation time
    # history: the oldest timestamp may be at most this old (an epoch-0 or 1900 date is a broken clock or default)
    max_history_days: float = 3_650.0
    # label shift: the label rate may move this many times above or below the reference's before it fails, measured
    # between Wilson intervals (at `label_rate_z`) so that a small file's noise is not a shift
    label_rate_shift_factor: float = 3.0
    label_rate_z: float = 3.29  # two-sided 99.9%: the check runs on every upload, a false alarm blocks training
    # a column is stale when one value covers at least this share of rows and it did not in the last accepted data
    stale_dominant_share: float = 0.95
    # label leakage: a feature that predicts the label (ROC AUC of the feature alone) at least this well
    leakage_auc: float = 0.98
    # with fewer positives (or negatives) than this a random feature can reach the leakage AUC by chance
    leakage_min_class_rows: int = 30
    # producers' clocks drift: a timestamp this far ahead of the validation time is not yet "in the future"
    future_tolerance_s: float = 300.0
    # a day counts as "stuck" only with enough rows that the dominant share of one value is not chance
    stale_min_day_rows: int = 30
    # without a reference, a value must be stuck on this many days to call the column stale
    stale_min_days: int = 2
    drift: DriftThresholds = field(default_factory=DriftThresholds)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    def by_role(self, role: ColumnRole) -> list[Column]:
        return [c for c in self.columns if c.role == role]

    @property
    def key(self) -> Column:
        return self.by_role("key")[0]

    @property
    def label(self) -> Column:
        return self.by_role("label")[0]

    @property
    def timestamp(self) -> Column:
        return self.by_role("timestamp")[0]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "AU", "JP")

# Card-payment orders, as in the Amazon Consumer Payments MDLC talk: amount, the customer's recent spend (derived by
# the feature job), account tenure and the fraud label, with the context a payments team records alongside.
ORDERS = DatasetContract(
    name="orders",
    columns=(
        Column("order_id", "string", role="key"),
        Column("customer_id", "string", role="entity"),
        Column("order_ts", "timestamp", role="timestamp"),
        Column("order_amount", "float", minimum=0.0, maximum=100_000.0),
        Column("currency", "category", categories=("USD", "EUR", "GBP", "JPY", "CAD", "AUD")),
        Column("payment_method", "category", categories=("card", "wallet", "bank_transfer")),
        Column(
            "merchant_category",
            "category",
            categories=("electronics", "fashion", "grocery", "travel", "digital_goods", "home"),
        ),
        Column("country", "category", categories=COUNTRIES),
        Column("device_type", "category", categories=("mobile", "desktop", "tablet")),
        Column("account_tenure_days", "int", minimum=0, maximum=20_000),
        Column("num_items", "int", minimum=1, maximum=500),
        Column("shipping_distance_km", "float", nullable=True, minimum=0.0, maximum=20_000.0),
        Column("billing_shipping_match", "bool"),
        Column("is_fraud", "int", role="label", minimum=0, maximum=1),
    ),
    min_rows=1_000,
    label_min_rate=0.001,
    label_max_rate=0.2,
)


def scoring_contract(contract: DatasetContract) -> DatasetContract:
    """The contract of orders to score: the same columns and checks without the label (a scoring file may carry it;
    it is then a column outside the contract, a warning, and never read), and any number of rows from one."""
    return replace(contract, columns=tuple(c for c in contract.columns if c.role != "label"), min_rows=1)


# The contract of each dataset name (the <dataset> in datasets/<dataset>/<date>/<file>).
CONTRACTS: dict[str, DatasetContract] = {ORDERS.name: ORDERS}
