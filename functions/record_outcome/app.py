"""Ends every path of the training pipeline: records the outcome (outcome.json), renders the run's HTML report and
notifies the topic. Succeeded, gated out, quarantined, failed or a duplicate of an earlier run, a run always leaves
this record."""

import json
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from cd4ml_shared.aws.content_index import index_registered_run
from cd4ml_shared.aws.history import timeout_events
from cd4ml_shared.aws.outcome import report_inputs, stop_failed_run_jobs
from cd4ml_shared.aws.reference import ReferenceContention, promote_candidate
from cd4ml_shared.aws.stage_durations import execution_stage_spans
from cd4ml_shared.errors import NotificationFailed
from cd4ml_shared.jobs import NotThisRun
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.outcome import needs_timeout_cause, notification, run_record, timeout_cause
from cd4ml_shared.payload import PayloadKind, require
from cd4ml_shared.run_report import render_run_report
from cd4ml_shared.settings import RecordOutcomeSettings
from cd4ml_shared.stage_durations import HistoryEventUnreadable

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sns = boto3.client("sns")
sagemaker = boto3.client("sagemaker")
sfn = boto3.client("stepfunctions")
SETTINGS = RecordOutcomeSettings.from_environment()
# The Parameters of every Record* task (statemachines/training_pipeline.asl.json)
OUTCOME_FIELDS: dict[str, PayloadKind] = {
    "status": "string",
    "execution_arn": "string",
    "state": "object",
    "state.run_id": "string",
    "state.artifacts_bucket": "string",
}


def stop_jobs_of_failed_run(state: dict, execution_arn: str) -> list[str]:
    """The jobs a failed run left running, stopped; none when the payload is not a running execution of this stack's
    (a made-up payload is logged and counted, and stops nothing)."""
    try:
        stopped = stop_failed_run_jobs(
            sagemaker,
            sfn,
            execution_arn=execution_arn,
            run_id=state["run_id"],
            claimed_prefix=state.get("job_prefix"),
            stack_prefix=SETTINGS.job_name_prefix,
            state_machine_arn=SETTINGS.state_machine_arn,
        )
    except NotThisRun as refused:
        logger.warning(
            "jobs not stopped: the payload is not a running execution of this stack", extra={"why": str(refused)}
        )
        metrics.add_metric(name="JobStopsRefused", unit=MetricUnit.Count, value=1)
        return []
    if stopped:
        logger.warning("stopped the failed run's jobs", extra={"jobs": stopped})
    return stopped


def promote_reference(state: dict, status: str) -> dict:
    """A registered model's data becomes its dataset's reference profile, if newer than the reference (`reference`
    rules in docs/training-pipeline.md); too many racing runs leave the older reference, which is the safe side."""
    try:
        promotion = promote_candidate(s3, state["artifacts_bucket"], run_id=state["run_id"], status=status)
    except ReferenceContention as error:
        logger.error("reference not promoted", extra={"why": str(error)})
        metrics.add_metric(name="ReferencePromotionsLost", unit=MetricUnit.Count, value=1)
        return {"result": "contention", "error": str(error)}
    if promotion.result in ("first", "promoted"):
        logger.info("reference promoted", extra={"reference": promotion.reference_uri, "result": promotion.result})
    return {"result": promotion.result, "uri": promotion.reference_uri}


def publish_stage_durations(execution_arn: str) -> list[dict]:
    """`StageSeconds` of each finished state of the run, dimension `Stage` (what a span is: cd4ml_shared/
    stage_durations.py), each in an EMF document of its own: a document has one dimension set, and the handler's
    `metrics` carry only `service`. The spans as logged; an unreadable history is logged and counted, and the run is
    recorded all the same."""
    try:
        spans = execution_stage_spans(sfn, execution_arn)
    except (BotoCoreError, ClientError, HistoryEventUnreadable) as error:
        logger.warning("stage durations not published: the execution history was not read", extra={"why": str(error)})
        metrics.add_metric(name="StageDurationsUnread", unit=MetricUnit.Count, value=1)
        return []
    for span in spans:
        with single_metric(name="StageSeconds", unit=MetricUnit.Seconds, value=span.seconds) as metric:
            metric.add_dimension(name="Stage", value=span.stage)
    return [{"stage": span.stage, "seconds": round(span.seconds, 3)} for span in spans]


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, OUTCOME_FIELDS, where="record_outcome")
    state = event["state"]
    logger.append_keys(run_id=state["run_id"])
    logger.set_correlation_id(state["run_id"])
    if event["status"] == "failed" and needs_timeout_cause(state.get("error")):
        # a bare States.Timeout: which state, job and limit, from the execution's history
        cause = timeout_cause(timeout_events(sfn, event["execution_arn"]), event["execution_arn"])
        state = {**state, "error": {**state["error"], "Cause": cause}}
    now = datetime.now(UTC)
    record = run_record(
        event["status"], state, execution_arn=event["execution_arn"], started_at=event.get("started_at", ""), now=now
    )
    if record["status"] == "failed":
        record["stopped_jobs"] = stop_jobs_of_failed_run(state, event["execution_arn"])
    record["reference"] = promote_reference(state, record["status"])
    if record["status"] == "succeeded":
        record["content_index_uri"] = index_registered_run(s3, state, execution_arn=event["execution_arn"], now=now)
    subject, message = notification(record)
    try:
        sns.publish(
            TopicArn=SETTINGS.notification_topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={"status": {"DataType": "String", "StringValue": record["status"]}},
        )
    except (BotoCoreError, ClientError) as error:
        # recorded first, then raised: the run ends in NotificationFailed rather than succeeding unheard
        record["notification_error"] = f"{SETTINGS.notification_topic_arn}: {error}"
        logger.exception("notification not published")
    layout = RunLayout(state["artifacts_bucket"], state["run_id"])
    quality, evaluation, images = report_inputs(s3, record, layout.bucket)
    html = render_run_report(record, quality, evaluation, images)
    s3.put_object(
        Bucket=layout.bucket, Key=layout.report_key, Body=html.encode("utf-8"), ContentType="text/html; charset=utf-8"
    )
    s3.put_object(
        Bucket=layout.bucket,
        Key=layout.outcome_key,
        Body=json.dumps(record, sort_keys=True, indent=2, default=str).encode("utf-8"),
        ContentType="application/json",
    )
    metrics.add_metric(name=f"Runs_{record['status']}", unit=MetricUnit.Count, value=1)
    stages = publish_stage_durations(event["execution_arn"])
    if "notification_error" in record:
        metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=1)
        raise NotificationFailed(
            f"run {record['run_id']} {record['status']}, recorded at {record['outcome_uri']}, but nobody was told: "
            f"publishing to {record['notification_error']}"
        )
    logger.info("run recorded", extra={"status": record["status"], "reasons": record["reasons"], "stages": stages})
    return {"status": record["status"], "report_uri": record["report_uri"], "outcome_uri": record["outcome_uri"]}
