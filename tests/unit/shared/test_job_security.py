"""The stack's KMS key, VPC and network isolation in what SageMaker is asked for: unset, every request is as it was;
set, the key reaches every output and volume that takes one, the VPC every job and model, and isolation brings the
code a container can no longer download (training's `code` channel, the model data's own `code/`)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from cd4ml_model.artifacts import ModelArtifactsError, write_serving_code
from cd4ml_shared.aws.scoring import scoring_model_request
from cd4ml_shared.deployment import DeploymentSettings, endpoint_config_request, model_request
from cd4ml_shared.environment import SettingsError
from cd4ml_shared.job_security import (
    CODE_CHANNEL_SOURCEDIR,
    MODEL_CODE_DIRECTORY,
    JobSecurity,
    has_local_storage,
)
from cd4ml_shared.jobs import JobSettings, evaluation_request, features_request, training_request
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.scoring import ScoringSettings, transform_request

from cd4ml.localcloud.sagemaker.jobs.records import JobFailure
from cd4ml.localcloud.sagemaker.jobs.staging import JobStaging, container_path

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SUBNETS = "subnet-0a1b2c3d4e5f60718, subnet-0a1b2c3d4e5f60719"
GROUPS = "sg-0123456789abcdef0"
VPC = {
    "SecurityGroupIds": ["sg-0123456789abcdef0"],
    "Subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
}
SECURED = {"KMS_KEY_ID": KEY, "VPC_SUBNET_IDS": SUBNETS, "VPC_SECURITY_GROUP_IDS": GROUPS}
UNSET = {"KMS_KEY_ID": "", "VPC_SUBNET_IDS": "", "VPC_SECURITY_GROUP_IDS": "", "ENABLE_NETWORK_ISOLATION": ""}
JOB_ENV = {
    "ARTIFACTS_BUCKET": "artifacts",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker",
    "CODE_VERSION": "v1",
    "TRAINING_IMAGE": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "PROCESSING_IMAGE": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "TRAINING_INSTANCE_TYPE": "ml.m5.xlarge",
}
DEPLOY_ENV = {
    "ENDPOINT_NAME": "cd4ml-dev-fraud",
    "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
    "ARTIFACTS_BUCKET": "artifacts",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker",
    "INSTANCE_TYPE": "ml.m5.large",
    "INSTANCE_COUNT": "1",
    "CAPTURE_PERCENT": "20",
    "TRAFFIC_ROUTING": "CANARY",
    "TRAFFIC_STEP_PERCENT": "10",
    "BAKING_SECONDS": "300",
    "TERMINATION_WAIT_SECONDS": "120",
    "MAX_EXECUTION_SECONDS": "1800",
}
SCORING_ENV = {"ARTIFACTS_BUCKET": "artifacts", "ENDPOINT_NAME": "cd4ml-dev-fraud", "MODEL_PACKAGE_GROUP": "g"}
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/cd4ml-dev-fraud/7"
LAYOUT = RunLayout("artifacts", "orders-2026-11-25-abc")
MODEL_URI = "s3://artifacts/runs/r/model/job/output/model.tar.gz"


def jobs(**env: str) -> JobSettings:
    return JobSettings.from_environment({**JOB_ENV, **env})


def every_request(env: dict[str, str]) -> list[dict]:
    job_settings = jobs(**env)
    deployment = DeploymentSettings.from_environment({**DEPLOY_ENV, **env})
    scoring = ScoringSettings.from_environment({**SCORING_ENV, **env})
    return [
        features_request(job_settings, "f", LAYOUT, "s3://raw/datasets/orders.csv"),
        training_request(job_settings, "t", LAYOUT),
        evaluation_request(job_settings, "e", LAYOUT, MODEL_URI),
        transform_request(scoring, "b", LAYOUT, "m", tags={}),
        model_request(deployment, "m", PACKAGE),
        scoring_model_request(scoring, "m", PACKAGE),
        endpoint_config_request(deployment, "c", "m"),
    ]


def test_unset_or_empty_settings_leave_every_request_as_it_was():
    assert JobSecurity.from_environment({}) == JobSecurity.from_environment(UNSET) == JobSecurity()
    assert every_request(UNSET) == every_request({})
    flat = repr(every_request({}))
    for added in ("KmsKeyId", "VpcConfig", "NetworkConfig", "NetworkIsolation", "InterContainer", "/opt/ml/model/code"):
        assert added not in flat


def test_the_key_reaches_every_output_and_storage_volume():
    features, training, _, transform, _, _, config = every_request({"KMS_KEY_ID": KEY})
    assert features["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    assert features["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    assert training["OutputDataConfig"]["KmsKeyId"] == KEY
    assert training["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert transform["TransformOutput"]["KmsKeyId"] == KEY
    assert transform["TransformResources"]["VolumeKmsKeyId"] == KEY
    assert config["KmsKeyId"] == KEY
    assert config["DataCaptureConfig"]["KmsKeyId"] == KEY
    assert "NetworkConfig" not in features and "VpcConfig" not in training  # a key alone changes no network


def test_instances_with_local_nvme_storage_get_no_volume_key_which_sagemaker_would_refuse():
    training = training_request(jobs(KMS_KEY_ID=KEY, TRAINING_INSTANCE_TYPE="ml.g5.xlarge"), "t", LAYOUT)
    assert "VolumeKmsKeyId" not in training["ResourceConfig"]
    assert training["OutputDataConfig"]["KmsKeyId"] == KEY  # the output still is the stack's key
    deployment = DeploymentSettings.from_environment(
        {**DEPLOY_ENV, "KMS_KEY_ID": KEY, "INSTANCE_TYPE": "ml.g4dn.xlarge"}
    )
    config = endpoint_config_request(deployment, "c", "m")
    assert "KmsKeyId" not in config and config["DataCaptureConfig"]["KmsKeyId"] == KEY


@pytest.mark.parametrize(
    ("instance_type", "local"),
    [
        ("ml.m5.xlarge", False),
        ("ml.c5n.xlarge", False),
        ("ml.p3.2xlarge", False),
        ("ml.m5d.large", True),
        ("ml.g4dn.xlarge", True),
        ("ml.g5.xlarge", True),
        ("ml.p4de.24xlarge", True),
        ("ml.m6id.large", True),
        ("ml.trn1.2xlarge", True),
    ],
)
def test_local_storage_is_known_by_instance_family(instance_type, local):
    assert has_local_storage(instance_type) is local


def test_the_capture_keeps_its_own_key_when_it_has_one():
    deployment = DeploymentSettings.from_environment(
        {**DEPLOY_ENV, "KMS_KEY_ID": KEY, "CAPTURE_KMS_KEY": "alias/capture"}
    )
    config = endpoint_config_request(deployment, "c", "m")
    assert config["KmsKeyId"] == KEY and config["DataCaptureConfig"]["KmsKeyId"] == "alias/capture"


def test_the_vpc_reaches_jobs_and_models_with_traffic_between_instances_encrypted():
    features, training, evaluation, transform, model, scoring_model, config = every_request(
        {"VPC_SUBNET_IDS": SUBNETS, "VPC_SECURITY_GROUP_IDS": GROUPS}
    )
    for processing in (features, evaluation):
        assert processing["NetworkConfig"] == {"EnableInterContainerTrafficEncryption": True, "VpcConfig": VPC}
    assert training["VpcConfig"] == VPC and training["EnableInterContainerTrafficEncryption"] is True
    assert "EnableNetworkIsolation" not in training
    assert model["VpcConfig"] == VPC and scoring_model["VpcConfig"] == VPC
    assert "VpcConfig" not in transform and "VpcConfig" not in config  # they run in their model's network


@pytest.mark.parametrize("given", ["VPC_SUBNET_IDS", "VPC_SECURITY_GROUP_IDS"])
def test_subnets_and_security_groups_come_together(given):
    value = SUBNETS if given == "VPC_SUBNET_IDS" else GROUPS
    with pytest.raises(SettingsError, match=r"VPC_SUBNET_IDS and VPC_SECURITY_GROUP_IDS go together") as raised:
        JobSecurity.from_environment({given: value})
    assert f"{given} is set" in str(raised.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KMS_KEY_ID": "my key"}, "KMS_KEY_ID must be a KMS key id"),
        ({**SECURED, "VPC_SUBNET_IDS": "subnet-0a1b2c3d4e5f60718,vpc-0a1b2c3d"}, "VPC_SUBNET_IDS must be"),
        ({**SECURED, "VPC_SECURITY_GROUP_IDS": "default"}, "VPC_SECURITY_GROUP_IDS must be"),
        ({**SECURED, "VPC_SECURITY_GROUP_IDS": ",".join([GROUPS] * 2)}, "names an id twice"),
        ({"ENABLE_NETWORK_ISOLATION": "yes"}, "ENABLE_NETWORK_ISOLATION must be true or false"),
    ],
)
def test_malformed_settings_are_named_at_cold_start(env, message):
    with pytest.raises(SettingsError, match=message):
        JobSecurity.from_environment(env)


def test_every_form_of_kms_key_sagemaker_takes_is_accepted():
    for key in (
        KEY,
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/cd4ml",
        "arn:aws:kms:eu-west-1:123456789012:alias/x",
    ):
        assert JobSecurity.from_environment({"KMS_KEY_ID": key}).kms_key_id == key


def test_an_isolated_training_gets_its_code_as_the_code_channel():
    training = training_request(jobs(ENABLE_NETWORK_ISOLATION="true"), "t", LAYOUT)
    assert training["EnableNetworkIsolation"] is True
    assert training["HyperParameters"]["sagemaker_submit_directory"] == CODE_CHANNEL_SOURCEDIR
    assert training["HyperParameters"]["sagemaker_program"] == "train.py"
    code = training["InputDataConfig"][-1]
    assert code == {
        "ChannelName": "code",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://artifacts/code/v1/sourcedir.tar.gz",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    assert [c["ChannelName"] for c in training["InputDataConfig"]] == ["train", "validation", "code"]


def test_isolated_processing_needs_nothing_but_the_flag():
    features = features_request(jobs(ENABLE_NETWORK_ISOLATION="TRUE"), "f", LAYOUT, "s3://raw/d.csv")
    plain = features_request(jobs(), "f", LAYOUT, "s3://raw/d.csv")
    assert features.pop("NetworkConfig") == {"EnableNetworkIsolation": True}
    assert features == plain  # SageMaker, not the container, downloads processing inputs


def test_an_isolated_model_serves_the_code_inside_its_model_data_and_keeps_its_version():
    env = {"ENABLE_NETWORK_ISOLATION": "true"}
    model = model_request(DeploymentSettings.from_environment({**DEPLOY_ENV, **env}), "m", PACKAGE)
    assert model["EnableNetworkIsolation"] is True
    assert model["PrimaryContainer"]["Environment"] == {
        "CD4ML_MODEL_VERSION": "7",
        "SAGEMAKER_SUBMIT_DIRECTORY": MODEL_CODE_DIRECTORY,
    }
    scoring = scoring_model_request(ScoringSettings.from_environment({**SCORING_ENV, **env}), "m", PACKAGE)
    assert scoring["EnableNetworkIsolation"] is True
    assert scoring["PrimaryContainer"] == {
        "ModelPackageName": PACKAGE,
        "Environment": {"SAGEMAKER_SUBMIT_DIRECTORY": MODEL_CODE_DIRECTORY},
    }


def test_training_writes_the_serving_code_into_the_model_folder(tmp_path: Path):
    source = tmp_path / "sourcedir"
    (source / "cd4ml_model" / "__pycache__").mkdir(parents=True)
    (source / "inference.py").write_text("from cd4ml_model.inference import model_fn\n")
    (source / "cd4ml_model" / "inference.py").write_text("def model_fn(d):\n    return d\n")
    (source / "cd4ml_model" / "__pycache__" / "inference.cpython-311.pyc").write_bytes(b"\0")
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "stale.py").write_text("")  # a resumed job's earlier copy
    written = write_serving_code(model, source)
    assert written == model / "code"
    files = sorted(p.relative_to(written).as_posix() for p in written.rglob("*") if p.is_file())
    assert files == ["cd4ml_model/inference.py", "inference.py"]


def test_the_project_sourcedir_serves_from_the_model_folder(tmp_path: Path):
    written = write_serving_code(tmp_path / "model")  # the code this checkout trains with
    assert (written / "inference.py").is_file() and (written / "cd4ml_model" / "inference.py").is_file()


def test_serving_code_without_an_inference_script_fails_the_training(tmp_path: Path):
    (tmp_path / "src").mkdir()
    with pytest.raises(ModelArtifactsError, match=r"no inference\.py"):
        write_serving_code(tmp_path / "model", tmp_path / "src")


# ---- the local cloud: a container path names what the job folder staged ------------------------------------------
def _sourcedir(path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = b"print('trained')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def test_a_sourcedir_in_a_channel_is_extracted_from_the_job_folder(tmp_path: Path):
    job = tmp_path / "job"
    _sourcedir(job / "input" / "data" / "code" / "sourcedir.tar.gz")
    staging = JobStaging.__new__(JobStaging)  # local paths need neither S3 nor a lifecycle
    staging.fetch_code(CODE_CHANNEL_SOURCEDIR, job / "code", container=job)
    assert (job / "code" / "train.py").read_text() == "print('trained')\n"


def test_model_code_is_copied_from_the_extracted_model(tmp_path: Path):
    job = tmp_path / "job"
    (job / "model" / "code").mkdir(parents=True)
    (job / "model" / "code" / "inference.py").write_text("x = 1\n")
    JobStaging.__new__(JobStaging).fetch_code(MODEL_CODE_DIRECTORY, job / "code", container=job)
    assert (job / "code" / "inference.py").read_text() == "x = 1\n"


def test_a_container_path_the_job_did_not_stage_is_a_clear_failure(tmp_path: Path):
    (tmp_path / "input" / "data" / "train").mkdir(parents=True)
    with pytest.raises(JobFailure, match=r"does not exist in the container: /opt/ml/input/data holds \['train'\]"):
        container_path(CODE_CHANNEL_SOURCEDIR, tmp_path)
    with pytest.raises(JobFailure, match="outside the container's /opt/ml"):
        container_path("/opt/ml/../../etc/passwd", tmp_path)
