"""The retraining dataset (issue 11 §4): production's logged orders joined with their latest ground-truth label,
together with the most recent accepted dataset, as one table in the ORDERS contract's columns, so the normal training
pipeline (validation, training, gate) runs on it under `datasets/<dataset>/<date>/retrain-<id>.parquet`.

Plain pyarrow over tables the caller read: the decision log's Parquet objects (`cd4ml_shared.decision_log`), the
ground truth's (`cd4ml_shared.feedback`), and the accepted dataset. Nothing here calls AWS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .contract import ORDERS, DatasetContract
from .data_quality import ARROW_TYPES
from .monitoring_join import latest_labels
from .retraining import RETRAIN_FILE_PREFIX


class RetrainingDataError(ValueError):
    """A table that cannot take part in a retraining dataset: `column` names the column at fault."""

    def __init__(self, table: str, column: str, problem: str) -> None:
        super().__init__(f"{table}: column {column!r} {problem}")
        self.table = table
        self.column = column


def contract_schema(contract: DatasetContract = ORDERS) -> pa.Schema:
    """The contract's columns, in order, in their Arrow types (what the generator writes and validation reads)."""
    return pa.schema([pa.field(column.name, ARROW_TYPES[column.dtype]) for column in contract.columns])


def _conformed(table: pa.Table, name: str, contract: DatasetContract) -> pa.Table:
    """`table` in exactly the contract's columns and types; a missing column, or one whose values do not convert
    safely (text for a number, a float with a fraction for an int), is a RetrainingDataError naming it."""
    columns = []
    for target in contract_schema(contract):
        if target.name not in table.column_names:
            raise RetrainingDataError(name, target.name, "is missing")
        data = table.column(target.name)
        if data.type != target.type:
            try:
                data = data.cast(target.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise RetrainingDataError(
                    name, target.name, f"is {data.type}, the contract's type is {target.type}: {error}"
                ) from None
        columns.append(data)
    return pa.Table.from_arrays(columns, schema=contract_schema(contract))


def _in_time_order(table: pa.Table, contract: DatasetContract) -> pa.Table:
    # the order id breaks ties, so the same rows always come out in the same order
    keys = [(contract.timestamp.name, "ascending"), (contract.key.name, "ascending")]
    return table.take(pc.sort_indices(table, sort_keys=keys))


def _first_per_key(table: pa.Table, key: str) -> pa.Table:
    """The first row of each run of equal keys in a table sorted by `key`."""
    if table.num_rows <= 1:
        return table
    ids = table.column(key).combine_chunks()
    changed = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    return table.filter(pa.concat_arrays([pa.array([True]), changed]))


def labelled_orders(decision_log: pa.Table, labels: pa.Table, contract: DatasetContract = ORDERS) -> pa.Table:
    """The logged orders that have a label, each with its latest one (`monitoring_join.latest_labels` on the
    ground-truth rows), one row per order id, in time order and in exactly the contract's columns and types.

    A decision logged twice (an event delivered twice, or a retry that raced its first attempt and got a second
    inference id) counts once: of an order's labelled rows the latest label wins, then the earliest decision."""
    key, label = contract.key.name, contract.label.name
    raw = [column.name for column in contract.columns if column.role != "label"]
    for needed in ("inference_id", "decided_at", *raw):
        if needed not in decision_log.column_names:
            raise RetrainingDataError("decision log", needed, "is missing")
    for needed in ("inference_id", "label", "labeled_at"):
        if needed not in labels.column_names:
            raise RetrainingDataError("ground truth", needed, "is missing")
    latest = latest_labels(labels).select(["inference_id", "label", "labeled_at"])
    joined = decision_log.select(["inference_id", "decided_at", *raw]).join(
        latest, "inference_id", join_type="inner", use_threads=False
    )
    ordered = joined.take(
        pc.sort_indices(
            joined,
            sort_keys=[(key, "ascending"), ("labeled_at", "descending"), ("decided_at", "ascending")],
        )
    )
    kept = _first_per_key(ordered, key)
    kept = kept.append_column(label, kept.column("label").cast(ARROW_TYPES[contract.label.dtype]))
    return _in_time_order(_conformed(kept, "decision log", contract), contract)


def distinct_orders(decision_log: pa.Table, contract: DatasetContract = ORDERS) -> int:
    """How many orders the log holds (a decision logged twice counts once)."""
    return int(pc.count_distinct(decision_log.column(contract.key.name)).as_py())


def retraining_dataset(accepted: pa.Table, production: pa.Table, contract: DatasetContract = ORDERS) -> pa.Table:
    """The accepted dataset and production's labelled orders as one table in time order, in the contract's columns;
    an order id in both keeps the production row (its label is the later truth). Each table's schema is checked
    against the contract first (RetrainingDataError naming the table and the column)."""
    key = contract.key.name
    accepted = _conformed(accepted, "accepted dataset", contract)
    production = _conformed(production, "production orders", contract)
    superseded = pc.is_in(accepted.column(key), value_set=production.column(key).combine_chunks())
    kept = accepted.filter(pc.invert(superseded))
    return _in_time_order(pa.concat_tables([kept, production]), contract)


def retraining_key(dataset: str, date: str, request_id: str) -> str:
    """Where the dataset is written in the raw bucket, so its upload starts the training pipeline as any upload."""
    return f"datasets/{dataset}/{date}/{RETRAIN_FILE_PREFIX}{request_id}.parquet"


@dataclass(frozen=True)
class RetrainingLineage:
    """Where a retraining dataset came from: the request that asked for it, the windows of production data, the
    accepted dataset it extends, and how much production data had its label."""

    request_id: str
    reason: str
    episode: str | None
    windows: Sequence[str]  # each `<start>/<end>` in ISO 8601 (an interval as ISO 8601 writes one)
    source_dataset_uri: str
    production_rows: int  # labelled production orders in the dataset
    unlabelled_dropped: int  # logged orders left out for lack of a label
    labelled_share: float = field(init=False)

    def __post_init__(self) -> None:
        if self.production_rows < 0 or self.unlabelled_dropped < 0:
            raise ValueError(
                f"row counts must be >= 0, got production_rows={self.production_rows}, "
                f"unlabelled_dropped={self.unlabelled_dropped}"
            )
        logged = self.production_rows + self.unlabelled_dropped
        object.__setattr__(self, "labelled_share", self.production_rows / logged if logged else 0.0)
        object.__setattr__(self, "windows", tuple(self.windows))

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["windows"] = list(self.windows)
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_metadata(self) -> dict[str, str]:
        """S3 user metadata (x-amz-meta-*): text values, lower-case hyphenated keys; the windows as JSON."""
        return {
            "retraining-request-id": self.request_id,
            "retraining-reason": self.reason,
            "retraining-episode": self.episode or "",
            "retraining-windows": json.dumps(list(self.windows), separators=(",", ":")),
            "source-dataset": self.source_dataset_uri,
            "production-rows": str(self.production_rows),
            "unlabelled-dropped": str(self.unlabelled_dropped),
            "labelled-share": f"{self.labelled_share:.6f}",
        }

    @classmethod
    def of(
        cls,
        *,
        request_id: str,
        reason: str,
        episode: str | None,
        windows: Sequence[str],
        source_dataset_uri: str,
        decision_log: pa.Table,
        production: pa.Table,
        contract: DatasetContract = ORDERS,
    ) -> RetrainingLineage:
        """The lineage of a dataset built from `decision_log` (all logged rows of the windows) and `production`
        (its labelled orders, `labelled_orders`)."""
        logged = distinct_orders(decision_log, contract)
        return cls(
            request_id=request_id,
            reason=reason,
            episode=episode,
            windows=windows,
            source_dataset_uri=source_dataset_uri,
            production_rows=production.num_rows,
            unlabelled_dropped=logged - production.num_rows,
        )
