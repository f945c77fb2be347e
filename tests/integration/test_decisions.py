"""`POST /decisions` of template.yaml on the local cloud, as a client calls it: SigV4-signed `requests` to the stack
output `DecisionApiUrl`, in front of a real model trained and deployed by the stack's own pipelines. A decision's
score is the endpoint's own answer for the same feature vector, the customer's state is in CustomerFeaturesTable,
the `Decision Made` event is delivered; bad input and bad days answer 400 / 403 / 502 / 503; and a replayed order
stream gets, through the function, the feature job's vectors (read back from the endpoint's capture files)."""

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from cd4ml_model.features import feature_columns
from cd4ml_shared.decisions import model_request_body, parse_model_score
from cd4ml_shared.online_features import EMPTY, feature_names, features_for, from_item, updated
from quick_model import failing_code
from trained_model import NOW, QUICK_DEPLOYMENTS, Inbox, deployed_model, register_like, version_of

from cd4ml.data import generate_orders
from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

SAMPLE = json.loads((Path(__file__).parents[2] / "events" / "http_api_request.json").read_text())["body"]
# the decision band of the test stack: review from half the operating point, decline halfway from it to 1
DECISION_PARAMETERS = {**QUICK_DEPLOYMENTS, "DecisionReviewBelow": "0.5", "DecisionDeclineAbove": "0.5"}


class SigV4(requests.auth.AuthBase):
    """Signs a request for API Gateway (service `execute-api`), as a client of the decision API on AWS does."""

    def __init__(self, region: str) -> None:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        self.credentials, self.region = session.get_credentials(), region

    def __call__(self, request):
        signed = AWSRequest(method=request.method, url=request.url, data=request.body or b"")
        signed.headers["Content-Type"] = request.headers.get("content-type", "application/json")
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", DECISION_PARAMETERS) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def served(cloud):
    """The training pipeline's model, registered Approved (dev) and deployed by the deployment workflow."""
    return deployed_model(cloud)


@pytest.fixture(scope="module")
def decide(cloud, served):
    url = cloud.stack.outputs["DecisionApiUrl"] + "decisions"
    auth = SigV4(cloud.region)

    def post(order: dict | str) -> requests.Response:
        body = order if isinstance(order, str) else json.dumps(order)
        return requests.post(url, data=body, headers={"content-type": "application/json"}, auth=auth, timeout=30)

    return post


@pytest.fixture(scope="module")
def decisions(cloud):
    """Every Decision Made event, through a rule on the default bus to an SQS queue, by inference id."""
    inbox = Inbox(cloud, "decisions-made")
    events = cloud.client("events")
    events.put_rule(Name="decisions-made", EventPattern=json.dumps({"source": ["cd4ml.decisions"]}))
    events.put_targets(Rule="decisions-made", Targets=[{"Id": "queue", "Arn": inbox.arn}])
    kept: dict[str, dict] = {}

    def received(inference_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while inference_id not in kept and time.monotonic() < deadline:
            kept.update((event["detail"]["inference_id"], event) for event in inbox.take(wait_s=1))
        return kept[inference_id]

    return received


def order(customer: str, at: datetime, **changes) -> dict:
    return {**json.loads(SAMPLE), "customer_id": customer, "order_ts": at.isoformat(), **changes}


def state_of(cloud, customer: str):
    table = cloud.physical_id("CustomerFeaturesTable")
    item = cloud.client("dynamodb").get_item(TableName=table, Key={"customer_id": {"S": customer}}).get("Item")
    return from_item(item)


def endpoint_score(cloud, vector: list[float]) -> float:
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=cloud.stack.outputs["EndpointName"],
        Body=model_request_body(vector).encode(),
        ContentType="text/csv",
        Accept="application/json",
    )
    return parse_model_score(answer["Body"].read(), answer["ContentType"])


def test_a_signed_order_gets_the_endpoints_own_score_updates_the_state_and_is_published(
    cloud, served, decide, decisions
):
    first = order("c-api-1", NOW - timedelta(hours=2), order_id="o-api-1")
    second = order("c-api-1", NOW - timedelta(hours=1), order_id="o-api-2", order_amount=4_000.0)

    answers = [decide(first), decide(second)]

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    result = answers[1].json()
    expected_vector = features_for(second, updated(EMPTY, first))  # the second order sees the first
    assert result["score"] == endpoint_score(cloud, expected_vector)
    assert result["model_version"] == served["ModelPackageVersion"]
    # the operating point's evaluation.json is where DecideFunction's policy lets it read (IAM is not enforced locally)
    evaluation = served["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert evaluation.startswith(f"s3://{cloud.physical_id('ArtifactsBucket')}/runs/")
    thresholds = result["thresholds"]
    assert thresholds["review"] == pytest.approx(thresholds["operating_point"] * 0.5)
    assert thresholds["decline"] == pytest.approx(
        thresholds["operating_point"] + (1 - thresholds["operating_point"]) / 2
    )
    band = (
        "approve"
        if result["score"] < thresholds["review"]
        else "decline"
        if result["score"] >= thresholds["decline"]
        else "review"
    )
    assert result["decision"] == band
    assert state_of(cloud, "c-api-1") == updated(updated(EMPTY, first), second)
    event = decisions(result["inference_id"])
    assert event["detail-type"] == "Decision Made" and event["source"] == "cd4ml.decisions"
    assert event["detail"]["order_id"] == "o-api-2" and event["detail"]["score"] == result["score"]


def test_a_retried_order_gets_its_first_answer_again_and_a_reused_order_id_409(cloud, decide, decisions):
    sent = order("c-api-retry", NOW - timedelta(minutes=5), order_id="o-api-retry")

    first, again = decide(sent), decide(sent)

    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert state_of(cloud, "c-api-retry").seen == 1  # counted once in the customer's features
    decisions(first.json()["inference_id"])  # the first was announced
    changed = decide({**sent, "order_amount": sent["order_amount"] + 1})
    assert changed.status_code == 409 and changed.json()["order_id"] == "o-api-retry"


def test_concurrent_orders_of_one_customer_lose_no_update(cloud, decide):
    """Eight orders of one customer at once (eight function environments): each is folded into the state."""
    orders = [order("c-api-busy", NOW - timedelta(minutes=10 - i), order_id=f"o-busy-{i}") for i in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(decide, orders))

    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    state = state_of(cloud, "c-api-busy")
    assert state.seen == 8 and len(state.seconds) == 8


def test_a_malformed_order_answers_400_naming_the_field(cloud, decide):
    answer = decide(order("c-api-bad", NOW, num_items="two"))

    assert answer.status_code == 400
    assert answer.json()["field"] == "num_items"
    assert state_of(cloud, "c-api-bad").seen == 0


def test_an_unsigned_request_is_forbidden(cloud, served):
    url = cloud.stack.outputs["DecisionApiUrl"] + "decisions"
    answer = requests.post(url, data=SAMPLE, headers={"content-type": "application/json"}, timeout=30)
    assert answer.status_code == 403


def test_online_features_through_the_api_equal_the_feature_jobs(cloud, decide):
    """A generated stream replayed in time order through the API; the vectors the function sent, read back from
    the endpoint's capture files by inference id, equal the feature job's for the same orders."""
    table = generate_orders(120, seed=7, start=NOW - timedelta(days=3), days=3)
    table = table.sort_by("order_ts")
    rows = table.to_pylist()
    sent: dict[str, dict] = {}
    for row in rows:
        row = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "is_fraud"}
        answer = decide(row)
        assert answer.status_code == 200, answer.text
        sent[answer.json()["inference_id"]] = row
    cloud.sagemaker_endpoints.flush()
    captured = captured_inputs(cloud)
    offline = feature_columns(table)
    with_history = int(np.sum(offline["customer_orders_30d"] > 0))
    assert with_history >= 20, f"only {with_history} of {len(rows)} orders have a customer history: a weak replay"
    names = feature_names()
    for index, (inference_id, row) in enumerate(sent.items()):
        online = [float(c) if c else float("nan") for c in captured[inference_id].strip().split(",")]
        expected = [float(offline[name][index]) for name in names]
        assert len(online) == len(expected)
        np.testing.assert_allclose(online, expected, rtol=1e-9, atol=0, equal_nan=True, err_msg=row["order_id"])


def captured_inputs(cloud) -> dict[str, str]:
    """The CSV body of each captured request, by inference id (the endpoint's data capture files)."""
    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    bodies: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="capture/"):
        for entry in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode().splitlines():
                record = json.loads(line)
                inference_id = record["eventMetadata"].get("inferenceId")
                if inference_id:
                    data = record["captureData"]["endpointInput"]
                    bodies[inference_id] = (
                        base64.b64decode(data["data"]).decode() if data["encoding"] == "BASE64" else data["data"]
                    )
    return bodies


def test_a_missing_endpoint_answers_503_with_retry_after(cloud, served, decide):
    sagemaker = cloud.client("sagemaker")
    name = cloud.stack.outputs["EndpointName"]
    config = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    sagemaker.delete_endpoint(EndpointName=name)
    try:
        answer = decide(order("c-api-503", NOW))
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
        assert state_of(cloud, "c-api-503").seen == 0
    finally:
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
        deadline = time.monotonic() + 60
        while sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_a_model_error_answers_502(cloud, served, decide):
    """Last: the endpoint is moved (all at once, outside the deployment workflow) to a version of the same package
    whose serving code raises on every request, then back."""
    sagemaker = cloud.client("sagemaker")
    name = cloud.stack.outputs["EndpointName"]
    serving = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    environment = failing_code(cloud)
    # a version left pending: no deployment starts
    arn = register_like(cloud, served, container={"Environment": environment}, approval="PendingManualApproval")
    failing = f"{name}-v{version_of(arn)}"
    sagemaker.create_model(
        ModelName=failing,
        PrimaryContainer={"ModelPackageName": arn},
        ExecutionRoleArn=cloud.attribute("SageMakerExecutionRole", "Arn"),
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=failing,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": failing,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    move(sagemaker, name, failing)
    try:
        answer = decide(order("c-api-502", NOW))
        assert answer.status_code == 502, answer.text
        assert "this version cannot score" in answer.json()["message"]
        assert state_of(cloud, "c-api-502").seen == 0
    finally:
        move(sagemaker, name, serving)


def move(sagemaker, name: str, config: str) -> None:
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config)
    deadline = time.monotonic() + 60
    while (described := sagemaker.describe_endpoint(EndpointName=name))["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, described
        time.sleep(0.1)
    assert described["EndpointConfigName"] == config, described
