"""SmokeTestFunction: the new endpoint must score the registered version's smoke rows as its evaluation did. The
registry and S3 are moto's; InvokeEndpoint is stubbed with botocore's Stubber (moto's answers are canned), so each
test sets what the endpoint answers and checks what was sent."""

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from cd4ml_shared.smoke import SMOKE_FORMAT

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
GROUP = "cd4ml-dev-fraud"
ENDPOINT = "cd4ml-dev-fraud"
RUN = "runs/orders-2026-11-25-3cf9a8ac133a728a/evaluation"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
SCORES = [0.01171875, 0.5, 0.98828125]
CSV_BODY = "120.5,3.0\n9.25,\n4000.0,1.0\n"
JSON_BODY = json.dumps({"instances": [{"a": 120.5, "b": 3.0}, {"a": 9.25, "b": None}, {"a": 4000.0, "b": 1.0}]})


def smoke_file() -> bytes:
    """A smoke.json as the evaluation job writes it (model/cd4ml_model/smoke_rows.py)."""
    return json.dumps(
        {
            "format": SMOKE_FORMAT,
            "features": ["a", "b"],
            "rows": [{"test_row": i * 7, "label": int(s > 0.5), "score": s} for i, s in enumerate(SCORES)],
            "requests": [
                {"content_type": "text/csv", "accept": "application/json", "body": CSV_BODY},
                {"content_type": "application/json", "accept": "application/json", "body": JSON_BODY},
            ],
        }
    ).encode()


def register(evaluation_uri: str | None) -> str:
    """A registered version as register_model makes it (the model-quality statistics are its evaluation.json)."""
    request = {
        "ModelPackageGroupName": GROUP,
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{ARTIFACTS}/runs/r/model.tar.gz"}],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
        },
    }
    if evaluation_uri:
        statistics = {"ContentType": "application/json", "S3Uri": evaluation_uri}
        request["ModelMetrics"] = {"ModelQuality": {"Statistics": statistics}}
    return boto3.client("sagemaker").create_model_package(**request)["ModelPackageArn"]


@pytest.fixture
def package(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key=f"{RUN}/evaluation.json", Body=b'{"binary_classification_metrics": {}}')
    s3.put_object(Bucket=ARTIFACTS, Key=f"{RUN}/smoke.json", Body=smoke_file())
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    return register(f"s3://{ARTIFACTS}/{RUN}/evaluation.json")


@pytest.fixture
def app(package, load_function):
    return load_function("smoke_test", {})


@pytest.fixture
def endpoint(app):
    with Stubber(app.runtime) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def answers(endpoint: Stubber, *score_lists: list[float], inference_ids=(ANY, ANY)) -> None:
    """The endpoint's answers (inference.py's JSON) to the CSV request, then the JSON one."""
    requests = (("text/csv", CSV_BODY), ("application/json", JSON_BODY))
    for (content_type, body), scores, inference_id in zip(requests, score_lists, inference_ids, strict=False):
        payload = json.dumps({"predictions": [{"score": s, "label": int(s > 0.5)} for s in scores]}).encode()
        endpoint.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(payload), len(payload)), "ContentType": "application/json"},
            {
                "EndpointName": ENDPOINT,
                "Body": body.encode(),
                "ContentType": content_type,
                "Accept": "application/json",
                "InferenceId": inference_id,
            },
        )


def event(package: str) -> dict:
    return {"endpoint_name": ENDPOINT, "model_package_arn": package}


def test_equal_scores_pass_and_each_request_is_tagged_as_smoke_traffic(app, package, endpoint, context):
    tagged = f"smoke-{context.aws_request_id}"
    answers(endpoint, SCORES, [s + 4e-7 for s in SCORES], inference_ids=(f"{tagged}-1", f"{tagged}-2"))

    result = app.handler(event(package), context)

    assert result == {"passed": True, "rows": 3, "max_abs_diff": pytest.approx(4e-7, abs=1e-12)}


def test_a_score_off_by_more_than_one_millionth_fails_naming_the_row(app, package, endpoint, context):
    answers(endpoint, SCORES, [SCORES[0], SCORES[1] + 2e-6, SCORES[2]])

    with pytest.raises(Exception) as raised:
        app.handler(event(package), context)

    assert type(raised.value).__name__ == "SmokeTestFailed"
    assert str(raised.value).startswith(
        f"smoke test of endpoint {ENDPOINT} failed: row 1 (test row 7, label 0) scored 0.500002 for the "
        "application/json request, the evaluation 0.5 (|diff| 2e-06 > 1e-06); 1 of 3 rows differ"
    )


def test_a_model_that_errs_on_the_smoke_rows_fails_the_smoke_test(app, package, endpoint, context):
    endpoint.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message='Received server error (500) from primary with message "ValueError: rows have 2 values"',
        http_status_code=424,
    )

    with pytest.raises(Exception) as raised:
        app.handler(event(package), context)

    assert type(raised.value).__name__ == "SmokeTestFailed"
    assert "the model erred on the text/csv request of the smoke rows" in str(raised.value)
    assert "rows have 2 values" in str(raised.value)


def test_an_endpoint_not_in_service_is_an_aws_error_not_a_verdict(app, package, endpoint, context):
    message = f"Endpoint {ENDPOINT} of account 123456789012 is Updating, not InService."
    endpoint.add_client_error("invoke_endpoint", service_error_code="ValidationError", service_message=message)

    with pytest.raises(Exception) as raised:
        app.handler(event(package), context)

    assert type(raised.value).__name__ == "ValidationError" and message in str(raised.value)


def test_a_throttled_invoke_is_sagemaker_unavailable_which_the_state_machine_retries(app, package, endpoint, context):
    endpoint.add_client_error("invoke_endpoint", service_error_code="ThrottlingException", service_message="slow")

    with pytest.raises(Exception) as raised:
        app.handler(event(package), context)

    assert type(raised.value).__name__ == "SageMakerUnavailable" and "slow" in str(raised.value)


def test_a_model_without_smoke_rows_is_smoke_test_unavailable(app, package, endpoint, context):
    boto3.client("s3").delete_object(Bucket=ARTIFACTS, Key=f"{RUN}/smoke.json")

    with pytest.raises(Exception) as raised:
        app.handler(event(package), context)

    assert type(raised.value).__name__ == "SmokeTestUnavailable"
    assert str(raised.value).startswith(f"s3://{ARTIFACTS}/{RUN}/smoke.json does not exist")


def test_a_package_without_an_evaluation_is_smoke_test_unavailable(app, endpoint, context):
    bare = register(None)

    with pytest.raises(Exception) as raised:
        app.handler(event(bare), context)

    assert type(raised.value).__name__ == "SmokeTestUnavailable"
    assert str(raised.value).startswith(f"model package {bare} records no evaluation")


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"model_package_arn": None}, "field 'model_package_arn' is null"),
        ({"endpoint_name": ["fraud"]}, "field 'endpoint_name' must be a string"),
    ],
)
def test_a_malformed_event_is_invalid_payload_naming_the_field(app, package, context, broken, message):
    with pytest.raises(Exception) as raised:
        app.handler({**event(package), **broken}, context)

    assert type(raised.value).__name__ == "InvalidPayload"
    assert str(raised.value).startswith(f"smoke_test: {message}")
