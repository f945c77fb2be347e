"""The main job (`make demo`) runs the whole loop of the project's template on the local cloud: upload to a registered
model serving on its endpoint, decisions through the API with their labels on the stream, a healthy monitoring
window, drifted traffic whose window breaches, the retraining it requests through the training pipeline (and, when
version 2 passes the gate, its canary under traffic with no failed request), a file scored in batch and a stale
dataset quarantined."""

import io
import json
import re

import pytest

from cd4ml.demo import run
from cd4ml.samconfig import stage_parameters

pytestmark = pytest.mark.e2e


def test_demo_runs_the_whole_loop_from_upload_to_monitoring_retraining_and_rollout(root, tmp_path):
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
    # orders decided through DecisionApiUrl, every one answered, labelled on the stream, logged
    assert re.search(
        r"online features backfilled from the training dataset and the day's other orders: [\d,]+ customers", text
    )
    assert re.search(r"latency p50 \d+\.\d ms, p99 \d+\.\d ms", text)
    assert "(HTTP 200: 300)" in text
    assert re.search(r"300 labels on GroundTruthStream; labels and decision log stored \d+\.\ds later", text)
    # the healthy window, then the drifted one: a breach on drift and on quality
    assert text.count("healthy: no alarm") == 1
    breach = re.search(r"BREACH \(([a-z_, ]+)\), episode (\S+): RetrainingRequested", text)
    assert breach and "drift" in breach.group(1) and "quality" in breach.group(1), text
    # the retraining: one request started, its dataset the champion's rows and the labelled production orders
    assert re.search(r"request \S+ \((quality|drift), episode \S+\): started", text)
    assert re.search(r"retrain-\S+\.parquet: [\d,]+ rows, the champion's [\d,]+ and 600 labelled production", text)
    assert re.search(r"run \S+ ended SUCCEEDED in \d+\.\ds: (succeeded|gated_out)", text)
    if "Rolling version 2 out by canary" in text:
        assert re.search(r"deployment deploy-v2 ended SUCCEEDED in \d+\.\ds", text)
        rollout = re.search(r"(\d+) orders during the rollout, (\d+) failed; answered by v1: (\d+), v2: (\d+)", text)
        assert rollout, text
        sent, failed, by_v1, by_v2 = map(int, rollout.groups())
        assert failed == 0 and by_v1 + by_v2 == sent and by_v1 > 0 and by_v2 > 0
    else:
        assert "Version 2 was gated out" in text
    # a file of orders scored in batch by the model in service
    assert "20,000 orders scored in" in text and "/scores/orders/" in text
    assert "Where the time went" in text
    pages = sorted(tmp_path.glob("monitoring/*/report.html"))
    assert len(pages) == 2 and all("<svg" in page.read_text() for page in pages)
    assert "PROBLEM" not in text
    assert "quarantined: column.stale: 'account_tenure_days' is stuck at 54" in text
    (report,) = [p for p in tmp_path.glob("*/report.html")]
    html = report.read_text()
    assert "data:image/png;base64," in html and "Data quality" in html
    outcome = json.loads((report.parent / "outcome.json").read_text())
    assert outcome["status"] == "succeeded" and str(report) in text


def test_demo_deploys_with_the_dev_stage_parameters_of_samconfig(root):
    parameters = stage_parameters(root / "samconfig.toml", "dev")
    assert parameters["Stage"] == "dev" and parameters["ModelApprovalStatus"] == "Approved"
    assert stage_parameters(root / "samconfig.toml", "prod")["ModelApprovalStatus"] == "PendingManualApproval"
