"""SageMaker endpoints on the local cloud, driven through boto3 as a user would: serving, capture, blue/green updates
with alarm rollback, state-change events and the errors InvokeEndpoint answers."""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures" / "sagemaker_endpoints"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
BUCKET = "endpoint-models"


class EventLog:
    """Every event the "SageMaker Endpoint State Change" rule delivered to its queue, kept across tests."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.events: list[dict[str, Any]] = []

    def statuses(self, endpoint: str, until: str | None = None, count: int = 0, timeout: float = 10.0) -> list[str]:
        """The EndpointStatus sequence of an endpoint's events, waiting for `count` of them (or for `until`)."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                self.events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            statuses = [e["detail"]["EndpointStatus"] for e in self.of(endpoint)]
            if len(statuses) >= count and (until is None or (statuses and statuses[-1] == until)):
                return statuses
            if time.monotonic() > deadline:
                return statuses
            time.sleep(0.05)

    def of(self, endpoint: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["detail"]["EndpointName"] == endpoint]


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as cloud:
        cloud.client("s3").create_bucket(Bucket=BUCKET)
        yield cloud


@pytest.fixture(scope="module")
def events(cloud: LocalCloud) -> EventLog:
    sqs, eventbridge = cloud.client("sqs"), cloud.client("events")
    queue_url = sqs.create_queue(QueueName="endpoint-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"]}
    eventbridge.put_rule(Name="endpoint-state", EventPattern=json.dumps(pattern))
    eventbridge.put_targets(Rule="endpoint-state", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return EventLog(sqs, queue_url)


def model_archive(code: str, model: dict[str, Any] | None) -> bytes:
    """A model.tar.gz as SageMaker training writes it, with the inference script under code/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(FIXTURES / code / "code", arcname="code")
        if model is not None:
            data = json.dumps(model).encode("utf-8")
            info = tarfile.TarInfo("model.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def linear_model(cloud: LocalCloud, name: str, weights: list[float], bias: float, **extra: Any) -> str:
    """Register a SageMaker model whose archive holds the linear scorer with these weights."""
    key = f"models/{name}/model.tar.gz"
    body = model_archive("linear", {"weights": weights, "bias": bias, "version": name, **extra})
    cloud.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    container = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"}
    cloud.client("sagemaker").create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    return name


def endpoint_config(cloud: LocalCloud, name: str, *variants: tuple[str, str, float], **options: Any) -> str:
    production_variants = [
        {
            "VariantName": variant,
            "ModelName": model,
            "InitialVariantWeight": weight,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
        }
        for variant, model, weight in variants
    ]
    cloud.client("sagemaker").create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=production_variants, **options
    )
    return name


def wait_for_endpoint(cloud: LocalCloud, name: str, timeout: float = 30.0) -> dict[str, Any]:
    sagemaker = cloud.client("sagemaker")
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=name)
        if description["EndpointStatus"] not in ("Creating", "Updating", "RollingBack"):
            return description
        assert time.monotonic() < deadline, f"endpoint {name} still {description['EndpointStatus']}"
        time.sleep(0.05)


def serve(cloud: LocalCloud, endpoint: str, config: str) -> dict[str, Any]:
    cloud.client("sagemaker").create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    return wait_for_endpoint(cloud, endpoint)


def predict(runtime: Any, endpoint: str, row: list[float], **options: Any) -> dict[str, Any]:
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=",".join(str(x) for x in row), ContentType="text/csv", **options
    )
    result: dict[str, Any] = json.loads(answer["Body"].read())
    result["variant"] = answer["InvokedProductionVariant"]
    return result


def strict_runtime(cloud: LocalCloud) -> Any:
    """A sagemaker-runtime client that never retries, so that a single failed request shows."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


class Caller(threading.Thread):
    """An application calling the endpoint in a loop, recording every answer and every failure."""

    def __init__(self, cloud: LocalCloud, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.runtime = strict_runtime(cloud)
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.versions: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.versions.append(predict(self.runtime, self.endpoint, [1.0, 1.0])["version"])
            except ClientError as error:
                self.failures.append(error.response["Error"]["Code"])
            except Exception as error:  # a connection failure would be a dropped request too
                self.failures.append(repr(error))

    def finish(self) -> Caller:
        self.stop.set()
        self.join(10)
        return self


# ---- serving ---------------------------------------------------------------------------------------------------
def test_endpoint_serves_the_models_predictions(cloud: LocalCloud) -> None:
    linear_model(cloud, "scorer-v1", [1.0, 2.0], 0.5)
    endpoint_config(cloud, "scorer-config", ("AllTraffic", "scorer-v1", 1.0))

    description = serve(cloud, "scorer", "scorer-config")

    assert description["EndpointStatus"] == "InService"
    assert description["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == IMAGE
    runtime = cloud.client("sagemaker-runtime")
    assert predict(runtime, "scorer", [1.0, 2.0]) == {
        "predictions": [5.5],
        "version": "scorer-v1",
        "variant": "AllTraffic",
    }
    answer = runtime.invoke_endpoint(
        EndpointName="scorer", Body=json.dumps({"instances": [[0, 1], [2, 0]]}), ContentType="application/json"
    )
    assert answer["ContentType"] == "application/json"
    assert json.loads(answer["Body"].read())["predictions"] == [2.5, 2.5]


def test_endpoint_publishes_its_invocation_metrics(cloud: LocalCloud) -> None:
    linear_model(cloud, "metered-v1", [1.0, 1.0], 0.0)
    endpoint_config(cloud, "metered-config", ("AllTraffic", "metered-v1", 1.0))
    serve(cloud, "metered", "metered-config")
    runtime = cloud.client("sagemaker-runtime")
    for _ in range(3):
        predict(runtime, "metered", [1.0, 1.0])
    with pytest.raises(ClientError):
        predict(runtime, "metered", [-1.0, 1.0])

    cloud.sagemaker_endpoints.flush()

    def statistic(metric: str, stat: str) -> float:
        now = datetime.now(UTC)
        points = cloud.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[{"Name": "EndpointName", "Value": "metered"}, {"Name": "VariantName", "Value": "AllTraffic"}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1),
            Period=360,
            Statistics=[stat],
        )["Datapoints"]
        return float(sum(point[stat] for point in points))

    assert statistic("Invocations", "Sum") == 4
    assert statistic("Invocation5XXErrors", "Sum") == 1
    assert statistic("Invocation4XXErrors", "Sum") == 0
    assert statistic("ModelLatency", "SampleCount") == 4
    assert statistic("ModelLatency", "Maximum") > 0  # microseconds spent in the model


def test_traffic_is_split_by_variant_weight_and_target_variant_is_honoured(cloud: LocalCloud) -> None:
    linear_model(cloud, "split-a", [1.0, 0.0], 0.0)
    linear_model(cloud, "split-b", [0.0, 1.0], 0.0)
    endpoint_config(cloud, "split-config", ("Champion", "split-a", 3.0), ("Challenger", "split-b", 1.0))
    serve(cloud, "split", "split-config")
    runtime = cloud.client("sagemaker-runtime")

    variants = [predict(runtime, "split", [1.0, 1.0])["variant"] for _ in range(200)]

    assert 0.65 < variants.count("Champion") / len(variants) < 0.85
    targeted = [predict(runtime, "split", [1.0, 1.0], TargetVariant="Challenger") for _ in range(5)]
    assert {(t["variant"], t["version"]) for t in targeted} == {("Challenger", "split-b")}


def test_binary_payloads_reach_the_model_and_come_back_unchanged(cloud: LocalCloud) -> None:
    cloud.client("s3").put_object(Bucket=BUCKET, Key="models/echo/model.tar.gz", Body=model_archive("echo", None))
    cloud.client("sagemaker").create_model(
        ModelName="echo",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/echo/model.tar.gz"},
    )
    endpoint_config(cloud, "echo-config", ("AllTraffic", "echo", 1.0))
    serve(cloud, "echo", "echo-config")
    payload = bytes(range(256)) * 4  # not UTF-8

    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="echo", Body=payload, ContentType="application/x-image"
    )

    assert answer["Body"].read() == payload[::-1]
    assert answer["ContentType"] == "application/octet-stream"


# ---- data capture ----------------------------------------------------------------------------------------------
def test_data_capture_writes_requests_and_responses_in_sagemakers_format(cloud: LocalCloud) -> None:
    linear_model(cloud, "captured-v1", [1.0, 1.0], 0.0)
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{BUCKET}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    endpoint_config(cloud, "captured-config", ("AllTraffic", "captured-v1", 1.0), DataCaptureConfig=capture)
    description = serve(cloud, "captured", "captured-config")
    assert description["DataCaptureConfig"]["CurrentSamplingPercentage"] == 100
    runtime = cloud.client("sagemaker-runtime")
    for index in range(3):
        predict(runtime, "captured", [float(index), 1.0], InferenceId=f"order-{index}")

    cloud.sagemaker_endpoints.flush()

    s3 = cloud.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="capture/")["Contents"]]
    assert keys and all(
        re.fullmatch(r"capture/captured/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl", k)
        for k in keys
    )
    lines = [json.loads(line) for k in keys for line in s3.get_object(Bucket=BUCKET, Key=k)["Body"].iter_lines()]
    assert sorted(line["eventMetadata"]["inferenceId"] for line in lines) == ["order-0", "order-1", "order-2"]
    first = next(line for line in lines if line["eventMetadata"]["inferenceId"] == "order-1")
    assert first["eventVersion"] == "0"
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "1.0,1.0",
        "encoding": "CSV",
    }
    output = first["captureData"]["endpointOutput"]
    assert (output["observedContentType"], output["mode"], output["encoding"]) == ("application/json", "OUTPUT", "JSON")
    assert json.loads(output["data"]) == {"predictions": [2.0], "version": "captured-v1"}
    assert re.fullmatch(r"[0-9a-f-]{36}", first["eventMetadata"]["eventId"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", first["eventMetadata"]["inferenceTime"])


# ---- updates ---------------------------------------------------------------------------------------------------
def test_update_to_a_new_model_drops_no_request(cloud: LocalCloud, events: EventLog) -> None:
    linear_model(cloud, "rolling-v1", [1.0, 1.0], 0.0)
    linear_model(cloud, "rolling-v2", [2.0, 2.0], 0.0)
    endpoint_config(cloud, "rolling-config-v1", ("AllTraffic", "rolling-v1", 1.0))
    endpoint_config(cloud, "rolling-config-v2", ("AllTraffic", "rolling-v2", 1.0))
    serve(cloud, "rolling", "rolling-config-v1")
    caller = Caller(cloud, "rolling")
    caller.start()
    time.sleep(0.3)

    cloud.client("sagemaker").update_endpoint(EndpointName="rolling", EndpointConfigName="rolling-config-v2")
    assert cloud.client("sagemaker").describe_endpoint(EndpointName="rolling")["EndpointStatus"] == "Updating"
    description = wait_for_endpoint(cloud, "rolling")
    time.sleep(0.3)
    caller.finish()

    assert caller.failures == []
    assert description["EndpointStatus"] == "InService"
    assert description["EndpointConfigName"] == "rolling-config-v2"
    assert "FailureReason" not in description
    assert caller.versions[0] == "rolling-v1" and caller.versions[-1] == "rolling-v2"
    assert predict(cloud.client("sagemaker-runtime"), "rolling", [1.0, 1.0])["predictions"] == [4.0]
    assert events.statuses("rolling", count=4) == ["CREATING", "IN_SERVICE", "UPDATING", "IN_SERVICE"]
    assert events.of("rolling")[-1]["detail"]["EndpointConfigName"] == "rolling-config-v2"


def test_canary_update_whose_model_fails_is_rolled_back_by_its_alarm(cloud: LocalCloud, events: EventLog) -> None:
    linear_model(cloud, "canary-v1", [1.0, 1.0], 0.0)
    linear_model(cloud, "canary-v2", [1.0, 1.0], 0.0, broken=True)
    endpoint_config(cloud, "canary-config-v1", ("AllTraffic", "canary-v1", 1.0))
    endpoint_config(cloud, "canary-config-v2", ("AllTraffic", "canary-v2", 1.0))
    serve(cloud, "canary", "canary-config-v1")
    cloudwatch = cloud.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="canary-5xx",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": "canary"}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    caller = Caller(cloud, "canary")
    caller.start()
    deployment = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 20,  # the alarm ends the bake long before
            },
            "TerminationWaitInSeconds": 0,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "canary-5xx"}]},
    }

    started = time.monotonic()
    cloud.client("sagemaker").update_endpoint(
        EndpointName="canary", EndpointConfigName="canary-config-v2", DeploymentConfig=deployment
    )
    description = wait_for_endpoint(cloud, "canary")
    rolled_back_in = time.monotonic() - started
    caller.finish()

    assert description["EndpointStatus"] == "InService"
    assert description["EndpointConfigName"] == "canary-config-v1"  # AWS keeps the old config: check it after updates
    assert "canary-5xx" in description["FailureReason"]
    assert description["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": "canary-5xx"}]
    assert rolled_back_in < 15
    assert "ModelError" in caller.failures  # the canary's share of traffic did hit the broken model
    assert predict(strict_runtime(cloud), "canary", [1.0, 2.0]) == {
        "predictions": [3.0],
        "version": "canary-v1",
        "variant": "AllTraffic",
    }
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["canary-5xx"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    # SageMaker reports a blue/green rollback as the end of the update: no RollingBack status in between
    assert events.statuses("canary", count=4) == ["CREATING", "IN_SERVICE", "UPDATING", "IN_SERVICE"]
    assert events.of("canary")[-1]["detail"]["EndpointConfigName"] == "canary-config-v1"


def test_update_to_a_model_that_cannot_load_keeps_the_old_one_serving(cloud: LocalCloud) -> None:
    linear_model(cloud, "steady-v1", [1.0, 1.0], 1.0)
    cloud.client("s3").put_object(
        Bucket=BUCKET, Key="models/unloadable/model.tar.gz", Body=model_archive("broken_model_fn", None)
    )
    cloud.client("sagemaker").create_model(
        ModelName="unloadable",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/unloadable/model.tar.gz"},
    )
    endpoint_config(cloud, "steady-config-v1", ("AllTraffic", "steady-v1", 1.0))
    endpoint_config(cloud, "steady-config-v2", ("AllTraffic", "unloadable", 1.0))
    serve(cloud, "steady", "steady-config-v1")

    cloud.client("sagemaker").update_endpoint(EndpointName="steady", EndpointConfigName="steady-config-v2")
    description = wait_for_endpoint(cloud, "steady")

    assert (description["EndpointStatus"], description["EndpointConfigName"]) == ("InService", "steady-config-v1")
    assert "no model.pt" in description["FailureReason"]
    assert predict(cloud.client("sagemaker-runtime"), "steady", [1.0, 1.0])["version"] == "steady-v1"


def test_update_of_a_missing_or_failed_endpoint_is_refused(cloud: LocalCloud) -> None:
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(
        ModelName="lost",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/lost/model.tar.gz"},
    )
    endpoint_config(cloud, "lost-config", ("AllTraffic", "lost", 1.0))
    assert serve(cloud, "lost", "lost-config")["EndpointStatus"] == "Failed"

    with pytest.raises(ClientError) as missing:
        sagemaker.update_endpoint(EndpointName="no-such-endpoint", EndpointConfigName="lost-config")
    with pytest.raises(ClientError) as failed:
        sagemaker.update_endpoint(EndpointName="lost", EndpointConfigName="lost-config")

    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find endpoint" in missing.value.response["Error"]["Message"]
    assert failed.value.response["Error"]["Code"] == "ValidationException"
    assert "Cannot update in-progress endpoint" in failed.value.response["Error"]["Message"]


# ---- failures --------------------------------------------------------------------------------------------------
def test_endpoint_whose_model_fn_raises_fails_with_the_reason(cloud: LocalCloud, events: EventLog) -> None:
    cloud.client("s3").put_object(
        Bucket=BUCKET, Key="models/no-weights/model.tar.gz", Body=model_archive("broken_model_fn", None)
    )
    cloud.client("sagemaker").create_model(
        ModelName="no-weights",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/no-weights/model.tar.gz"},
    )
    endpoint_config(cloud, "no-weights-config", ("AllTraffic", "no-weights", 1.0))

    description = serve(cloud, "no-weights", "no-weights-config")

    assert description["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in description["FailureReason"]
    assert "FileNotFoundError: no model.pt" in description["FailureReason"]
    assert events.statuses("no-weights", until="FAILED") == ["CREATING", "FAILED"]
    assert events.of("no-weights")[-1]["detail"]["FailureReason"] == description["FailureReason"]
    with pytest.raises(ClientError) as refused:
        predict(cloud.client("sagemaker-runtime"), "no-weights", [1.0, 1.0])
    assert refused.value.response["Error"]["Code"] == "ValidationError"


def test_endpoint_with_an_image_the_local_cloud_cannot_run_fails(cloud: LocalCloud) -> None:
    cloud.client("sagemaker").create_model(
        ModelName="custom-image",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/our-own-server:latest"},
    )
    endpoint_config(cloud, "custom-image-config", ("AllTraffic", "custom-image", 1.0))

    description = serve(cloud, "custom-image", "custom-image-config")

    assert description["EndpointStatus"] == "Failed"
    assert "our-own-server" in description["FailureReason"] and "sagemaker/images.py" in description["FailureReason"]


def test_endpoint_whose_model_data_is_missing_fails(cloud: LocalCloud) -> None:
    cloud.client("sagemaker").create_model(
        ModelName="vanished",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/vanished/model.tar.gz"},
    )
    endpoint_config(cloud, "vanished-config", ("AllTraffic", "vanished", 1.0))

    description = serve(cloud, "vanished", "vanished-config")

    assert description["EndpointStatus"] == "Failed"
    assert description["FailureReason"] == f"Could not find model data at s3://{BUCKET}/models/vanished/model.tar.gz."


def test_invoking_a_missing_endpoint_is_a_validation_error(cloud: LocalCloud) -> None:
    with pytest.raises(ClientError) as error:
        cloud.client("sagemaker-runtime").invoke_endpoint(EndpointName="nowhere", Body=b"1,2", ContentType="text/csv")

    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert error.value.response["Error"]["Message"] == "Endpoint nowhere of account 123456789012 not found."
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_model_failing_on_one_input_is_a_model_error_with_the_original_status(cloud: LocalCloud) -> None:
    linear_model(cloud, "picky-v1", [1.0, 1.0], 0.0)
    endpoint_config(cloud, "picky-config", ("AllTraffic", "picky-v1", 1.0))
    serve(cloud, "picky", "picky-config")
    runtime = cloud.client("sagemaker-runtime")

    with pytest.raises(ClientError) as error:
        predict(runtime, "picky", [-1.0, 1.0])

    response = error.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 500
    assert response["OriginalMessage"] == "ValueError: negative first feature: -1.0"
    assert response["LogStreamArn"].endswith(":log-group:/aws/sagemaker/Endpoints/picky")
    assert predict(runtime, "picky", [1.0, 1.0])["predictions"] == [2.0]  # the endpoint serves on


def test_deleting_an_endpoint_stops_its_servers(cloud: LocalCloud, events: EventLog) -> None:
    import http.client
    from urllib.parse import urlsplit

    linear_model(cloud, "doomed-v1", [1.0, 1.0], 0.0)
    endpoint_config(cloud, "doomed-config", ("AllTraffic", "doomed-v1", 1.0))
    serve(cloud, "doomed", "doomed-config")
    url = urlsplit(cloud.sagemaker_endpoints.servers("doomed")["AllTraffic"])

    cloud.client("sagemaker").delete_endpoint(EndpointName="doomed")

    assert events.statuses("doomed", until="DELETING")[-1] == "DELETING"
    deadline = time.monotonic() + 10
    while True:
        try:
            connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=1)
            connection.request("GET", "/ping")
            connection.getresponse().read()
            connection.close()
        except OSError:
            break  # nobody listens any more
        assert time.monotonic() < deadline, "the endpoint's server still answers after DeleteEndpoint"
        time.sleep(0.05)
    with pytest.raises(ClientError):
        cloud.client("sagemaker").describe_endpoint(EndpointName="doomed")
