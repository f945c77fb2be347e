"""One monitoring run's S3 and SageMaker side (docs/monitoring.md): the version in service and its references, the
window's captures and ground truth, and the report, its page and the history written back. The decisions are the
plain modules' (`monitoring`, `monitoring_join`, `monitoring_quality`, `monitoring_drift`, `monitoring_features`)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from ..decisions import operating_point_of
from ..deployment import version_of_package
from ..drift import NumericProfile, Profile, ProfileMismatch
from ..feedback import SCHEMA as GROUND_TRUTH_SCHEMA
from ..monitoring import (
    REPORT_FILE,
    REPORT_HTML_FILE,
    REPORT_VERSION,
    Breach,
    MonitoringSettings,
    NoBaseline,
    breach_of,
    ground_truth_prefixes,
    previous_of,
    unjudged_quality,
    updated_history,
    windows,
)
from ..monitoring_drift import DriftReference, check_drift, score_histogram
from ..monitoring_features import MONITORING_REFERENCE_FILE, SCORE, drift_columns
from ..monitoring_join import Window, capture_prefixes, join_window, read_captures, rows_of_version
from ..monitoring_quality import Baseline, BaselineFormatError, QualityPolicy, closed_loop, estimate
from ..monitoring_report import render_monitoring_report
from ..registry import evaluation_uri_of
from ..s3_uri import parse_s3_uri
from .client_errors import error_code
from .s3_json import read_json
from .scoring import package_of_model

READERS = 8  # concurrent S3 reads: capture files are many and small
EVALUATION_FILE = "evaluation.json"  # the evaluation job's (model/cd4ml_model/evaluate.py)


@dataclass(frozen=True)
class VersionBaseline:
    """What a window of one version is compared with: its evaluation (quality baseline, operating point) and the
    profile of its test split's watched features and scores (the drift reference)."""

    package_arn: str
    version: int
    evaluation_uri: str
    evaluation: Mapping[str, Any]
    threshold: float
    feature_names: list[str]
    reference: DriftReference  # the watched features and the score
    score_reference: NumericProfile


def version_in_service(sagemaker: Any, endpoint_name: str) -> str | None:
    """The model package the endpoint's current config serves (the config being replaced, during an update), or
    None when there is no endpoint."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if error_code(error) in {"ValidationException", "ValidationError", "ResourceNotFound"}:
            return None
        raise
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model_name = config["ProductionVariants"][0]["ModelName"]
    return package_of_model(sagemaker.describe_model(ModelName=model_name), model_name)


def _json_at(s3: Any, uri: str, what: str, package_arn: str) -> Any:
    bucket, key = parse_s3_uri(uri)
    document = read_json(s3, bucket, key)
    if document is None:
        raise NoBaseline(f"{package_arn} has no {what} at {uri}: it cannot be monitored")
    return document


def baseline_of(sagemaker: Any, s3: Any, package_arn: str) -> VersionBaseline:
    """The version's evaluation.json and, beside it, `monitoring_reference.json` (the feature order the endpoint
    receives, and the profile of the watched features and of the score over the evaluated test split)."""
    evaluation_uri = evaluation_uri_of(sagemaker.describe_model_package(ModelPackageName=package_arn))
    if evaluation_uri is None or not evaluation_uri.endswith(f"/{EVALUATION_FILE}"):
        raise NoBaseline(f"{package_arn} names no {EVALUATION_FILE} ({evaluation_uri!r})")
    folder = evaluation_uri.removesuffix(EVALUATION_FILE)
    evaluation = _json_at(s3, evaluation_uri, "evaluation", package_arn)
    reference = _json_at(
        s3,
        folder + MONITORING_REFERENCE_FILE,
        "monitoring reference (evaluated before monitoring existed?)",
        package_arn,
    )
    try:
        profile = Profile.from_dict(reference["profile"])
        names = [str(name) for name in reference["features"]]
        threshold = operating_point_of(evaluation, evaluation_uri)
    except (ProfileMismatch, ValueError, KeyError, TypeError) as error:
        raise NoBaseline(f"the references of {package_arn} do not read: {error}") from error
    score = profile.columns.get(SCORE)
    if not isinstance(score, NumericProfile):
        raise NoBaseline(f"{folder}{MONITORING_REFERENCE_FILE} has no numeric `{SCORE}` column")
    return VersionBaseline(
        package_arn=package_arn,
        version=version_of_package(package_arn),
        evaluation_uri=evaluation_uri,
        evaluation=evaluation,
        threshold=threshold,
        feature_names=names,
        reference=DriftReference.from_profile(profile),
        score_reference=score,
    )


def list_keys(s3: Any, bucket: str, prefixes: Iterable[str]) -> list[str]:
    keys: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def read_objects(s3: Any, bucket: str, keys: list[str]) -> list[bytes]:
    def read(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    if len(keys) <= 1:
        return [read(key) for key in keys]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(read, keys))


def read_window_captures(s3: Any, bucket: str, endpoint: str, span: Window) -> tuple[Any, int]:
    """The capture records that can fall in `span` (hourly files), as columns; and how many files were read."""
    keys = list_keys(s3, bucket, capture_prefixes(endpoint, span))
    lines: list[bytes] = []
    for body in read_objects(s3, bucket, keys):
        lines.extend(body.splitlines())
    return read_captures(lines), len(keys)


def read_ground_truth(s3: Any, bucket: str, since: datetime, until: datetime) -> tuple[pa.Table, int]:
    """The ground-truth rows that arrived from `since` to `until` (Parquet of `record_feedback`)."""
    keys = [k for k in list_keys(s3, bucket, ground_truth_prefixes(since, until)) if k.endswith(".parquet")]
    tables = [pq.read_table(io.BytesIO(body)) for body in read_objects(s3, bucket, keys)]
    if not tables:
        return GROUND_TRUTH_SCHEMA.empty_table(), 0
    return pa.concat_tables(tables, promote_options="default"), len(keys)


def _put(s3: Any, bucket: str, key: str, body: str, content_type: str) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type)
    return f"s3://{bucket}/{key}"


@dataclass(frozen=True)
class MonitoringRun:
    report: dict[str, Any]
    breach: Breach
    report_uri: str
    html_uri: str
    seconds: dict[str, float]  # where the time went, by step


def skipped(settings: MonitoringSettings, now: datetime, why: str) -> dict[str, Any]:
    """The answer of a run with nothing to measure (no endpoint, a version without references)."""
    evaluated, _ = windows(now, settings)
    return {"status": "skipped", "why": why, "window": evaluated.name(), "breach": {"any": False}}


def run_monitoring(
    sagemaker: Any,
    s3: Any,
    settings: MonitoringSettings,
    now: datetime,
    *,
    policy: QualityPolicy | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> MonitoringRun:
    """Measure the evaluated window (quality, drift) and the recent one (estimate) of the version in service,
    write `report.json`, `report.html` and the history; the caller publishes metrics and announces a breach."""
    seconds: dict[str, float] = {}
    started = clock()
    package_arn = version_in_service(sagemaker, settings.endpoint_name)
    if package_arn is None:
        raise NoBaseline(f"endpoint {settings.endpoint_name} does not exist: nothing serves, nothing to monitor")
    baseline = baseline_of(sagemaker, s3, package_arn)
    seconds["baseline"] = clock() - started

    step = clock()
    evaluated, recent = windows(now, settings)
    bucket = settings.artifacts_bucket
    captures, capture_files = read_window_captures(s3, bucket, settings.endpoint_name, Window(evaluated.start, now))
    ground_truth, label_files = read_ground_truth(s3, bucket, evaluated.start, now)
    seconds["read"] = clock() - step

    step = clock()
    width = len(baseline.feature_names)
    joined = join_window(captures.table, ground_truth, evaluated)
    mine = rows_of_version(joined.table, baseline.version, width)
    labelled = mine.table.filter(mine.table.column("label").is_valid())
    quality_policy = policy or QualityPolicy()
    try:
        quality_baseline = Baseline.from_evaluation(baseline.evaluation)
    except BaselineFormatError as error:  # evaluated before the intervals existed: not monitorable, not a failure
        raise NoBaseline(f"{baseline.evaluation_uri} is no quality baseline: {error}") from error
    quality = None
    if mine.table.num_rows and not labelled.num_rows:
        quality = unjudged_quality(f"none of the window's {mine.table.num_rows} requests has a label yet")
    elif labelled.num_rows:
        quality = closed_loop(
            labelled.column("label").to_numpy().astype(np.int64),
            labelled.column("score").to_numpy(),
            baseline.threshold,
            quality_baseline,
            quality_policy,
        ).to_dict()
    recent_rows = rows_of_version(
        join_window(captures.table, ground_truth.slice(0, 0), recent).table, baseline.version, width
    )
    estimated = None
    if recent_rows.table.num_rows:
        estimated = {
            "window": {"name": recent.name(), "start": recent.start.isoformat(), "end": recent.end.isoformat()},
            **estimate(
                recent_rows.table.column("score").to_numpy(), baseline.threshold, quality_baseline, quality_policy
            ).to_dict(),
        }
    seconds["quality"] = clock() - step

    step = clock()
    drift = None
    scores = mine.table.column("score").to_numpy()
    if mine.table.num_rows:
        columns = drift_columns(baseline.feature_names, mine.vectors(width))
        drift = check_drift(baseline.reference, {**columns, SCORE: scores}).to_dict()
    seconds["drift"] = clock() - step

    step = clock()
    history = read_json(s3, bucket, settings.history_key) or []
    breach = breach_of(quality, estimated, drift, evaluated, previous_of(history, evaluated), baseline.version)
    prefix = settings.report_prefix(evaluated)
    report_uri, html_uri = f"s3://{bucket}/{prefix}{REPORT_FILE}", f"s3://{bucket}/{prefix}{REPORT_HTML_FILE}"
    requests = mine.table.num_rows
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "endpoint": settings.endpoint_name,
        "model_package_group": settings.model_package_group,
        "model_version": baseline.version,
        "model_package_arn": baseline.package_arn,
        "evaluated_at": now.isoformat(),
        "window": {
            "name": evaluated.name(),
            "start": evaluated.start.isoformat(),
            "end": evaluated.end.isoformat(),
            "start_offset_s": settings.start_offset.total_seconds(),
            "end_offset_s": settings.end_offset.total_seconds(),
        },
        "traffic": {
            "requests": requests,
            "labelled": labelled.num_rows,
            "label_rate": labelled.num_rows / requests if requests else None,
            "unreadable": dict(captures.unreadable),
            "duplicates_dropped": joined.duplicates_dropped,
            "versions": {str(baseline.version): requests, **mine.other_versions},
            "wrong_width": mine.wrong_width,
            "capture_files": capture_files,
            "ground_truth_files": label_files,
        },
        "quality": quality,
        "estimate": estimated,
        "drift": drift,
        "histograms": {
            "score": score_histogram(baseline.score_reference.edges, baseline.score_reference.shares, scores)
        },
        "breach": breach.to_dict(),
        "links": {
            "report_json": report_uri,
            "report_html": html_uri,
            "evaluation": baseline.evaluation_uri,
            "training_report": baseline.evaluation_uri.removesuffix(f"evaluation/{EVALUATION_FILE}") + "report.html",
        },
    }
    history = updated_history(history, report)
    seconds["report"] = clock() - step
    report["seconds"] = {name: round(value, 4) for name, value in seconds.items()}
    _put(s3, bucket, f"{prefix}{REPORT_FILE}", json.dumps(report, allow_nan=False, sort_keys=True), "application/json")
    _put(
        s3, bucket, f"{prefix}{REPORT_HTML_FILE}", render_monitoring_report(report, history), "text/html; charset=utf-8"
    )
    _put(s3, bucket, settings.history_key, json.dumps(history, allow_nan=False), "application/json")
    return MonitoringRun(report, breach, report_uri, html_uri, seconds)
