"""Records how a batch-scoring run ended (scored, quarantined or failed) under the run and tells the notification
topic; a notification that cannot be published fails the run by name (`NotificationFailed`), never silently."""

import json

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.errors import NotificationFailed
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.payload import PayloadKind, require
from cd4ml_shared.scoring import OUTCOME_FILE, ScoringSettings, notification, outcome

logger = Logger()
s3 = boto3.client("s3")
sns = boto3.client("sns")
SETTINGS = ScoringSettings.from_environment()
TOPIC_ARN = SETTINGS.notification_topic_arn
TASK_FIELDS: dict[str, PayloadKind] = {"status": "string", "state": "object", "execution_arn": "string"}


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, TASK_FIELDS, where="record_scoring")
    state = event["state"]
    document = outcome(event["status"], state, execution_arn=event["execution_arn"])
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
