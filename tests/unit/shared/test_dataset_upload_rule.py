"""The template's upload rule and the starter agree on what starts a run: every key under datasets/ reaches the
starter (matched by moto's EventBridge matcher, which the local cloud delivers with), and the starter starts a run
for every one of them except the validation's own reports. The validation's freshness limit is a stage parameter."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from cd4ml_shared.layout import is_dataset_key
from cd4ml_shared.run_input import DatasetRef
from moto.events.models import EventPattern

from cd4ml.localcloud.deploy.template import load_template

TEMPLATE = load_template(Path(__file__).parents[3] / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
RAW = "cd4ml-dev-rawdatabucket-example"


def upload_rule() -> EventPattern:
    rule = RESOURCES["StartPipelineFunction"]["Properties"]["Events"]["DatasetUploaded"]["Properties"]["Pattern"]
    pattern = copy.deepcopy(rule)
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "RawDataBucket"}]
    pattern["detail"]["bucket"]["name"] = [RAW]
    return EventPattern.load(json.dumps(pattern))


def object_created(key: str) -> dict:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": RAW}, "object": {"key": key}},
    }


UPLOAD = DatasetRef(bucket=RAW, key="datasets/orders/2026-11-25/orders.csv")


@pytest.mark.parametrize(
    "key",
    [
        "datasets/orders/2026-11-25/orders.csv",
        "datasets/orders/2026-11-25/orders.CSV",
        "datasets/orders/2026-11-25/orders.Parquet",
        "datasets/orders/2026-11-25/orders.csv.gz",
        "datasets/orders/2026-11-25/orders.json",
        "datasets/orders/2026-11-25/orders.xlsx",
        "datasets/orders/2026-11-25/orders",
        "datasets/orders.csv",
    ],
)
def test_every_upload_under_datasets_reaches_the_starter_and_starts_a_run(key):
    assert upload_rule().matches_event(object_created(key))
    assert is_dataset_key(key)


def test_a_report_the_validation_writes_beside_the_data_starts_no_run():
    assert not is_dataset_key(UPLOAD.report_key)
    assert not is_dataset_key(UPLOAD.model_copy(update={"key": "datasets/orders/d/orders.parquet"}).report_key)


@pytest.mark.parametrize(
    "key", [UPLOAD.quarantine_key, UPLOAD.quarantine_reason_key, "scoring/batch.csv", "orders.csv"]
)
def test_nothing_outside_datasets_reaches_the_starter(key):
    assert not upload_rule().matches_event(object_created(key))
    assert not is_dataset_key(key)


def test_the_freshness_limit_is_a_stage_parameter_in_the_validations_environment():
    parameter = TEMPLATE["Parameters"]["DatasetMaxAgeDays"]
    assert parameter["Type"] == "Number" and parameter["Default"] == 7
    variables = RESOURCES["ValidateDatasetFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["DATASET_MAX_AGE_DAYS"] == {"Ref": "DatasetMaxAgeDays"}
