"""Records how a batch-scoring run ended (scored, quarantined or failed) under the run and tells the notification
topic; a notification that cannot be published fails the run by name (`NotificationFailed`), never silently.

A failed run first stops the jobs it left running (its feature job and its batch transform: a task that timed out
or failed does not stop its job), as the training pipeline's RecordOutcome does, and only once the payload is
confirmed to be a running execution of this stack's scoring state machine. Stopping is best effort: a job that has
already ended is skipped, and a refused stop is logged and recorded, so the run still ends with its own error."""

import json

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from cd4ml_shared import correlation
from cd4ml_shared.aws.outcome import SCORING_RUN_JOB_TYPES, stop_failed_run_jobs
from cd4ml_shared.errors import NotificationFailed
from cd4ml_shared.jobs import NotThisRun
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.payload import PayloadKind, require
from cd4ml_shared.scoring import OUTCOME_FILE, ScoringSettings, notification, outcome

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sns = boto3.client("sns")
sagemaker = boto3.client("sagemaker")
sfn = boto3.client("stepfunctions")
SETTINGS = ScoringSettings.from_environment()
TOPIC_ARN = SETTINGS.notification_topic_arn
TASK_FIELDS: dict[str, PayloadKind] = {"status": "string", "state": "object", "execution_arn": "string"}


def stop_jobs_of_failed_run(state: dict, execution_arn: str) -> dict:
    """The jobs a failed run left running, stopped: `{"stopped_jobs": [...]}`, with `stop_error` when SageMaker or
    Step Functions refused (the run's own error must stay the one it ends with). Nothing is stopped for a payload
    that is not a running execution of this stack's (logged and counted)."""
    try:
        stopped = stop_failed_run_jobs(
            sagemaker,
            sfn,
            execution_arn=execution_arn,
            run_id=str(state.get("run_id")),
            claimed_prefix=state.get("job_prefix"),
            stack_prefix=SETTINGS.job_name_prefix,
            state_machine_arn=SETTINGS.state_machine_arn,
            job_types=SCORING_RUN_JOB_TYPES,
        )
    except NotThisRun as refused:
        logger.warning(
            "jobs not stopped: the payload is not a running execution of this stack", extra={"why": str(refused)}
        )
        metrics.add_metric(name="JobStopsRefused", unit=MetricUnit.Count, value=1)
        return {"stopped_jobs": []}
    except (BotoCoreError, ClientError) as error:
        logger.exception("the failed run's jobs could not be stopped")
        metrics.add_metric(name="JobStopsFailed", unit=MetricUnit.Count, value=1)
        return {"stopped_jobs": [], "stop_error": str(error)[:1000]}
    if stopped:
        logger.warning("stopped the failed run's jobs", extra={"jobs": stopped})
    return {"stopped_jobs": stopped}


@logger.inject_lambda_context(correlation_id_path=correlation.RECORDED_RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, TASK_FIELDS, where="record_scoring")
    state = event["state"]
    document = outcome(event["status"], state, execution_arn=event["execution_arn"])
    if event["status"] == "failed":
        document |= stop_jobs_of_failed_run(state, event["execution_arn"])
    layout = RunLayout(SETTINGS.artifacts_bucket, str(state.get("run_id")))
    body = json.dumps(document, sort_keys=True, indent=2, default=str).encode("utf-8")
    s3.put_object(Bucket=layout.bucket, Key=layout.key(OUTCOME_FILE), Body=body, ContentType="application/json")
    subject, message = notification(event["status"], str(state.get("run_id")), document)
    try:
        sns.publish(TopicArn=TOPIC_ARN, Subject=subject, Message=json.dumps(message, default=str))
    except Exception as error:
        logger.exception("notification not published")
        raise NotificationFailed(
            f"scoring outcome recorded at {layout.uri(OUTCOME_FILE)}; publishing: {error}"
        ) from None
    logger.info("scoring outcome recorded", extra={"status": event["status"]})
    return {"outcome_uri": layout.uri(OUTCOME_FILE), "status": event["status"]}
