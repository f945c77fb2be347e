"""register_model's decisions as plain values: a run's lineage from the Register task's input, and the answer a
retried task gives for the version it already registered."""

from cd4ml_shared.registry import Lineage, lineage_of, registration_of

EVENT = {
    "run_id": "orders-2026-11-25-f3dbe6d10cbde9ca",
    "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:p:orders-2026-11-25-f3dbe6d10cbde9ca",
    "dataset": {"bucket": "raw", "key": "datasets/orders/2026-11-25/orders.csv", "version_id": "v1", "etag": "e1"},
    "validation": {"sha256": "ab" * 32, "rows": 1000, "run_report_uri": "s3://art/runs/r/quality.json"},
    "training": {"job_arn": "arn:train", "hyperparameters": {"max_depth": "6"}, "model_uri": "s3://art/model.tar.gz"},
    "gate": {"evaluation_uri": "s3://art/runs/r/evaluation/evaluation.json", "metrics": {"pr_auc": 0.4}},
}


def test_the_lineage_names_the_data_code_job_and_reports_of_the_run():
    assert lineage_of(EVENT, code_version="abc123", code_sha256="cd" * 32) == Lineage(
        run_id="orders-2026-11-25-f3dbe6d10cbde9ca",
        execution_arn=EVENT["execution_arn"],
        dataset_uri="s3://raw/datasets/orders/2026-11-25/orders.csv",
        dataset_version="v1",
        dataset_sha256="ab" * 32,
        dataset_rows=1000,
        code_version="abc123",
        code_sha256="cd" * 32,
        training_job_arn="arn:train",
        hyperparameters={"max_depth": "6"},
        quality_report_uri="s3://art/runs/r/quality.json",
        evaluation_uri="s3://art/runs/r/evaluation/evaluation.json",
    )


def test_an_unversioned_dataset_is_pinned_by_its_etag_else_left_empty():
    unversioned = {**EVENT, "dataset": {**EVENT["dataset"], "version_id": None}}
    assert lineage_of(unversioned, code_version="v", code_sha256="s").dataset_version == "e1"
    bare = {**EVENT, "dataset": {"bucket": "raw", "key": "k.csv"}}
    assert lineage_of(bare, code_version="v", code_sha256="s").dataset_version == ""


def test_a_registered_version_answers_with_its_arn_version_and_status():
    package = {"ModelPackageArn": "arn:p/3", "ModelPackageVersion": 3, "ModelApprovalStatus": "Approved", "x": 1}
    assert registration_of(package) == {"model_package_arn": "arn:p/3", "version": 3, "approval_status": "Approved"}
