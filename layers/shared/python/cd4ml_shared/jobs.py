"""The SageMaker jobs of a training run, as Create*Job requests: feature engineering and evaluation (processing jobs)
and XGBoost training in script mode. Pure functions of the run and the stack's settings, so tests read them plainly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .environment import SettingsError, environment, flag, required, whole_number
from .errors import JobQuotaExceeded, JobRequestRejected, JobThrottled, ModelCodeMissing, PipelineError
from .job_security import JobSecurity
from .layout import RunLayout, code_prefix
from .payload import field as payload_field

# a step of the run: a training run's three, or the features of a batch-scoring run's orders ("scoring"); a kind is
# at most 8 letters, as "features" (MAX_JOB_NAME_PREFIX)
JobKind = Literal["features", "train", "evaluate", "scoring"]
JobType = Literal["processing", "training"]  # the SageMaker job that runs it
# A batch-scoring run's batch transform, `<prefix>-batch-<attempt>` (scoring.transform_job_name): a name of the run's
# too, so a failed scoring run stops its transform as it stops its feature job.
TRANSFORM_KIND = "batch"

# What the training script prints every round; the names become the job's FinalMetricDataList.
METRIC_DEFINITIONS = [
    {"Name": "validation:aucpr", "Regex": r"validation-aucpr:([0-9.]+)"},
    {"Name": "validation:auc", "Regex": r"validation-auc:([0-9.]+)"},
    {"Name": "train:aucpr", "Regex": r"train-aucpr:([0-9.]+)"},
]
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "max_depth": 6,
    "eta": 0.1,
    "num_round": 300,
    "min_child_weight": 1,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "early_stopping_rounds": 30,
    "scale_pos_weight": "auto",
    "checkpoint_every": 10,
    "seed": 42,
}
CODE = "/opt/ml/processing/input/code"
SPLITS = ("train", "validation", "test", "meta")
SCORING_FEATURE_OUTPUTS = ("features", "meta")  # model/cd4ml_model/features.py --mode scoring
OUTPUT = "/opt/ml/processing/output"


@dataclass(frozen=True)
class JobSettings:
    """The stack's choices for its jobs (template parameters, reaching the Lambda as environment variables)."""

    artifacts_bucket: str
    role_arn: str
    code_version: str
    training_image: str
    processing_image: str
    training_instance_type: str = "ml.g5.xlarge"
    processing_instance_type: str = "ml.m5.xlarge"
    use_spot: bool = True
    training_max_runtime: int = 3600
    processing_max_runtime: int = 3600
    volume_size_gb: int = 30
    hyperparameters: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_HYPERPARAMETERS))
    tags: Mapping[str, str] = field(default_factory=dict)
    security: JobSecurity = field(default_factory=JobSecurity)  # KMS key, VPC and network isolation of the jobs

    @property
    def sourcedir_uri(self) -> str:
        return f"s3://{self.artifacts_bucket}/{self.sourcedir_key}"

    @property
    def code_uri(self) -> str:
        return f"s3://{self.artifacts_bucket}/{code_prefix(self.code_version)}"

    @property
    def sourcedir_key(self) -> str:
        return f"{code_prefix(self.code_version)}sourcedir.tar.gz"

    @property
    def training_max_wait(self) -> int:
        """Spot capacity may take a while: allow as long again as the run itself."""
        return self.training_max_runtime * 2

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> JobSettings:
        env = environment(environ)
        return cls(
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            role_arn=required(env, "SAGEMAKER_ROLE_ARN"),
            code_version=required(env, "CODE_VERSION"),
            training_image=required(env, "TRAINING_IMAGE"),
            processing_image=required(env, "PROCESSING_IMAGE"),
            training_instance_type=env.get("TRAINING_INSTANCE_TYPE") or cls.training_instance_type,
            processing_instance_type=env.get("PROCESSING_INSTANCE_TYPE") or cls.processing_instance_type,
            use_spot=flag(env, "USE_SPOT_TRAINING", default=True),  # the template's UseSpotTraining default
            training_max_runtime=whole_number(env, "TRAINING_MAX_RUNTIME", cls.training_max_runtime),
            processing_max_runtime=whole_number(env, "PROCESSING_MAX_RUNTIME", cls.processing_max_runtime),
            hyperparameters=hyperparameters_of(env),
            tags={"cd4ml:stage": env["STAGE"]} if env.get("STAGE") else {},
            security=JobSecurity.from_environment(env),
        )


# `<stack prefix>-<16 hex digits>-<kind>-<attempt>` must fit SageMaker's 63 characters: `-features-` and two digits
# of retry count take 12, the digest 17.
MAX_JOB_NAME_PREFIX = 63 - 17 - 12
_JOB_NAME_PREFIX = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")


def check_job_name_prefix(stack_prefix: str) -> str:
    """The stack's part of its job names (`cd4ml-<8 hex of the stack id>`, template.yaml; `run_input.job_prefix` adds
    the run's digest), checked to leave a run's job names valid SageMaker names; a `ValueError` naming it otherwise."""
    if len(stack_prefix) > MAX_JOB_NAME_PREFIX or not _JOB_NAME_PREFIX.match(stack_prefix):
        raise ValueError(
            f"job name prefix {stack_prefix!r} must be at most {MAX_JOB_NAME_PREFIX} letters, digits and inner hyphens"
        )
    return stack_prefix


def hyperparameters_of(env: Mapping[str, str]) -> dict[str, Any]:
    """The training job's hyperparameters: the template's `TrainingHyperparameters` JSON (HYPERPARAMETERS) over the
    defaults. Read the same way by start_job (the job) and find_earlier_run (whether this training was done)."""
    raw_hyperparameters = env.get("HYPERPARAMETERS") or "{}"
    try:
        overrides = json.loads(raw_hyperparameters)
    except ValueError as exc:
        raise SettingsError(f"HYPERPARAMETERS is not JSON ({exc}): {raw_hyperparameters!r}") from None
    if not isinstance(overrides, dict):
        raise SettingsError(f"HYPERPARAMETERS must be a JSON object, got {raw_hyperparameters!r}")
    return {**DEFAULT_HYPERPARAMETERS, **overrides}


def job_name(prefix: str, kind: JobKind, attempt: int) -> str:
    """Every attempt gets a new name: SageMaker refuses to reuse one (the state machine passes its retry count)."""
    return f"{prefix}-{kind}-{attempt}"


def is_run_job_name(prefix: str, name: str) -> bool:
    """Whether `name` is one of `job_name(prefix, kind, attempt)`: a run's own jobs, not another run's whose prefix
    merely contains this one."""
    kind, _, attempt = name.removeprefix(f"{prefix}-").partition("-")
    known = kind in get_args(JobKind) or kind == TRANSFORM_KIND
    return name.startswith(f"{prefix}-") and known and attempt.isascii() and attempt.isdigit()


class NotThisRun(ValueError):
    """A failed-run payload does not match a running execution of this stack: its jobs are not stopped."""


def job_prefix_of_running_execution(
    execution: Mapping[str, Any], *, run_id: str, claimed_prefix: str | None, stack_prefix: str
) -> str:
    """The job prefix of a run whose jobs a failure may stop, from the run's own execution (a `DescribeExecution`
    answer), never from the payload alone: the execution must be running, its input must name this run, and its
    prefix must be the one the payload claims and lie within this stack's (`<stack prefix>-...`). `NotThisRun`
    says which of these failed."""
    arn = execution.get("executionArn")
    if execution.get("status") != "RUNNING":
        raise NotThisRun(f"execution {arn} is {execution.get('status')}, not RUNNING")
    try:
        run = json.loads(execution.get("input") or "")
    except ValueError:
        run = None
    if not isinstance(run, dict) or not isinstance(run.get("job_prefix"), str):
        raise NotThisRun(f"execution {arn} has no run input with a job_prefix")
    if run.get("run_id") != run_id:
        raise NotThisRun(f"execution {arn} runs {run.get('run_id')!r}, not {run_id!r}")
    prefix: str = run["job_prefix"]
    if claimed_prefix is not None and claimed_prefix != prefix:
        raise NotThisRun(f"run {run_id!r} names its jobs {prefix!r}, not {claimed_prefix!r}")
    if not prefix.startswith(f"{stack_prefix}-"):
        raise NotThisRun(f"run {run_id!r} names its jobs {prefix!r}, outside this stack's {stack_prefix!r}")
    return prefix


def _tags(settings: JobSettings, run_id: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {**settings.tags, "cd4ml:run": run_id}.items()]


def _s3_input(name: str, uri: str, local: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _s3_output(name: str, local: str, uri: str) -> dict[str, Any]:
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"}}


def _processing_request(
    settings: JobSettings,
    name: str,
    run_id: str,
    script: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "RoleArn": settings.role_arn,
        "AppSpecification": {
            "ImageUri": settings.processing_image,
            "ContainerEntrypoint": ["python3", f"{CODE}/{script}"],
        },
        "ProcessingInputs": [_s3_input("code", f"{settings.code_uri}source/", CODE), *inputs],
        "ProcessingOutputConfig": {"Outputs": outputs},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": settings.processing_instance_type,
                "VolumeSizeInGB": settings.volume_size_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.processing_max_runtime},
        "Tags": _tags(settings, run_id),
    }
    return settings.security.secure_processing(request)


def features_request(settings: JobSettings, name: str, layout: RunLayout, dataset_uri: str) -> dict[str, Any]:
    """The feature job reads the run's snapshot of the validated dataset and writes the time-split feature sets."""
    outputs = [_s3_output(split, f"{OUTPUT}/{split}", layout.uri(f"features/{split}/")) for split in SPLITS]
    return _processing_request(
        settings,
        name,
        layout.run_id,
        "features.py",
        [_s3_input("data", dataset_uri, "/opt/ml/processing/input/data")],
        outputs,
    )


def scoring_features_request(settings: JobSettings, name: str, layout: RunLayout, dataset_uri: str) -> dict[str, Any]:
    """The feature job in scoring mode: the features of every order of the scoring run's snapshot, unsplit and
    without a label, as the transform's CSV input (`scoring/features/`) and the orders' keys (`scoring/meta/`)."""
    request = _processing_request(
        settings,
        name,
        layout.run_id,
        "features.py",
        [_s3_input("data", dataset_uri, "/opt/ml/processing/input/data")],
        [_s3_output(part, f"{OUTPUT}/{part}", layout.uri(f"scoring/{part}/")) for part in SCORING_FEATURE_OUTPUTS],
    )
    request["AppSpecification"]["ContainerArguments"] = ["--mode", "scoring"]
    return request


def training_request(settings: JobSettings, name: str, layout: RunLayout) -> dict[str, Any]:
    """XGBoost in script mode on the framework image: `train.py` from the published sourcedir, managed spot with
    checkpoints under the run, and the metric definitions the gate and the console read; the stack's key, VPC and
    isolation (`JobSecurity.secure_training`: under isolation the sourcedir arrives as the `code` channel)."""
    hyperparameters = {k: _text(v) for k, v in settings.hyperparameters.items()}
    hyperparameters |= {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": settings.sourcedir_uri,
    }
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": settings.training_max_runtime}
    if settings.use_spot:
        stopping["MaxWaitTimeInSeconds"] = settings.training_max_wait

    def channel(split: str) -> dict[str, Any]:
        return {
            "ChannelName": split,
            "ContentType": "application/x-parquet",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": layout.uri(f"features/{split}/"),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }

    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": settings.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": settings.training_image,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "HyperParameters": hyperparameters,
        "InputDataConfig": [channel("train"), channel("validation")],
        "OutputDataConfig": {"S3OutputPath": layout.uri("model/")},
        "ResourceConfig": {
            "InstanceType": settings.training_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": settings.volume_size_gb,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": settings.use_spot,
        "CheckpointConfig": {"S3Uri": layout.uri("checkpoints/"), "LocalPath": "/opt/ml/checkpoints"},
        "Tags": _tags(settings, layout.run_id),
    }
    return settings.security.secure_training(request, settings.sourcedir_uri)


def evaluation_request(
    settings: JobSettings, name: str, layout: RunLayout, model_uri: str, champion: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The evaluation job scores the held-out test split with the trained model and, given the champion (the
    FindChampion task's `{model_package_arn, model_uri}`), the champion too, on the same rows, for the gate's paired
    comparison."""
    inputs = [
        _s3_input("model", model_uri, "/opt/ml/processing/input/model"),
        _s3_input("test", layout.uri("features/test/"), "/opt/ml/processing/input/test"),
    ]
    champion_uri = (champion or {}).get("model_uri")
    champion_arn = (champion or {}).get("model_package_arn")
    if isinstance(champion_uri, str) and champion_uri:
        inputs.append(_s3_input("champion", champion_uri, "/opt/ml/processing/input/champion"))
    request = _processing_request(
        settings,
        name,
        layout.run_id,
        "evaluate.py",
        inputs,
        [_s3_output("evaluation", f"{OUTPUT}/evaluation", layout.uri("evaluation/"))],
    )
    if isinstance(champion_uri, str) and champion_uri and isinstance(champion_arn, str) and champion_arn:
        request["AppSpecification"]["ContainerArguments"] = ["--champion-arn", champion_arn]
    return request


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def request_for(settings: JobSettings, event: Mapping[str, Any], name: str) -> tuple[JobType, dict[str, Any]]:
    """The SageMaker job type and Create*Job request for a start_job task's payload (its `kind`, `run_id` and the
    URI the step reads: `dataset_uri` for features and scoring, `model_uri` for evaluation)."""
    layout = RunLayout(settings.artifacts_bucket, event["run_id"])
    kind = event["kind"]
    if kind == "features":
        return "processing", features_request(settings, name, layout, event["dataset_uri"])
    if kind == "scoring":
        dataset_uri = payload_field(event, "dataset_uri", "string", where="start_job")
        return "processing", scoring_features_request(settings, name, layout, dataset_uri)
    if kind == "train":
        return "training", training_request(settings, name, layout)
    if kind == "evaluate":
        champion = event.get("champion")
        return "processing", evaluation_request(
            settings, name, layout, event["model_uri"], champion if isinstance(champion, Mapping) else None
        )
    raise ValueError(f"unknown job kind {kind!r} (features, train, evaluate or scoring)")


THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def job_error(code: str, message: str, kind: JobType, request: Mapping[str, Any]) -> PipelineError | None:
    """The error a refused Create*Job call becomes (its class name is what the state machine retries or catches),
    from the AWS error code and message; None when the error is not one of ours to name (it is raised as it is)."""
    if code in THROTTLING_CODES:
        return JobThrottled(f"CreateJob throttled: {message}")
    if code == "ResourceLimitExceeded":
        instance = (request.get("ResourceConfig") or request.get("ProcessingResources", {}).get("ClusterConfig"))[
            "InstanceType"
        ]
        return JobQuotaExceeded(
            f"no quota for {instance} in this account ({message}); request a Service Quotas increase for "
            f"'{instance} for {'spot ' if request.get('EnableManagedSpotTraining') else ''}{kind} job usage' "
            "or choose another instance type parameter"
        )
    if code == "ValidationException":
        name = request.get("TrainingJobName") or request.get("ProcessingJobName")
        return JobRequestRejected(f"{name}: {message}")
    return None


def model_code_missing(code: str, settings: JobSettings) -> ModelCodeMissing | None:
    """What a failed look-up of the published sourcedir means: `ModelCodeMissing`, naming the command that publishes
    the version, when the object is not there; None for any other error (it is raised as it is)."""
    if code not in MISSING_OBJECT_CODES:
        return None
    return ModelCodeMissing(
        f"model code version {settings.code_version!r} is not published: s3://{settings.artifacts_bucket}/"
        f"{settings.sourcedir_key} does not exist (run `cd4ml model publish --bucket {settings.artifacts_bucket} "
        f"--version {settings.code_version}`)"
    )
