"""Resumes the waiting execution when its training job reaches a terminal state."""

import json
import os

import boto3

sfn = boto3.client("stepfunctions")
tokens = boto3.resource("dynamodb").Table(os.environ["TOKEN_TABLE"])


def handler(event, context):
    detail = event["detail"]
    item = tokens.get_item(Key={"job_name": detail["TrainingJobName"]}).get("Item")
    if item is None:
        return {"ignored": detail["TrainingJobName"]}
    if detail["TrainingJobStatus"] == "Completed":
        output = {
            "model": detail["ModelArtifacts"]["S3ModelArtifacts"],
            "metrics": {m["MetricName"]: m["Value"] for m in detail.get("FinalMetricDataList", [])},
        }
        sfn.send_task_success(taskToken=item["token"], output=json.dumps(output))
    else:
        sfn.send_task_failure(
            taskToken=item["token"],
            error=f"TrainingJob.{detail['TrainingJobStatus']}",
            cause=detail.get("FailureReason", ""),
        )
    tokens.delete_item(Key={"job_name": detail["TrainingJobName"]})
    return {"resumed": detail["TrainingJobName"]}
