"""The local cloud's GetMetricStatistics counts the metric of exactly the dimensions asked for, as CloudWatch does
(moto alone counts every metric that includes them): SageMaker's metrics per variant and per variant and endpoint
config are then two metrics, and an alarm on either sees only its own."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from cd4ml.localcloud import cloudwatch_alarms

VARIANT = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]
NEW_FLEET = [*VARIANT, {"Name": "EndpointConfigName", "Value": "ep-v2"}]


@pytest.fixture
def cloudwatch(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    cloudwatch_alarms.install()
    with mock_aws():
        yield from _with_metrics(boto3.client("cloudwatch", region_name="us-east-1"))


def _with_metrics(client):
    now = datetime.now(UTC)
    client.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {"MetricName": "ModelLatency", "Dimensions": VARIANT, "Value": 1_000.0, "Timestamp": now},
            {"MetricName": "ModelLatency", "Dimensions": NEW_FLEET, "Value": 300_000.0, "Timestamp": now},
        ],
    )
    yield client


def statistic(client, dimensions) -> list[float]:
    now = datetime.now(UTC)
    points = client.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Dimensions=dimensions,
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=600,
        Statistics=["Average", "SampleCount"],
    )["Datapoints"]
    return [(p["Average"], p["SampleCount"]) for p in points]


def test_each_dimension_set_is_its_own_metric(cloudwatch):
    assert statistic(cloudwatch, VARIANT) == [(1_000.0, 1.0)]
    assert statistic(cloudwatch, NEW_FLEET) == [(300_000.0, 1.0)]
    assert statistic(cloudwatch, VARIANT[:1]) == []  # no metric has the endpoint's name alone


def test_listing_metrics_still_matches_any_that_include_the_dimensions(cloudwatch):
    listed = cloudwatch.list_metrics(Namespace="AWS/SageMaker", Dimensions=[{"Name": "EndpointName", "Value": "ep"}])
    assert len(listed["Metrics"]) == 2
