"""The main job (`make demo`) runs the project's template on the local cloud from upload to a registered model
serving on its endpoint, decisions through the API, a second version rolled out by canary under traffic with no
failed request, and a file scored in batch."""

import io
import json
import re

import pytest

from cd4ml.demo import run
from cd4ml.samconfig import stage_parameters

pytestmark = pytest.mark.e2e


def test_demo_trains_deploys_decides_rolls_out_a_second_version_scores_a_file_and_quarantines(root, tmp_path):
    out = io.StringIO()

    assert run(root / "template.yaml", out=out, output_dir=tmp_path) == 0

    text = out.getvalue()
    for state in ("ValidateData", "BuildFeatures", "Train", "Evaluate", "Gate", "Register", "ModelRegistered"):
        assert re.search(rf"\d+\.\ds  {state}\b", text), f"no progress line for {state}"
    assert "model:    arn:aws:sagemaker:us-east-1:123456789012:model-package/cd4ml-dev-fraud/1" in text
    assert "approval: Approved" in text  # the dev stage approves automatically
    assert re.search(r"metrics \(test set\): pr_auc 0\.\d{4}, auc 0\.\d{4}", text)
    assert "gate:     passed" in text
    # the deployment the approval started, followed to an endpoint that scores a test row as the evaluation did
    for state in ("CreateModel", "CreateEndpointConfig", "Rollout", "Verify", "SmokeTest", "RecordSuccess"):
        assert re.search(rf"\d+\.\ds  {state}\b", text), f"no progress line for deployment state {state}"
    assert re.search(r"deployment deploy-v1 ended SUCCEEDED in \d+\.\ds", text)
    assert "endpoint cd4ml-dev-fraud: InService on cd4ml-dev-fraud-v1" in text
    scored = re.search(r"InvokeEndpoint of test row \d+ \(label [01]\): score (0\.\d{6})", text)
    evaluated = re.search(r"the evaluation scored it (0\.\d{6})", text)
    assert scored and evaluated and scored.group(1) == evaluated.group(1)
    # 1,000 orders decided through DecisionApiUrl, every one answered, with the latency printed
    assert re.search(r"online features backfilled from the training dataset first: [\d,]+ customers", text)
    assert re.search(r"latency p50 \d+\.\d ms, p99 \d+\.\d ms", text)
    assert "(HTTP 200: 1000)" in text
    # version 2, trained on the grown dataset, rolled out while orders kept flowing: none failed, both fleets answered
    assert re.search(r"deployment deploy-v2 ended SUCCEEDED in \d+\.\ds", text)
    assert "endpoint cd4ml-dev-fraud: InService on cd4ml-dev-fraud-v2" in text
    rollout = re.search(r"(\d+) orders during the rollout, (\d+) failed; answered by v1: (\d+), v2: (\d+)", text)
    assert rollout, text
    sent, failed, by_v1, by_v2 = map(int, rollout.groups())
    assert failed == 0 and by_v1 + by_v2 == sent and by_v1 > 0 and by_v2 > 0
    # a file of orders scored in batch by the model in service
    assert "20,000 orders scored in" in text and "/scores/orders/" in text
    assert "PROBLEM" not in text
    assert "quarantined: column.stale: 'account_tenure_days' is stuck at 54" in text
    (report,) = tmp_path.glob("*/report.html")
    html = report.read_text()
    assert "data:image/png;base64," in html and "Data quality" in html
    outcome = json.loads((report.parent / "outcome.json").read_text())
    assert outcome["status"] == "succeeded" and str(report) in text


def test_demo_deploys_with_the_dev_stage_parameters_of_samconfig(root):
    parameters = stage_parameters(root / "samconfig.toml", "dev")
    assert parameters["Stage"] == "dev" and parameters["ModelApprovalStatus"] == "Approved"
    assert stage_parameters(root / "samconfig.toml", "prod")["ModelApprovalStatus"] == "PendingManualApproval"
