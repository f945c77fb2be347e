"""The decision log: a Kinesis batch of `Decision Made` events (EventBridge → DecisionLogStream) decided into one
Parquet table of decisions with their raw orders, and the poison records to quarantine with their reason.

Why a log of raw orders: retraining needs orders in the dataset contract (the feature job derives the features from
them), and the endpoint's capture holds only the feature vector, which cannot be turned back into an order. Each
record is one EventBridge event; its base64 and JSON are decoded per record with C-level calls, and every check
(type, presence, value) is then an array operation over the batch's columns. Nothing here calls AWS: the handler
hands the result to `cd4ml_shared.aws.decision_log`.

Duplicates (an event EventBridge or Kinesis delivered twice) are kept as rows; readers keep one row per order_id
(`cd4ml_shared.retraining_data.labelled_orders`).
"""

from __future__ import annotations

import binascii
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .contract import ORDERS, Column, DatasetContract
from .data_quality import ARROW_TYPES
from .decisions import DECISION_DETAIL_TYPE, DECISION_SOURCE
from .feedback import NotAKinesisBatch, StreamBatch, kinesis_columns, quarantine_lines

PREFIX = "decisions"
QUARANTINE_PREFIX = "quarantine/decisions"
DECISIONS = ("approve", "review", "decline")
_TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INT64 = (-(2**63), 2**63 - 1)

# The decision's own fields in the event's detail (docs/decisions.md, "What one decision does"), with their types.
DECISION_FIELDS: dict[str, pa.DataType] = {
    "inference_id": pa.string(),
    "order_id": pa.string(),
    "customer_id": pa.string(),
    "model_version": pa.int64(),
    "score": pa.float64(),
    "decision": pa.string(),
    "endpoint_name": pa.string(),
}
_KINESIS_FIELDS: list[pa.Field] = [
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("shard_id", pa.string(), nullable=False),
    pa.field("sequence_number", pa.string(), nullable=False),
    pa.field("approximate_arrival", _TIMESTAMP_TYPE, nullable=False),
]


def order_columns(contract: DatasetContract = ORDERS) -> tuple[Column, ...]:
    """The order's raw fields the event carries under `detail.order`: every contract column but the label."""
    return tuple(column for column in contract.columns if column.role != "label")


def log_schema(contract: DatasetContract = ORDERS) -> pa.Schema:
    """The Parquet table's schema: the decision, when it was made (the event's `time`), the order's raw fields in
    the contract's Arrow types (order_id and customer_id once, from the decision), and where the record came from."""
    fields = [
        pa.field("inference_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("decided_at", _TIMESTAMP_TYPE, nullable=False),
        *(pa.field(name, kind, nullable=False) for name, kind in DECISION_FIELDS.items() if name not in _KEYS),
    ]
    fields += [
        pa.field(column.name, ARROW_TYPES[column.dtype], nullable=column.nullable)
        for column in order_columns(contract)
        if column.name not in _KEYS
    ]
    return pa.schema(fields + _KINESIS_FIELDS)


_KEYS = ("inference_id", "order_id", "customer_id")
SCHEMA = log_schema()


class DecisionBatch(StreamBatch):
    """A batch of decision events: `decisions/` and `quarantine/decisions/`."""

    prefix: ClassVar[str] = PREFIX
    quarantine_prefix: ClassVar[str] = QUARANTINE_PREFIX


class _Unreadable:
    """What a record that could not be decoded or parsed becomes, with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _event_of(text: Any) -> dict[str, Any] | _Unreadable:
    try:
        payload = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, TypeError, ValueError):
        return _Unreadable("data.not_base64")
    try:
        event = json.loads(payload)
    except ValueError:
        return _Unreadable("data.not_json")
    if type(event) is not dict:
        return _Unreadable("record.not_object")
    if event.get("source") != DECISION_SOURCE or event.get("detail-type") != DECISION_DETAIL_TYPE:
        return _Unreadable("event.not_decision_made")
    if type(event.get("detail")) is not dict:
        return _Unreadable("detail.not_object")
    if type(event["detail"].get("order")) is not dict:
        return _Unreadable("order.not_object")
    return event


def _types(values: Sequence[Any]) -> np.ndarray:
    return np.fromiter(map(type, values), dtype=object, count=len(values))


def _is(kinds: np.ndarray, *wanted: type) -> np.ndarray:
    """Which entries of an array of types are exactly one of `wanted` (so bool is neither int nor float)."""
    hit = np.zeros(kinds.size, dtype=bool)
    for kind in wanted:
        boxed = np.empty((), dtype=object)
        boxed[()] = kind
        hit |= np.asarray(kinds == boxed, dtype=bool)
    return hit


_ACCEPTS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "category": (str,),
    "timestamp": (str,),
    "int": (int,),
    "float": (float, int),  # JSON writes 12.0 as 12 from some producers: a whole number is a float's value too
    "bool": (bool,),
}
_KIND_OF = {pa.string(): "string", pa.int64(): "int", pa.float64(): "float"}


def _timestamps(texts: Sequence[Any], valid: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """ISO 8601 text as UTC microseconds (text without a zone is UTC, as the dataset validation reads it):
    `(timestamps, parsed)`."""
    stamps: list[int | None] = []
    parsed = np.zeros(len(texts), dtype=bool)
    for index, (text, ok) in enumerate(zip(texts, valid.tolist(), strict=True)):
        if not ok:
            stamps.append(None)
            continue
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            stamps.append(None)
            continue
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
        stamps.append((stamp - _EPOCH) // _MICROSECOND)  # exact: a float of epoch seconds loses microseconds
        parsed[index] = True
    return pa.array(stamps, pa.int64()).cast(_TIMESTAMP_TYPE), parsed


def decide_batch(records: Sequence[Mapping[str, Any]], contract: DatasetContract = ORDERS) -> DecisionBatch:
    """The batch split into good rows and poison; the reason of a poison record is the first check it fails:
    `data.not_base64`, `data.not_json`, `record.not_object`, `event.not_decision_made`, `detail.not_object`,
    `order.not_object`, then per field `<field>.missing` / `<field>.wrong_type` (decision fields by name, order
    fields as `order.<name>`), `decided_at.invalid`, `order.order_ts.invalid`, `decision.unknown_value`,
    `order.key_mismatch` (the order's id or customer is not the decision's)."""
    if not records:
        raise NotAKinesisBatch("an empty batch: Kinesis never invokes a function with no records")
    kinesis = kinesis_columns(records)
    count = len(records)
    events = list(map(_event_of, kinesis["data"]))
    reasons = np.full(count, "", dtype=object)
    details: list[str] = [""] * count
    for index, unread in enumerate(events):
        if isinstance(unread, _Unreadable):
            reasons[index] = unread.reason
            details[index] = _cut(str(kinesis["data"][index]))
    readable: list[dict[str, Any]] = [e if type(e) is dict else {"detail": {"order": {}}} for e in events]
    detail = [event["detail"] for event in readable]
    order = [item["order"] for item in detail]

    columns: dict[str, pa.Array] = {}

    def check(name: str, values: list[Any], kind: str, nullable: bool) -> np.ndarray:
        """Mark the first failure of each still-good record for this field; the mask of values of the right type."""
        kinds = _types(values)
        right = _is(kinds, *_ACCEPTS[kind])
        if kind == "int":  # a whole number beyond int64 is of the wrong type too (Arrow cannot hold it)
            right &= np.fromiter(
                (not ok or _INT64[0] <= value <= _INT64[1] for value, ok in zip(values, right.tolist(), strict=True)),
                dtype=bool,
                count=len(values),
            )
        missing = _is(kinds, type(None))
        undecided = reasons == ""
        if not nullable:
            fail = undecided & missing
            reasons[fail] = f"{name}.missing"
            for index in np.flatnonzero(fail).tolist():
                details[index] = f"no value for {name}"
        wrong = (reasons == "") & ~right & ~missing
        reasons[wrong] = f"{name}.wrong_type"
        for index in np.flatnonzero(wrong).tolist():
            details[index] = _cut(json.dumps(values[index], default=str))
        return right

    def values_of(source: list[dict[str, Any]], name: str) -> list[Any]:
        return [item.get(name) for item in source]

    time_texts = values_of(readable, "time")
    time_ok = check("decided_at", time_texts, "timestamp", nullable=False)
    for name, kind in DECISION_FIELDS.items():
        values = values_of(detail, name)
        ok = check(name, values, _KIND_OF[kind], nullable=False)
        columns[name] = _typed(values, ok, kind)
    decided_at, decided_ok = _timestamps(time_texts, time_ok)
    _fail(reasons, details, time_ok & ~decided_ok, "decided_at.invalid", time_texts)
    for column in order_columns(contract):
        name = f"order.{column.name}"
        values = values_of(order, column.name)
        ok = check(name, values, column.dtype, column.nullable)
        if column.dtype == "timestamp":
            stamps, parsed = _timestamps(values, ok)
            _fail(reasons, details, ok & ~parsed, f"{name}.invalid", values)
            columns[name] = stamps
        else:
            columns[name] = _typed(values, ok, ARROW_TYPES[column.dtype])
    decisions = np.isin(np.asarray(columns["decision"].fill_null("").to_numpy(zero_copy_only=False)), DECISIONS)
    _fail(reasons, details, ~decisions, "decision.unknown_value", values_of(detail, "decision"))
    same = np.ones(count, dtype=bool)
    for key in ("order_id", "customer_id"):
        same &= np.asarray(pc.equal(columns[key], columns[f"order.{key}"]).fill_null(False), dtype=bool)
    _fail(reasons, details, ~same, "order.key_mismatch", values_of(order, "order_id"))

    good = reasons == ""
    mask = pa.array(good)
    arrival_us = (kinesis["approximate_arrival"] * 1e6).astype(np.int64)
    data: dict[str, pa.Array] = {
        "decided_at": decided_at,
        **{name: columns[name] for name in DECISION_FIELDS},
        **{
            column.name: columns[f"order.{column.name}"]
            for column in order_columns(contract)
            if column.name not in _KEYS
        },
        "event_id": pa.array([v if type(v) is str else "" for v in values_of(readable, "id")], pa.string()),
        "shard_id": pa.array([kinesis["shard_id"]] * count, pa.string()),
        "sequence_number": pa.array(kinesis["sequence_number"], pa.string()),
        "approximate_arrival": pa.array(arrival_us, pa.int64()).cast(_TIMESTAMP_TYPE),
    }
    schema = log_schema(contract)
    table = pa.table({name: data[name].filter(mask) for name in schema.names}).cast(schema)
    return DecisionBatch.decided(kinesis, table, good, reasons, lambda _reason, index: details[index])


def _typed(values: list[Any], ok: np.ndarray, kind: pa.DataType) -> pa.Array:
    """The values of the right type as an Arrow column of `kind`, null elsewhere (ints become floats where asked)."""
    kept = [value if keep else None for value, keep in zip(values, ok.tolist(), strict=True)]
    if pa.types.is_floating(kind):
        kept = [None if value is None else float(value) for value in kept]
    return pa.array(kept, kind)


def _fail(reasons: np.ndarray, details: list[str], failed: np.ndarray, reason: str, values: list[Any]) -> None:
    hit = failed & (reasons == "")
    reasons[hit] = reason
    for index in np.flatnonzero(hit).tolist():
        details[index] = _cut(json.dumps(values[index], default=str))


def _cut(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parquet_bytes(table: pa.Table) -> bytes:
    """The good rows as one Parquet object: snappy, dictionaries for the few-valued columns only (ids never
    repeat), statistics on the times a reader prunes by."""
    sink = io.BytesIO()
    few = ["decision", "endpoint_name", "shard_id", "currency", "payment_method", "merchant_category", "country"]
    pq.write_table(
        table,
        sink,
        compression="snappy",
        use_dictionary=[name for name in few if name in table.column_names],
        write_statistics=["decided_at", "order_ts", "approximate_arrival"],
    )
    return sink.getvalue()


__all__ = [
    "DECISIONS",
    "DECISION_FIELDS",
    "PREFIX",
    "QUARANTINE_PREFIX",
    "SCHEMA",
    "DecisionBatch",
    "NotAKinesisBatch",
    "decide_batch",
    "log_schema",
    "order_columns",
    "parquet_bytes",
    "quarantine_lines",
]
