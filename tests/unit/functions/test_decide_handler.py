"""DecideFunction: `POST /decisions` (events/http_api_request.json) through the handler. DynamoDB, the registry,
S3 and EventBridge are moto's (the Decision Made event is routed by a rule to an SQS queue); InvokeEndpoint is
stubbed with botocore's Stubber (moto's answers are canned), so each test sets what the model answers and checks
the feature vector sent."""

import io
import json
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from cd4ml_shared.aws.decisions import read_customer, read_state, save_decision
from cd4ml_shared.decisions import DecisionOutcome, Thresholds, model_request_body, order_fingerprint
from cd4ml_shared.online_features import EMPTY, features_for, to_item, updated

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
STACK = "cd4ml-dev"
ENDPOINT = f"{STACK}-fraud"
GROUP = f"{STACK}-fraud"
TABLE = "cd4ml-dev-CustomerFeaturesTable-EXAMPLE"
EVALUATION = "runs/orders-2026-11-25-3cf9a8ac133a728a/evaluation/evaluation.json"
OPERATING_POINT = 0.4
EVENT = json.loads((Path(__file__).parents[3] / "events" / "http_api_request.json").read_text())
ORDER = json.loads(EVENT["body"])
ENVIRONMENT = {
    "ENDPOINT_NAME": ENDPOINT,
    "MODEL_PACKAGE_ARN_PREFIX": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/",
    "CUSTOMER_FEATURES_TABLE": TABLE,
    "REVIEW_BELOW": "0.5",
    "DECLINE_ABOVE": "0.5",
}


def request(**changes) -> dict:
    return {**EVENT, "body": json.dumps({**ORDER, **changes})}


@pytest.fixture
def world(aws):
    """The stack as the template makes it, with version 1 in service whose evaluation threshold is 0.4."""
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register_version(1, OPERATING_POINT, key=EVALUATION)
    sagemaker.create_model(
        ModelName=f"{ENDPOINT}-v1",
        PrimaryContainer={"Image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{ENDPOINT}-v1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{ENDPOINT}-v1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-v1")


def register_version(version: int, operating_point: float, key: str = "") -> None:
    """An approved version of the group whose evaluation (at `key`) has the threshold `operating_point`."""
    key = key or f"runs/v{version}/evaluation/evaluation.json"
    evaluation = {"binary_classification_metrics": {"threshold": {"value": operating_point}}}
    boto3.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=json.dumps(evaluation).encode())
    sagemaker = boto3.client("sagemaker")
    registered = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": "s3://a/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{ARTIFACTS}/{key}"}}
        },
    )
    assert registered["ModelPackageArn"].endswith(f"/{version}")


@pytest.fixture
def decisions(world):
    """The Decision Made events on the default bus, through a rule to an SQS queue."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="decisions")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="decisions", EventPattern=json.dumps({"source": ["cd4ml.decisions"]}))
    events.put_targets(Rule="decisions", Targets=[{"Id": "queue", "Arn": arn}])

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


@pytest.fixture
def app(world, load_function):
    return load_function("decide", ENVIRONMENT)


@pytest.fixture
def endpoint(app):
    with Stubber(app.clients.runtime) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def answers(endpoint: Stubber, score: float, vector: list[float] | None = None, version: int | None = None) -> None:
    document: dict = {"predictions": [{"score": score, "label": int(score >= OPERATING_POINT)}]}
    if version is not None:
        document["model_version"] = version
    payload = json.dumps(document).encode()
    endpoint.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(payload), len(payload)), "ContentType": "application/json"},
        {
            "EndpointName": ENDPOINT,
            "Body": model_request_body(vector).encode() if vector is not None else ANY,
            "ContentType": "text/csv",
            "Accept": "application/json",
            "InferenceId": ANY,
        },
    )


def body(answer: dict) -> dict:
    return json.loads(answer["body"])


def stored(customer: str):
    return read_state(boto3.client("dynamodb"), TABLE, customer)


def test_an_order_is_decided_with_its_online_features_and_the_versions_thresholds(app, endpoint, decisions, context):
    answers(endpoint, 0.3, features_for(ORDER, EMPTY))  # a new customer: no history

    answer = app.handler(EVENT, context)

    assert answer["statusCode"] == 200, answer
    result = body(answer)
    # review = 0.4 * (1 - 0.5), decline = 0.4 + 0.6 * 0.5
    assert result["thresholds"] == {"operating_point": 0.4, "review": 0.2, "decline": pytest.approx(0.7)}
    assert (result["decision"], result["score"], result["model_version"]) == ("review", 0.3, 1)
    assert stored(ORDER["customer_id"]) == updated(EMPTY, ORDER)
    (event,) = decisions()
    assert (event["source"], event["detail-type"]) == ("cd4ml.decisions", "Decision Made")
    assert event["detail"] == {
        **result,
        "customer_id": ORDER["customer_id"],
        "endpoint_name": ENDPOINT,
        "order": ORDER,  # the raw order, for the decision log (its timestamp is already ISO 8601 UTC with Z)
    }


def test_the_event_carries_the_raw_order_with_its_timestamp_in_utc_and_without_the_unknown_fields(
    app, endpoint, decisions, context
):
    answers(endpoint, 0.05)

    app.handler(request(order_ts="2026-12-01T23:14:59+01:00", coupon="WINTER"), context)

    (event,) = decisions()
    assert event["detail"]["order"] == {**ORDER, "order_ts": "2026-12-01T22:14:59Z"}


def test_the_inference_id_is_sent_to_the_endpoint_answered_and_published(app, decisions, context):
    with Stubber(app.clients.runtime) as stubber:
        answers(stubber, 0.05)
        seen: dict = {}
        app.clients.runtime.meta.events.register(
            "before-parameter-build.sagemaker-runtime.InvokeEndpoint", lambda params, **_: seen.update(params)
        )
        result = body(app.handler(EVENT, context))
    assert result["decision"] == "approve"
    assert seen["InferenceId"] == result["inference_id"] == decisions()[0]["detail"]["inference_id"]


def test_the_next_order_of_a_customer_sees_the_previous_one(app, endpoint, context):
    later = {**ORDER, "order_id": "o-000124", "order_ts": "2026-12-01T23:14:59Z", "order_amount": 900.0}
    answers(endpoint, 0.1, features_for(ORDER, EMPTY))
    answers(endpoint, 0.9, features_for(later, updated(EMPTY, ORDER)))

    app.handler(EVENT, context)
    result = body(app.handler(request(**later), context))

    assert result["decision"] == "decline"
    assert stored(ORDER["customer_id"]).seen == 2


def outcome_of(order: dict, inference_id: str, decision: str = "approve") -> DecisionOutcome:
    return DecisionOutcome(
        inference_id=inference_id,
        order_id=order["order_id"],
        customer_id=order["customer_id"],
        decision=decision,  # type: ignore[arg-type]
        score=0.1,
        model_version=1,
        thresholds=Thresholds(0.4, 0.2, 0.7),
    )


def test_a_concurrent_update_of_the_customer_is_not_lost(world):
    dynamodb = boto3.client("dynamodb")
    other = {**ORDER, "order_id": "o-other", "order_ts": "2026-12-01T22:00:00Z"}
    read = read_customer(dynamodb, TABLE, ORDER["customer_id"])  # this order read the empty state...
    dynamodb.put_item(TableName=TABLE, Item=to_item(ORDER["customer_id"], updated(EMPTY, other)))  # ...another wrote

    mine = outcome_of(ORDER, "i-mine")
    kept = save_decision(dynamodb, TABLE, ORDER, read, mine, order_fingerprint(ORDER))

    assert kept is mine
    assert stored(ORDER["customer_id"]) == updated(updated(EMPTY, other), ORDER)
    assert read_customer(dynamodb, TABLE, ORDER["customer_id"]).decisions[-1].outcome == mine


def test_a_retry_that_raced_its_first_attempt_gets_the_first_decision_and_counts_once(world):
    dynamodb = boto3.client("dynamodb")
    fingerprint = order_fingerprint(ORDER)
    stale = read_customer(dynamodb, TABLE, ORDER["customer_id"])  # both attempts read the empty state
    first = outcome_of(ORDER, "i-first", "review")
    assert save_decision(dynamodb, TABLE, ORDER, stale, first, fingerprint) is first

    kept = save_decision(dynamodb, TABLE, ORDER, stale, outcome_of(ORDER, "i-second"), fingerprint)

    assert kept == first
    assert stored(ORDER["customer_id"]).seen == 1


def test_a_retried_order_gets_its_first_answer_again_without_a_second_score(app, endpoint, decisions, context):
    answers(endpoint, 0.3)  # one model answer only: the stubber fails a second InvokeEndpoint

    first = app.handler(EVENT, context)
    again = app.handler(EVENT, context)

    assert first["statusCode"] == again["statusCode"] == 200
    assert body(again) == body(first) and again["headers"]["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first["headers"]
    assert stored(ORDER["customer_id"]).seen == 1
    assert [e["detail"]["inference_id"] for e in decisions()] == [body(first)["inference_id"]]


def test_an_order_id_reused_with_other_fields_answers_409(app, endpoint, context):
    answers(endpoint, 0.3)
    app.handler(EVENT, context)

    answer = app.handler(request(order_amount=ORDER["order_amount"] + 1), context)

    assert answer["statusCode"] == 409
    assert body(answer)["order_id"] == ORDER["order_id"] and "other field values" in body(answer)["message"]
    assert stored(ORDER["customer_id"]).seen == 1


def test_a_canary_answer_is_decided_and_reported_as_the_version_that_gave_it(app, endpoint, context):
    register_version(2, operating_point=0.6)  # version 2 is the canary; the endpoint still names v1's config
    answers(endpoint, 0.25, version=2)

    result = body(app.handler(EVENT, context))

    assert result["model_version"] == 2
    assert result["thresholds"] == {"operating_point": 0.6, "review": 0.3, "decline": pytest.approx(0.8)}
    assert result["decision"] == "approve"  # under v1's thresholds (review from 0.2) it would be review


def test_a_malformed_order_answers_400_naming_the_field_and_calls_nothing(app, endpoint, context):
    answer = app.handler(request(order_amount="lots"), context)

    assert answer["statusCode"] == 400
    assert body(answer) == {
        "message": "order field 'order_amount': expected a number, got str \"lots\"",
        "field": "order_amount",
    }
    assert stored(ORDER["customer_id"]).seen == 0


@pytest.mark.parametrize(
    ("code", "message", "http", "status"),
    [
        ("ValidationError", f"Endpoint {ENDPOINT} of account 123456789012 not found.", 400, 503),
        ("ValidationError", f"Endpoint {ENDPOINT} of account 123456789012 is Creating, not InService.", 400, 503),
        ("ThrottlingException", "Rate exceeded", 400, 503),
        ("ModelError", 'Received server error (500) from primary with message "ValueError: boom"', 424, 502),
        ("AccessDeniedException", "not authorized to perform sagemaker:InvokeEndpoint", 400, 500),
    ],
)
def test_bad_days_answer_without_a_traceback_and_count_no_order(app, endpoint, context, code, message, http, status):
    endpoint.add_client_error(
        "invoke_endpoint", service_error_code=code, service_message=message, http_status_code=http
    )

    answer = app.handler(EVENT, context)

    assert answer["statusCode"] == status, answer
    assert set(body(answer)) == {"message"} and "Traceback" not in answer["body"]
    assert ("retry-after" in answer["headers"]) == (status == 503)
    assert stored(ORDER["customer_id"]).seen == 0  # the client sends it again: it must not count twice


def test_a_missing_endpoint_answers_503_before_any_invocation(app, endpoint, context):
    boto3.client("sagemaker").delete_endpoint(EndpointName=ENDPOINT)

    answer = app.handler(EVENT, context)

    assert answer["statusCode"] == 503 and answer["headers"]["retry-after"] == "5"
    assert ENDPOINT in body(answer)["message"]


def test_an_answer_that_is_not_a_score_is_a_model_failure(app, endpoint, context):
    payload = b'{"predictions": [{"score": NaN}]}'
    endpoint.add_response(
        "invoke_endpoint", {"Body": StreamingBody(io.BytesIO(payload), len(payload)), "ContentType": "application/json"}
    )

    answer = app.handler(EVENT, context)

    assert answer["statusCode"] == 502 and "not a probability" in body(answer)["message"]


def test_an_event_eventbridge_refuses_answers_500_asking_to_send_again(app, endpoint, context):
    answers(endpoint, 0.1)
    with Stubber(app.clients.events) as bus:
        bus.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
        )
        answer = app.handler(EVENT, context)

    assert answer["statusCode"] == 500
    assert body(answer) == {"message": "the decision could not be published; send the order again"}
