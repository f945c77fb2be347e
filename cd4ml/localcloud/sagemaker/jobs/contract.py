"""The SageMaker container contract as plain functions: hyperparameters, the toolkit's SM_* variables, /opt/ml paths,
where an S3 object lands in a channel, and the names and statuses of each job kind."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..images import device_environment, is_gpu_instance

CONTAINER = Path(__file__).parents[2] / "child_process" / "sagemaker_container.py"
OPT_ML = "/opt/ml"
KINDS = ("training", "processing", "transform")
DETAIL_TYPES = {
    "training": "SageMaker Training Job State Change",
    "processing": "SageMaker Processing Job State Change",
    "transform": "SageMaker Transform Job State Change",
}
LOG_GROUPS = {
    "training": "/aws/sagemaker/TrainingJobs",
    "processing": "/aws/sagemaker/ProcessingJobs",
    "transform": "/aws/sagemaker/TransformJobs",
}
DESCRIBE_OPERATIONS = {
    "training": "DescribeTrainingJob",
    "processing": "DescribeProcessingJob",
    "transform": "DescribeTransformJob",
}
STATUS_ATTRIBUTES = {
    "training": "training_job_status",
    "processing": "processing_job_status",
    "transform": "transform_job_status",
}
START_ATTRIBUTES = {
    "training": "training_start_time",
    "processing": "processing_start_time",
    "transform": "transform_start_time",
}
END_ATTRIBUTES = {
    "training": "training_end_time",
    "processing": "processing_end_time",
    "transform": "transform_end_time",
}
TERMINAL = ("Completed", "Failed", "Stopped")
FAILURE_REASON_LIMIT = 1024  # AWS returns the first 1024 characters of /opt/ml/output/failure
STDERR_TAIL_LINES = 10
# The training toolkit's own hyperparameters: they configure the container and are not passed to the script.
TOOLKIT_HYPERPARAMETERS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)

CREATE_ACTIONS = {
    "training": "create_training_job",
    "processing": "create_processing_job",
    "transform": "create_transform_job",
}
STOP_ACTIONS = {"training": "stop_training_job", "processing": "stop_processing_job", "transform": "stop_transform_job"}
BACKEND_RECORDS = {"training": "training_jobs", "processing": "processing_jobs", "transform": "transform_jobs"}
NAME_PARAMETERS = {"training": "TrainingJobName", "processing": "ProcessingJobName", "transform": "TransformJobName"}


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, Any]:
    """JSON-decode each value, keeping the text where it is not JSON (the training toolkit's rule)."""
    decoded: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            decoded[name] = json.loads(value)
        except (TypeError, ValueError):
            decoded[name] = value
    return decoded


def split_hyperparameters(decoded: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the script's hyperparameters, the toolkit's): `sagemaker_*` and the toolkit's own keys are the toolkit's."""
    user: dict[str, Any] = {}
    toolkit: dict[str, Any] = {}
    for name, value in decoded.items():
        (toolkit if name in TOOLKIT_HYPERPARAMETERS or name.startswith("sagemaker_") else user)[name] = value
    return user, toolkit


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def cli_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """`--name value` pairs in name order, as the training toolkit builds them (one-letter names get `-n`)."""
    arguments: list[str] = []
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        arguments.append(f"--{name}" if len(name) > 1 else f"-{name}")
        if isinstance(value, Mapping):
            arguments.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            arguments.append(_text(value))
    return arguments


def env_value(value: Any) -> str:
    """An SM_* variable's value: text as it is, anything else as compact, key-sorted JSON (the toolkit's format)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def device_note(instance_type: str, num_gpus: int, available: int) -> str:
    if num_gpus:
        devices = device_environment(num_gpus)["CUDA_VISIBLE_DEVICES"]
        return f"{instance_type}: {num_gpus} GPU(s) of this machine (CUDA_VISIBLE_DEVICES={devices})"
    if is_gpu_instance(instance_type) and not available:
        return f"{instance_type} is a GPU instance but this machine has no GPU: the job runs on the CPU (SM_NUM_GPUS=0)"
    return f"{instance_type or 'the instance'} has no GPU: the job runs on the CPU (SM_NUM_GPUS=0)"


def training_environment(
    *,
    job_name: str,
    base_dir: Path,
    raw_hyperparameters: Mapping[str, str],
    input_data_config: Mapping[str, Any],
    resource_config: Mapping[str, Any],
    num_gpus: int,
    num_cpus: int,
    region: str,
) -> dict[str, str]:
    """The variables the SageMaker training toolkit sets for a script (SM_*), with paths below `base_dir`."""
    user, toolkit = split_hyperparameters(decode_hyperparameters(raw_hyperparameters))
    program = toolkit.get("sagemaker_program")
    channels = sorted(input_data_config)
    framework_params = {k: v for k, v in toolkit.items() if k not in TOOLKIT_HYPERPARAMETERS}
    paths = {
        "model_dir": base_dir / "model",
        "input_dir": base_dir / "input",
        "input_config_dir": base_dir / "input" / "config",
        "output_dir": base_dir / "output",
        "output_data_dir": base_dir / "output" / "data",
        "output_intermediate_dir": base_dir / "output" / "intermediate",
    }
    channel_dirs = {name: str(base_dir / "input" / "data" / name) for name in channels}
    current_host = str(resource_config.get("current_host", "algo-1"))
    environment: dict[str, Any] = {
        "hosts": list(resource_config.get("hosts", [current_host])),
        "network_interface_name": resource_config.get("network_interface_name", "eth0"),
        "hps": user,
        "user_entry_point": program,
        "framework_params": framework_params,
        "resource_config": dict(resource_config),
        "input_data_config": dict(input_data_config),
        "channels": channels,
        "current_host": current_host,
        "current_instance_type": resource_config.get("current_instance_type", "local"),
        "current_instance_group": resource_config.get("current_group_name", "homogeneousCluster"),
        "module_name": program[:-3] if isinstance(program, str) and program.endswith(".py") else program,
        "log_level": toolkit.get("sagemaker_container_log_level", logging.INFO),
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "module_dir": toolkit.get("sagemaker_submit_directory", str(base_dir / "code")),
        "user_args": cli_arguments(user),
        **{name: str(path) for name, path in paths.items()},
    }
    training_env = {
        **{k: v for k, v in environment.items() if k not in ("hps", "framework_params", "user_args", "channels")},
        "hyperparameters": user,
        "additional_framework_parameters": framework_params,
        "channel_input_dirs": channel_dirs,
        "job_name": job_name,
        "is_master": True,
        "master_hostname": current_host,
    }
    environment["training_env"] = training_env
    for name, path in channel_dirs.items():
        environment[f"channel_{name}"] = path
    for name, value in user.items():
        environment[f"hp_{name}"] = value
    variables = {f"SM_{name.upper()}": env_value(value) for name, value in environment.items()}
    variables.update(
        {
            "TRAINING_JOB_NAME": job_name,
            "SAGEMAKER_REGION": region,
            "CURRENT_HOST": current_host,
            "SAGEMAKER_BASE_DIR": str(base_dir),
        }
    )
    return variables


JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_OPT_ML_TOKEN = re.compile(r"(?<![\w./-])/opt/ml(?=/|$|[^\w.-])")


def map_opt_ml(text: str, base: Path) -> str:
    """Every /opt/ml path in a command-line argument or local path, moved below the job folder `base`."""
    return _OPT_ML_TOKEN.sub(lambda _: str(base), text)


def key_below_prefix(prefix: str, key: str) -> str:
    """Where an object of an S3Prefix source lands, relative to the channel folder: its key below the prefix
    (`data/train` or `data/train/` + `data/train/a/b.csv` -> `a/b.csv`); an object named by the whole prefix keeps
    its file name (`data/train.csv` -> `train.csv`), and one that only shares the prefix's first letters keeps
    its key below the prefix's folder."""
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if prefix == "" or prefix.endswith("/") or key[len(prefix)] == "/":
        return key[len(prefix) :].lstrip("/")
    return key[prefix.rfind("/") + 1 :]


def is_python(program: str) -> bool:
    return re.fullmatch(r"python(?:3(?:\.\d+)?)?", os.path.basename(program)) is not None
