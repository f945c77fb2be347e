"""Uploads under datasets/ on the local cloud, through template.yaml's upload rule: a file of any other format starts
a run that quarantines it with the reason, and the report the validation writes beside it starts none."""

import json

import pytest

from cd4ml.localcloud import LocalCloud
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration
KEY = "datasets/orders/2026-11-25/orders.json"


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", {"Stage": "dev"}) as cloud:
        yield cloud


def test_a_file_of_an_unsupported_format_is_quarantined_and_its_report_starts_no_run(cloud):
    driver = PipelineDriver(cloud)

    run = driver.run(b'{"orders": []}', KEY)

    assert run.error == "DataQuality.Quarantined" and run.outcome["status"] == "quarantined"
    assert run.outcome["reasons"][0].startswith(f"dataset.unsupported_format: s3://{driver.raw_bucket}/{KEY} ")
    report = driver.s3.get_object(Bucket=driver.raw_bucket, Key=f"{KEY}.quality.json")
    assert json.loads(report["Body"].read())["quarantine_reason"] == "dataset.unsupported_format"
    cloud.wait_idle()  # the report's own Object Created event has been delivered
    assert len(driver.sfn.list_executions(stateMachineArn=driver.state_machine_arn)["executions"]) == 1
