"""S3's EventBridge notification (Object Created, Object Deleted...) in the shape AWS documents."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any


def s3_object_event(account_id: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any]:
    """The detail of S3's EventBridge notification, as AWS documents it (Object Created / Deleted...)."""
    from moto.s3.notifications import _detail_type

    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": {
            "key": key.name,
            "size": key.size,
            "etag": key.etag.replace('"', ""),
            "sequencer": _sequencer(),
        },
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
        "reason": "PutObject" if event_name.endswith(":Put") else event_name.split(":", 2)[-1],
    }
    if getattr(key, "version_id", None) and key.version_id != "null":
        detail["object"]["version-id"] = key.version_id
    if "ObjectRemoved" in event_name:
        detail["deletion-type"] = "Permanently Deleted"
        detail["reason"] = "DeleteObject"
    return {
        "detail-type": _detail_type(event_name),
        "detail": detail,
        "resources": [f"arn:aws:s3:::{bucket.name}"],
    }


def has_tags(account_id: str, key: Any) -> bool:
    from moto.s3.models import s3_backends

    try:
        backend = s3_backends[account_id]["aws"]
        return bool(backend.tagger.list_tags_for_resource(key.arn).get("Tags"))
    except Exception:
        return True


_sequence = [0]
_sequence_lock = threading.Lock()


def _sequencer() -> str:
    with _sequence_lock:
        _sequence[0] += 1
        return f"{int(time.time() * 1000):012X}{_sequence[0]:04X}"
