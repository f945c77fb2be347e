"""What the starters of the training and scoring runs check of an S3 `Object Created` event (through EventBridge)
before they start anything: its shape, and that it comes from the stack's raw-data bucket. Plain values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .payload import PayloadKind

# What an S3 `Object Created` event through EventBridge must carry (events/s3_object_created.json)
UPLOAD_FIELDS: dict[str, PayloadKind] = {
    "source": "string",
    "detail-type": "string",
    "detail.bucket.name": "string",
    "detail.object.key": "string",
}


def foreign_bucket(detail: Mapping[str, Any], raw_data_bucket: str) -> str | None:
    """Why an upload is ignored when it is not in the stack's raw-data bucket (a rule edited by hand, or a PutEvents
    that imitates S3, must not start runs on data nobody validated the source of); None for the raw-data bucket."""
    bucket = (detail.get("bucket") or {}).get("name")
    return None if bucket == raw_data_bucket else f"bucket {bucket!r} is not the raw-data bucket"
