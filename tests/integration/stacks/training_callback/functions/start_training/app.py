"""Stores the task token under the job name and starts the SageMaker training job (callback pattern)."""

import os
import time

import boto3

sagemaker = boto3.client("sagemaker")
tokens = boto3.resource("dynamodb").Table(os.environ["TOKEN_TABLE"])
BUCKET = os.environ["ARTIFACTS_BUCKET"]
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def handler(event, context):
    job_name = event["job_name"]
    tokens.put_item(Item={"job_name": job_name, "token": event["token"], "expires_at": int(time.time()) + 3600})
    sagemaker.create_training_job(
        TrainingJobName=job_name,
        AlgorithmSpecification={
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:auc", "Regex": "validation-auc:([0-9.]+)"}],
        },
        HyperParameters={
            "sagemaker_program": event["program"],
            "sagemaker_submit_directory": f"s3://{BUCKET}/code/sourcedir.tar.gz",
            "max_depth": "4",
        },
        RoleArn=os.environ["TRAINING_ROLE_ARN"],
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/train/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/models/"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    return {"started": job_name}
