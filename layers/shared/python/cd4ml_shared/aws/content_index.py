"""The content index on S3: after validation, whether an earlier registered run trained the same content (and
whether the upload asks for a rerun anyway); after registration, the run indexed under its content's digest.
Decisions and names are `cd4ml_shared.content_index`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..content_index import content_digest, content_identity, index_entry, index_key, rerun_requested
from .client_errors import error_code


def upload_metadata(s3: Any, dataset: Mapping[str, Any]) -> dict[str, str]:
    """The user metadata of exactly the uploaded version (`x-amz-meta-*`, keys in lower case)."""
    request = {"Bucket": dataset["bucket"], "Key": dataset["key"]}
    if dataset.get("version_id"):
        request["VersionId"] = dataset["version_id"]
    metadata: dict[str, str] = s3.head_object(**request).get("Metadata") or {}
    return metadata


def find_earlier_run(
    s3: Any,
    *,
    artifacts_bucket: str,
    dataset: Mapping[str, Any],
    sha256: str,
    code_version: str,
    hyperparameters: Mapping[str, Any],
) -> dict[str, Any]:
    """The `content` of a run: its identity, digest and index key, and the earlier registered run of the same
    content (None when there is none, or when the upload's metadata `cd4ml-rerun=true` asks to train again)."""
    identity = content_identity(sha256=sha256, code_version=code_version, hyperparameters=hyperparameters)
    digest = content_digest(identity)
    key = index_key(digest)
    content: dict[str, Any] = {"digest": digest, "index_key": key, "identity": identity, "earlier": None}
    content["rerun"] = rerun_requested(upload_metadata(s3, dataset))
    if content["rerun"]:
        return content
    try:
        body = s3.get_object(Bucket=artifacts_bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) == "NoSuchKey":
            return content
        raise
    content["earlier"] = json.loads(body)
    return content


def index_registered_run(s3: Any, state: Mapping[str, Any], *, execution_arn: str, now: datetime) -> str | None:
    """Index a registered run under its content's digest (the newest registration of a content wins: a forced
    rerun is what later duplicates point at). None when the run has no content digest (started before the index)."""
    digest = (state.get("content") or {}).get("digest")
    if not isinstance(digest, str) or not digest:
        return None
    key = index_key(digest)  # named from the digest, never a key the payload gives
    entry = index_entry(state, execution_arn=execution_arn, now=now)
    s3.put_object(
        Bucket=state["artifacts_bucket"],
        Key=key,
        Body=json.dumps(entry, sort_keys=True, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
    return f"s3://{state['artifacts_bucket']}/{key}"
