"""Ends every path of the training pipeline: records the outcome (outcome.json), renders the run's HTML report and
notifies the topic. Succeeded, gated out, quarantined or failed, a run always leaves this record."""

import json
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.outcome import report_inputs, stop_run_jobs
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.outcome import notification, run_record
from cd4ml_shared.run_report import render_run_report
from cd4ml_shared.settings import RecordOutcomeSettings

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sns = boto3.client("sns")
sagemaker = boto3.client("sagemaker")
SETTINGS = RecordOutcomeSettings.from_environment()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    state = event["state"]
    logger.append_keys(run_id=state["run_id"])
    record = run_record(
        event["status"],
        state,
        execution_arn=event["execution_arn"],
        started_at=event.get("started_at", ""),
        now=datetime.now(UTC),
    )
    if record["status"] == "failed" and state.get("job_prefix"):
        record["stopped_jobs"] = stop_run_jobs(sagemaker, state["job_prefix"])
        if record["stopped_jobs"]:
            logger.warning("stopped the failed run's jobs", extra={"jobs": record["stopped_jobs"]})
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
    subject, message = notification(record)
    sns.publish(
        TopicArn=SETTINGS.notification_topic_arn,
        Subject=subject,
        Message=message,
        MessageAttributes={"status": {"DataType": "String", "StringValue": record["status"]}},
    )
    metrics.add_metric(name=f"Runs_{record['status']}", unit=MetricUnit.Count, value=1)
    logger.info("run recorded", extra={"status": record["status"], "reasons": record["reasons"]})
    return {"status": record["status"], "report_uri": record["report_uri"], "outcome_uri": record["outcome_uri"]}
