"""The deployment's smoke test: the new endpoint must score the model's smoke rows (test-split rows the evaluation
job wrote) as the evaluation did, to 1e-6, before the deployment is called good. SmokeTestFailed (scores differ,
the model errs, or its answer does not read) and SmokeTestUnavailable (a model without smoke rows) are the errors
the deployment workflow's Catch matches."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.smoke import run_smoke_test
from cd4ml_shared.errors import SmokeTestFailed
from cd4ml_shared.payload import PayloadKind, require

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
runtime = boto3.client("sagemaker-runtime")
# The smoke test task's Parameters (statemachines/deployment.asl.json)
SMOKE_FIELDS: dict[str, PayloadKind] = {"endpoint_name": "string", "model_package_arn": "string"}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    logger.set_correlation_id(correlation.smoke_test_execution(event))
    require(event, SMOKE_FIELDS, where="smoke_test")
    endpoint, package = event["endpoint_name"], event["model_package_arn"]
    logger.append_keys(endpoint_name=endpoint, model_package_arn=package)
    try:
        report = run_smoke_test(
            sagemaker=sagemaker,
            runtime=runtime,
            s3=s3,
            endpoint=endpoint,
            model_package_arn=package,
            inference_id=f"smoke-{context.aws_request_id}",
        )
    except SmokeTestFailed as error:
        metrics.add_metric(name="SmokeTestsFailed", unit=MetricUnit.Count, value=1)
        logger.error("smoke test failed", extra={"reason": str(error)})
        raise
    metrics.add_metric(name="SmokeTestsPassed", unit=MetricUnit.Count, value=1)
    logger.info("smoke test passed", extra={"rows": report.rows, "max_abs_diff": report.max_abs_diff})
    return report.to_dict()
