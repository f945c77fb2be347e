"""A version that answers correctly but slowly is rolled back while its canary bakes under traffic, by the alarm
the deployment workflow puts on the new fleet alone (ModelLatency with EndpointConfigName=<new config>, over
ModelLatencyBudgetMicroseconds): the workflow fails DeploymentRolledBack naming that alarm, production still serves
the previous version, no request failed meanwhile, and the new fleet's alarms are deleted with the record. (The
stack's own latency alarm averages over both fleets, where the old fleet's fast answers dilute a canary's slow
ones: before the new-fleet alarms, this version was deployed.) Its own stack, so that no alarm left in ALARM
reaches another test's deployment."""

import json
import threading
import time

import pytest
from quick_model import SLOW_SCRIPT, SLOW_SECONDS, serving_code
from trained_model import QUICK_DEPLOYMENTS, deployment, describe_package, endpoint, register_like, train, version_of

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

BUDGET_US = 100_000  # 0.1 s, a third of what the slow version takes per request
PARAMETERS = {**QUICK_DEPLOYMENTS, "BakingPeriodSeconds": "5", "ModelLatencyBudgetMicroseconds": str(BUDGET_US)}


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", PARAMETERS) as cloud:
        yield cloud


def test_a_slow_canary_is_rolled_back_by_the_latency_alarm_with_no_request_failed(cloud):
    arn = train(cloud)
    assert deployment(cloud, version_of(arn))["status"] == "SUCCEEDED"
    package = describe_package(cloud, arn)
    serving = endpoint(cloud)["EndpointConfigName"]
    runtime = cloud.client("sagemaker-runtime")
    answered: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                answer = runtime.invoke_endpoint(
                    EndpointName=cloud.stack.outputs["EndpointName"],
                    ContentType="application/json",
                    Body=b'{"instances": [{}]}',
                )
                answered.append(json.loads(answer["Body"].read())["model_version"])
            except Exception as error:  # any failed request is what the test counts
                errors.append(repr(error))
            time.sleep(0.02)

    callers = [threading.Thread(target=traffic, daemon=True) for _ in range(3)]
    for caller in callers:
        caller.start()
    try:
        slow = register_like(cloud, package, container={"Environment": serving_code(cloud, SLOW_SCRIPT, "slow")})
        execution = deployment(cloud, version_of(slow))
    finally:
        stop.set()
        for caller in callers:
            caller.join(timeout=10)

    assert execution["status"] == "FAILED" and execution["error"] == "DeploymentRolledBack", execution
    new_config = f"{cloud.stack.outputs['EndpointName']}-v{version_of(slow)}"
    assert f"{new_config}-new-fleet-latency" in execution["cause"]
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == serving
    assert errors == []  # slow is not failed: every request was answered, by one fleet or the other
    assert version_of(slow) in answered, "the slow canary never answered: the alarm had nothing to see"
    watch = cloud.client("cloudwatch")
    assert watch.describe_alarms(AlarmNamePrefix=f"{new_config}-new-fleet")["MetricAlarms"] == []  # dropped
    assert SLOW_SECONDS * 1e6 > BUDGET_US
