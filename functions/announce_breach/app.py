"""Announces a monitoring breach (statemachines/monitoring.asl.json): the notification to the topic, and
`RetrainingRequested` (source `cd4ml.monitoring`) with the reason and the episode, for the retraining guard."""

import json

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from cd4ml_shared.aws.s3_json import read_json
from cd4ml_shared.correlation import execution_name_of
from cd4ml_shared.errors import NotificationFailed
from cd4ml_shared.monitoring import (
    DETAIL_TYPE,
    EVENT_SOURCE,
    Breach,
    MonitoringSettings,
    notification,
    retraining_detail,
)
from cd4ml_shared.payload import PayloadKind, require
from cd4ml_shared.s3_uri import parse_s3_uri

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sns = boto3.client("sns")
events = boto3.client("events")
SETTINGS = MonitoringSettings.from_environment()
FIELDS: dict[str, PayloadKind] = {"report_uri": "string", "report_html_uri": "string"}


class RetrainingRequestNotSent(Exception):
    """EventBridge did not take the RetrainingRequested event (the state machine retries the task)."""


def notify(subject: str, body: str, what: str) -> None:
    if not SETTINGS.notification_topic_arn:
        return
    try:
        sns.publish(TopicArn=SETTINGS.notification_topic_arn, Subject=subject[:100], Message=body)
    except (BotoCoreError, ClientError) as error:  # retried by the state machine: people must hear
        raise NotificationFailed(f"{what} was not notified: {error}") from error


def announce_failure(event: dict) -> dict:
    error = event.get("error") if isinstance(event.get("error"), dict) else {}
    name, cause = str(error.get("Error", "unknown")), str(error.get("Cause", ""))[:4000]
    notify(
        f"cd4ml monitoring failed on {SETTINGS.endpoint_name}: {name}",
        f"The monitoring run {event.get('execution')} could not measure its window.\n\n{name}: {cause}",
        "the monitoring failure",
    )
    metrics.add_metric(name="MonitoringFailed", unit=MetricUnit.Count, value=1)
    logger.error("monitoring failed", extra={"error": name, "cause": cause})
    return {"announced": True, "failed": True, "error": name}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    # a failed run measured no window: it is followed by its execution (a breach, below, by its window)
    execution = event.get("execution")
    logger.set_correlation_id(execution_name_of(execution) if isinstance(execution, str) else None)
    if event.get("failed") is True:
        return announce_failure(event)
    require(event, FIELDS, where="announce_breach")
    bucket, key = parse_s3_uri(event["report_uri"])
    report = read_json(s3, bucket, key)
    if report is None:
        raise FileNotFoundError(f"the report {event['report_uri']} is gone: nothing to announce")
    logger.set_correlation_id(report["window"]["name"])  # as monitor_window's lines for this window
    saved = report["breach"]
    breach = Breach(tuple(saved["reasons"]), saved["episode"])
    if not breach.any:
        return {"announced": False, "why": "the window did not breach"}
    detail = retraining_detail(report, breach, event["report_uri"])
    answer = events.put_events(
        Entries=[{"Source": EVENT_SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail)}]
    )
    if answer.get("FailedEntryCount"):
        raise RetrainingRequestNotSent(f"PutEvents refused RetrainingRequested: {answer['Entries']}")
    metrics.add_metric(name="RetrainingRequested", unit=MetricUnit.Count, value=1)
    # the request is out first: a retry after a failed notification sends it again, and the guard drops the second
    notify(*notification(report, event["report_html_uri"]), f"the breach of {report['window']['name']}")
    logger.info("breach announced", extra={"detail": detail})
    return {"announced": True, "reason": detail["reason"], "episode": detail["episode"]}
