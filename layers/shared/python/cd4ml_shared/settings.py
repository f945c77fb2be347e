"""What each Lambda of the training pipeline reads from its environment (template.yaml's `Environment`), read once at
cold start into one frozen object per function; a missing or malformed variable is a `SettingsError` naming it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast, get_args

from .environment import SettingsError, environment, flag, required, whole_number
from .gate import GatePolicy
from .jobs import JobSettings, check_job_name_prefix, hyperparameters_of
from .layout import code_prefix
from .registry import ApprovalStatus


def job_name_prefix(env: Mapping[str, str]) -> str:
    """JOB_NAME_PREFIX: the stack's part of its SageMaker job names, which its job-state rules match."""
    try:
        return check_job_name_prefix(required(env, "JOB_NAME_PREFIX"))
    except ValueError as error:
        if isinstance(error, SettingsError):
            raise
        raise SettingsError(f"JOB_NAME_PREFIX: {error}") from None


@dataclass(frozen=True)
class StartPipelineSettings:
    state_machine_arn: str
    artifacts_bucket: str
    processing_max_runtime: int
    training_max_runtime: int
    use_spot: bool
    raw_data_bucket: str  # the only bucket whose uploads start runs
    job_name_prefix: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StartPipelineSettings:
        env = environment(environ)
        return cls(
            state_machine_arn=required(env, "STATE_MACHINE_ARN"),
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            processing_max_runtime=whole_number(env, "PROCESSING_MAX_RUNTIME"),
            training_max_runtime=whole_number(env, "TRAINING_MAX_RUNTIME"),
            use_spot=flag(env, "USE_SPOT_TRAINING", default=True),  # read as start_job's JobSettings reads it
            raw_data_bucket=required(env, "RAW_DATA_BUCKET"),
            job_name_prefix=job_name_prefix(env),
        )

    def execution_arn(self, name: str) -> str:
        """The ARN of this state machine's execution of that name."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


@dataclass(frozen=True)
class ValidateDatasetSettings:
    artifacts_bucket: str
    max_age_days: float  # freshness: the newest timestamp may be at most this old (the stage's DatasetMaxAgeDays)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ValidateDatasetSettings:
        env = environment(environ)
        raw = required(env, "DATASET_MAX_AGE_DAYS")
        try:
            max_age_days = float(raw)
        except ValueError:
            raise SettingsError(f"DATASET_MAX_AGE_DAYS must be a number of days, got {raw!r}") from None
        if not 0 < max_age_days < float("inf"):
            raise SettingsError(f"DATASET_MAX_AGE_DAYS must be a positive number of days, got {raw!r}")
        return cls(artifacts_bucket=required(env, "ARTIFACTS_BUCKET"), max_age_days=max_age_days)


@dataclass(frozen=True)
class FindEarlierRunSettings:
    """What identifies a training besides the data: the code version and the hyperparameters start_job sends."""

    artifacts_bucket: str
    code_version: str
    hyperparameters: Mapping[str, Any]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> FindEarlierRunSettings:
        env = environment(environ)
        return cls(
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            code_version=required(env, "CODE_VERSION"),
            hyperparameters=hyperparameters_of(env),
        )


@dataclass(frozen=True)
class StartJobSettings:
    token_table: str
    jobs: JobSettings

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StartJobSettings:
        env = environment(environ)
        return cls(token_table=required(env, "TOKEN_TABLE"), jobs=JobSettings.from_environment(env))


@dataclass(frozen=True)
class JobCompletionSettings:
    token_table: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> JobCompletionSettings:
        return cls(token_table=required(environment(environ), "TOKEN_TABLE"))


@dataclass(frozen=True)
class EvaluationGateSettings:
    model_package_group: str
    policy: GatePolicy

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> EvaluationGateSettings:
        env = environment(environ)
        return cls(model_package_group=required(env, "MODEL_PACKAGE_GROUP"), policy=GatePolicy.from_environment(env))


@dataclass(frozen=True)
class RegisterModelSettings:
    model_package_group: str
    approval_status: ApprovalStatus
    artifacts_bucket: str
    code_version: str
    inference_image: str

    @property
    def sourcedir_uri(self) -> str:
        """The published code the registered model serves with (`inference.py` in sourcedir.tar.gz)."""
        return f"s3://{self.artifacts_bucket}/{code_prefix(self.code_version)}sourcedir.tar.gz"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RegisterModelSettings:
        env = environment(environ)
        group = required(env, "MODEL_PACKAGE_GROUP")
        approval = required(env, "MODEL_APPROVAL_STATUS")
        allowed = get_args(ApprovalStatus)
        if approval not in allowed:
            raise SettingsError(f"MODEL_APPROVAL_STATUS must be one of {', '.join(allowed)}, got {approval!r}")
        return cls(
            model_package_group=group,
            approval_status=cast(ApprovalStatus, approval),
            artifacts_bucket=required(env, "ARTIFACTS_BUCKET"),
            code_version=required(env, "CODE_VERSION"),
            inference_image=required(env, "INFERENCE_IMAGE"),
        )


@dataclass(frozen=True)
class RecordOutcomeSettings:
    notification_topic_arn: str
    state_machine_arn: str  # a failed run's jobs are stopped only for a running execution of this state machine
    job_name_prefix: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RecordOutcomeSettings:
        env = environment(environ)
        return cls(
            notification_topic_arn=required(env, "NOTIFICATION_TOPIC_ARN"),
            state_machine_arn=required(env, "STATE_MACHINE_ARN"),
            job_name_prefix=job_name_prefix(env),
        )
