"""Data capture: which requests are captured, the JSON Lines record SageMaker writes for each, the S3 object it lands
in, and the buffer that batches records into capture files."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cd4ml_shared.s3_uri import parse_s3_uri


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def capture_encoding(content_type: str | None, header: Mapping[str, Any] | None) -> str:
    """CSV or JSON for the content types CaptureContentTypeHeader lists; BASE64 otherwise (AWS's default)."""
    media = _media_type(content_type)
    if header:
        if media in {_media_type(t) for t in header.get("CsvContentTypes") or []}:
            return "CSV"
        if media in {_media_type(t) for t in header.get("JsonContentTypes") or []}:
            return "JSON"
    return "BASE64"


def capture_payload(mode: str, data: bytes, content_type: str, header: Mapping[str, Any] | None) -> dict[str, str]:
    encoding = capture_encoding(content_type, header)
    text: str | None = None
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if text is None:
        text = base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def capture_record(
    config: Mapping[str, Any],
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    event_id: str,
    when: datetime,
    inference_id: str | None = None,
) -> dict[str, Any]:
    """One line of a data-capture file, in SageMaker's format (eventVersion 0)."""
    modes = {option.get("CaptureMode") for option in config.get("CaptureOptions") or []}
    header = config.get("CaptureContentTypeHeader")
    captured: dict[str, Any] = {}
    if modes & {"Input", "InputAndOutput"}:
        captured["endpointInput"] = capture_payload("INPUT", request[0], request[1], header)
    if modes & {"Output", "InputAndOutput"}:
        captured["endpointOutput"] = capture_payload("OUTPUT", response[0], response[1], header)
    metadata = {"eventId": event_id, "inferenceTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {"captureData": captured, "eventMetadata": metadata, "eventVersion": "0"}


def capture_object(destination: str, endpoint: str, variant: str, when: datetime, unique: str) -> tuple[str, str]:
    """Bucket and key of a capture file: <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/mm-ss-mmm-<uuid>.jsonl."""
    bucket, prefix = parse_s3_uri(destination, key_required=False)
    when = when.astimezone(UTC)
    name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{unique}.jsonl"
    parts = [p for p in (prefix.strip("/"), endpoint, variant, f"{when:%Y/%m/%d/%H}", name) if p]
    return bucket, "/".join(parts)


def should_capture(config: Mapping[str, Any] | None, draw: float) -> bool:
    """Whether a request is sampled for capture; `draw` is uniform in [0, 1)."""
    if not config or not config.get("DestinationS3Uri") or config.get("EnableCapture") is False:
        return False
    return draw * 100.0 < float(config.get("InitialSamplingPercentage", 0))


def capture_summary(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig (a summary, not the endpoint config's input shape)."""
    if not config or not config.get("DestinationS3Uri"):
        return None
    enabled = config.get("EnableCapture") is not False
    summary = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": int(config.get("InitialSamplingPercentage", 0)),
        "DestinationS3Uri": config["DestinationS3Uri"],
    }
    if config.get("KmsKeyId"):
        summary["KmsKeyId"] = config["KmsKeyId"]
    return summary


class CaptureBuffer:
    """Captured records buffered per file (destination, endpoint, variant, hour); written as small JSONL files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str, str, str], tuple[datetime, float, list[str]]] = {}

    def add(self, destination: str, endpoint: str, variant: str, when: datetime, record: dict[str, Any]) -> None:
        key = (destination, endpoint, variant, f"{when.astimezone(UTC):%Y%m%d%H}")
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._files.setdefault(key, (when, time.monotonic(), []))[2].append(line)

    def take(self, older_than_s: float | None, max_records: int) -> list[tuple[str, str, bytes]]:
        """The files to write: all of them (None), or those buffered that long or grown that big."""
        now = time.monotonic()
        with self._lock:
            ready = [
                key
                for key, (_, since, lines) in self._files.items()
                if older_than_s is None or now - since >= older_than_s or len(lines) >= max_records
            ]
            taken = [(key, self._files.pop(key)) for key in ready]
        files = []
        for (destination, endpoint, variant, _), (first, _, lines) in taken:
            bucket, object_key = capture_object(destination, endpoint, variant, first, str(uuid.uuid4()))
            files.append((bucket, object_key, ("\n".join(lines) + "\n").encode("utf-8")))
        return files
