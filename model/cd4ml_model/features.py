"""Processing job: orders in, model features out, split by time into train, validation and test Parquet files.

With `--mode scoring` (batch scoring) it writes the features of every order, unsplit and without needing a label:
`features/features.csv` (no header, features.json order: the body a batch transform sends to the model) and
`meta/order_ids.parquet` (the orders' keys in the same row order) with `meta/features.json`.

Everything is vectorised over numpy and pyarrow (no per-row Python), so a million orders take seconds. The feature
set is fixed by the dataset contract (one column per declared category), whatever values the data happens to hold,
so that every dataset gives the model the same columns in the same order.

The features are defined once, in `cd4ml_shared.online_features` (names and order, plain conversions, categories,
windows and the history cap), which the `decide` function uses for one order at a time; this module is the
vectorised computation of that definition. Rolling per-customer features only look at orders placed strictly
before the current one, at whole-second resolution: orders of one customer within the same second do not see each
other (no leakage from the future, at the price of ignoring a rare same-second predecessor), and at most the
customer's latest `MAX_HISTORY_ORDERS` earlier orders count.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cd4ml_shared.contract import ORDERS, Column, DatasetContract, scoring_contract
from cd4ml_shared.data_quality import DataQualityError, read_table
from cd4ml_shared.layout import DATA_SUFFIXES, data_format
from cd4ml_shared.online_features import (
    AMOUNT,
    CUSTOMER,
    DAY_S,
    EPOCH_WEEKDAY,
    HOUR_S,
    MAX_HISTORY_ORDERS,
    PLAIN_FEATURES,
    ROLLING_FEATURES,
    TIMESTAMP,
    WINDOW_24H_S,
    WINDOW_30D_S,
    PlainFeature,
    category_columns,
    feature_names,  # the job's callers (train, the tests) name it from here
)

from cd4ml_model.files import (
    PROCESSING_FAILURE_FILE,
    ModelJobError,
    report_failure,
    write_bytes_atomically,
    write_json,
    write_parquet,
)

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]

LABEL = ORDERS.label.name
SPLITS = ("train", "validation", "test")

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InputFileError(ModelJobError):
    """The input folder holds no data file, or more than one."""


class FeatureInputError(ModelJobError):
    """The orders table lacks a column the features need, has another type, or nulls where values are needed."""


class SplitError(ModelJobError):
    """The fractions do not describe three splits, or a split is empty or has no positive label."""


# ---- reading columns --------------------------------------------------------------------------------------------
def _column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        raise FeatureInputError(f"the orders table has no column {name!r} (it has {table.column_names})")
    return table.column(name).combine_chunks()


def _no_nulls(array: pa.Array, name: str) -> None:
    if array.null_count:
        raise FeatureInputError(f"column {name!r} has {array.null_count} null value(s); features need a value in each")


def _floats(table: pa.Table, name: str, *, nullable: bool = False) -> FloatArray:
    """A numeric or boolean column as float64, NaN where null (only where `nullable`)."""
    array = _column(table, name)
    kind = array.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        raise FeatureInputError(f"column {name!r} has type {kind}; the features need numbers")
    if not nullable:
        _no_nulls(array, name)
    values: FloatArray = pc.fill_null(array.cast(pa.float64()), math.nan).to_numpy(zero_copy_only=False)
    return values


def epoch_microseconds(timestamps: pa.Array | pa.ChunkedArray, name: str = TIMESTAMP) -> IntArray:
    """Timestamps as int64 microseconds since the epoch, UTC (a timestamp without a zone is taken as UTC)."""
    array = timestamps.combine_chunks() if isinstance(timestamps, pa.ChunkedArray) else timestamps
    if not pa.types.is_timestamp(array.type):
        raise FeatureInputError(f"column {name!r} has type {array.type}; expected a timestamp")
    _no_nulls(array, name)
    # safe=False: nanosecond timestamps are truncated to microseconds rather than refused
    micros = array.cast(pa.timestamp("us", tz=array.type.tz), safe=False).cast(pa.int64())
    values: IntArray = micros.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return values


def _codes(array: pa.Array, name: str) -> tuple[IntArray, list[Any]]:
    """Dictionary codes of a text column (-1 for null) and its distinct values."""
    if pa.types.is_dictionary(array.type) or pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    if not pa.types.is_string(array.type):
        raise FeatureInputError(f"column {name!r} has type {array.type}; expected text")
    encoded = pc.dictionary_encode(array)
    codes = pc.fill_null(encoded.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
    return codes.astype(np.int64, copy=False), encoded.dictionary.to_pylist()


def _one_hot(table: pa.Table, column: Column) -> tuple[dict[str, FloatArray], int]:
    """One 0/1 column per declared category; unknown values and nulls are all zeros. Also returns their count."""
    categories = list(column.categories or ())
    codes, values = _codes(_column(table, column.name), column.name)
    # declared index of each distinct value (-1: not declared), plus a last slot for the nulls' code -1
    declared = np.array([categories.index(v) if v in categories else -1 for v in values] + [-1], dtype=np.int64)
    index = declared[codes]
    columns = {f"{column.name}={value}": (index == k).astype(np.float64) for k, value in enumerate(categories)}
    return columns, int(np.count_nonzero(index < 0))


# ---- rolling customer features ----------------------------------------------------------------------------------
def _prefix_sums(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Running totals (from 0) and their rounding errors, so that a window's total is exact to about 1e-16.

    A plain running total over a million orders grows to about 1e8, and the difference of two such totals keeps
    only about 1e-8 of a small window's relative precision; the online path sums each window directly. `cumsum`
    adds in sequence, so each step's rounding error is recovered exactly (Knuth's TwoSum) and summed apart.
    """
    totals = np.cumsum(values)
    before = np.concatenate(([0.0], totals[:-1]))
    added = totals - before
    errors = (before - (totals - added)) + (values - added)
    return np.concatenate(([0.0], totals)), np.concatenate(([0.0], np.cumsum(errors)))


def rolling_customer_features(customer: IntArray, epoch_s: IntArray, amount: FloatArray) -> dict[str, FloatArray]:
    """Each order's customer history from strictly earlier seconds: counts and totals in windows, time since the last.

    Rows are sorted by one int64 key, customer * (span + 30 days + 1) + seconds since the first order + 30 days, so
    a customer's orders are contiguous and in time order and no window reaches into the previous customer's block;
    `searchsorted` finds where each window starts and where the strictly earlier orders end, a window starts no
    earlier than `MAX_HISTORY_ORDERS` orders before that end, and cumulative sums give the totals in between.
    """
    rows = len(customer)
    if rows == 0:
        return {name: np.empty(0) for name in ROLLING_FEATURES}
    first = int(epoch_s.min())
    span = int(epoch_s.max()) - first
    block = span + WINDOW_30D_S + 1
    customers = int(customer.max()) + 1
    if customers * block >= 2**62:
        raise FeatureInputError(
            f"{customers:,} customers over {span / DAY_S:,.0f} days overflow the int64 sort key; split the dataset"
        )
    key = customer * block + (epoch_s - first + WINDOW_30D_S)
    order = np.argsort(key, kind="stable")
    keys = key[order]
    earlier_end = np.searchsorted(keys, keys, side="left")  # first order of this customer in this second
    # the window's start stays within the customer's block: keys - 30 days never reaches the previous customer
    lowest = earlier_end - MAX_HISTORY_ORDERS
    start_30d = np.maximum(np.searchsorted(keys, keys - WINDOW_30D_S, side="left"), lowest)
    start_24h = np.maximum(np.searchsorted(keys, keys - WINDOW_24H_S, side="left"), lowest)
    customer_start = np.searchsorted(keys, customer[order] * block, side="left")

    sorted_amount = amount[order]
    cumulative, compensation = _prefix_sums(sorted_amount)
    count_30d = (earlier_end - start_30d).astype(np.float64)
    total_30d = (cumulative[earlier_end] - cumulative[start_30d]) + (
        compensation[earlier_end] - compensation[start_30d]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_30d = total_30d / count_30d
        ratio = np.where((count_30d > 0) & (mean_30d > 0), sorted_amount / mean_30d, np.nan)
    has_previous = earlier_end > customer_start
    sorted_s = epoch_s[order]
    previous_s = sorted_s[np.maximum(earlier_end - 1, 0)]
    since_previous = np.where(has_previous, (sorted_s - previous_s).astype(np.float64), np.nan)

    computed = {
        "customer_orders_24h": (earlier_end - start_24h).astype(np.float64),
        "customer_orders_30d": count_30d,
        "customer_amount_30d": total_30d,
        "amount_to_customer_mean_30d": ratio,
        "seconds_since_previous_order": since_previous,
    }
    features: dict[str, FloatArray] = {}
    for name in ROLLING_FEATURES:
        values = np.empty(rows, dtype=np.float64)
        values[order] = computed[name]  # back to the input's row order
        features[name] = values
    return features


# ---- the feature table ------------------------------------------------------------------------------------------
def _plain(feature: PlainFeature, table: pa.Table, epoch_s: IntArray, contract: DatasetContract) -> FloatArray:
    """One of the order's own features, for every row: `online_features.PlainFeature` says what each transform is."""
    if feature.transform == "hour_of_day":
        return ((epoch_s // HOUR_S) % 24).astype(np.float64)
    if feature.transform == "day_of_week":
        return ((epoch_s // DAY_S + EPOCH_WEEKDAY) % 7).astype(np.float64)
    values = _floats(table, feature.column, nullable=contract.column(feature.column).nullable)
    if feature.transform == "value":
        return values
    if feature.transform == "log1p":
        logs: FloatArray = np.log1p(np.maximum(values, 0.0))  # NaN stays NaN
        return logs
    raise FeatureInputError(f"feature {feature.name!r} has an unknown transform {feature.transform!r}")


def _float32(values: FloatArray) -> pa.Array:
    data = np.ascontiguousarray(values, dtype=np.float32)
    # from the buffer: pa.array would import pandas where it is installed, a second of start-up
    return pa.Array.from_buffers(pa.float32(), len(data), [None, pa.py_buffer(data)])


def labels(table: pa.Table, name: str = LABEL) -> IntArray:
    array = _column(table, name)
    if not pa.types.is_integer(array.type) and not pa.types.is_boolean(array.type):
        raise FeatureInputError(f"label column {name!r} has type {array.type}; expected 0/1 integers")
    _no_nulls(array, name)
    values: IntArray = array.cast(pa.int64()).to_numpy(zero_copy_only=False)
    unexpected = np.setdiff1d(np.unique(values), [0, 1])
    if unexpected.size:
        raise FeatureInputError(f"label column {name!r} holds values other than 0 and 1: {unexpected[:5].tolist()}")
    return values


def feature_columns(table: pa.Table, contract: DatasetContract = ORDERS) -> dict[str, FloatArray]:
    """Every feature of each order as float64 (NaN where unknown), in `feature_names()` order and input row order.

    The float64 values are what `online_features.features_for` computes for one order (the parity test compares
    them); the job writes them as float32, the precision XGBoost uses anyway.
    """
    epoch_s = np.floor_divide(epoch_microseconds(_column(table, TIMESTAMP)), _US)
    amount = _floats(table, AMOUNT)
    customer, _ = _codes(_column(table, CUSTOMER), CUSTOMER)
    if (customer < 0).any():
        raise FeatureInputError(f"column {CUSTOMER!r} has {int((customer < 0).sum())} null value(s)")

    columns = {feature.name: _plain(feature, table, epoch_s, contract) for feature in PLAIN_FEATURES}
    columns.update(rolling_customer_features(customer, epoch_s, amount))
    for column in category_columns(contract):
        one_hot, unknown = _one_hot(table, column)
        if unknown:
            print(f"note: {unknown:,} row(s) of {column.name} hold no declared category (all its one-hot columns 0)")
        columns.update(one_hot)
    return {name: columns[name] for name in feature_names(contract)}


def build_features(table: pa.Table, contract: DatasetContract = ORDERS) -> tuple[pa.Table, list[str]]:
    """The label and the model's features (float32, NaN where unknown) of each order, in the input's row order."""
    columns = feature_columns(table, contract)
    names = list(columns)
    label = np.ascontiguousarray(labels(table, contract.label.name), dtype=np.int64)
    arrays = [pa.Array.from_buffers(pa.int64(), len(label), [None, pa.py_buffer(label)])]
    arrays += [_float32(values) for values in columns.values()]
    return pa.Table.from_arrays(arrays, names=[contract.label.name, *names]), names


# ---- the time split ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeSplit:
    """Train, validation and test rows (each in time order) and the two cut points between them."""

    train: pa.Table
    validation: pa.Table
    test: pa.Table
    validation_start: datetime
    test_start: datetime

    @property
    def tables(self) -> dict[str, pa.Table]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def positives(table: pa.Table, label: str = LABEL) -> int:
    return int(pc.sum(table.column(label)).as_py() or 0)


def split_by_time(
    table: pa.Table,
    timestamps: pa.Array | pa.ChunkedArray,
    *,
    validation_fraction: float,
    test_fraction: float,
    label: str = LABEL,
) -> TimeSplit:
    """Cut the time span of `timestamps` (one per row of `table`): the last `test_fraction` of it is test, the
    `validation_fraction` before that validation, the rest train. Cut by time, not row counts: a split holds the
    orders of a period, as the model will meet them. SplitError when a split is empty or has no positive label.
    """
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise SplitError(
            "validation and test fractions must each be in (0, 1) and leave some training time, got "
            f"validation_fraction={validation_fraction}, test_fraction={test_fraction}"
        )
    micros = epoch_microseconds(timestamps)
    if len(micros) != table.num_rows:
        raise SplitError(f"{len(micros)} timestamps for a table of {table.num_rows} rows")
    if table.num_rows == 0:
        raise SplitError("no rows to split")
    first, last = int(micros.min()), int(micros.max())
    span = last - first
    if span == 0:
        raise SplitError(f"every order has the same timestamp ({_moment(first).isoformat()}): nothing to split by time")
    # cut points on whole seconds: they are quoted in features.json and read better without a fraction
    test_start = (last - round(span * test_fraction)) // _US * _US
    validation_start = (test_start - round(span * validation_fraction)) // _US * _US
    order = np.argsort(micros, kind="stable")
    ordered = micros[order]
    cuts = np.searchsorted(ordered, [validation_start, test_start], side="left")
    parts = np.split(order, cuts)
    tables = {name: table.take(pa.array(part, type=pa.int64())) for name, part in zip(SPLITS, parts, strict=True)}
    bounds = {
        "train": (first, validation_start),
        "validation": (validation_start, test_start),
        "test": (test_start, last),
    }
    problems = []
    for name, part in tables.items():
        count = positives(part, label) if part.num_rows else 0
        if part.num_rows == 0 or count == 0:
            low, high = (_moment(b).isoformat() for b in bounds[name])
            problems.append(f"the {name} split ({low} to {high}) has {part.num_rows} rows and {count} positive labels")
    if problems:
        raise SplitError(
            "; ".join(problems) + f" (validation_fraction={validation_fraction}, test_fraction={test_fraction}): "
            "every split needs fraud cases; use a longer time span or other fractions"
        )
    return TimeSplit(
        train=tables["train"],
        validation=tables["validation"],
        test=tables["test"],
        validation_start=_moment(validation_start),
        test_start=_moment(test_start),
    )


# ---- the job ----------------------------------------------------------------------------------------------------
def find_data_file(folder: str | Path) -> Path:
    """The one CSV (`.csv`, `.csv.gz`) or Parquet file below `folder`; InputFileError when there is none or several."""
    root = Path(folder)
    if not root.is_dir():
        raise InputFileError(f"input folder {root} does not exist")
    everything = sorted(p for p in root.rglob("*") if p.is_file())
    data = [p for p in everything if data_format(p.name) is not None]
    if len(data) != 1:
        found = [str(p.relative_to(root)) for p in (data or everything)][:10]
        raise InputFileError(
            f"expected exactly one {' or '.join(DATA_SUFFIXES)} file in {root}, found {len(data)}: {found}"
        )
    return data[0]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--input-dir", default="/opt/ml/processing/input/data")
    parser.add_argument("--output-dir", default="/opt/ml/processing/output")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--mode", choices=("training", "scoring"), default="training")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Read the orders file, build the features, split by time and write the three Parquet files and meta."""
    args = _arguments(argv)
    try:
        return _run_scoring(args) if args.mode == "scoring" else _run(args)
    except (ModelJobError, DataQualityError) as error:
        return report_failure(str(error), PROCESSING_FAILURE_FILE)


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    path = find_data_file(args.input_dir)
    # bytes, not the path: pyarrow opens paths natively, past the local cloud's /opt/ml redirection
    fmt, compression = data_format(path.name) or ("csv", None)  # find_data_file returns only readable names
    table = read_table(path.read_bytes(), fmt, contract=ORDERS, compression=compression)
    print(f"read {table.num_rows:,} rows from {path.name} in {time.perf_counter() - started:.1f}s", flush=True)

    step = time.perf_counter()
    features, names = build_features(table)
    elapsed = time.perf_counter() - step
    print(f"built {len(names)} features for {features.num_rows:,} rows in {elapsed:.1f}s", flush=True)

    split = split_by_time(
        features,
        table.column(TIMESTAMP),
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
    )
    output = Path(args.output_dir)
    for name, part in split.tables.items():
        write_parquet(part, output / name / f"{name}.parquet")
        print(f"{name}: {part.num_rows:,} rows, {positives(part):,} positive", flush=True)
    write_json(
        {
            "label": LABEL,
            "features": names,
            "rows": {name: part.num_rows for name, part in split.tables.items()},
            "positives": {name: positives(part) for name, part in split.tables.items()},
            "cut_points": {
                "validation_start": split.validation_start.isoformat(),
                "test_start": split.test_start.isoformat(),
            },
            "dataset_rows": table.num_rows,
        },
        output / "meta" / "features.json",
    )
    print(f"wrote {output} in {time.perf_counter() - started:.1f}s", flush=True)
    return 0


def scoring_features(table: pa.Table, contract: DatasetContract = ORDERS) -> tuple[pa.Table, list[str]]:
    """The model's features (float32, null where unknown) of each order in input row order, without a label: the
    same values `build_features` gives the training splits. Null rather than NaN, so that the CSV cell is empty,
    which the inference handler reads as missing."""
    columns = feature_columns(table, contract)
    arrays = [pc.if_else(pc.is_nan(array), None, array) for array in map(_float32, columns.values())]
    return pa.Table.from_arrays(arrays, names=list(columns)), list(columns)


def _run_scoring(args: argparse.Namespace) -> int:
    import pyarrow.csv as pa_csv

    started = time.perf_counter()
    path = find_data_file(args.input_dir)
    contract = scoring_contract(ORDERS)
    fmt, compression = data_format(path.name) or ("csv", None)
    table = read_table(path.read_bytes(), fmt, contract=contract, compression=compression)
    features, names = scoring_features(table, contract)
    output = Path(args.output_dir)
    # through bytes, not a path: pyarrow opens paths natively, past the local cloud's /opt/ml redirection
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(features, sink, write_options=pa_csv.WriteOptions(include_header=False))
    write_bytes_atomically(sink.getvalue().to_pybytes(), output / "features" / "features.csv")
    key = contract.key.name
    write_parquet(pa.table({key: _column(table, key)}), output / "meta" / "order_ids.parquet")
    write_json({"features": names, "key": key, "rows": table.num_rows}, output / "meta" / "features.json")
    print(f"wrote features of {table.num_rows:,} orders to score in {time.perf_counter() - started:.1f}s", flush=True)
    return 0
