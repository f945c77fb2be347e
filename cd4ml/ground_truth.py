"""Putting ground-truth labels on the stack's stream as a labelling system does (docs/feedback.md): records of
`{inference_id, label, labeled_at, source}`, 500 per PutRecords, the records Kinesis refuses (throttled shards) put
again with backoff, so none is lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BATCH = 500  # PutRecords' most records per call
ATTEMPTS = 8


class LabelsNotPut(Exception):
    """Kinesis kept refusing some records after every attempt; the message names how many and the last error."""


@dataclass(frozen=True)
class Label:
    inference_id: str
    label: int
    labeled_at: datetime
    source: str = "chargeback"

    def record(self) -> dict[str, Any]:
        body = {
            "inference_id": self.inference_id,
            "label": self.label,
            "labeled_at": self.labeled_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "source": self.source,
        }
        return {"Data": json.dumps(body).encode("utf-8"), "PartitionKey": self.inference_id}


def put_labels(kinesis: Any, stream: str, labels: Iterable[Label], *, sleep: Any = time.sleep) -> int:
    """Put every label on `stream`; returns how many were put. `LabelsNotPut` when some stay refused."""
    records = [label.record() for label in labels]
    for start in range(0, len(records), BATCH):
        _put_batch(kinesis, stream, records[start : start + BATCH], sleep)
    return len(records)


def _put_batch(kinesis: Any, stream: str, records: Sequence[dict[str, Any]], sleep: Any) -> None:
    pending = list(records)
    last_error = ""
    for attempt in range(ATTEMPTS):
        answer = kinesis.put_records(StreamName=stream, Records=pending)
        if not answer.get("FailedRecordCount"):
            return
        refused = [
            (record, result) for record, result in zip(pending, answer["Records"], strict=True) if "ErrorCode" in result
        ]
        last_error = f"{refused[0][1]['ErrorCode']}: {refused[0][1].get('ErrorMessage', '')}"
        pending = [record for record, _ in refused]
        sleep(min(0.1 * 2**attempt, 5.0))
    raise LabelsNotPut(f"{len(pending)} of {len(records)} labels refused after {ATTEMPTS} attempts ({last_error})")
