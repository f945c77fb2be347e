"""The closed loop's join (issue 11 §2, docs/monitoring.md): what the endpoint captured (SageMaker data-capture
JSONL: the request's feature row, the answer's score and version, the inference id and time) joined with the
ground truth that arrived later on the stream (the Parquet objects of `record_feedback`), for one window.

- **Windows honour the label delay**, as Model Monitor's start and end offsets: the window evaluated at `now` is
  `[now - start_offset, now - end_offset)` of inference time, so labels had `end_offset` to arrive at least.
- **Duplicates are resolved here**: several labels for one inference id (at-least-once delivery, a review then a
  chargeback) count once, the one with the latest `labeled_at` (then the latest arrival) winning; a capture record
  delivered twice (the same event id) counts once.
- Captured requests without a label in the window are kept (label null): the label rate, and the label-free
  estimate, need them.

Plain pyarrow over parsed columns; the S3 listing and reads are the caller's. A capture line that does not read
(not JSON, no inference id, an answer that is not a score) is counted by reason, never fatal: one bad record must
not hide a window.
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .monitoring import Window

CAPTURE_SCHEMA = pa.schema(
    [
        pa.field("inference_id", pa.string(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("inference_time", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("model_version", pa.int64()),
        pa.field("features", pa.list_(pa.float64()), nullable=False),
    ]
)


@dataclass(frozen=True)
class Captures:
    """Capture records as columns (CAPTURE_SCHEMA), and the lines that did not read, by reason."""

    table: pa.Table
    unreadable: Counter[str] = field(default_factory=Counter)


def _payload_text(payload: dict) -> str:
    data = payload.get("data")
    if not isinstance(data, str):
        raise ValueError("no data")
    if payload.get("encoding") == "BASE64":
        return base64.b64decode(data, validate=True).decode("utf-8")
    return data


def _features(payload: dict) -> list[float]:
    """The feature row of a request: one CSV row of numbers (an empty cell is missing: NaN)."""
    lines = [line for line in _payload_text(payload).splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"{len(lines)} rows, not one")
    return [float(cell) if cell.strip() else math.nan for cell in lines[0].split(",")]


def _answer(payload: dict) -> tuple[float, int | None]:
    """The score (and the version, when the container reports it) of the model's JSON or CSV answer."""
    text = _payload_text(payload)
    if (payload.get("observedContentType") or "").split(";")[0].strip().lower() == "text/csv":
        rows = [line for line in text.splitlines() if line.strip()]
        if len(rows) != 1:
            raise ValueError(f"{len(rows)} answers, not one")
        return float(rows[0].split(",")[0]), None
    document = json.loads(text)
    predictions = document.get("predictions") if isinstance(document, dict) else None
    if not isinstance(predictions, list) or len(predictions) != 1:
        raise ValueError("not one prediction")
    first = predictions[0]
    score = float(first["score"] if isinstance(first, dict) else first)
    version = document.get("model_version")
    return score, version if isinstance(version, int) and not isinstance(version, bool) else None


def read_captures(lines: Iterable[str | bytes]) -> Captures:
    """Capture JSONL lines (the objects under `capture/<endpoint>/<variant>/...`) as columns. Records without an
    inference id (requests not made by `decide`) cannot meet a label and are counted as `no_inference_id`."""
    columns: dict[str, list] = {name: [] for name in CAPTURE_SCHEMA.names}
    unreadable: Counter[str] = Counter()
    for line in lines:
        if not line or not line.strip():
            continue
        try:
            record = json.loads(line)
            metadata = record["eventMetadata"]
            captured = record["captureData"]
        except (ValueError, KeyError, TypeError):
            unreadable["not_a_capture_record"] += 1
            continue
        inference_id = metadata.get("inferenceId")
        if not isinstance(inference_id, str) or not inference_id:
            unreadable["no_inference_id"] += 1
            continue
        try:
            moment = datetime.fromisoformat(str(metadata["inferenceTime"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            unreadable["no_inference_time"] += 1
            continue
        try:
            features = _features(captured["endpointInput"])
        except (KeyError, ValueError, TypeError, UnicodeDecodeError):
            unreadable["input_not_a_feature_row"] += 1
            continue
        try:
            score, version = _answer(captured["endpointOutput"])
        except (KeyError, ValueError, TypeError, UnicodeDecodeError):
            unreadable["output_not_a_score"] += 1
            continue
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            unreadable["output_not_a_score"] += 1
            continue
        columns["inference_id"].append(inference_id)
        columns["event_id"].append(str(metadata.get("eventId") or inference_id))
        columns["inference_time"].append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        columns["score"].append(score)
        columns["model_version"].append(version)
        columns["features"].append(features)
    return Captures(pa.table(columns, schema=CAPTURE_SCHEMA), unreadable)


def latest_labels(ground_truth: pa.Table) -> pa.Table:
    """One label per inference id: the latest `labeled_at`, then the latest arrival (sequence number within a
    shard is not comparable across shards, so arrival time decides a tie). Columns: inference_id, label,
    labeled_at, source, labels (how many arrived for the id)."""
    if ground_truth.num_rows == 0:
        return pa.table(
            {
                "inference_id": pa.array([], pa.string()),
                "label": pa.array([], pa.int8()),
                "labeled_at": pa.array([], pa.timestamp("us", tz="UTC")),
                "source": pa.array([], pa.string()),
                "labels": pa.array([], pa.int64()),
            }
        )
    keys = [("inference_id", "ascending"), ("labeled_at", "descending")]
    if "approximate_arrival" in ground_truth.column_names:
        keys.append(("approximate_arrival", "descending"))
    ordered = ground_truth.take(pc.sort_indices(ground_truth, sort_keys=keys))
    ids = ordered.column("inference_id")
    first = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)) if len(ids) > 1 else pa.array([], pa.bool_())
    keep = pa.concat_arrays([pa.array([True]), first.combine_chunks() if isinstance(first, pa.ChunkedArray) else first])
    counts = ordered.group_by("inference_id").aggregate([("label", "count")])
    counts = counts.select(["inference_id", "label_count"]).rename_columns(["inference_id", "labels"])
    latest = ordered.filter(keep).select(["inference_id", "label", "labeled_at", "source"])
    return latest.join(counts, "inference_id", join_type="left outer")


@dataclass(frozen=True)
class Joined:
    """A window's captured decisions with their label (null where none arrived yet)."""

    window: Window
    table: pa.Table  # CAPTURE_SCHEMA's columns + label, labeled_at, source, labels
    duplicates_dropped: int  # capture records seen twice (the same event id)

    @property
    def requests(self) -> int:
        return self.table.num_rows

    @property
    def labelled(self) -> int:
        return self.table.num_rows - self.table.column("label").null_count

    @property
    def label_rate(self) -> float:
        return self.labelled / self.requests if self.requests else math.nan


def join_window(captures: pa.Table, ground_truth: pa.Table, window: Window) -> Joined:
    """The window's captured requests (by inference time), each once, with its latest label."""
    start = pa.scalar(window.start, pa.timestamp("s", tz="UTC"))
    end = pa.scalar(window.end, pa.timestamp("s", tz="UTC"))
    times = captures.column("inference_time")
    inside = captures.filter(pc.and_(pc.greater_equal(times, start), pc.less(times, end)))
    unique = _first_per(inside, "event_id")
    labels = latest_labels(ground_truth)
    # a left join by position (Acero's join does not carry list columns such as the features): each request's
    # label row, null where its inference id has none
    at = pc.index_in(unique.column("inference_id"), value_set=labels.column("inference_id").combine_chunks())
    joined = unique
    for name in ("label", "labeled_at", "source", "labels"):
        joined = joined.append_column(name, labels.column(name).take(at))
    joined = joined.sort_by([("inference_time", "ascending"), ("inference_id", "ascending")])
    return Joined(window, joined, inside.num_rows - unique.num_rows)


def _first_per(table: pa.Table, key: str) -> pa.Table:
    if table.num_rows == 0:
        return table
    ordered = table.sort_by([(key, "ascending")])
    values = ordered.column(key).combine_chunks()
    if len(values) == 1:
        return ordered
    changed = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))
    return ordered.filter(pa.concat_arrays([pa.array([True]), changed]))


def capture_prefixes(endpoint: str, window: Window, variant: str = "AllTraffic") -> Sequence[str]:
    """The hourly capture prefixes (`capture/<endpoint>/<variant>/yyyy/mm/dd/hh/`) that can hold the window's
    records: SageMaker names capture files by the hour they were written, which is at or after inference time."""
    hour = window.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = (window.end.astimezone(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour <= last:
        prefixes.append(f"capture/{endpoint}/{variant}/{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


# ---- the rows of the version in service ----------------------------------------------------------------------
@dataclass(frozen=True)
class VersionRows:
    """A window's captured rows answered by the version judged (or by a container that does not say which)."""

    table: pa.Table
    other_versions: dict[str, int]  # rows answered by other versions (a canary's), left out
    wrong_width: int  # rows whose feature vector is not this version's width

    def vectors(self, width: int) -> npt.NDArray[np.float64]:
        if self.table.num_rows == 0:
            return np.empty((0, width))
        flat = pc.list_flatten(self.table.column("features")).to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float64).reshape(self.table.num_rows, width)


def rows_of_version(table: pa.Table, version: int, width: int) -> VersionRows:
    versions = table.column("model_version")
    mine = pc.fill_null(pc.equal(versions, pa.scalar(version, pa.int64())), True)
    other = table.filter(pc.invert(mine))
    others: dict[str, int] = {}
    if other.num_rows:
        counts = other.group_by("model_version").aggregate([("model_version", "count")])
        for value, count in zip(
            counts.column("model_version").to_pylist(), counts.column("model_version_count").to_pylist(), strict=True
        ):
            others[str(value)] = int(count)
    kept = table.filter(mine)
    fits = pc.equal(pc.list_value_length(kept.column("features")), width)
    rows = kept.filter(fits)
    return VersionRows(rows, others, kept.num_rows - rows.num_rows)
