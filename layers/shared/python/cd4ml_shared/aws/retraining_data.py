"""A retraining's S3 and registry side (docs/monitoring.md, "Retraining"): the champion's accepted dataset, the
decision log and the ground truth of the recent span, the dataset written under `datasets/` of the raw bucket (its
upload starts the training pipeline, with its validation and its gate) and the lineage beside it. The joins are
`cd4ml_shared.retraining_data`'s."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from ..contract import ORDERS
from ..data_quality import read_table
from ..decision_log import SCHEMA as DECISION_LOG_SCHEMA
from ..layout import data_format
from ..monitoring import hourly_prefixes
from ..retraining_data import RetrainingLineage, labelled_orders, retraining_dataset, retraining_key
from ..s3_uri import parse_s3_uri
from .client_errors import error_code
from .monitoring import list_keys, read_ground_truth, read_objects
from .registry import latest_approved
from .s3_json import MISSING_KEY


class NoAcceptedDataset(Exception):
    """There is no champion whose dataset a retraining could extend (nothing approved yet, or its lineage names no
    dataset)."""


@dataclass(frozen=True)
class RetrainingSpan:
    since: datetime
    until: datetime

    def name(self) -> str:
        return f"{self.since.isoformat()}/{self.until.isoformat()}"


def lineage_key(group: str, request_id: str) -> str:
    """Where a retraining's lineage is kept in the artifacts bucket (register_model reads it for the version)."""
    return f"retraining/{group}/runs/{request_id}.json"


def champion_dataset(sagemaker: Any, group: str) -> tuple[str, str | None]:
    """The URI and S3 version of the champion's dataset (its lineage): the most recent accepted dataset that a
    version in service was trained on."""
    package = latest_approved(sagemaker, group)
    if package is None:
        raise NoAcceptedDataset(f"group {group} has no approved version: nothing to retrain from")
    metadata = package.get("CustomerMetadataProperties") or {}
    uri = metadata.get("cd4ml:dataset_uri")
    if not uri:
        raise NoAcceptedDataset(f"{package['ModelPackageArn']} names no dataset in its lineage (cd4ml:dataset_uri)")
    return str(uri), metadata.get("cd4ml:dataset_version") or None


def read_dataset(s3: Any, uri: str, version: str | None) -> pa.Table:
    bucket, key = parse_s3_uri(uri)
    how = data_format(key)
    if how is None:
        raise NoAcceptedDataset(f"the champion's dataset {uri} is in no format a dataset can be read in")
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version and version != "null":
        request["VersionId"] = version
    body = s3.get_object(**request)["Body"].read()
    return read_table(body, how[0], contract=ORDERS, compression=how[1], source=uri)


def decision_log_prefixes(span: RetrainingSpan) -> list[str]:
    """The decision log's hourly partitions of the span (`decisions/dt=<date>/hour=<hh>/`, by arrival)."""
    return hourly_prefixes("decisions", span.since, span.until)


def read_decision_log(s3: Any, bucket: str, span: RetrainingSpan) -> pa.Table:
    keys = [k for k in list_keys(s3, bucket, decision_log_prefixes(span)) if k.endswith(".parquet")]
    tables = [pq.read_table(io.BytesIO(body)) for body in read_objects(s3, bucket, keys)]
    if not tables:
        return DECISION_LOG_SCHEMA.empty_table()
    return pa.concat_tables(tables, promote_options="default")


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING_KEY:
            return False
        raise
    return True


@dataclass(frozen=True)
class AssembledDataset:
    uri: str
    rows: int
    lineage: dict[str, Any]
    written: bool  # False: the dataset was already there (the request delivered again), nothing written


def assemble(
    s3: Any,
    sagemaker: Any,
    *,
    raw_bucket: str,
    artifacts_bucket: str,
    group: str,
    request_id: str,
    reason: str,
    episode: str | None,
    windows: list[str],
    now: datetime,
    lookback: timedelta,
) -> AssembledDataset:
    """Write the retraining dataset of a started request: the champion's dataset with the labelled production
    orders of the last `lookback`, under `datasets/<dataset>/<date>/retrain-<id>.parquet` (its lineage as object
    metadata, and whole under `retraining/<group>/runs/<id>.json`). A dataset already written for this id is left
    as it is: writing it again would be a new object version, and so a second training run."""
    source_uri, source_version = champion_dataset(sagemaker, group)
    dataset_name = parse_s3_uri(source_uri)[1].split("/")[1]
    key = retraining_key(dataset_name, f"{now:%Y-%m-%d}", request_id)
    uri = f"s3://{raw_bucket}/{key}"
    kept = (
        s3.get_object(Bucket=artifacts_bucket, Key=lineage_key(group, request_id))
        if _exists(s3, raw_bucket, key)
        else None
    )
    if kept is not None:
        lineage = json.loads(kept["Body"].read())
        return AssembledDataset(uri, int(lineage.get("rows", 0)), lineage, written=False)

    span = RetrainingSpan(now - lookback, now)
    accepted = read_dataset(s3, source_uri, source_version)
    log = read_decision_log(s3, artifacts_bucket, span)
    labels, _ = read_ground_truth(s3, artifacts_bucket, span.since, span.until)
    production = labelled_orders(log, labels)
    dataset = retraining_dataset(accepted, production)
    lineage = RetrainingLineage.of(
        request_id=request_id,
        reason=reason,
        episode=episode,
        windows=[*windows, span.name()],
        source_dataset_uri=source_uri if not source_version else f"{source_uri}?versionId={source_version}",
        decision_log=log,
        production=production,
    )
    document = {
        **lineage.to_dict(),
        "dataset_uri": uri,
        "rows": dataset.num_rows,
        "accepted_rows": accepted.num_rows,
        "decision_log_rows": log.num_rows,  # decisions read (a decision delivered twice is one order)
        "labels_read": labels.num_rows,
    }
    buffer = io.BytesIO()
    pq.write_table(dataset, buffer, compression="zstd")
    # the lineage first: register_model reads it once the upload's run registers a version
    s3.put_object(
        Bucket=artifacts_bucket,
        Key=lineage_key(group, request_id),
        Body=json.dumps(document, sort_keys=True).encode("utf-8"),
        ContentType="application/json",
    )
    s3.put_object(
        Bucket=raw_bucket,
        Key=key,
        Body=buffer.getvalue(),
        ContentType="application/vnd.apache.parquet",
        Metadata=lineage.to_metadata(),
    )
    return AssembledDataset(uri, dataset.num_rows, document, written=True)
