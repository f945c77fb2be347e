"""The retraining storm guard and the retraining dataset (docs/monitoring.md, "Retraining"). Monitoring's
RetrainingRequested, the retraining schedule and the quality alarm ask; one run in flight, a cooldown and one run per
episode decide (a lock in DynamoDB); a started request writes its dataset under datasets/ of the raw bucket, whose
upload starts the training pipeline as any upload. Every request is recorded, started or dropped with why. The
training pipeline's end of a retraining run releases the lock."""

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.retraining import claim, release
from cd4ml_shared.aws.retraining_data import NoAcceptedDataset, assemble, champion_dataset
from cd4ml_shared.retraining import (
    InvalidRequest,
    RetrainingRequest,
    RetrainingSettings,
    RunEnded,
    Verdict,
    request_id_of,
    request_of,
    request_record,
    request_record_key,
)

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
sagemaker = boto3.client("sagemaker")
SETTINGS = RetrainingSettings.from_environment()


def record(request: RetrainingRequest, request_id: str, verdict: Verdict, dataset: dict | None = None) -> str:
    key = request_record_key(request.group, request_id, request.requested_at)
    document = request_record(request, request_id, verdict, dataset=dataset)
    s3.put_object(
        Bucket=SETTINGS.artifacts_bucket, Key=key, Body=json.dumps(document).encode(), ContentType="application/json"
    )
    return f"s3://{SETTINGS.artifacts_bucket}/{key}"


def ended(run: RunEnded) -> dict:
    logger.set_correlation_id(run.request_id)
    released = release(dynamodb, SETTINGS.guard_table, SETTINGS.model_package_group, run.request_id)
    logger.info(
        "retraining run ended", extra={"request_id": run.request_id, "status": run.status, "released": released}
    )
    metrics.add_metric(name="RetrainingRunsEnded", unit=MetricUnit.Count, value=1)
    return {"released": released, "request_id": run.request_id, "status": run.status}


def no_accepted_dataset(request: RetrainingRequest, request_id: str, why: NoAcceptedDataset) -> dict:
    dropped = Verdict(False, str(why), "no_accepted_dataset")
    record(request, request_id, dropped)
    metrics.add_dimension(name="Why", value="no_accepted_dataset")
    metrics.add_metric(name="RetrainingRequestsDropped", unit=MetricUnit.Count, value=1)
    return {"started": False, "request_id": request_id, "dropped": dropped.dropped, "why": dropped.why}


def requested(event: dict, request: RetrainingRequest) -> dict:
    request_id = request_id_of(event, request.requested_at)
    logger.set_correlation_id(request_id)
    try:
        # before the claim: a request with nothing to extend must not take the cooldown or its episode, so the
        # first version's registration can be retrained at once
        champion_dataset(sagemaker, request.group)
    except NoAcceptedDataset as why:
        return no_accepted_dataset(request, request_id, why)
    verdict, _ = claim(dynamodb, SETTINGS.guard_table, request, SETTINGS.policy, lambda: request_id, resume=request_id)
    if not verdict.start:
        where = record(request, request_id, verdict)
        logger.info("retraining request dropped", extra={"why": verdict.why, "record": where})
        metrics.add_dimension(name="Why", value=str(verdict.dropped))
        metrics.add_metric(name="RetrainingRequestsDropped", unit=MetricUnit.Count, value=1)
        return {"started": False, "request_id": request_id, "dropped": verdict.dropped, "why": verdict.why}
    try:
        dataset = assemble(
            s3,
            sagemaker,
            raw_bucket=SETTINGS.raw_data_bucket,
            artifacts_bucket=SETTINGS.artifacts_bucket,
            group=request.group,
            request_id=request_id,
            reason=request.reason,
            episode=request.episode,
            windows=[str(w) for w in request.detail.get("windows") or []],
            now=datetime.fromtimestamp(request.requested_at, UTC),
            lookback=timedelta(seconds=SETTINGS.lookback_s),
        )
    except NoAcceptedDataset as why:
        # the champion went between the check and the claim (its approval revoked): the lock goes back at once
        release(dynamodb, SETTINGS.guard_table, request.group, request_id)
        return no_accepted_dataset(request, request_id, why)
    summary = {"uri": dataset.uri, "rows": dataset.rows, "written": dataset.written, "lineage": dataset.lineage}
    where = record(request, request_id, verdict, summary)
    logger.info("retraining started", extra={"request_id": request_id, "dataset": dataset.uri, "record": where})
    metrics.add_metric(name="RetrainingStarted", unit=MetricUnit.Count, value=1)
    return {"started": True, "request_id": request_id, "why": verdict.why, "dataset_uri": dataset.uri}


# the event's id until the request's own id is known (a refused request has none)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    try:
        what = request_of(event, group=SETTINGS.model_package_group, now=time.time())
    except InvalidRequest as error:
        # a malformed request can never succeed: said, counted, not retried
        logger.warning("retraining request refused", extra={"why": str(error), "event": json.dumps(event)[:2000]})
        metrics.add_metric(name="RetrainingRequestsInvalid", unit=MetricUnit.Count, value=1)
        return {"started": False, "invalid": str(error)}
    if what is None:
        return {"started": False, "ignored": event.get("detail-type")}
    if isinstance(what, RunEnded):
        return ended(what)
    if what.group != SETTINGS.model_package_group:
        # another stack's group: its lock is that stack's to take (and its run's end would never release it here)
        why = f"the request names group {what.group!r}, this stack retrains {SETTINGS.model_package_group!r}"
        logger.warning("retraining request refused", extra={"why": why})
        metrics.add_metric(name="RetrainingRequestsInvalid", unit=MetricUnit.Count, value=1)
        return {"started": False, "invalid": why}
    return requested(event, what)
