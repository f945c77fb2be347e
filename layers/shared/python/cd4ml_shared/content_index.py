"""Whether a run would train what an earlier run already trained: the same dataset bytes, with the same model code
and hyperparameters. A registered run is indexed under the digest of those three
(`index/content/<digest>.json` in the artifacts bucket); a later run of the same content ends at once, pointing at
the earlier run and its model package, unless the upload asks for a rerun. Plain values; S3 is `aws.content_index`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .layout import RunLayout

INDEX_PREFIX = "index/content/"
# `aws s3 cp ... --metadata cd4ml-rerun=true`: S3 keeps user metadata keys in lower case.
RERUN_METADATA = "cd4ml-rerun"


def content_identity(*, sha256: str, code_version: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"sha256": sha256, "code_version": code_version, "hyperparameters": dict(hyperparameters)}


def content_digest(identity: Mapping[str, Any]) -> str:
    """The digest of a training's identity (canonical JSON: key order and the template's formatting do not
    matter)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def index_key(digest: str) -> str:
    return f"{INDEX_PREFIX}{digest}.json"


def rerun_requested(metadata: Mapping[str, str]) -> bool:
    """The upload's S3 metadata asks to train again even if this content was trained before."""
    return str(metadata.get(RERUN_METADATA, "")).strip().lower() in ("true", "1", "yes")


def index_entry(state: Mapping[str, Any], *, execution_arn: str, now: datetime) -> dict[str, Any]:
    """What the index keeps of a registered run: enough for a duplicate to name it and its model package."""
    content = state.get("content") or {}
    registration = state.get("registration") or {}
    return {
        "run_id": state["run_id"],
        "execution_arn": execution_arn,
        "model_package_arn": registration.get("model_package_arn"),
        "model_package_version": registration.get("version"),
        "outcome_uri": RunLayout(state["artifacts_bucket"], state["run_id"]).uri("outcome.json"),
        "digest": content.get("digest"),
        "identity": content.get("identity"),
        "registered_at": now.isoformat(),
    }
