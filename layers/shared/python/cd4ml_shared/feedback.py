"""Ground-truth feedback: a Kinesis batch of label records decoded and validated as columns, split into the rows worth
keeping (one Parquet table per batch) and the poison records to quarantine with their reason (docs/feedback.md).

Why columns: a batch holds up to thousands of records and the function's cost is per record. The batch's base64 is
decoded a 64 KiB stretch per call and its JSON parsed by Arrow straight into typed columns; every check (field
present, type, value, timestamp) is an array operation over the batch, so a bad record costs one entry in a mask
rather than an exception in a per-record model. Only a batch holding a record the bulk path cannot attribute (not
base64, not JSON, a value of the wrong type) is decoded record by record, each with C-level calls. Nothing here
calls AWS: the handler hands the result to `cd4ml_shared.aws.feedback`.

Duplicates (the same inference id labelled twice, or a record redelivered by at-least-once delivery) are kept as
they come: the monitoring join resolves them (latest `labeled_at` wins), so this step neither loses nor merges.
"""

from __future__ import annotations

import binascii
import bisect
import functools
import io
import itertools
import json
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

# The contract of a record on the ground-truth stream (docs/feedback.md).
FIELDS = ("inference_id", "label", "labeled_at", "source")
LABELS = (0, 1)  # 1: the order was fraud
SOURCES = ("chargeback", "review", "manual")  # who said so; another source is quarantined until the contract grows
MAX_INFERENCE_ID = 64  # SageMaker's limit on InvokeEndpoint's InferenceId, which the label refers to
# a label stamped later than its own arrival on the stream is a producer's broken clock, beyond this much drift
FUTURE_TOLERANCE_S = 300.0
PREFIX = "ground-truth"
QUARANTINE_PREFIX = "quarantine/ground-truth"
# ISO 8601 with a zone, as `datetime.isoformat()` or JavaScript's `toISOString()` write it; a timestamp without a
# zone is refused rather than guessed to be UTC
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
_TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")

# The Parquet table's schema: the record's fields and the Kinesis metadata a later reader needs (the order within a
# shard, when it arrived, where it came from).
SCHEMA = pa.schema(
    [
        pa.field("inference_id", pa.string(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("labeled_at", _TIMESTAMP_TYPE, nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("shard_id", pa.string(), nullable=False),
        pa.field("sequence_number", pa.string(), nullable=False),
        pa.field("approximate_arrival", _TIMESTAMP_TYPE, nullable=False),
    ]
)

# snappy where it pays: an id's hex digits leave it about a tenth for half the write's time, and the deltas below
# are already small
_SNAPPY = ("label", "source", "shard_id")
_PARQUET_CODECS = {name: "snappy" if name in _SNAPPY else "none" for name in SCHEMA.names}
_PARQUET_ENCODINGS = {
    "sequence_number": "DELTA_BYTE_ARRAY",  # Kinesis sequence numbers of a shard share most of their digits
    "labeled_at": "DELTA_BINARY_PACKED",
    "approximate_arrival": "DELTA_BINARY_PACKED",  # ascending within a shard: a few bits per row
}

# strict: a character outside the alphabet is an error, not silently dropped (which would shift the bytes)
_strict_base64 = functools.partial(binascii.a2b_base64, strict_mode=True)


class _NotJson:
    """What a record that is not JSON parses to (None is JSON's null)."""


_NOT_JSON = _NotJson()
_SEPARATOR = "CgkJ"  # base64 of b"\n\t\t": a line break between records, then JSON whitespace
_SEPARATOR_BYTES = b"\n\t\t"  # what it decodes to, between the decoded stretches
_DECODE_CHARS = 64 * 1024  # base64 decoded per call: buffers this small are reused by the allocator, not mapped anew
_NULL = np.array(None, dtype=object)
_OPEN_BRACE = ord("{")
_CARRIAGE_RETURN = ord("\r")
_NON_ASCII = 0x80
_ARROW_ROW = re.compile(r"in row (\d+)")  # how Arrow's JSON reader names the line it refused
_MIN_REFUSALS = 16  # lines Arrow may refuse in a batch before the record-by-record path takes all of it
_PAD = ord("=")
# in a last group "xyz=" the final character alone makes the last byte: "J" (9) decodes to a tab; in "xy==" the two
# make the last two bytes: "kJ" decodes to two tabs (JSON whitespace, so the record's JSON is unchanged)
_TAB_LAST, _TAB_SECOND = ord("J"), ord("k")
_FIELD_TYPES: dict[str, type] = {"inference_id": str, "label": int, "labeled_at": str, "source": str}
_ARROW_TYPES = {"inference_id": pa.string(), "label": pa.int64(), "labeled_at": pa.string(), "source": pa.string()}
_JSON_OPTIONS = pa_json.ParseOptions(
    explicit_schema=pa.schema([(name, _ARROW_TYPES[name]) for name in FIELDS]), unexpected_field_behavior="ignore"
)
_LABEL_SET = pa.array(LABELS, pa.int64())
_KINESIS = operator.itemgetter("kinesis")
_DATA = operator.itemgetter("data")
_SEQUENCE = operator.itemgetter("sequenceNumber")
_ARRIVAL = operator.itemgetter("approximateArrivalTimestamp")


@dataclass(frozen=True)
class PoisonRecord:
    """A record that can never be stored, with why; acknowledged, so it never holds back the shard."""

    sequence_number: str
    partition_key: str
    shard_id: str
    approximate_arrival: float  # epoch seconds, as Kinesis stamps it
    reason: str  # `<field>.<what>` or `data.<what>`: the metric's and the quarantine file's key
    detail: str  # the offending value, shortened
    data: str  # the record's bytes as they came (base64), so a fixed producer's records can be replayed

    def as_json(self) -> dict[str, Any]:
        return {
            "sequence_number": self.sequence_number,
            "partition_key": self.partition_key,
            "shard_id": self.shard_id,
            "approximate_arrival": datetime.fromtimestamp(self.approximate_arrival, UTC).isoformat(),
            "reason": self.reason,
            "detail": self.detail,
            "data": self.data,
        }


@dataclass(frozen=True)
class StreamBatch:
    """One Kinesis batch, decided: the good rows (in stream order, duplicates kept), the poison, and where they go:
    `<prefix>/dt=<date>/hour=<hh>/<shard>-<first sequence>.parquet` and the quarantine's `.jsonl` beside it under
    `<quarantine prefix>`. The stream writers' batches (feedback, the decision log) differ only in the prefixes."""

    received: int
    good: pa.Table
    poison: tuple[PoisonRecord, ...]
    shard_id: str
    first_sequence_number: str  # what the handler reports when storing fails: the whole batch is delivered again
    first_arrival: float  # epoch seconds; names the hour partition of the batch's objects

    prefix: ClassVar[str] = PREFIX
    quarantine_prefix: ClassVar[str] = QUARANTINE_PREFIX

    @property
    def reasons(self) -> Counter[str]:
        return Counter(record.reason for record in self.poison)

    def partition(self) -> str:
        """`dt=<date>/hour=<hh>` of the batch's first arrival: stable across redeliveries of the batch, unlike the
        invocation's clock, so a redelivered batch lands on its own key."""
        arrived = datetime.fromtimestamp(self.first_arrival, UTC)
        return f"dt={arrived:%Y-%m-%d}/hour={arrived:%H}"

    def object_name(self) -> str:
        # shard and first sequence number: a batch delivered again after a failed write overwrites itself
        return f"{self.shard_id}-{self.first_sequence_number}"

    @classmethod
    def decided(
        cls, kinesis: Mapping[str, Any], good: pa.Table, ok: npt.NDArray[np.bool_], reasons: Any, detail: Any
    ) -> Self:
        """The batch of `kinesis_columns` whose records `ok` marks good (rows of `good`), the others poison with
        `reasons[i]` and `detail(reason, i)`."""
        poison = tuple(
            PoisonRecord(
                sequence_number=kinesis["sequence_number"][index],
                partition_key=str(kinesis["kinesis"][index].get("partitionKey", "")),
                shard_id=kinesis["shard_id"],
                approximate_arrival=float(kinesis["approximate_arrival"][index]),
                reason=str(reasons[index]),
                detail=detail(str(reasons[index]), index),
                data=kinesis["data"][index],
            )
            for index in np.flatnonzero(~ok).tolist()
        )
        return cls(
            received=len(kinesis["sequence_number"]),
            good=good,
            poison=poison,
            shard_id=kinesis["shard_id"],
            first_sequence_number=kinesis["sequence_number"][0],
            first_arrival=float(kinesis["approximate_arrival"][0]),
        )

    def good_key(self) -> str:
        return f"{self.prefix}/{self.partition()}/{self.object_name()}.parquet"

    def quarantine_key(self) -> str:
        return f"{self.quarantine_prefix}/{self.partition()}/{self.object_name()}.jsonl"


class FeedbackBatch(StreamBatch):
    """A ground-truth batch: `ground-truth/` and `quarantine/ground-truth/`."""


class NotAKinesisBatch(ValueError):
    """The event is not a Kinesis batch (no `Records`, or records without the `kinesis` part)."""


@dataclass(frozen=True)
class _Bulk:
    """The bulk path's result: columns for every record but the suspects, which the record-by-record path decides."""

    columns: dict[str, pa.Array]  # the rows not in `suspect`, in stream order
    suspect: np.ndarray  # per record: left to `_record_columns`
    lines: bytes  # the batch decoded: one line per record (with the separator's and the padding's tabs)
    starts: np.ndarray  # where each record's line starts in `lines`
    stops: np.ndarray  # and where it ends

    def payload(self, row: int) -> bytes:
        return self.lines[int(self.starts[row]) : int(self.stops[row])]


def _bulk_columns(texts: Sequence[str]) -> _Bulk | None:
    """The batch's four fields as Arrow columns, decoded and parsed in bulk; None when the batch cannot even be
    decoded in bulk (then `_record_columns` decodes and parses every record on its own).

    Kinesis pads each record's base64 to whole 4-character groups, so the records joined with a separator group
    decode in one call per 64 KiB stretch: the separator is a newline, padding `=` is swapped for the group that
    decodes to tabs (JSON whitespace), and the result (the stretches joined by the separator's bytes) is
    newline-delimited JSON that Arrow's reader parses straight into typed columns. A line Arrow could accept but
    misplace is set aside first as a suspect: a record not starting with `{` (whitespace alone would give no row,
    two objects two rows), holding a carriage return (a line break to Arrow) or a byte outside ASCII (Arrow does not
    check UTF-8); a newline inside a record makes the lines no longer the records, and the batch goes record by
    record. Arrow refuses a value of the wrong type (a string label, a boolean), a line that is not an object, a key
    given twice: the line it names is set aside too and the rest parsed on, so a few poison records leave the batch
    on this path. One row per line follows from the row counts, which are checked for every stretch."""
    count = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=count)
    if not ((lengths > 0) & (lengths % 4 == 0)).all():
        return None
    ends = np.cumsum(lengths) + np.arange(count) * len(_SEPARATOR)  # where each record ends in the joined text
    # decoded a stretch of records at a time: buffers of the batch's size would each come as fresh memory, whose
    # page faults cost as much as the copying, while stretches reuse the same few (the lines are identical)
    cuts = np.searchsorted(ends, np.arange(_DECODE_CHARS, int(ends[-1]), _DECODE_CHARS), side="right")
    bounds = [0, *np.unique(cuts[(cuts > 0) & (cuts < count)]).tolist(), count]
    pieces = []
    for first, stop in itertools.pairwise(bounds):
        lines_of = _decode_stretch(texts[first:stop], ends[first:stop] - (ends[first] - lengths[first]))
        if lines_of is None:
            return None
        pieces.append(lines_of)
    lines = _SEPARATOR_BYTES.join(pieces)
    del pieces
    if lines.count(b"\n") != count - 1:
        return None
    starts = (ends - lengths) // 4 * 3  # each line's first byte
    stops = np.append(starts[1:] - len(_SEPARATOR) // 4 * 3, len(lines))  # and where it ends, before the separator
    data = np.frombuffer(lines, dtype=np.uint8)
    suspect = data[starts] != _OPEN_BRACE
    if lines.find(b"\r") >= 0:  # rare: a memchr over the batch spares the mask over every byte
        returns = np.flatnonzero(data == _CARRIAGE_RETURN)
        suspect[np.searchsorted(starts, returns, side="right") - 1] = True
    if not lines.isascii():  # rare too, and a word-at-a-time scan
        # Arrow's reader takes a string's bytes unchecked: a record holding non-ASCII bytes is decided alone, by a
        # parser that refuses invalid UTF-8 (which would otherwise reach the Parquet object or fail the batch)
        high = np.flatnonzero(data >= _NON_ASCII)
        suspect[np.searchsorted(starts, high, side="right") - 1] = True
    parsed = _parse_stretches(memoryview(lines), starts, stops, suspect)
    if parsed is None:
        return None
    tables, suspect = parsed
    if tables:
        table = pa.concat_tables(tables)
        columns = {name: table.column(name).combine_chunks() for name in FIELDS}
    else:
        columns = {name: pa.array([], _ARROW_TYPES[name]) for name in FIELDS}
    return _Bulk(columns=columns, suspect=suspect, lines=lines, starts=starts, stops=stops)


def _decode_stretch(texts: Sequence[str], ends: np.ndarray) -> bytes | None:
    """Records' base64 joined by the separator and decoded in one call, each record's padding swapped for tabs
    (`ends`: where each record ends in the joined text); None when a record is not strict base64."""
    text = bytearray(_SEPARATOR.join(texts), "ascii", "replace")  # a non-ASCII character: one "?", not base64
    chars = np.frombuffer(text, dtype=np.uint8)  # a writable view: the padding is swapped in place
    last = ends - 1
    last = last[chars[last] == _PAD]
    second = last - 1
    second = second[chars[second] == _PAD]
    chars[last] = _TAB_LAST  # "=" -> one tab, "==" -> two
    chars[second] = _TAB_SECOND
    # any other `=` is followed by a base64 character (the text's last one is never `=` now), which strict mode
    # refuses as data after padding: such a batch goes record by record
    try:
        return _strict_base64(text)
    except (binascii.Error, ValueError):
        return None


def _parse_stretches(
    lines: memoryview, starts: np.ndarray, stops: np.ndarray, suspect: np.ndarray
) -> tuple[list[pa.Table], np.ndarray] | None:
    """Arrow tables of every stretch of lines between the suspects, in order, and the suspects with the lines Arrow
    refused added; None when Arrow refuses without naming a line, or refuses too many (the record-by-record path is
    cheaper then)."""
    count = starts.size
    suspect = suspect.copy()
    setting_aside = sorted(np.flatnonzero(suspect).tolist())
    budget = max(_MIN_REFUSALS, count // 20)
    tables: list[pa.Table] = []
    row = 0
    while row < count:
        if suspect[row]:
            row += 1
            continue
        following = bisect.bisect_right(setting_aside, row)
        stop = setting_aside[following] if following < len(setting_aside) else count  # the stretch is [row, stop)
        table, refused = _read_lines(lines[starts[row] : stops[stop - 1]])
        if table is not None:
            if table.num_rows != stop - row:
                return None
            tables.append(table)
            row = stop
            continue
        budget -= 1
        if refused is None or budget < 0 or not 0 <= refused < stop - row:
            return None
        bad = row + refused
        if bad > row:  # the lines before the refused one parse: Arrow stopped at the first it refused
            table, _ = _read_lines(lines[starts[row] : stops[bad - 1]])
            if table is None or table.num_rows != bad - row:
                return None
            tables.append(table)
        suspect[bad] = True
        bisect.insort(setting_aside, bad)
        row = bad + 1
    return tables, suspect


def _read_lines(lines: memoryview) -> tuple[pa.Table | None, int | None]:
    """Arrow's parse of newline-delimited JSON: `(table, None)`, or `(None, the row it refused)` (None when its
    message names no row: a number that does not fit, for one)."""
    # one block, one thread: a Lambda of this size has about one vCPU, and threads only contend for it
    read = pa_json.ReadOptions(use_threads=False, block_size=len(lines) + 1)
    try:
        return pa_json.read_json(
            pa.BufferReader(pa.py_buffer(lines)), read_options=read, parse_options=_JSON_OPTIONS
        ), None
    except pa.ArrowInvalid as error:
        named = _ARROW_ROW.search(str(error))
        return None, int(named.group(1)) if named else None


def _decode_one(text: Any) -> bytes | None:
    try:
        return _strict_base64(text)
    except (binascii.Error, TypeError, ValueError):
        return None


def _parse_one(payload: bytes | None, parse: Callable[[bytes], Any]) -> Any:
    if payload is None:
        return _NOT_JSON
    try:
        return parse(payload)
    except ValueError:
        return _NOT_JSON


def _types(column: Sequence[Any]) -> np.ndarray:
    return np.fromiter(map(type, column), dtype=object, count=len(column))


def _type_is(kinds: np.ndarray, wanted: type) -> np.ndarray:
    """Which entries of an array of types are exactly `wanted` (so bool is not int)."""
    boxed = np.empty((), dtype=object)
    boxed[()] = wanted
    return np.asarray(kinds == boxed, dtype=bool)


def _objects(column: Sequence[Any]) -> np.ndarray:
    """A 1-d object array of the values as they are (np.asarray would make a 2-d array of equal-length lists)."""
    return np.fromiter(column, dtype=object, count=len(column))


@dataclass(frozen=True)
class _RecordColumns:
    """The slow path's result: the columns, and what went wrong per record before any value could be checked."""

    columns: dict[str, pa.Array]
    masks: dict[str, np.ndarray]  # reason -> records it applies to
    payloads: list[bytes | None]
    values: dict[str, list[Any]]  # each field's value as parsed, for the poison's detail


def _record_columns(texts: Sequence[str], decoded: list[bytes] | None) -> _RecordColumns:
    """Record by record: each record's JSON parsed on its own (one bad record never shifts another), its base64 too
    unless the bulk decode already split the batch into records (`decoded`: a record's bytes there may carry the
    separator's and the padding's tabs, which JSON ignores), then the fields pulled into columns; a value of the
    wrong type is null in its column and flagged in `masks`."""
    # pydantic-core's JSON parser (a Rust one, twice json's speed), imported only by a batch that needs it
    from pydantic_core import from_json

    count = len(texts)
    payloads: list[bytes | None] = list(map(_decode_one, texts)) if decoded is None else list(decoded)
    parsed = [_parse_one(payload, from_json) for payload in payloads]
    kinds = _types(parsed)
    not_object = ~_type_is(kinds, dict)
    objects: list[Any] = [value if type(value) is dict else {} for value in parsed] if not_object.any() else parsed
    values = {name: list(map(dict.get, objects, itertools.repeat(name, count))) for name in FIELDS}
    masks = {
        "data.not_base64": _type_is(_types(payloads), type(None)),
        "data.not_json": _type_is(kinds, _NotJson),
        "record.not_object": not_object,
    }
    columns: dict[str, pa.Array] = {}
    for name, column in values.items():
        types = _types(column)
        # bool is not int here: JSON true is the wrong type for a label, not 1
        right = _type_is(types, _FIELD_TYPES[name])
        masks[f"{name}.wrong_type"] = ~right & ~_type_is(types, type(None))
        try:
            columns[name] = pa.array(np.where(right, _objects(column), _NULL), type=_ARROW_TYPES[name])
        except OverflowError:
            # an integer too large for int64 has the wrong type too (Arrow's bulk reader refuses it as well)
            big = right & np.fromiter(
                (type(v) is int and not -(2**63) <= v < 2**63 for v in column), dtype=bool, count=count
            )
            masks[f"{name}.wrong_type"] |= big
            right &= ~big
            columns[name] = pa.array(np.where(right, _objects(column), _NULL), type=_ARROW_TYPES[name])
    return _RecordColumns(columns=columns, masks=masks, payloads=payloads, values=values)


def _interleave(bulk: pa.Array, alone: pa.Array, suspect: np.ndarray) -> pa.Array:
    """One column in stream order from the bulk path's rows and the rows decided record by record (`suspect`)."""
    order = np.empty(suspect.size, dtype=np.int64)
    order[~suspect] = np.arange(len(bulk))
    order[suspect] = len(bulk) + np.arange(int(suspect.sum()))
    return pa.concat_arrays([bulk, alone]).take(pa.array(order))


def _spread(mask: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """A mask over the rows decided record by record, as a mask over the whole batch."""
    whole = np.zeros(count, dtype=bool)
    whole[rows] = mask
    return whole


def _first_reason(checks: Sequence[tuple[str, np.ndarray]], count: int) -> np.ndarray:
    """Per record, the first check (in contract order) that it fails, or "" when it passes them all."""
    reasons = np.full(count, "", dtype=object)
    undecided = np.ones(count, dtype=bool)
    for reason, failed in checks:
        hit = failed & undecided
        reasons[hit] = reason
        undecided &= ~hit
    return reasons


def _parse_timestamps(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """ISO 8601 strings with a zone, as UTC microseconds: `(timestamps, ok)`; a string that looks right but is no
    date (February 30th) is not ok. The batch is cast at once; only a batch holding such a date is cast one by one."""
    shaped = pc.fill_null(pc.match_substring_regex(texts, _TIMESTAMP), False)
    candidates = pc.if_else(shaped, texts, pa.scalar(None, pa.string()))
    try:
        return pc.cast(candidates, _TIMESTAMP_TYPE), _numpy(shaped)
    except pa.ArrowInvalid:
        pass
    stamps: list[Any] = []
    for text in candidates.to_pylist():
        try:
            stamps.append(None if text is None else pc.cast(pa.scalar(text), _TIMESTAMP_TYPE).value)
        except pa.ArrowInvalid:
            stamps.append(None)
    timestamps = pa.array(stamps, type=_TIMESTAMP_TYPE)
    return timestamps, _numpy(timestamps.is_valid())


def _numpy(mask: pa.Array) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _shorten(value: Any) -> str:
    """The value as JSON (a string label shows its quotes), cut to a readable length."""
    return _cut(json.dumps(value, default=str))


def _cut(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kinesis_columns(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parts of AWS's Kinesis→Lambda records this module reads, as columns (events/kinesis_ground_truth.json).
    A batch comes from one shard (AWS invokes per shard), named by the first record's eventID."""
    try:
        kinesis = list(map(_KINESIS, records))
        return {
            "data": list(map(_DATA, kinesis)),
            "sequence_number": list(map(_SEQUENCE, kinesis)),
            "kinesis": kinesis,  # the rest, read for poison records only
            "approximate_arrival": np.fromiter(map(_ARRIVAL, kinesis), dtype=np.float64, count=len(kinesis)),
            "shard_id": str(records[0].get("eventID", "")).split(":", 1)[0],  # `<shard id>:<sequence number>`
        }
    except (KeyError, TypeError, ValueError) as error:
        raise NotAKinesisBatch(f"a record without the Kinesis part {error}: not a Kinesis batch") from None


def decide_batch(records: Sequence[Mapping[str, Any]], sources: Iterable[str] = SOURCES) -> FeedbackBatch:
    """The batch split into good rows and poison, every check an array operation over the whole batch."""
    if not records:
        raise NotAKinesisBatch("an empty batch: Kinesis never invokes a function with no records")
    kinesis = kinesis_columns(records)
    count = len(records)
    texts = kinesis["data"]
    bulk = _bulk_columns(texts)
    if bulk is None:
        rows = np.arange(count)
        record: _RecordColumns | None = _record_columns(texts, None)
    else:
        rows = np.flatnonzero(bulk.suspect)
        alone = rows.tolist()
        record = _record_columns([texts[i] for i in alone], [bulk.payload(i) for i in alone]) if alone else None
    if record is None:
        assert bulk is not None
        columns, masks = bulk.columns, {}
    elif bulk is None:
        columns, masks = record.columns, record.masks
    else:
        columns = {name: _interleave(bulk.columns[name], record.columns[name], bulk.suspect) for name in FIELDS}
        masks = {reason: _spread(mask, rows, count) for reason, mask in record.masks.items()}
    decided_alone = {index: position for position, index in enumerate(rows.tolist())}
    no_record = np.zeros(count, dtype=bool)

    ids, labels, stamp_texts, source_texts = (columns[name] for name in FIELDS)
    id_lengths = pc.fill_null(pc.utf8_length(ids), 0).to_numpy(zero_copy_only=False)
    stamps, stamp_ok = _parse_timestamps(stamp_texts)
    arrival_us = (kinesis["approximate_arrival"] * 1e6).astype(np.int64)
    stamp_us = pc.fill_null(stamps.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    source_set = pa.array(list(sources), pa.string())

    checks: list[tuple[str, np.ndarray]] = [
        (reason, masks.get(reason, no_record)) for reason in ("data.not_base64", "data.not_json", "record.not_object")
    ]
    for name in FIELDS:
        checks.append((f"{name}.wrong_type", masks.get(f"{name}.wrong_type", no_record)))
        checks.append((f"{name}.missing", _numpy(columns[name].is_null())))
    checks += [
        ("inference_id.invalid", (id_lengths < 1) | (id_lengths > MAX_INFERENCE_ID)),
        ("label.unknown_value", ~_numpy(pc.fill_null(pc.is_in(labels, value_set=_LABEL_SET), False))),
        ("labeled_at.invalid", ~stamp_ok),
        ("labeled_at.future", stamp_ok & (stamp_us > arrival_us + int(FUTURE_TOLERANCE_S * 1e6))),
        ("source.unknown", ~_numpy(pc.fill_null(pc.is_in(source_texts, value_set=source_set), False))),
    ]
    good = ~np.logical_or.reduce([failed for _, failed in checks])
    everyone = bool(good.all())
    # which check a record fails first matters for the poison alone: a clean batch names no reasons
    reasons = np.full(count, "", dtype=object) if everyone else _first_reason(checks, count)
    mask = pa.array(good)

    def kept(column: pa.Array) -> pa.Array:
        # a clean batch (the usual one) keeps every row: its columns go to the table uncopied
        return column if everyone else column.filter(mask)

    table = pa.table(
        {
            "inference_id": kept(ids),
            "label": kept(labels).cast(pa.int8()),
            "labeled_at": kept(stamps),
            "source": kept(source_texts),
            "shard_id": pa.repeat(pa.scalar(kinesis["shard_id"], pa.string()), int(good.sum())),
            "sequence_number": kept(pa.array(kinesis["sequence_number"], pa.string())),
            "approximate_arrival": kept(pa.array(arrival_us, pa.int64()).cast(_TIMESTAMP_TYPE)),
        },
        schema=SCHEMA,
    )

    def detail(reason: str, index: int) -> str:
        name = reason.split(".", 1)[0]
        position = decided_alone.get(index)
        if name == "data" or reason == "record.not_object":
            payload = record.payloads[position] if record is not None and position is not None else None
            return "not base64" if payload is None else _cut(payload.strip(b"\t").decode("utf-8", "replace"))
        if reason.endswith(".missing"):
            return f"no value for {name}"
        if record is not None and position is not None:
            return _shorten(record.values[name][position])
        return _shorten(columns[name][index].as_py())

    return FeedbackBatch.decided(kinesis, table, good, reasons, detail)


def parquet_bytes(table: pa.Table) -> bytes:
    """The good rows as one Parquet object, each column written the cheapest way that keeps it small: dictionaries
    for the few-valued columns only (an inference id or sequence number never repeats, and building their
    dictionaries doubled the write); snappy only where it pays (an id's hex digits leave it about a tenth, at half
    the write's time); sequence numbers as deltas of their shared prefix and the times as deltas, which shrink them
    more than snappy does and need no codec; statistics on the times a reader prunes by (bench/feedback_capture.py,
    docs/feedback.md)."""
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression=_PARQUET_CODECS,
        use_dictionary=["source", "shard_id"],
        column_encoding=_PARQUET_ENCODINGS,
        write_statistics=["labeled_at", "approximate_arrival"],
    )
    return sink.getvalue()


def quarantine_lines(poison: Sequence[PoisonRecord]) -> bytes:
    """The poison records as JSON lines, one per record with its reason: readable with `aws s3 cp - | jq`."""
    return "".join(json.dumps(record.as_json(), sort_keys=True) + "\n" for record in poison).encode("utf-8")
