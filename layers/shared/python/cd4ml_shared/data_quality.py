"""Dataset validation against the contract: reads a CSV or Parquet upload and reports every data problem as a finding.

The validation step of the training pipeline calls `read_table` and `validate`; a dataset that fails is quarantined
with `QualityReport.quarantine_reason()`, one that passes is trained on and its `QualityReport.profile` becomes the
reference the next dataset is compared with. Everything is vectorised over pyarrow and numpy (no pandas, no
per-row Python) and free of AWS calls: a Table in, a report out. Data problems are findings, never exceptions;
exceptions are for unreadable input and programming errors. Checks, codes and thresholds: docs/data-quality.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from cd4ml_shared.contract import ORDERS, Column, DatasetContract
from cd4ml_shared.drift import (
    PSI_EPSILON,
    CategoricalProfile,
    ColumnProfile,
    FloatArray,
    IntArray,
    JSONValue,
    NumericProfile,
    Profile,
    ProfileMismatch,
    auc_of_groups,
    auc_of_sorted,
    categorical_profile,
    categorical_psi,
    numeric_profile,
    numeric_psi,
)
from cd4ml_shared.layout import data_format

__all__ = [
    "DataQualityError",
    "DatasetUnreadable",
    "Finding",
    "MalformedReport",
    "NaiveDatetime",
    "QualityReport",
    "UnsupportedFormat",
    "finite_json",
    "profile",
    "read_table",
    "validate",
    "wilson_interval",
]

Severity: TypeAlias = Literal["fail", "warn"]
Format: TypeAlias = Literal["csv", "parquet"]
Compression: TypeAlias = Literal["gzip"]

# Thresholds live in the contract; this is a cost guard of the implementation (see docs/data-quality.md).
LEAKAGE_MAX_LEVELS = 100  # beyond this many values a category's in-sample positive rate is an ID, not a signal
EXAMPLES = 3  # example values quoted in a finding
# What a CSV cell may say for "no value". Not "NA": that is Namibia's country code.
CSV_NULL_VALUES = ["", "NULL", "null", "NaN", "nan", "N/A", "n/a", "#N/A"]
MALFORMED_ROWS_KEY = b"cd4ml.malformed_rows"  # read_table -> validate: rows the CSV reader had to skip
REPORT_VERSION = 1
DAY_US = 86_400_000_000

# The Arrow type of each contract type: what read_table parses to and what the generator writes.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "category": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
# What a text value must look like to parse as the declared type (RE2 syntax, case-insensitive).
_PARSEABLE = {
    "int": r"^\s*[-+]?\d+\s*$",
    "float": r"^\s*[-+]?((\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?|inf|infinity|nan)\s*$",
    "bool": r"^\s*(true|false|0|1)\s*$",
    "timestamp": r"^\s*\d{4}-\d{2}-\d{2}([t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(z|[-+]\d{2}:?\d{2})?\s*$",
}


# ---- errors ---------------------------------------------------------------------------------------------------
class DataQualityError(Exception):
    """Base of this module's exceptions: unreadable input or a programming error, never a data problem."""


class DatasetUnreadable(DataQualityError):
    """The bytes or file are not a readable CSV or Parquet table at all (empty, corrupt, missing)."""

    def __init__(self, source: str, fmt: str, reason: str) -> None:
        super().__init__(f"cannot read {source} as {fmt}: {reason}")
        self.source = source
        self.fmt = fmt
        self.reason = reason


class UnsupportedFormat(DataQualityError, ValueError):
    """read_table was asked for a format it does not read, or could not tell the format from the name."""


class NaiveDatetime(DataQualityError, ValueError):
    """`now` without a timezone: freshness would silently depend on the machine's local time."""


class MalformedReport(DataQualityError, ValueError):
    """A quality report document of another version, or with a field that cannot be what it says."""


# ---- the report -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One data problem: a machine-readable code, the column, how bad, a sentence for people and the numbers."""

    code: str
    severity: Severity
    column: str | None
    message: str
    numbers: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, JSONValue]:
        return {
            "code": self.code,
            "severity": self.severity,
            "column": self.column,
            "message": self.message,
            "numbers": dict(self.numbers),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Finding:
        severity = document["severity"]
        if severity not in ("fail", "warn"):
            raise MalformedReport(f"finding severity {severity!r}, expected 'fail' or 'warn'")
        return cls(
            code=str(document["code"]),
            severity=severity,
            column=document["column"],
            message=str(document["message"]),
            numbers=dict(document["numbers"]),
        )


@dataclass(frozen=True)
class QualityReport:
    """The outcome of `validate`: written as JSON beside the data, and read by the quarantine step."""

    dataset: str
    validated_at: str  # ISO 8601, UTC: the `now` the checks were made against
    failures: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    profile: Profile  # of this dataset: the next reference once it is accepted
    stats: Mapping[str, JSONValue]  # rows, columns, seconds
    reference: Mapping[str, JSONValue] | None = None  # the compared reference's rows and time range
    skipped: tuple[str, ...] = ()  # checks that could not run on this data, and why

    @property
    def passed(self) -> bool:
        return not self.failures

    def quarantine_reason(self) -> str:
        """The failures' codes, sorted, unique and comma-separated ('' when passed)."""
        return ",".join(sorted({finding.code for finding in self.failures}))

    def to_dict(self) -> dict[str, JSONValue]:
        """Every number finite: one that is not (a statistic of values near the float maximum) is null, and the
        finding about those values says why."""
        document: dict[str, JSONValue] = {
            "version": REPORT_VERSION,
            "dataset": self.dataset,
            "validated_at": self.validated_at,
            "passed": self.passed,
            "quarantine_reason": self.quarantine_reason(),
            "failures": [finding.to_dict() for finding in self.failures],
            "warnings": [finding.to_dict() for finding in self.warnings],
            "stats": dict(self.stats),
            "reference": None if self.reference is None else dict(self.reference),
            "skipped": list(self.skipped),
            "profile": self.profile.to_dict(),
        }
        return finite_json(document)  # type: ignore[return-value]

    def to_json(self, indent: int | None = 2) -> str:
        """A stable document: sorted keys, findings in a fixed order, no NaN."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> QualityReport:
        if document.get("version") != REPORT_VERSION:
            raise MalformedReport(f"quality report version {document.get('version')!r}, expected {REPORT_VERSION}")
        return cls(
            dataset=str(document["dataset"]),
            validated_at=str(document["validated_at"]),
            failures=tuple(Finding.from_dict(f) for f in document["failures"]),
            warnings=tuple(Finding.from_dict(f) for f in document["warnings"]),
            profile=Profile.from_dict(document["profile"]),
            stats=dict(document["stats"]),
            reference=None if document["reference"] is None else dict(document["reference"]),
            skipped=tuple(document["skipped"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> QualityReport:
        return cls.from_dict(json.loads(text))


# ---- reading --------------------------------------------------------------------------------------------------
def read_table(
    data: bytes | str | os.PathLike[str],
    fmt: Format | None = None,
    *,
    contract: DatasetContract = ORDERS,
    source: str | None = None,
    compression: Compression | None = None,
) -> pa.Table:
    """Read a CSV or Parquet dataset; CSV columns get the contract's types where every value parses as one.

    A CSV column that does not parse as its declared type is kept as text (validate reports it as
    schema.wrong_type, with examples); rows with the wrong number of fields are skipped and counted (validate
    reports rows.malformed). Input that is not a table at all raises DatasetUnreadable, whatever the reader raised:
    this is the one place reader errors (pyarrow's, zlib's, a decode error in pyarrow's own message) become a reason.
    CSV is UTF-8 text (a UTF-8 byte-order mark is allowed; UTF-16, Latin-1 and binary are unreadable).
    `fmt` and `compression` default to the file name's suffix (.csv, .csv.gz, .parquet, any case); bytes need `fmt`.
    `source` names the data in the reason (the S3 URI); a reason never quotes the data itself.
    """
    path = None if isinstance(data, bytes) else os.fspath(data)
    if fmt is None:
        fmt, compression = _format_of(path)
    named = source or path or "<bytes>"
    if fmt not in ("csv", "parquet"):
        raise UnsupportedFormat(f"cannot read format {fmt!r} (csv or parquet)")
    problem = _container_problem(_head(data, None), fmt, compression)
    if problem is None and compression is not None:
        try:
            head = _head(data, compression)
        except _READER_ERRORS as error:
            raise DatasetUnreadable(named, fmt, f"not {compression}-compressed data ({_scrub(str(error))})") from error
        problem = _container_problem(head, fmt, None)
    if problem is not None:
        raise DatasetUnreadable(named, fmt, problem)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(_open(data, compression))
            table.column_names  # noqa: B018 - decodes the names: a reader keeps any bytes it was given
        except _READER_ERRORS as error:
            raise DatasetUnreadable(named, fmt, _scrub(str(error))) from error
        return table
    return _read_csv(data, named, compression, contract)


# What pyarrow's readers (and zlib, and the decode of their own messages) raise for bytes that are not a table.
_READER_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError, IndexError, OverflowError, TypeError, KeyError)
_HEAD_BYTES = 4096
_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_ROW_QUOTED = re.compile(r"(Expected \d+ columns?, got \d+).*", re.DOTALL)


def _format_of(path: str | None) -> tuple[Format, Compression | None]:
    if path is None:
        raise UnsupportedFormat("reading bytes needs fmt='csv' or fmt='parquet'")
    how = data_format(path)
    if how is None:
        raise UnsupportedFormat(f"cannot tell the format of {path!r}; pass fmt='csv' or fmt='parquet'")
    return how


def _open(data: bytes | str | os.PathLike[str], compression: Compression | None) -> pa.NativeFile:
    stream = pa.BufferReader(data) if isinstance(data, bytes) else pa.OSFile(os.fspath(data))
    return pa.CompressedInputStream(stream, compression) if compression else stream


def _head(data: bytes | str | os.PathLike[str], compression: Compression | None) -> bytes:
    """The first bytes of the (decompressed) content, to tell what it is before a reader guesses."""
    if isinstance(data, bytes) and compression is None:
        return data[:_HEAD_BYTES]
    try:
        with _open(data, compression) as stream:
            return bytes(stream.read(_HEAD_BYTES))
    except FileNotFoundError:
        return b"?"  # the reader says it is missing, with the path
    except OSError:
        if compression is None:
            return b"?"
        raise


def _container_problem(head: bytes, fmt: Format, compression: Compression | None) -> str | None:
    """What the first bytes say the content is, when that is not what the name promises (None: go and read it)."""
    if not head:
        return "the file is empty (0 bytes)"
    gzipped = head.startswith(b"\x1f\x8b")
    if compression == "gzip":
        return None if gzipped else "named .gz but not gzip-compressed"
    if gzipped:
        return (
            f"the content is gzip-compressed; name it .{fmt}.gz" if fmt == "csv" else "the content is gzip, not Parquet"
        )
    if fmt == "parquet":
        return None
    if head.startswith(b"PAR1"):
        return "the content is a Parquet file, not CSV text; name it .parquet"
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return f"the text is {encoding} (byte-order mark {mark.hex(' ')}), not UTF-8; save it as UTF-8"
    if b"\x00" in head:
        return "the content holds NUL bytes: binary data or UTF-16/32 text without a byte-order mark, not UTF-8 CSV"
    return None


def _utf8_problem(data: bytes | str | os.PathLike[str], compression: Compression | None) -> str | None:
    """Where the content stops being UTF-8, for the reason (read only when a CSV read failed)."""
    try:
        with _open(data, compression) as stream:
            content = bytes(stream.read())
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        return (
            f"the text is not valid UTF-8 (byte 0x{content[error.start]:02x} at offset {error.start:,}, line {line:,}; "
            "Latin-1 or Windows-1252?); save it as UTF-8"
        )
    except _READER_ERRORS:
        return None
    return None


def _scrub(message: str) -> str:
    """A reader's message fit for a reason: its first line, without the row it quotes, printable ASCII, short."""
    lines = message.strip().splitlines()
    text = _ROW_QUOTED.sub(r"\1", lines[0] if lines else "no detail from the reader").replace(" '<Buffer>'", "")
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in text)[:200]


def _read_csv(
    data: bytes | str | os.PathLike[str], source: str, compression: Compression | None, contract: DatasetContract
) -> pa.Table:
    import pyarrow.csv as pcsv

    malformed: list[dict[str, JSONValue]] = []
    expected: list[int] = []

    def skip(row: Any) -> str:
        # Not row.text: the row is data (never quoted in a reason) and may not even decode.
        malformed.append({"row": row.number, "fields": row.actual_columns})
        expected[:] = [row.expected_columns]
        return "skip"

    def attempt(column_types: Mapping[str, pa.DataType]) -> pa.Table:
        malformed.clear()
        return pcsv.read_csv(
            _open(data, compression),
            parse_options=pcsv.ParseOptions(invalid_row_handler=skip),
            convert_options=pcsv.ConvertOptions(
                column_types=column_types,
                null_values=CSV_NULL_VALUES,
                strings_can_be_null=True,
            ),
        )

    try:
        try:
            # One pass with every declared type: the usual case, and the fastest.
            table = attempt({c.name: ARROW_TYPES[c.dtype] for c in contract.columns})
            parse_text = False
        except pa.ArrowInvalid:
            # Some column does not parse as its type: read text columns as text and let pyarrow infer the others
            # (it widens a column's type when a later block needs it), then parse what parses.
            table = attempt({c.name: pa.string() for c in contract.columns if c.dtype in ("string", "category")})
            parse_text = True
        table.column_names  # noqa: B018 - decodes the header: pyarrow keeps a name that is not UTF-8 as bytes
    except _READER_ERRORS as error:
        reason = _utf8_problem(data, compression) or _scrub(str(error))
        raise DatasetUnreadable(source, "csv", reason) from error
    binary = [f.name for f in table.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    if binary:  # pyarrow infers bytes that are not UTF-8 as binary
        reason = _utf8_problem(data, compression) or f"column {binary[0]!r} is not UTF-8 text"
        raise DatasetUnreadable(source, "csv", reason)
    if parse_text:
        table = _parse_text_columns(table, contract)
    if malformed:
        note = json.dumps({"count": len(malformed), "expected": expected[0], "examples": malformed[:EXAMPLES]})
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), MALFORMED_ROWS_KEY: note.encode()})
    return table


def _parse_text_columns(table: pa.Table, contract: DatasetContract) -> pa.Table:
    """Cast the text columns that should not be text to their type where every value parses; keep the rest."""
    for column in contract.columns:
        if column.dtype in ("string", "category") or column.name not in table.column_names:
            continue
        index = table.column_names.index(column.name)
        data = table.column(index)
        if column.dtype == "timestamp" and pa.types.is_timestamp(data.type):
            table = table.set_column(index, column.name, _to_utc(data))  # inferred unit and zone: as if declared
            continue
        if not pa.types.is_string(data.type):
            continue  # inferred as something else: validate decides whether that type will do
        targets = [ARROW_TYPES[column.dtype]]
        if column.dtype == "timestamp":
            targets.append(pa.timestamp("us"))  # no zone offset written: taken as UTC by validate
        for target in targets:
            try:
                table = table.set_column(index, column.name, data.cast(target))
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    return table


# ---- the prepared dataset -------------------------------------------------------------------------------------
@dataclass
class _Numeric:
    """A numeric column as float64: NaN where missing, plus its sorted non-missing values (shared by every check)."""

    values: FloatArray
    sorted: FloatArray  # with the infinities, at its ends
    missing: int  # nulls and NaN
    nan_values: int = 0  # NaN written as a value (Parquet), not a null: counted in `missing` too
    infinite: int = 0


@dataclass(frozen=True)
class _Text:
    """A key or entity column, kept as Arrow strings; for the key, its number of distinct values."""

    values: pa.ChunkedArray
    distinct: int | None


@dataclass
class _Categorical:
    """A text or boolean column as integer codes into `levels` (code == len(levels) for null) and their counts."""

    codes: IntArray
    counts: IntArray  # per code, nulls last
    levels: list[str] | None  # None when there are too many to list (an ID-like extra column)

    @property
    def missing(self) -> int:
        return int(self.counts[-1])

    def value_counts(self) -> dict[str, int]:
        assert self.levels is not None
        return {value: int(count) for value, count in zip(self.levels, self.counts[:-1], strict=True)}


@dataclass(frozen=True)
class _Days:
    """Rows per UTC calendar day, for the rows with a timestamp."""

    valid: npt.NDArray[np.bool_]  # per row: has a timestamp
    index: IntArray  # per valid row: its day, counted from `first`
    rows: IntArray  # per day: rows
    first: int  # days since the epoch of the first day

    @property
    def present(self) -> int:
        return int((self.rows > 0).sum())

    @property
    def everyone(self) -> bool:
        return len(self.index) == len(self.valid)


@dataclass
class _Dataset:
    table: pa.Table
    rows: int
    findings: list[Finding] = field(default_factory=list)
    numeric: dict[str, _Numeric] = field(default_factory=dict)
    categorical: dict[str, _Categorical] = field(default_factory=dict)
    text: dict[str, _Text] = field(default_factory=dict)  # key and entity columns
    time_us: FloatArray | None = None  # microseconds since the epoch, NaN where missing
    extras: list[str] = field(default_factory=list)
    _days: _Days | None = None

    def days(self) -> _Days | None:
        """Per-day row counts (computed once); None without usable timestamps."""
        if self._days is None and self.time_us is not None:
            valid = ~np.isnan(self.time_us)
            if valid.any():
                days = np.floor(self.time_us[valid] / DAY_US).astype(np.int64)
                first = int(days.min())
                # A wild timestamp (year 9999) would make per-day counts huge; freshness reports it anyway.
                if int(days.max()) - first < 100_000:
                    index = days - first
                    self._days = _Days(valid=valid, index=index, rows=np.bincount(index), first=first)
        return self._days


def _prepare(table: pa.Table, contract: DatasetContract) -> _Dataset:
    """Check the schema and bring every usable column into the one form all later checks share."""
    dataset = _Dataset(table=table, rows=table.num_rows)
    names = table.column_names
    first_index: dict[str, int] = {}
    for i, name in enumerate(names):
        first_index.setdefault(name, i)
    for name, count in sorted(Counter(names).items()):
        if count > 1:
            dataset.findings.append(
                Finding(
                    "schema.duplicate_column",
                    "fail",
                    name,
                    f"column {name!r} appears {count} times; only the first is checked",
                    {"count": count},
                )
            )
    declared = {c.name for c in contract.columns}
    dataset.extras = [name for name in first_index if name not in declared]
    jobs: list[_Job] = []
    for column in contract.columns:
        if column.name not in first_index:
            candidates = [n for n in dataset.extras if _conform(table.column(first_index[n]), column) is not None]
            hint = f"; columns of a fitting type not in the contract: {', '.join(candidates)}" if candidates else ""
            dataset.findings.append(
                Finding(
                    "schema.missing_column",
                    "fail",
                    column.name,
                    f"column {column.name!r} ({column.dtype}) is missing{hint}",
                    {"expected_type": column.dtype, "candidates": list(candidates)},
                )
            )
            continue
        raw = table.column(first_index[column.name])
        conformed = _conform(raw, column)
        if conformed is None:
            dataset.findings.append(_wrong_type(column, raw))
            continue
        jobs.append(_Job(column.name, column.dtype, column.role, conformed, extra=False))
    for name in dataset.extras:
        raw = table.column(first_index[name])
        kind = _kind_of(raw.type)
        if kind is not None:
            jobs.append(_Job(name, kind, "feature", raw if kind != "timestamp" else _to_utc(raw), extra=True))
    # Columns are summarised independently, and numpy's sort and pyarrow's kernels release the GIL: with more than
    # one core (a Lambda above 1,769 MB, which is one vCPU), threads overlap the work.
    workers = min(len(jobs), _cores())
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            summaries = list(pool.map(_summarise, jobs))
    else:
        summaries = [_summarise(job) for job in jobs]
    for job, summary in zip(jobs, summaries, strict=True):
        if isinstance(summary, _Numeric):
            dataset.numeric[job.name] = summary
        elif isinstance(summary, _Categorical):
            dataset.categorical[job.name] = summary
        elif isinstance(summary, _Text):
            dataset.text[job.name] = summary
        else:
            dataset.time_us = summary
    return dataset


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _kind_of(arrow_type: pa.DataType) -> Literal["int", "float", "category", "bool", "timestamp"] | None:
    """How a column outside the contract is read for the leakage check."""
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamp"
    if _is_text(arrow_type) or (pa.types.is_dictionary(arrow_type) and _is_text(arrow_type.value_type)):
        return "category"
    return None


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type)
    )


def _to_utc(data: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps (any unit, with or without zone; dates at midnight) as microseconds in UTC."""
    import pyarrow.compute as pc

    if pa.types.is_date(data.type):
        data = data.cast(pa.timestamp("us"))
    # Arrow stores zoned timestamps as UTC instants already; a naive one is taken to be UTC. Nanoseconds are
    # truncated to microseconds, but an overflow must not wrap around into a plausible date.
    target = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(data, options=pc.CastOptions(target_type=target, allow_time_truncate=True))
    except pa.ArrowInvalid:
        # Beyond microseconds' ±292,000 years (seconds near 2**62): clipped to that range, so the time checks
        # report them as in the future or too old instead of the cast failing the validation.
        scale = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}[data.type.unit]
        raw = np.asarray(data.cast(pa.int64()).to_numpy(), dtype=np.float64)  # nulls are NaN
        micro = np.clip(raw * scale, -(2.0**62), 2.0**62)
        missing = np.isnan(micro)
        whole = pa.array(np.where(missing, 0, micro).astype(np.int64), pa.int64(), mask=missing)
        return pa.chunked_array([whole.cast(pa.timestamp("us")).cast(target)])


def _conform(data: pa.ChunkedArray, column: Column) -> pa.ChunkedArray | None:
    """The column in a type the checks read, or None when its type does not fit the declaration."""
    t = data.type
    if pa.types.is_null(t):  # every value empty: a null check's business, not a type problem
        return data.cast(ARROW_TYPES[column.dtype])
    if column.dtype in ("string", "category"):
        if _is_text(t) or (pa.types.is_dictionary(t) and _is_text(t.value_type)):
            return data.cast(pa.string())
        return None
    if column.dtype == "float":
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            return data.cast(pa.float64(), safe=False)  # an int beyond 2**53 rounds; a safe cast would raise
        return None
    if column.dtype == "int":
        if pa.types.is_integer(t):
            return data
        if pa.types.is_floating(t):
            # A whole-number float column is how pandas writes an int column with gaps: the same data.
            values = data.to_numpy()
            finite = values[np.isfinite(values)]
            return data if np.array_equal(finite, np.round(finite)) else None
        return None
    if column.dtype == "bool":
        return data if pa.types.is_boolean(t) else None
    if column.dtype == "timestamp":
        return _to_utc(data) if pa.types.is_timestamp(t) or pa.types.is_date(t) else None
    raise ValueError(f"contract column {column.name!r} has unknown dtype {column.dtype!r}")


def _wrong_type(column: Column, data: pa.ChunkedArray) -> Finding:
    found = str(data.type)
    numbers: dict[str, JSONValue] = {"expected": column.dtype, "found": found}
    detail = ""
    pattern = _PARSEABLE.get(column.dtype)
    if pattern is not None and _is_text(data.type):
        import pyarrow.compute as pc

        bad = pc.invert(pc.match_substring_regex(data, pattern, ignore_case=True))
        bad_values = data.filter(pc.fill_null(bad, False))
        examples = [str(v) for v in pc.unique(bad_values).slice(0, EXAMPLES).to_pylist()]
        numbers |= {"unparseable": len(bad_values), "examples": list(examples)}
        if examples:
            detail = (
                f": {_n(len(bad_values), 'value')} of {len(data):,} do not read as {column.dtype} "
                f"(e.g. {', '.join(repr(e) for e in examples)})"
            )
        else:
            detail = f": every value reads as {column.dtype}, but is written as text"
    return Finding(
        "schema.wrong_type",
        "fail",
        column.name,
        f"column {column.name!r} should be {column.dtype} but is {found}{detail}",
        numbers,
    )


@dataclass(frozen=True)
class _Job:
    """One column to summarise: how the contract (or, outside it, its Arrow type) says to read it."""

    name: str
    dtype: str
    role: str
    data: pa.ChunkedArray
    extra: bool


def _summarise(job: _Job) -> _Numeric | _Categorical | _Text | FloatArray:
    """The form every check reads a column in; runs in a worker thread, so it touches nothing shared."""
    import pyarrow.compute as pc

    data = job.data
    if job.role in ("key", "entity"):
        # the key's distinct count is a hash pass over every string: done here, in parallel with the rest
        distinct = len(pc.unique(data)) - (1 if data.null_count else 0) if job.role == "key" else None
        return _Text(data, distinct)
    if job.dtype == "timestamp" and job.role == "timestamp":
        # float64 holds microseconds exactly for 285 years around 1970; a wild value beyond that only rounds
        time_us: FloatArray = data.cast(pa.int64()).cast(pa.float64(), safe=False).to_numpy()
        return time_us
    if job.dtype in ("int", "float", "timestamp"):
        if job.dtype == "timestamp":
            data = data.cast(pa.int64())
        values = np.asarray(data.cast(pa.float64(), safe=False).to_numpy(), dtype=np.float64)
        missing = np.isnan(values)
        present = values[~missing] if missing.any() else values
        ordered = _sorted(present, integer=job.dtype == "int")
        finite = int(np.searchsorted(ordered, np.inf, side="left") - np.searchsorted(ordered, -np.inf, side="right"))
        return _Numeric(
            values=values,
            sorted=ordered,
            missing=int(missing.sum()),
            nan_values=int(missing.sum()) - data.null_count,
            infinite=len(ordered) - finite,
        )
    if job.dtype == "bool":
        codes = np.asarray(pc.fill_null(data.cast(pa.int8()), 2).to_numpy(), dtype=np.int64)
        return _Categorical(codes=codes, counts=np.bincount(codes, minlength=3), levels=["false", "true"])
    # Text: dictionary-encode once (a hash pass); codes then serve counts, checks, PSI and leakage alike.
    encoded = pc.dictionary_encode(data.cast(pa.string()) if pa.types.is_dictionary(data.type) else data)
    chunks = encoded.chunks
    dictionary = chunks[0].dictionary if chunks else pa.array([], pa.string())
    levels = len(dictionary)
    indices = pa.chunked_array([c.indices for c in chunks], pa.int32())
    codes = np.asarray(pc.fill_null(indices, levels).to_numpy(), dtype=np.int64)
    # An ID-like text column outside the contract can have a million values: listing them would cost more
    # than everything else, and nothing needs them.
    listed = None if job.extra and levels > LEAKAGE_MAX_LEVELS else [str(v) for v in dictionary.to_pylist()]
    return _Categorical(codes=codes, counts=np.bincount(codes, minlength=levels + 1), levels=listed)


def _sorted(values: FloatArray, *, integer: bool) -> FloatArray:
    """Values in ascending order; whole numbers over a range not much wider than their count by counting, O(n)."""
    if integer and len(values):
        low, high = float(values.min()), float(values.max())
        if high - low <= 4 * len(values) and max(-low, high) < 2**52:  # whole numbers exact in float64
            counts = np.bincount((values - low).astype(np.int64))
            result: FloatArray = np.repeat(np.arange(low, high + 1, dtype=np.float64), counts)
            return result
    return np.sort(values)


# ---- validation -----------------------------------------------------------------------------------------------
def validate(
    table: pa.Table, contract: DatasetContract, *, reference: Profile | None = None, now: datetime
) -> QualityReport:
    """Check `table` against `contract` (and against the last accepted dataset's Profile, when there is one)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise NaiveDatetime(f"now={now.isoformat()} has no timezone; pass an aware datetime such as datetime.now(UTC)")
    if reference is not None and reference.dataset != contract.name:
        raise ProfileMismatch(f"reference profile is of {reference.dataset!r}, the contract of {contract.name!r}")
    started = time.perf_counter()
    dataset = _prepare(table, contract)
    skipped: list[str] = []
    findings = dataset.findings
    findings += _malformed_rows(table)
    findings += _value_findings(dataset, contract)
    findings += _row_findings(dataset, contract)
    findings += _label_findings(dataset, contract)
    if reference is not None:
        findings += _label_shift_findings(dataset, contract, reference)
    findings += _time_findings(dataset, contract, now)
    current = _profile(dataset, contract)
    findings += _stale_findings(dataset, contract, current, reference)
    if reference is not None and reference.rows == 0:
        skipped.append("drift.psi: the reference profile has no rows")
    elif reference is not None and dataset.rows:  # an empty dataset is rows.too_few, not a drift of every feature
        failing = {f.column for f in findings if f.severity == "fail"}
        findings += _drift_findings(dataset, contract, current, reference, failing)
    findings += _leakage_findings(dataset, contract, skipped)
    findings.sort(key=lambda f: (f.code, f.column or ""))
    return QualityReport(
        dataset=contract.name,
        validated_at=now.astimezone(UTC).isoformat(),
        failures=tuple(f for f in findings if f.severity == "fail"),
        warnings=tuple(f for f in findings if f.severity == "warn"),
        profile=current,
        stats={"rows": table.num_rows, "columns": table.num_columns, "seconds": time.perf_counter() - started},
        reference=None
        if reference is None
        else {"rows": reference.rows, "time_min": reference.time_min, "time_max": reference.time_max},
        skipped=tuple(skipped),
    )


def profile(table: pa.Table, contract: DatasetContract) -> Profile:
    """The summary of a dataset that later datasets are compared with (validate returns it too)."""
    return _profile(_prepare(table, contract), contract)


def _profile(dataset: _Dataset, contract: DatasetContract) -> Profile:
    columns: dict[str, ColumnProfile] = {}
    for column in contract.columns:
        if column.role not in ("feature", "label"):
            continue
        if column.name in dataset.numeric:
            numeric = dataset.numeric[column.name]
            columns[column.name] = numeric_profile(numeric.sorted, numeric.missing, contract.drift.bins)
        elif column.name in dataset.categorical:
            categorical = dataset.categorical[column.name]
            columns[column.name] = categorical_profile(categorical.value_counts(), categorical.missing)
    time_min = time_max = None
    if dataset.time_us is not None:
        valid = dataset.time_us[~np.isnan(dataset.time_us)]
        if len(valid):
            time_min, time_max = _iso(float(valid.min())), _iso(float(valid.max()))
    known, positive = _label(dataset, contract)
    label_rate = float(positive.sum() / known.sum()) if known is not None and known.any() else None
    return Profile(
        dataset=contract.name,
        rows=dataset.rows,
        time_min=time_min,
        time_max=time_max,
        label_rate=label_rate,
        columns=columns,
    )


def _malformed_rows(table: pa.Table) -> list[Finding]:
    note = (table.schema.metadata or {}).get(MALFORMED_ROWS_KEY)
    if note is None:
        return []
    malformed = json.loads(note)
    count = int(malformed["count"])
    examples = malformed["examples"]
    where = ", ".join(
        ("a row" if e["row"] is None else f"row {e['row']:,}") + f" with {e['fields']}" for e in examples[:EXAMPLES]
    )
    return [
        Finding(
            "rows.malformed",
            "fail",
            None,
            f"{_n(count, 'CSV row')} had the wrong number of fields (expected {malformed['expected']}; {where}) "
            "and were skipped",
            {"count": count, "expected": malformed["expected"], "examples": list(examples)},
        )
    ]


def _value_findings(dataset: _Dataset, contract: DatasetContract) -> list[Finding]:
    findings: list[Finding] = []
    rows = dataset.rows
    for column in contract.columns:
        name = column.name
        if name in dataset.numeric:
            missing = dataset.numeric[name].missing
        elif name in dataset.categorical:
            missing = dataset.categorical[name].missing
        elif name in dataset.text:
            missing = dataset.text[name].values.null_count
        elif column.role == "timestamp" and dataset.time_us is not None:
            missing = int(np.isnan(dataset.time_us).sum())
        else:
            continue  # missing or of the wrong type: already a schema finding
        if missing and not column.nullable:
            findings.append(
                Finding(
                    "values.null",
                    "fail",
                    name,
                    f"{missing:,} of {rows:,} values of {name!r} are missing ({missing / rows:.2%}); none may be",
                    {"count": missing, "share": missing / rows, "rows": rows},
                )
            )
        if name in dataset.numeric:
            findings += _not_finite_finding(column, dataset.numeric[name], rows)
        if name in dataset.numeric and (column.minimum is not None or column.maximum is not None):
            findings += _range_finding(column, dataset.numeric[name], rows)
        if column.categories is not None and name in dataset.categorical:
            findings += _category_finding(column, dataset.categorical[name], rows)
    return findings


def _not_finite_finding(column: Column, numeric: _Numeric, rows: int) -> list[Finding]:
    """NaN written as a value, or an infinity: no statistic, bin or model input holds it (a null is `values.null`)."""
    count = numeric.nan_values + numeric.infinite
    if not count:
        return []
    ordered = numeric.sorted
    negative = int(np.searchsorted(ordered, -np.inf, side="right"))
    positive = numeric.infinite - negative
    parts = [f"{k:,} {what}" for k, what in ((numeric.nan_values, "NaN"), (positive, "inf"), (negative, "-inf")) if k]
    return [
        Finding(
            "values.not_finite",
            "fail",
            column.name,
            f"{_n(count, 'value')} of {column.name!r} are not finite numbers ({', '.join(parts)}); "
            "write a missing value as an empty field or null",
            {"count": count, "share": count / rows, "nan": numeric.nan_values, "inf": positive, "-inf": negative},
        )
    ]


def _range_finding(column: Column, numeric: _Numeric, rows: int) -> list[Finding]:
    values = numeric.sorted
    below = above = 0
    if column.minimum is not None:
        below = int(np.searchsorted(values, column.minimum, side="left"))
    if column.maximum is not None:
        above = len(values) - int(np.searchsorted(values, column.maximum, side="right"))
    count = below + above
    if not count:
        return []
    low, high = float(values[0]), float(values[-1])
    return [
        Finding(
            "values.out_of_range",
            "fail",
            column.name,
            f"{_n(count, 'value')} of {column.name!r} lie outside [{_bound(column.minimum, '-inf')}, "
            f"{_bound(column.maximum, 'inf')}]: "
            f"{below:,} below, {above:,} above; found min {_num(low)}, max {_num(high)}",
            {
                "count": count,
                "share": count / rows,
                "below": below,
                "above": above,
                "minimum": column.minimum,
                "maximum": column.maximum,
                "min_found": _json_float(low),
                "max_found": _json_float(high),
            },
        )
    ]


def _category_finding(column: Column, categorical: _Categorical, rows: int) -> list[Finding]:
    allowed = set(column.categories or ())
    unknown = {value: count for value, count in categorical.value_counts().items() if count and value not in allowed}
    if not unknown:
        return []
    count = sum(unknown.values())
    examples = sorted(unknown, key=lambda value: (-unknown[value], value))[:EXAMPLES]
    return [
        Finding(
            "values.unknown_category",
            "fail",
            column.name,
            f"{_n(count, 'value')} of {column.name!r} are not among its {len(allowed)} categories "
            f"({len(unknown)} distinct, e.g. {', '.join(repr(e) for e in examples)})",
            {"count": count, "share": count / rows, "distinct": len(unknown), "examples": list(examples)},
        )
    ]


def _row_findings(dataset: _Dataset, contract: DatasetContract) -> list[Finding]:
    import pyarrow.compute as pc

    findings: list[Finding] = []
    rows = dataset.rows
    if rows < contract.min_rows:
        findings.append(
            Finding(
                "rows.too_few",
                "fail",
                None,
                f"{rows:,} rows; at least {contract.min_rows:,} are needed",
                {"rows": rows, "min_rows": contract.min_rows},
            )
        )
    keys = [c for c in contract.by_role("key") if c.name in dataset.text]
    if keys:
        key = dataset.text[keys[0].name].values
        distinct = dataset.text[keys[0].name].distinct or 0
        duplicates = len(key) - key.null_count - distinct  # rows beyond each key's first: what deduplication would drop
        share = duplicates / rows if rows else 0.0
        if duplicates and share > contract.max_duplicate_rate:
            counts = pc.value_counts(key.drop_null())
            repeated = counts.filter(pc.greater(counts.field("counts"), 1))
            order = pc.sort_indices(repeated, sort_keys=[("counts", "descending"), ("values", "ascending")])
            ordered = repeated.take(order)
            examples = [str(v) for v in ordered.field("values").slice(0, EXAMPLES).to_pylist()]
            allowed = (
                f"at most {contract.max_duplicate_rate:.2%} allowed" if contract.max_duplicate_rate else "none allowed"
            )
            findings.append(
                Finding(
                    "rows.duplicate_key",
                    "fail",
                    keys[0].name,
                    f"{_n(duplicates, 'row')} repeat an earlier {keys[0].name!r} ({share:.2%} of rows; {allowed}), "
                    f"e.g. {', '.join(repr(e) for e in examples)}",
                    {
                        "count": duplicates,
                        "share": share,
                        "max_share": contract.max_duplicate_rate,
                        "keys": len(repeated),
                        "examples": list(examples),
                    },
                )
            )
    return findings


def _label(dataset: _Dataset, contract: DatasetContract) -> tuple[npt.NDArray[np.bool_] | None, npt.NDArray[np.bool_]]:
    """Which rows have a usable label (0 or 1) and which of them are positive."""
    labels = contract.by_role("label")
    if not labels or labels[0].name not in dataset.numeric:
        return None, np.zeros(0, dtype=bool)
    values = dataset.numeric[labels[0].name].values
    positive = values == 1
    return positive | (values == 0), positive


def _label_findings(dataset: _Dataset, contract: DatasetContract) -> list[Finding]:
    known, positive = _label(dataset, contract)
    if known is None or not known.any():
        return []
    labelled = int(known.sum())
    positives = int(positive.sum())
    rate = positives / labelled
    if contract.label_min_rate <= rate <= contract.label_max_rate:
        return []
    side = "below the minimum" if rate < contract.label_min_rate else "above the maximum"
    return [
        Finding(
            "label.rate_out_of_bounds",
            "fail",
            contract.label.name,
            f"positive rate {rate:.3%} ({positives:,} of {labelled:,}) is {side}; allowed "
            f"[{contract.label_min_rate:.3%}, {contract.label_max_rate:.3%}]",
            {
                "rate": rate,
                "positives": positives,
                "rows": labelled,
                "min_rate": contract.label_min_rate,
                "max_rate": contract.label_max_rate,
            },
        )
    ]


def wilson_interval(positives: int, rows: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of a binomial rate: sound for rare events and small counts, unlike p +- z*se."""
    if rows <= 0:
        return 0.0, 1.0
    p = positives / rows
    denominator = 1 + z * z / rows
    centre = (p + z * z / (2 * rows)) / denominator
    spread = z * math.sqrt(p * (1 - p) / rows + z * z / (4 * rows * rows)) / denominator
    return max(0.0, centre - spread), min(1.0, centre + spread)


def _label_shift_findings(dataset: _Dataset, contract: DatasetContract, reference: Profile) -> list[Finding]:
    """The positive rate against the reference's: fails only when the two Wilson intervals lie further apart than
    the contract's factor, so a tenfold jump fails while the noise of a small file does not."""
    known, positive = _label(dataset, contract)
    if known is None or not known.any() or reference.label_rate is None or reference.rows <= 0:
        return []
    labelled, positives = int(known.sum()), int(positive.sum())
    label_profile = reference.columns.get(contract.label.name)
    reference_rows = max(1, round(reference.rows * (1 - (label_profile.null_share if label_profile else 0.0))))
    reference_positives = round(reference.label_rate * reference_rows)
    z, factor = contract.label_rate_z, contract.label_rate_shift_factor
    low, high = wilson_interval(positives, labelled, z)
    reference_low, reference_high = wilson_interval(reference_positives, reference_rows, z)
    allowed_low, allowed_high = reference_low / factor, min(1.0, reference_high * factor)
    if low <= allowed_high and high >= allowed_low:
        return []
    rate = positives / labelled
    side = "above" if low > allowed_high else "below"
    return [
        Finding(
            "label.rate_shift",
            "fail",
            contract.label.name,
            f"positive rate {rate:.3%} ({positives:,} of {labelled:,}; interval [{low:.3%}, {high:.3%}]) is {side} "
            f"the reference's {reference.label_rate:.3%} (of {reference_rows:,}; interval [{reference_low:.3%}, "
            f"{reference_high:.3%}]) widened {factor:g}x to [{allowed_low:.3%}, {allowed_high:.3%}]",
            {
                "rate": rate,
                "positives": positives,
                "rows": labelled,
                "interval": [low, high],
                "reference_rate": reference.label_rate,
                "reference_rows": reference_rows,
                "reference_interval": [reference_low, reference_high],
                "allowed": [allowed_low, allowed_high],
                "factor": factor,
                "z": z,
            },
        )
    ]


def _time_findings(dataset: _Dataset, contract: DatasetContract, now: datetime) -> list[Finding]:
    if dataset.time_us is None:
        return []
    valid = dataset.time_us[~np.isnan(dataset.time_us)]
    if not len(valid):
        return []
    name = contract.timestamp.name
    now_us = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    limit_us = now_us + int(contract.future_tolerance_s * 1_000_000)
    findings: list[Finding] = []
    future = valid > limit_us
    count = int(future.sum())
    if count:
        latest = float(valid.max())
        findings.append(
            Finding(
                "time.future_timestamps",
                "fail",
                name,
                f"{_n(count, 'value')} of {name!r} are after now ({now.astimezone(UTC).isoformat()}); "
                f"the latest is {_iso(latest)}",
                {"count": count, "share": count / dataset.rows, "latest": _iso(latest), "now": _iso(now_us)},
            )
        )
    oldest_us = now_us - contract.max_history_days * DAY_US
    old = valid < oldest_us
    count_old = int(old.sum())
    if count_old:
        oldest = float(valid.min())
        findings.append(
            Finding(
                "time.too_old",
                "fail",
                name,
                f"{_n(count_old, 'value')} of {name!r} are before {_iso(oldest_us)} (at most "
                f"{contract.max_history_days:g} days before now); the oldest is {_iso(oldest)}",
                {
                    "count": count_old,
                    "share": count_old / dataset.rows,
                    "oldest": _iso(oldest),
                    "bound": _iso(oldest_us),
                    "max_history_days": contract.max_history_days,
                },
            )
        )
    past = valid[~future]  # a wrong clock's rows must not make old data look fresh
    if len(past):
        newest = float(past.max())
        age_days = (now_us - newest) / DAY_US
        if age_days > contract.max_age_days:
            findings.append(
                Finding(
                    "time.stale_data",
                    "fail",
                    name,
                    f"the newest {name!r} is {_iso(newest)}, {age_days:.1f} days before now; "
                    f"at most {contract.max_age_days:g} days allowed",
                    {"newest": _iso(newest), "age_days": age_days, "max_age_days": contract.max_age_days},
                )
            )
    return findings


def _stale_findings(
    dataset: _Dataset, contract: DatasetContract, current: Profile, reference: Profile | None
) -> list[Finding]:
    """One value covers (nearly) every row: now but not in the reference, or day after day across many entities."""
    share_limit = contract.stale_dominant_share
    findings: list[Finding] = []
    for column in contract.by_role("feature"):
        now_profile = current.columns.get(column.name)
        if now_profile is None or now_profile.dominant is None:
            continue
        before = reference.columns.get(column.name) if reference is not None else None
        if before is not None and before.dominant_share >= share_limit:
            continue  # it has always been (nearly) constant: that is what it is, not staleness
        stuck = _stuck_days(dataset, contract, column.name, now_profile)
        if before is not None:
            stale = now_profile.dominant_share >= share_limit or stuck.days >= 1
        else:
            # No reference: only a number that should differ between customers and from day to day is suspect.
            stale = stuck.days >= contract.stale_min_days
        if not stale:
            continue
        value = now_profile.dominant
        shown = _num(value) if isinstance(value, float) else repr(value)
        where = ""
        if stuck.days:
            where = f" on {stuck.days} of {stuck.days_in_data} days ({stuck.first_day} .. {stuck.last_day})"
            if stuck.entities is not None:
                where += f", across {stuck.entities:,} {_entity_name(contract)}s"
        compared = (
            f"; in the reference its most common value covered {before.dominant_share:.1%}"
            if before is not None
            else ""
        )
        findings.append(
            Finding(
                "column.stale",
                "fail",
                column.name,
                f"{column.name!r} is stuck at {shown}: {now_profile.dominant_share:.1%} of rows{where}{compared}",
                {
                    "value": value,
                    "share": now_profile.dominant_share,
                    "reference_share": None if before is None else before.dominant_share,
                    "max_share": share_limit,
                    **stuck.numbers(),
                },
            )
        )
    return findings


@dataclass(frozen=True)
class _Stuck:
    """Where a numeric feature's most common value covers (nearly) all of a day's rows."""

    days: int = 0
    days_in_data: int = 0
    first_day: str | None = None
    last_day: str | None = None
    entities: int | None = None  # distinct entities among the stuck rows (None without an entity column)

    def numbers(self) -> dict[str, JSONValue]:
        return {
            "days": self.days,
            "days_in_data": self.days_in_data,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "entities": self.entities,
        }


def _stuck_days(dataset: _Dataset, contract: DatasetContract, name: str, now: ColumnProfile) -> _Stuck:
    """Days on which a numeric feature's most common value covers at least the stale share of the day's rows."""
    days = dataset.days()
    if days is None:
        return _Stuck()
    none = _Stuck(days_in_data=days.present)
    if not isinstance(now, NumericProfile) or now.dominant is None:
        return none
    eligible = days.rows[days.rows >= contract.stale_min_day_rows]
    if not len(eligible) or now.dominant_share * dataset.rows < contract.stale_dominant_share * eligible.min():
        return none  # too few rows hold the value for any day to be stuck on it: spare the per-day pass
    values = dataset.numeric[name].values
    is_value = (values if days.everyone else values[days.valid]) == now.dominant
    value_per_day = np.bincount(days.index, weights=is_value, minlength=len(days.rows))
    enough_rows = days.rows >= contract.stale_min_day_rows
    candidate = (value_per_day >= contract.stale_dominant_share * days.rows) & enough_rows
    stuck_days = np.flatnonzero(candidate)
    if not len(stuck_days):
        return none
    entities = None
    entity_columns = [c.name for c in contract.by_role("entity") if c.name in dataset.text]
    if entity_columns:
        import pyarrow.compute as pc

        rows = np.zeros(dataset.rows, dtype=bool)
        rows[np.flatnonzero(days.valid)[is_value & np.isin(days.index, stuck_days)]] = True
        entities = int(pc.count_distinct(dataset.text[entity_columns[0]].values.filter(pa.array(rows))).as_py())
        if entities < 2:
            return none  # one customer's orders: a constant value is natural
    return _Stuck(
        days=len(stuck_days),
        days_in_data=days.present,
        first_day=_day_iso(days.first + int(stuck_days[0])),
        last_day=_day_iso(days.first + int(stuck_days[-1])),
        entities=entities,
    )


def _drift_findings(
    dataset: _Dataset, contract: DatasetContract, current: Profile, reference: Profile, failing: set[str | None]
) -> list[Finding]:
    """PSI of every feature against the reference (columns with a failing finding already have their cause)."""
    thresholds = contract.drift
    findings: list[Finding] = []
    for column in contract.by_role("feature"):
        before = reference.columns.get(column.name)
        if before is None or column.name in failing:
            continue
        if isinstance(before, NumericProfile) and column.name in dataset.numeric:
            numeric = dataset.numeric[column.name]
            result = numeric_psi(before, numeric.sorted, numeric.missing, PSI_EPSILON)
        elif isinstance(before, CategoricalProfile) and isinstance(
            now_profile := current.columns.get(column.name), CategoricalProfile
        ):
            result = categorical_psi(before, now_profile, PSI_EPSILON)
        else:
            continue
        if result.value < thresholds.warn:
            continue
        severity: Severity = "fail" if result.value >= thresholds.fail else "warn"
        findings.append(
            Finding(
                "drift.psi",
                severity,
                column.name,
                f"{column.name!r} drifted from the reference: PSI {result.value:.3f} (warn {thresholds.warn:g}, "
                f"fail {thresholds.fail:g}); most moved: {result.worst_bin} from {result.expected_share:.1%} "
                f"to {result.actual_share:.1%}",
                {
                    "psi": result.value,
                    "warn": thresholds.warn,
                    "fail": thresholds.fail,
                    "bins": result.bins,
                    "worst_bin": result.worst_bin,
                    "reference_share": result.expected_share,
                    "share": result.actual_share,
                },
            )
        )
    return findings


def _leakage_findings(dataset: _Dataset, contract: DatasetContract, skipped: list[str]) -> list[Finding]:
    """Features (and columns outside the contract) that predict the label alone: ROC AUC >= leakage_auc."""
    known, positive = _label(dataset, contract)
    findings: list[Finding] = []
    extras = dataset.extras
    names = [c.name for c in contract.by_role("feature")] + extras
    if known is None:
        names = []  # no usable label column: a schema finding says why
    else:
        positives = int(positive.sum())
        negatives = int(known.sum()) - positives
        if min(positives, negatives) < contract.leakage_min_class_rows:
            skipped.append(
                f"label.leakage: {positives} positive and {negatives} negative labels; "
                f"at least {contract.leakage_min_class_rows} of each are needed"
            )
            names = []
    leaking: set[str] = set()
    for name in names:
        assert known is not None
        measured = _feature_auc(dataset, name, known, positive)
        if measured is None:
            continue
        auc, scored_as = measured
        strength = max(auc, 1 - auc)  # a feature that ranks positives last predicts just as well
        if strength < contract.leakage_auc:
            continue
        leaking.add(name)
        outside = " (a column outside the contract)" if name in extras else ""
        findings.append(
            Finding(
                "label.leakage",
                "fail",
                name,
                f"{name!r}{outside} alone predicts {contract.label.name!r} with ROC AUC {strength:.4f} "
                f"(limit {contract.leakage_auc:g}; {_how_it_predicts(scored_as, auc)}): it likely encodes the outcome",
                {"auc": auc, "strength": strength, "threshold": contract.leakage_auc, "scored_as": scored_as},
            )
        )
    for name in extras:
        if name in leaking:
            continue  # reported as leakage, the more specific problem
        arrow_type = str(dataset.table.schema.field(name).type)
        findings.append(
            Finding(
                "schema.unexpected_column",
                "warn",
                name,
                f"column {name!r} ({arrow_type}) is not in the contract; training ignores it",
                {"type": arrow_type},
            )
        )
    return findings


def _feature_auc(
    dataset: _Dataset, name: str, known: npt.NDArray[np.bool_], positive: npt.NDArray[np.bool_]
) -> tuple[float, str] | None:
    everyone = bool(known.all())
    if name in dataset.numeric:
        numeric = dataset.numeric[name]
        # A missing value ranks below every other: a column filled in only for positives leaks through its gaps.
        if everyone:
            scores_sorted, scores_missing = numeric.sorted, numeric.missing
        else:
            scores = numeric.values[known]
            scores_sorted, scores_missing = np.sort(scores[~np.isnan(scores)]), int(np.isnan(scores).sum())
        positives = numeric.values[positive]
        missing = np.isnan(positives)
        positives_sorted = np.sort(positives[~missing])
        return auc_of_sorted(scores_sorted, positives_sorted, scores_missing, int(missing.sum())), "value"
    if name in dataset.categorical:
        categorical = dataset.categorical[name]
        codes = categorical.codes if everyone else categorical.codes[known]
        labels = positive if everyone else positive[known]
        groups = len(categorical.counts)
        if categorical.levels is None:
            # Too many values to score each by its positive rate (an ID would look perfect): present vs missing.
            codes = np.where(codes == groups - 1, 1, 0)
            groups, scored_as = 2, "missing"
        else:
            scored_as = "category"
        totals = np.bincount(codes, minlength=groups).astype(np.float64)
        positives = np.bincount(codes, weights=labels, minlength=groups).astype(np.float64)
        rates = np.divide(positives, totals, out=np.zeros_like(totals), where=totals > 0)
        scores = rates if scored_as == "category" else np.arange(groups, dtype=np.float64)
        return auc_of_groups(scores, positives, totals), scored_as
    return None


def _how_it_predicts(scored_as: str, auc: float) -> str:
    if scored_as == "category":
        return "scored by each value's positive rate"
    if scored_as == "missing":
        return "positive rows are the ones where it is " + ("missing" if auc >= 0.5 else "filled in")
    return ("higher" if auc >= 0.5 else "lower") + " values mean positive"


# ---- small formatting helpers ---------------------------------------------------------------------------------
def finite_json(value: JSONValue) -> JSONValue:
    """`value` with every float that JSON cannot hold (NaN, inf) replaced by None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def _iso(microseconds: float) -> str:
    try:
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(microseconds))).isoformat()
    except OverflowError:  # beyond year 9999: say what it is rather than fail the report
        return f"{int(microseconds)} microseconds after 1970-01-01T00:00:00+00:00"


def _day_iso(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).date().isoformat()


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _num(value: float) -> str:
    return f"{value:,g}"


def _bound(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else _num(value)


def _json_float(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _entity_name(contract: DatasetContract) -> str:
    return contract.by_role("entity")[0].name.removesuffix("_id")
