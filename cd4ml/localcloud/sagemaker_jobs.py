"""SageMaker training, processing and transform jobs run as local processes under the container contract.

CreateTrainingJob, CreateProcessingJob and CreateTransformJob, from any SDK, state machine or Lambda, start a job
thread and return at once. The thread lays out a job folder that stands in for `/opt/ml`
(`<work dir>/sagemaker/<kind>/<job>`), downloads the inputs from the local S3, runs the job's code in its own
process group (`sagemaker_container.py` for Python code), and uploads what the job produced. moto's Fake*Job
objects, which DescribeTrainingJob and the List* calls serve, move through AWS's statuses, and every change is
emitted as AWS's `SageMaker ... Job State Change` event. Logs go to a file per job and to CloudWatch Logs.
The reference of what is supported is docs/sagemaker-jobs.md.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .aws import epoch_millis, host_environment
from .errors import LocalCloudError, WaitTimeoutError
from .sagemaker_images import (
    LocalImage,
    UnsupportedImageError,
    device_environment,
    gpu_count_for,
    is_gpu_instance,
    local_gpu_count,
    resolve_image,
)

if TYPE_CHECKING:
    from .cloud import LocalCloud

log = logging.getLogger(__name__)

CONTAINER = Path(__file__).with_name("sagemaker_container.py")
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
_DESCRIBE = {
    "training": "DescribeTrainingJob",
    "processing": "DescribeProcessingJob",
    "transform": "DescribeTransformJob",
}
_STATUS = {
    "training": "training_job_status",
    "processing": "processing_job_status",
    "transform": "transform_job_status",
}
_START = {"training": "training_start_time", "processing": "processing_start_time", "transform": "transform_start_time"}
_END = {"training": "training_end_time", "processing": "processing_end_time", "transform": "transform_end_time"}
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


class JobRequestError(LocalCloudError):
    """A Create*/Stop* request the local cloud refuses, answered with AWS's error `code`."""

    def __init__(self, message: str, code: str = "ValidationException") -> None:
        self.code = code
        super().__init__(message)


class _JobFailure(Exception):
    """The job ends Failed with this FailureReason."""


class _JobStopped(Exception):
    """A stop arrived before the job's process started."""


# ---- the container contract, as plain functions --------------------------------------------------------
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


_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_OPT_ML_TOKEN = re.compile(r"(?<![\w./-])/opt/ml(?=/|$|[^\w.-])")


def map_opt_ml(text: str, base: Path) -> str:
    """Every /opt/ml path in a command-line argument or local path, moved below the job folder `base`."""
    return _OPT_ML_TOKEN.sub(lambda _: str(base), text)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


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


class MetricTracker:
    """AlgorithmSpecification.MetricDefinitions applied to each log line; the last value of each metric wins."""

    def __init__(self, definitions: Iterable[Mapping[str, str]]) -> None:
        self.patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
        self.last: dict[str, tuple[float, datetime]] = {}

    def feed(self, line: str, when: datetime) -> None:
        for name, pattern in self.patterns:
            match = pattern.search(line)
            if match is None:
                continue
            try:
                self.last[name] = (float(match.group(1) if pattern.groups else match.group(0)), when)
            except (ValueError, IndexError):
                continue

    def final(self) -> list[dict[str, Any]]:
        return [
            {"MetricName": name, "Value": value, "Timestamp": when} for name, (value, when) in sorted(self.last.items())
        ]


def _now() -> datetime:
    """Naive UTC, as moto keeps its times (its List* filters compare them)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _event_value(value: Any) -> Any:
    """Describe* values as AWS's events carry them: times as epoch milliseconds."""
    if isinstance(value, datetime):
        return epoch_millis(value)
    if isinstance(value, Mapping):
        return {k: _event_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_event_value(v) for v in value]
    return value


# ---- one job -------------------------------------------------------------------------------------------
@dataclass
class LocalJob:
    """A job as the local cloud runs it: where its files are, what it printed, how long each step took."""

    kind: str
    name: str
    arn: str
    fake: Any  # moto's Fake*Job: what Describe* and List* serve
    request: dict[str, Any]
    image: LocalImage
    directory: Path  # stands in for /opt/ml
    log_path: Path
    instance_type: str = ""
    num_gpus: int = 0
    exit_code: int | None = None
    stop_cause: str | None = None  # "Stopped" (StopXxxJob, close) or "MaxRuntimeExceeded"
    timings: dict[str, float] = field(default_factory=dict)  # monotonic seconds: created, process_started...
    model: Any = None  # transform: moto's Model
    lock: threading.RLock = field(default_factory=threading.RLock)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    logbook: _JobLog | None = None

    @property
    def status(self) -> str:
        return str(getattr(self.fake, _STATUS[self.kind]))


class _JobLog:
    """What a job prints: appended to its log file, forwarded to CloudWatch Logs, scanned for metrics."""

    def __init__(self, path: Path, group: str, stream: str, metrics: MetricTracker | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.group = group
        self.stream = stream
        self.metrics = metrics
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.first_output: float | None = None
        self._file = path.open("a", encoding="utf-8")
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stream_created = False

    def write(self, line: str, *, stderr: bool = False, system: bool = False) -> None:
        line = line.rstrip("\r\n")
        now = _now()
        if system:
            line = f"[localcloud] {line}"
        with self._lock:
            if not system and self.first_output is None:
                self.first_output = time.monotonic()
            if not self._file.closed:  # a child left behind by a killed job may still print
                self._file.write(line + "\n")
                self._file.flush()
            self._pending.append({"timestamp": epoch_millis(now), "message": line or " "})
            if stderr:
                self.stderr_tail.append(line)
        if self.metrics is not None and not system:
            self.metrics.feed(line, now)

    def flush(self, logs: Any) -> None:
        """Send what is pending to CloudWatch Logs (the group and stream are created on first use)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            if not self._stream_created:
                try:
                    logs.create_log_group(logGroupName=self.group)
                except logs.exceptions.ResourceAlreadyExistsException:
                    pass
                logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                self._stream_created = True
            for start in range(0, len(pending), 5000):
                logs.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=pending[start : start + 5000]
                )
        except Exception:
            log.warning("log lines of %s could not reach CloudWatch Logs", self.stream, exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _terminate(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ---- the job runner ------------------------------------------------------------------------------------
class SageMakerJobs:
    """Runs the training, processing and transform jobs created on the local cloud, each in a thread."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.root = cloud.work_dir / "sagemaker"
        self.log_dir = cloud.work_dir / "logs" / "sagemaker"
        # AWS gives a stopped job 120 s between SIGTERM and SIGKILL to save its model; locally a few seconds.
        self.stop_grace_s = 5.0
        self.checkpoint_sync_interval_s = 5.0
        self.log_flush_interval_s = 1.0
        self._jobs: dict[tuple[str, str], LocalJob] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._members: dict[str, frozenset[str]] = {}

    # ---- public helpers --------------------------------------------------------------------------------
    def job(self, name: str, kind: str = "training") -> LocalJob:
        with self._lock:
            job = self._jobs.get((kind, name))
        if job is None:
            raise LocalCloudError(f"no {kind} job {name!r} was created on this local cloud")
        return job

    def jobs(self) -> list[LocalJob]:
        with self._lock:
            return list(self._jobs.values())

    def wait(self, name: str, kind: str = "training", timeout: float = 60.0) -> dict[str, Any]:
        """Wait until a job has ended (its terminal event emitted); return its Describe* response."""
        job = self.job(name, kind)
        if not job.done.wait(timeout):
            raise WaitTimeoutError(f"{kind} job {name} still {job.status} after {timeout}s")
        client = self.cloud.clients("sagemaker")
        describe = {
            "training": lambda: client.describe_training_job(TrainingJobName=name),
            "processing": lambda: client.describe_processing_job(ProcessingJobName=name),
            "transform": lambda: client.describe_transform_job(TransformJobName=name),
        }[kind]
        result: dict[str, Any] = describe()
        result.pop("ResponseMetadata", None)
        return result

    def close(self) -> None:
        """Kill every running job's processes and let the job threads end without uploading or emitting."""
        self._closed = True
        for job in self.jobs():
            job.stop_cause = job.stop_cause or "Stopped"
            job.stop_requested.set()
            if job.process is not None and job.process.poll() is None:
                _terminate(job.process, signal.SIGKILL)
        for job in self.jobs():
            if job.thread is not None:
                job.thread.join(timeout=10)

    # ---- create: checks made before moto records the job (they answer the API call) ---------------------
    def check(self, kind: str, request: Mapping[str, Any], backend: Any) -> tuple[LocalImage, Any]:
        """Refuse what AWS refuses and what cannot run locally, before the job exists; returns (image, model)."""
        name = str(request.get(_NAME_PARAM[kind], ""))
        if not _JOB_NAME.fullmatch(name):  # AWS's pattern; it also keeps the name safe as a folder name
            raise JobRequestError(
                f"1 validation error detected: Value '{name}' at '{_NAME_PARAM[kind][0].lower()}"
                f"{_NAME_PARAM[kind][1:]}' failed to satisfy constraint: Member must satisfy regular expression "
                f"pattern: {_JOB_NAME.pattern}"
            )
        if kind == "training":
            return self._check_training(request, backend), None
        if kind == "processing":
            return self._check_processing(request, backend), None
        return self._check_transform(request, backend)

    @staticmethod
    def _image(image: str | None, what: str) -> LocalImage:
        if not image:
            raise JobRequestError(f"{what} is required: the local cloud runs a job from its image")
        try:
            return resolve_image(image)
        except UnsupportedImageError as exc:
            raise JobRequestError(str(exc)) from exc

    def _check_training(self, request: Mapping[str, Any], backend: Any) -> LocalImage:
        name = request.get("TrainingJobName", "")
        if name in backend.training_jobs:
            raise JobRequestError(
                "Training job names must be unique within an AWS account and region, and a training job with this "
                f"name already exists ({backend.training_jobs[name].arn})"
            )
        spec = request.get("AlgorithmSpecification") or {}
        if spec.get("AlgorithmName"):
            raise JobRequestError(
                "AlgorithmSpecification.AlgorithmName (a built-in or Marketplace algorithm) cannot run on the local "
                "cloud; give a TrainingImage it runs (see cd4ml/localcloud/sagemaker_images.py)"
            )
        image = self._image(spec.get("TrainingImage"), "AlgorithmSpecification.TrainingImage")
        if not (request.get("OutputDataConfig") or {}).get("S3OutputPath"):
            raise JobRequestError("OutputDataConfig.S3OutputPath is required")
        for definition in spec.get("MetricDefinitions") or []:
            try:
                re.compile(definition.get("Regex", ""))
            except re.error as exc:
                raise JobRequestError(
                    f"MetricDefinitions regex of {definition.get('Name')!r} is invalid: {exc}"
                ) from exc
        hyperparameters = request.get("HyperParameters") or {}
        if len(hyperparameters) > 100:
            raise JobRequestError(f"{len(hyperparameters)} hyperparameters given; the limit is 100")
        for key, value in hyperparameters.items():
            if not isinstance(value, str) or len(value) > 2500 or len(key) > 256:
                raise JobRequestError(f"hyperparameter {key!r} must be a string of at most 2500 characters")
        default_mode = spec.get("TrainingInputMode", "File")
        for channel in request.get("InputDataConfig") or []:
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            label = f"channel {channel.get('ChannelName')!r}"
            if source is None:
                raise JobRequestError(f"{label}: only S3DataSource channels run on the local cloud")
            if source.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
                raise JobRequestError(f"{label}: S3DataType {source.get('S3DataType')} is not supported locally")
            mode = channel.get("InputMode") or default_mode
            if mode not in ("File", "FastFile"):
                raise JobRequestError(f"{label}: input mode {mode} is not supported locally (File and FastFile are)")
        stopping = request.get("StoppingCondition") or {}
        if request.get("EnableManagedSpotTraining"):
            max_wait = stopping.get("MaxWaitTimeInSeconds")
            if max_wait is None:
                raise JobRequestError("StoppingCondition.MaxWaitTimeInSeconds is required for managed spot training")
            if max_wait < stopping.get("MaxRuntimeInSeconds", 86400):
                raise JobRequestError(
                    "StoppingCondition.MaxWaitTimeInSeconds must be greater than or equal to MaxRuntimeInSeconds"
                )
        return image

    def _check_processing(self, request: Mapping[str, Any], backend: Any) -> LocalImage:
        name = request.get("ProcessingJobName", "")
        if name in backend.processing_jobs:
            raise JobRequestError(
                "Job name must be unique within an AWS account and region, and a processing job with this name "
                f"already exists ({backend.processing_jobs[name].arn})"
            )
        app = request.get("AppSpecification") or {}
        image = self._image(app.get("ImageUri"), "AppSpecification.ImageUri")
        if not app.get("ContainerEntrypoint"):
            raise JobRequestError(
                "AppSpecification.ContainerEntrypoint is required on the local cloud: an image's own entrypoint "
                'cannot run here (e.g. ["python3", "/opt/ml/processing/input/code/script.py"])'
            )
        for item in request.get("ProcessingInputs") or []:
            s3_input = item.get("S3Input")
            label = f"processing input {item.get('InputName')!r}"
            if s3_input is None:
                raise JobRequestError(f"{label}: only S3Input runs on the local cloud (not DatasetDefinition)")
            if s3_input.get("S3InputMode", "File") != "File":
                raise JobRequestError(f"{label}: S3InputMode {s3_input.get('S3InputMode')} is not supported locally")
            if s3_input.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
                raise JobRequestError(f"{label}: S3DataType {s3_input.get('S3DataType')} is not supported locally")
            if not str(s3_input.get("LocalPath", "")).startswith("/opt/ml/processing/"):
                raise JobRequestError(f"{label}: LocalPath must be below /opt/ml/processing/")
        for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            label = f"processing output {item.get('OutputName')!r}"
            if item.get("S3Output") is None:
                raise JobRequestError(f"{label}: only S3Output runs on the local cloud (not FeatureStoreOutput)")
            if not str(item["S3Output"].get("LocalPath", "")).startswith("/opt/ml/processing/"):
                raise JobRequestError(f"{label}: LocalPath must be below /opt/ml/processing/")
        return image

    def _check_transform(self, request: Mapping[str, Any], backend: Any) -> tuple[LocalImage, Any]:
        name = request.get("TransformJobName", "")
        if name in backend.transform_jobs:
            raise JobRequestError(
                "Job name must be unique within an AWS account and region, and a transform job with this name "
                f"already exists ({backend.transform_jobs[name].arn})"
            )
        model_name = request.get("ModelName", "")
        model = backend._models.get(model_name)
        if model is None:
            arn = f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:model/{model_name}"
            raise JobRequestError(f'Could not find model "{arn}".')
        containers = [model.primary_container] if model.primary_container else list(model.containers or [])
        if len(containers) != 1:
            raise JobRequestError(f"model {model_name!r} has {len(containers)} containers; one runs locally")
        image = self._image(containers[0].get("Image"), f"the image of model {model_name!r}")
        transform_input = request.get("TransformInput") or {}
        source = (transform_input.get("DataSource") or {}).get("S3DataSource") or {}
        if source.get("S3DataType", "S3Prefix") not in ("S3Prefix", "ManifestFile"):
            raise JobRequestError(f"TransformInput S3DataType {source.get('S3DataType')} is not supported locally")
        split = transform_input.get("SplitType", "None")
        if split not in ("None", "Line"):
            raise JobRequestError(f"SplitType {split} is not supported locally (None and Line are)")
        if request.get("DataProcessing"):
            raise JobRequestError("DataProcessing (input/output filters, JoinSource) is not supported locally")
        if not (request.get("TransformOutput") or {}).get("S3OutputPath"):
            raise JobRequestError("TransformOutput.S3OutputPath is required")
        return image, model

    # ---- create: start ---------------------------------------------------------------------------------
    def start(self, kind: str, request: dict[str, Any], fake: Any, image: LocalImage, model: Any = None) -> LocalJob:
        """Take over a job moto has just recorded: InProgress now (event included), the work in a thread."""
        name = getattr(fake, f"{kind}_job_name")
        job = LocalJob(
            kind=kind,
            name=name,
            arn=fake.arn,
            fake=fake,
            request=request,
            image=image,
            directory=self.root / kind / name,
            log_path=self.log_dir / kind / f"{name}.log",
            model=model,
        )
        job.timings["created"] = time.monotonic()
        self._prepare_fake(job)
        with self._lock:
            self._jobs[(kind, name)] = job
        stream = f"{name}/algo-1-{int(time.time())}"
        metrics = MetricTracker((request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or [])
        job.logbook = _JobLog(job.log_path, LOG_GROUPS[kind], stream, metrics if kind == "training" else None)
        self._emit(job)
        runner = {"training": self._run_training, "processing": self._run_processing, "transform": self._run_transform}
        job.thread = threading.Thread(target=self._run, args=(job, runner[kind]), name=f"sagemaker-{name}", daemon=True)
        job.thread.start()
        return job

    def _prepare_fake(self, job: LocalJob) -> None:
        """Replace what moto invents (a finished job with made-up metrics) with a job that has just started."""
        fake, request = job.fake, job.request
        now = _now()
        setattr(fake, _STATUS[job.kind], "InProgress")
        setattr(fake, _START[job.kind], None)
        setattr(fake, _END[job.kind], None)
        fake.creation_time = fake.last_modified_time = now
        fake.failure_reason = None
        if job.kind == "training":
            # moto overwrites the MetricDefinitions it is given; put back the request's own
            fake.algorithm_specification = copy.deepcopy(request.get("AlgorithmSpecification") or {})
            fake.secondary_status = "Starting"
            fake.secondary_status_transitions = [
                {"Status": "Starting", "StartTime": now, "StatusMessage": "Preparing the instances for training"}
            ]
            fake.final_metric_data_list = None
            fake.environment = request.get("Environment") or None
            fake.retry_strategy = request.get("RetryStrategy") or None
            job.instance_type = (request.get("ResourceConfig") or {}).get("InstanceType", "")
        elif job.kind == "processing":
            fake.environment = request.get("Environment") or None
            fake.exit_message = None
            job.instance_type = ((request.get("ProcessingResources") or {}).get("ClusterConfig") or {}).get(
                "InstanceType", ""
            )
        else:
            fake.labeling_job_arn = fake.auto_ml_job_arn = None
            job.instance_type = (request.get("TransformResources") or {}).get("InstanceType", "")
        job.num_gpus = gpu_count_for(job.instance_type, local_gpu_count())

    # ---- stop ------------------------------------------------------------------------------------------
    def stop(self, kind: str, name: str, backend: Any) -> None:
        """StopXxxJob: Stopping now (event included); the job thread ends the process and reports Stopped."""
        fakes = {"training": backend.training_jobs, "processing": backend.processing_jobs}.get(
            kind, backend.transform_jobs
        )
        fake = fakes.get(name)
        if fake is None:
            raise JobRequestError(f"Could not find {kind} job '{name}'.", "ResourceNotFound")
        with self._lock:
            job = self._jobs.get((kind, name))
        if job is None:  # recorded before this local cloud ran it: nothing runs, so it simply stops
            setattr(fake, _STATUS[kind], "Stopped")
            return
        with job.lock:  # the job thread changes statuses under the same lock: Stopping is never overwritten
            status = job.status
            if status in TERMINAL:
                raise JobRequestError(f"The request was rejected because the {kind} job is in status {status}.")
            if status == "Stopping":
                return
            job.stop_cause = job.stop_cause or "Stopped"
            job.stop_requested.set()
            self._set_status(job, "Stopping", "Stopping", "Stopping the training job")

    # ---- statuses and events ---------------------------------------------------------------------------
    def _set_status(self, job: LocalJob, status: str, secondary: str | None = None, message: str = "") -> None:
        with job.lock:
            now = _now()
            fake = job.fake
            setattr(fake, _STATUS[job.kind], status)
            fake.last_modified_time = now
            if job.kind == "training" and secondary is not None:
                transitions = [dict(t) for t in fake.secondary_status_transitions or []]
                if transitions and "EndTime" not in transitions[-1]:
                    transitions[-1]["EndTime"] = now
                entry = {"Status": secondary, "StartTime": now, "StatusMessage": message}
                if status in TERMINAL:
                    entry["EndTime"] = now
                fake.secondary_status_transitions = [*transitions, entry]
                fake.secondary_status = secondary
            self._emit(job)

    def _emit(self, job: LocalJob) -> None:
        """The job's state change event, its detail shaped like the Describe* response (times in epoch millis)."""
        if self._closed:
            return
        try:
            detail = self.event_detail(job)
            self.cloud.router.put_event("aws.sagemaker", DETAIL_TYPES[job.kind], detail, resources=[job.arn])
        except Exception:
            log.exception("state change event of %s could not be emitted", job.arn)

    def event_detail(self, job: LocalJob) -> dict[str, Any]:
        members = self._describe_members(job.kind)
        response = job.fake.response_object
        detail = {k: _event_value(v) for k, v in response.items() if k in members and v is not None}
        detail["Tags"] = {tag["Key"]: tag["Value"] for tag in (getattr(job.fake, "tags", None) or []) if "Key" in tag}
        return detail

    def _describe_members(self, kind: str) -> frozenset[str]:
        if kind not in self._members:
            model = self.cloud.clients("sagemaker").meta.service_model
            self._members[kind] = frozenset(model.operation_model(_DESCRIBE[kind]).output_shape.members)
        return self._members[kind]

    # ---- the job thread --------------------------------------------------------------------------------
    def _run(self, job: LocalJob, runner: Callable[[LocalJob], None]) -> None:
        assert job.logbook is not None
        try:
            job.directory.mkdir(parents=True, exist_ok=True)
            runner(job)
        except _JobStopped:
            self._finish(job, "Stopped", job.stop_cause or "Stopped")
        except _JobFailure as failure:
            job.logbook.write(f"job failed: {failure}", system=True)
            self._finish(job, "Failed", "Failed", reason=str(failure))
        except Exception as exc:
            log.exception("%s job %s failed inside the local cloud", job.kind, job.name)
            self._finish(job, "Failed", "Failed", reason=f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            if not self._closed:
                job.logbook.flush(self.cloud.clients("logs"))
            job.logbook.close()
            job.timings["finished"] = time.monotonic()
            job.done.set()

    def _finish(self, job: LocalJob, status: str, secondary: str, reason: str | None = None) -> None:
        if self._closed:
            return
        assert job.logbook is not None
        fake = job.fake
        if status == "Completed" and job.stop_cause is not None:  # a stop that came while it was uploading
            status, secondary = "Stopped", job.stop_cause
        job.logbook.write(f"{job.kind} job {job.name} ended: {status} ({secondary})", system=True)
        job.logbook.flush(self.cloud.clients("logs"))  # the log is complete when the terminal event goes out
        messages = {
            "Completed": "Training job completed",
            "Failed": f"Training job failed. Reason: {reason}",
            "Stopped": "Training job stopped",
            "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
        }
        with job.lock:
            if status == "Completed" and job.stop_cause is not None:  # and one that came while the log was flushed
                status, secondary = "Stopped", job.stop_cause
            now = _now()
            setattr(fake, _END[job.kind], now)
            if getattr(fake, _START[job.kind]) is None:
                setattr(fake, _START[job.kind], now)
            if status == "Failed":
                fake.failure_reason = (reason or "AlgorithmError: see the job's log")[:FAILURE_REASON_LIMIT]
            if job.kind == "training":
                seconds = max(1, round((now - fake.training_start_time).total_seconds()))
                fake.training_time_in_seconds = fake.billable_time_in_seconds = seconds
                if job.logbook.metrics is not None:
                    fake.final_metric_data_list = job.logbook.metrics.final() or None
            self._set_status(job, status, secondary, messages.get(secondary, ""))

    def _phase(self, job: LocalJob, secondary: str, message: str) -> None:
        """A training job's next secondary status (InProgress); other kinds only check for a stop."""
        with job.lock:
            if job.stop_requested.is_set():
                raise _JobStopped
            if job.kind == "training":
                self._set_status(job, "InProgress", secondary, message)

    def _base_environment(self, job: LocalJob, user_environment: Mapping[str, str]) -> dict[str, str]:
        env = host_environment()
        env.update({k: str(v) for k, v in user_environment.items()})
        env.update(self.cloud.environment())  # last but for the contract: job code never reaches real AWS
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "PYTHONIOENCODING": "utf-8",
                "SAGEMAKER_BASE_DIR": str(job.directory),
                "_CD4ML_FRAMEWORK": job.image.framework,
                **device_environment(job.num_gpus),
            }
        )
        return env

    def _local_command(self, job: LocalJob, command: list[str]) -> list[str]:
        """An image's command line made local: /opt/ml paths moved to the job folder, Python run by the container."""
        mapped = [map_opt_ml(part, job.directory) for part in command]
        if mapped and is_python(mapped[0]):
            return [sys.executable, str(CONTAINER), "python", *mapped[1:]]
        return mapped

    # ---- training --------------------------------------------------------------------------------------
    def _run_training(self, job: LocalJob) -> None:
        assert job.logbook is not None
        request, base, fake = job.request, job.directory, job.fake
        spec = request.get("AlgorithmSpecification") or {}
        fake.training_start_time = _now()
        self._phase(job, "Downloading", "Downloading input data")
        for folder in ("input/data", "input/config", "model", "output/data", "output/intermediate", "code"):
            (base / folder).mkdir(parents=True, exist_ok=True)
        resources = request.get("ResourceConfig") or {}
        if int(resources.get("InstanceCount", 1)) > 1:
            job.logbook.write(f"InstanceCount {resources['InstanceCount']} runs as one instance (algo-1)", system=True)
        resource_config = {
            "current_host": "algo-1",
            "current_instance_type": job.instance_type,
            "current_group_name": "homogeneousCluster",
            "hosts": ["algo-1"],
            "instance_groups": [
                {"instance_group_name": "homogeneousCluster", "instance_type": job.instance_type, "hosts": ["algo-1"]}
            ],
            "network_interface_name": "eth0",
        }
        default_mode = spec.get("TrainingInputMode", "File")
        input_config = {
            channel["ChannelName"]: {
                "TrainingInputMode": channel.get("InputMode") or default_mode,
                "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                    "S3DataDistributionType", "FullyReplicated"
                ),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
                **({"ContentType": channel["ContentType"]} if channel.get("ContentType") else {}),
            }
            for channel in request.get("InputDataConfig") or []
        }
        raw_hyperparameters = request.get("HyperParameters") or {}
        config_dir = base / "input" / "config"
        (config_dir / "hyperparameters.json").write_text(json.dumps(raw_hyperparameters), encoding="utf-8")
        (config_dir / "resourceconfig.json").write_text(json.dumps(resource_config), encoding="utf-8")
        (config_dir / "inputdataconfig.json").write_text(json.dumps(input_config), encoding="utf-8")
        for channel in request.get("InputDataConfig") or []:
            source = channel["DataSource"]["S3DataSource"]
            target = base / "input" / "data" / channel["ChannelName"]
            count = self._download_input(job, source["S3Uri"], source.get("S3DataType", "S3Prefix"), target)
            job.logbook.write(
                f"channel {channel['ChannelName']}: {count} object(s) from {source['S3Uri']}", system=True
            )
        checkpoint = request.get("CheckpointConfig") or {}
        syncs: list[tuple[Path, str]] = []
        if checkpoint.get("S3Uri"):
            local = Path(map_opt_ml(checkpoint.get("LocalPath") or "/opt/ml/checkpoints", base))
            local.mkdir(parents=True, exist_ok=True)
            count = self._download_folder(checkpoint["S3Uri"], local)
            job.logbook.write(f"checkpoints: {count} object(s) restored from {checkpoint['S3Uri']}", system=True)
            syncs.append((local, checkpoint["S3Uri"]))
        command, shown = self._training_command(job, raw_hyperparameters)
        available = local_gpu_count()
        job.logbook.write(device_note(job.instance_type, job.num_gpus, available), system=True)
        if request.get("EnableManagedSpotTraining"):
            stopping = request.get("StoppingCondition") or {}
            job.logbook.write(
                f"managed spot training: runs uninterrupted locally (MaxWaitTimeInSeconds "
                f"{stopping.get('MaxWaitTimeInSeconds')})",
                system=True,
            )
        env = self._base_environment(job, request.get("Environment") or {})
        env.update(
            training_environment(
                job_name=job.name,
                base_dir=base,
                raw_hyperparameters=raw_hyperparameters,
                input_data_config=input_config,
                resource_config=resource_config,
                num_gpus=job.num_gpus,
                num_cpus=os.cpu_count() or 1,
                region=self.cloud.region,
            )
        )
        env["TRAINING_JOB_ARN"] = job.arn
        env["PYTHONPATH"] = str(base / "code")
        self._phase(job, "Training", "Training image download completed. Training in progress.")
        max_runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
        code = self._run_process(job, command, env, base / "code", max_runtime, syncs)
        output = request["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{job.name}/output"
        with job.lock:
            if job.stop_cause is None and code == 0:
                self._set_status(job, "InProgress", "Uploading", "Uploading generated training model")
        if job.stop_cause is not None or code == 0:
            # a stopped job keeps what it saved in its SIGTERM window, as on AWS
            self._upload_archive(base / "model", f"{output}/model.tar.gz")
        self._upload_archive(base / "output" / "data", f"{output}/output.tar.gz")
        self._sync(syncs, {})
        if job.stop_cause is not None:
            raise _JobStopped
        if code != 0:
            raise _JobFailure(self._failure_reason(job, code, shown))
        self._finish(job, "Completed", "Completed")

    def _training_command(self, job: LocalJob, raw_hyperparameters: Mapping[str, str]) -> tuple[list[str], str]:
        """The command that runs the training code, and how AWS's toolkit would show it in a failure."""
        spec = job.request.get("AlgorithmSpecification") or {}
        if spec.get("ContainerEntrypoint"):
            command = [*spec["ContainerEntrypoint"], *(spec.get("ContainerArguments") or [])]
            return self._local_command(job, command), " ".join(command)
        user, toolkit = split_hyperparameters(decode_hyperparameters(raw_hyperparameters))
        program = toolkit.get("sagemaker_program")
        if program is None:
            raise _JobFailure(
                f"ClientError: image {job.image.description or job.image.framework} runs user code in script mode: "
                "set the sagemaker_program hyperparameter (and sagemaker_submit_directory), or "
                "AlgorithmSpecification.ContainerEntrypoint"
            )
        if not isinstance(program, str) or not program.strip():
            raise _JobFailure(
                f"ClientError: hyperparameter sagemaker_program must name the script to run, got "
                f"{raw_hyperparameters.get('sagemaker_program')!r}"
            )
        code_dir = job.directory / "code"
        source = toolkit.get("sagemaker_submit_directory")
        if source is not None:
            if not isinstance(source, str):
                raise _JobFailure(
                    "ClientError: hyperparameter sagemaker_submit_directory must be an s3:// URI or a local path, got "
                    f"{raw_hyperparameters.get('sagemaker_submit_directory')!r}"
                )
            self._fetch_code(source, code_dir)
        script = code_dir / program
        if not script.is_file():
            present = sorted(p.name for p in code_dir.iterdir())[:20]
            raise _JobFailure(
                f"ClientError: the entry point {program!r} (hyperparameter sagemaker_program) is not in the source "
                f"directory {source or '/opt/ml/code'}; it holds {present}"
            )
        arguments = cli_arguments(user)
        shown = " ".join([sys.executable, program, *arguments])
        if program.endswith(".py"):
            return [sys.executable, str(CONTAINER), "python", str(script), *arguments], shown
        if program.endswith(".sh"):
            return ["/bin/sh", str(script), *arguments], shown
        return [str(script), *arguments], shown

    def _failure_reason(self, job: LocalJob, code: int, command: str) -> str:
        """AWS's FailureReason: the algorithm's /opt/ml/output/failure, else the toolkit's ExecuteUserScriptError."""
        assert job.logbook is not None
        failure = job.directory / "output" / "failure"
        if failure.is_file():
            text = failure.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                return text[:FAILURE_REASON_LIMIT]
        tail = "\n".join(job.logbook.stderr_tail)
        if job.kind == "training":
            error = f'ExecuteUserScriptError:\nExitCode {code}\nErrorMessage "{tail}"\nCommand "{command}"'
            return f"AlgorithmError: {error}, exit code: {code}"
        return f'AlgorithmError: ExitCode {code}\nErrorMessage "{tail}"\nCommand "{command}"'

    # ---- processing ------------------------------------------------------------------------------------
    def _run_processing(self, job: LocalJob) -> None:
        assert job.logbook is not None
        request, base, fake = job.request, job.directory, job.fake
        (base / "config").mkdir(parents=True, exist_ok=True)
        (base / "config" / "processingjobconfig.json").write_text(json.dumps(request, default=str), encoding="utf-8")
        (base / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}), encoding="utf-8"
        )
        (base / "output").mkdir(parents=True, exist_ok=True)
        for item in request.get("ProcessingInputs") or []:
            s3_input = item["S3Input"]
            target = Path(map_opt_ml(s3_input["LocalPath"], base))
            count = self._download_input(job, s3_input["S3Uri"], s3_input.get("S3DataType", "S3Prefix"), target)
            job.logbook.write(f"input {item.get('InputName')}: {count} object(s) from {s3_input['S3Uri']}", system=True)
        outputs: list[tuple[Path, str, str]] = []
        for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            s3_output = item["S3Output"]
            folder = Path(map_opt_ml(s3_output["LocalPath"], base))
            folder.mkdir(parents=True, exist_ok=True)
            outputs.append((folder, s3_output["S3Uri"], s3_output.get("S3UploadMode", "EndOfJob")))
        self._phase(job, "", "")
        app = request["AppSpecification"]
        command = [*app["ContainerEntrypoint"], *(app.get("ContainerArguments") or [])]
        job.logbook.write(device_note(job.instance_type, job.num_gpus, local_gpu_count()), system=True)
        user_env = {k: map_opt_ml(str(v), base) for k, v in (request.get("Environment") or {}).items()}
        env = self._base_environment(job, user_env)
        env["PROCESSING_JOB_NAME"] = job.name
        fake.processing_start_time = _now()
        max_runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
        continuous = [(folder, uri) for folder, uri, mode in outputs if mode == "Continuous"]
        code = self._run_process(job, self._local_command(job, command), env, base, max_runtime, continuous)
        message = base / "output" / "message"
        if message.is_file():
            fake.exit_message = message.read_text(encoding="utf-8", errors="replace")[:1024] or None
        if job.stop_cause is not None:
            raise _JobStopped
        if code != 0:
            raise _JobFailure(self._failure_reason(job, code, " ".join(command)))
        for folder, uri, _ in outputs:
            count = self._upload_folder(folder, uri)
            job.logbook.write(f"output {folder.name}: {count} file(s) to {uri}", system=True)
        self._finish(job, "Completed", "Completed")

    # ---- transform -------------------------------------------------------------------------------------
    def _run_transform(self, job: LocalJob) -> None:
        assert job.logbook is not None
        request, base, fake = job.request, job.directory, job.fake
        container = job.model.primary_container or job.model.containers[0]
        environment = {**(container.get("Environment") or {}), **(request.get("Environment") or {})}
        model_dir, work = base / "model", base / "transform"
        model_dir.mkdir(parents=True, exist_ok=True)
        fake.transform_start_time = _now()
        self._fetch_model(container, model_dir)
        code_dir: Path | None = None
        if environment.get("SAGEMAKER_SUBMIT_DIRECTORY"):
            code_dir = base / "code"
            self._fetch_code(environment["SAGEMAKER_SUBMIT_DIRECTORY"], code_dir)
        elif (model_dir / "code").is_dir():
            code_dir = model_dir / "code"  # the framework serving containers' convention
        transform_input, transform_output = request["TransformInput"], request["TransformOutput"]
        source = transform_input["DataSource"]["S3DataSource"]
        inputs = self._list_input(job, source["S3Uri"], source.get("S3DataType", "S3Prefix"))
        files = []
        for bucket, key, relative in inputs:
            local = work / "input" / relative
            self._download_object(bucket, key, local)
            files.append({"name": relative, "input": str(local), "output": str(work / "output" / f"{relative}.out")})
        job.logbook.write(f"{len(files)} input object(s) from {source['S3Uri']}", system=True)
        max_payload_mb = request.get("MaxPayloadInMB")
        max_payload_mb = 6 if max_payload_mb is None else int(max_payload_mb)
        config = {
            "model_dir": str(model_dir),
            "code_dir": str(code_dir) if code_dir else None,
            "program": environment.get("SAGEMAKER_PROGRAM"),
            "framework": job.image.framework,
            "content_type": transform_input.get("ContentType"),
            "accept": transform_output.get("Accept"),
            "split_type": transform_input.get("SplitType", "None"),
            "compression": transform_input.get("CompressionType", "None"),
            "batch_strategy": request.get("BatchStrategy") or "MultiRecord",
            # 0 means no limit (AWS: payloads sent with chunked encoding)
            "max_payload_bytes": max_payload_mb * 1024 * 1024 if max_payload_mb else sys.maxsize,
            "assemble_with": transform_output.get("AssembleWith", "None"),
            "files": files,
        }
        work.mkdir(parents=True, exist_ok=True)
        config_path = work / "transform.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        self._phase(job, "", "")
        job.logbook.write(device_note(job.instance_type, job.num_gpus, local_gpu_count()), system=True)
        env = self._base_environment(job, environment)
        command = [sys.executable, str(CONTAINER), "transform", str(config_path)]
        code = self._run_process(job, command, env, base, None, [])
        if job.stop_cause is not None:
            raise _JobStopped
        if code != 0:
            raise _JobFailure(self._failure_reason(job, code, "batch transform"))
        output_path = transform_output["S3OutputPath"].rstrip("/")
        for item in files:
            bucket, key = parse_s3_uri(f"{output_path}/{item['name']}.out")
            self.cloud.clients("s3").put_object(Bucket=bucket, Key=key, Body=Path(item["output"]).read_bytes())
        job.logbook.write(f"{len(files)} output object(s) to {output_path}", system=True)
        self._finish(job, "Completed", "Completed")

    def _fetch_model(self, container: Mapping[str, Any], model_dir: Path) -> None:
        """ModelDataUrl (a model.tar.gz) or ModelDataSource (an uncompressed prefix), extracted into model_dir."""
        source = (container.get("ModelDataSource") or {}).get("S3DataSource")
        if source and source.get("CompressionType", "None") == "None":
            self._download_folder(source["S3Uri"], model_dir)
            return
        url = container.get("ModelDataUrl") or (source or {}).get("S3Uri")
        if not url:
            return  # a model without artifacts: model_fn builds it
        archive = model_dir.parent / "model.tar.gz"
        try:
            bucket, key = parse_s3_uri(url)
            self._download_object(bucket, key, archive)
        except Exception as exc:
            raise _JobFailure(f"ClientError: could not download the model data {url}: {_client_error(exc)}") from exc
        _extract(archive, model_dir, url)

    # ---- running the process ---------------------------------------------------------------------------
    def _run_process(
        self,
        job: LocalJob,
        command: list[str],
        env: dict[str, str],
        cwd: Path,
        max_runtime_s: float | None,
        syncs: list[tuple[Path, str]],
    ) -> int:
        """Run the job's process group to its end, enforcing stop and max runtime; returns its exit code."""
        assert job.logbook is not None
        logbook = job.logbook
        logs = self.cloud.clients("logs")
        try:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: stop and max runtime end its children too
            )
        except OSError as exc:
            raise _JobFailure(f"AlgorithmError: could not start {command[0]}: {exc}") from exc
        job.process = process
        job.timings["process_started"] = time.monotonic()
        readers = [
            threading.Thread(target=self._pump, args=(process.stdout, logbook, False), daemon=True),
            threading.Thread(target=self._pump, args=(process.stderr, logbook, True), daemon=True),
        ]
        for reader in readers:
            reader.start()
        started = job.timings["created"]  # AWS counts MaxRuntimeInSeconds over the whole job, downloads included
        terminated_at: float | None = None
        killed = False
        next_flush = time.monotonic() + self.log_flush_interval_s
        next_sync = time.monotonic() + self.checkpoint_sync_interval_s
        synced: dict[Path, tuple[int, int]] = {}
        while process.poll() is None:
            job.stop_requested.wait(0.05)
            now = time.monotonic()
            if terminated_at is None and job.stop_requested.is_set():
                logbook.write("stop requested: SIGTERM to the job's processes", system=True)
                _terminate(process, signal.SIGTERM)
                terminated_at = now
            if terminated_at is None and max_runtime_s is not None and now - started > max_runtime_s:
                with job.lock:
                    job.stop_cause = job.stop_cause or "MaxRuntimeExceeded"
                logbook.write(f"MaxRuntimeInSeconds ({max_runtime_s}) exceeded: SIGTERM to the job", system=True)
                if job.kind == "training":
                    self._set_status(job, "Stopping", "Stopping", "Stopping the training job: MaxRuntimeExceeded")
                else:
                    self._set_status(job, "Stopping")
                _terminate(process, signal.SIGTERM)
                terminated_at = now
            if terminated_at is not None and not killed and now - terminated_at > self.stop_grace_s:
                logbook.write(f"still running {self.stop_grace_s}s after SIGTERM: SIGKILL", system=True)
                _terminate(process, signal.SIGKILL)
                killed = True
            if now >= next_flush:
                logbook.flush(logs)
                if job.kind == "training" and logbook.metrics is not None and logbook.metrics.last:
                    job.fake.final_metric_data_list = logbook.metrics.final()
                next_flush = now + self.log_flush_interval_s
            if syncs and now >= next_sync and not self._closed:
                self._sync(syncs, synced)
                next_sync = now + self.checkpoint_sync_interval_s
        job.exit_code = process.returncode
        job.timings["process_ended"] = time.monotonic()
        _terminate(process, signal.SIGKILL)  # children left behind would hold the pipes open
        for reader in readers:
            reader.join(timeout=5)
        if logbook.first_output is not None:
            job.timings["first_output"] = logbook.first_output
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        logbook.write(f"process exited with code {process.returncode}", system=True)
        return int(process.returncode)

    @staticmethod
    def _pump(stream: Any, logbook: _JobLog, stderr: bool) -> None:
        for raw in iter(stream.readline, b""):
            logbook.write(raw.decode("utf-8", "replace"), stderr=stderr)

    # ---- S3 --------------------------------------------------------------------------------------------
    def _list_input(self, job: LocalJob, uri: str, data_type: str) -> list[tuple[str, str, str]]:
        """(bucket, key, local relative path) of each object an S3Prefix or ManifestFile source names."""
        s3 = self.cloud.clients("s3")
        try:
            bucket, prefix = parse_s3_uri(uri)
            if data_type == "ManifestFile":
                manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix)["Body"].read())
                base_bucket, base_key = parse_s3_uri(manifest[0]["prefix"])
                return [(base_bucket, base_key + relative, relative) for relative in manifest[1:]]
            found = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        found.append((bucket, item["Key"], key_below_prefix(prefix, item["Key"])))
        except _JobFailure:
            raise
        except Exception as exc:
            if data_type == "ManifestFile":
                raise _JobFailure(f"ClientError: could not read the manifest file {uri}: {_client_error(exc)}") from exc
            found = []
        if not found:
            bucket = uri[5:].split("/", 1)[0]
            raise _JobFailure(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
                f"that the bucket exists in the selected region ({self.cloud.region}), that objects exist under that "
                f'S3 prefix, and that the role "{job.request.get("RoleArn")}" has "s3:ListBucket" permissions on '
                f'bucket "{bucket}".'
            )
        return found

    def _download_input(self, job: LocalJob, uri: str, data_type: str, target: Path) -> int:
        objects = self._list_input(job, uri, data_type)
        target.mkdir(parents=True, exist_ok=True)
        for bucket, key, relative in objects:
            try:
                self._download_object(bucket, key, target / relative)
            except Exception as exc:
                raise _JobFailure(
                    f"ClientError: Data download failed: s3://{bucket}/{key}: {_client_error(exc)}"
                ) from exc
        return len(objects)

    def _download_object(self, bucket: str, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = self.cloud.clients("s3").get_object(Bucket=bucket, Key=key)["Body"]
        with path.open("wb") as handle:
            shutil.copyfileobj(body, handle, 1024 * 1024)

    def _download_folder(self, uri: str, target: Path) -> int:
        """Every object below a folder-like URI (checkpoints, uncompressed model data), keys kept below it."""
        bucket, prefix = parse_s3_uri(uri)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        count = 0
        try:
            for page in (
                self.cloud.clients("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            ):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        self._download_object(bucket, item["Key"], target / item["Key"][len(prefix) :])
                        count += 1
        except Exception as exc:
            raise _JobFailure(f"ClientError: could not download {uri}: {_client_error(exc)}") from exc
        return count

    def _upload_folder(self, folder: Path, uri: str, previous: dict[Path, tuple[int, int]] | None = None) -> int:
        """Upload the files below `folder` to the URI's prefix; with `previous`, only those changed since."""
        bucket, prefix = parse_s3_uri(uri)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        s3 = self.cloud.clients("s3")
        count = 0
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            if previous is not None and previous.get(path) == signature:
                continue
            s3.put_object(Bucket=bucket, Key=prefix + path.relative_to(folder).as_posix(), Body=path.read_bytes())
            if previous is not None:
                previous[path] = signature
            count += 1
        return count

    def _sync(self, syncs: list[tuple[Path, str]], synced: dict[Path, tuple[int, int]]) -> None:
        """Checkpoints (and Continuous processing outputs) go to S3 while the job runs, as AWS syncs them."""
        if self._closed:
            return
        for folder, uri in syncs:
            try:
                self._upload_folder(folder, uri, synced)
            except Exception:
                log.warning("could not sync %s to %s", folder, uri, exc_info=True)

    def _upload_archive(self, folder: Path, uri: str) -> None:
        """A folder as one tar.gz object (model.tar.gz, output.tar.gz), entries relative to the folder."""
        if self._closed:
            return
        archive = folder.parent / f".{folder.name}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(folder.iterdir()):
                tar.add(path, arcname=path.name)
        bucket, key = parse_s3_uri(uri)
        self.cloud.clients("s3").put_object(Bucket=bucket, Key=key, Body=archive.read_bytes())
        archive.unlink()

    def _fetch_code(self, source: str, target: Path) -> None:
        """sagemaker_submit_directory / SAGEMAKER_SUBMIT_DIRECTORY: an S3 tar.gz (or prefix), or locally, for
        convenience, a folder or tar.gz given as a path or file:// URL."""
        target.mkdir(parents=True, exist_ok=True)
        if source.startswith("s3://"):
            if re.search(r"\.(?:tar\.gz|tgz|tar)$", source):
                archive = target.parent / "sourcedir.tar.gz"
                try:
                    bucket, key = parse_s3_uri(source)
                    self._download_object(bucket, key, archive)
                except Exception as exc:
                    raise _JobFailure(
                        f"ClientError: could not download the source directory {source}: {_client_error(exc)}"
                    ) from exc
                _extract(archive, target, source)
            elif self._download_folder(source, target) == 0:
                raise _JobFailure(f"ClientError: the source directory {source} holds no objects")
            return
        local = Path(source[7:] if source.startswith("file://") else source).expanduser()
        if local.is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        elif local.is_file():
            _extract(local, target, source)
        else:
            raise _JobFailure(f"ClientError: the source directory {source} is neither an s3:// URI nor a local path")


def _extract(archive: Path, target: Path, origin: str) -> None:
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise _JobFailure(f"ClientError: {origin} is not a readable tar.gz archive: {exc}") from exc


def _client_error(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message') or ''}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


# ---- the hooks into moto -------------------------------------------------------------------------------
_CREATE = {
    "training": "create_training_job",
    "processing": "create_processing_job",
    "transform": "create_transform_job",
}
_STOP = {"training": "stop_training_job", "processing": "stop_processing_job", "transform": "stop_transform_job"}
_NAME_PARAM = {"training": "TrainingJobName", "processing": "ProcessingJobName", "transform": "TransformJobName"}
_FAKES = {"training": "training_jobs", "processing": "processing_jobs", "transform": "transform_jobs"}


def _moto_error(exc: JobRequestError) -> Exception:
    from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError

    if exc.code == "ResourceNotFound":
        return ResourceNotFound(str(exc))
    if exc.code == "ResourceInUse":
        return ResourceInUseException(str(exc))
    return ValidationError(str(exc))


def install(jobs_for: Callable[[], SageMakerJobs | None]) -> None:
    """Run the jobs moto's SageMaker API records: its Create*Job answers hooked, StopTrainingJob and
    StopTransformJob added (moto 5.2.5 lacks them), StopProcessingJob hooked. Without an active local cloud,
    moto answers as it always did."""
    from moto.core.responses import EmptyResult
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerResponse.create_training_job, "_cd4ml_hook", False):
        return

    def create_hook(kind: str, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @functools.wraps(original)
        def create(self: Any) -> Any:
            jobs = jobs_for()
            if jobs is None:
                return original(self)
            # moto mutates what it is given (the MetricDefinitions): keep the request as it came
            request = copy.deepcopy(dict(self.params))
            backend = self.sagemaker_backend
            try:
                image, model = jobs.check(kind, request, backend)
            except JobRequestError as exc:
                raise _moto_error(exc) from exc
            result = original(self)
            fake = getattr(backend, _FAKES[kind])[request[_NAME_PARAM[kind]]]
            jobs.start(kind, request, fake, image, model)
            return result

        create._cd4ml_hook = True  # type: ignore[attr-defined]
        return create

    def stop_hook(kind: str, original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        def stop(self: Any) -> Any:
            jobs = jobs_for()
            if jobs is None:
                if original is None:
                    raise NotImplementedError(f"The {_STOP[kind]} action has not been implemented")
                return original(self)
            try:
                jobs.stop(kind, self._get_param(_NAME_PARAM[kind]), self.sagemaker_backend)
            except JobRequestError as exc:
                raise _moto_error(exc) from exc
            return EmptyResult()

        if original is not None:
            stop = functools.wraps(original)(stop)
        stop.__name__ = _STOP[kind]
        stop._cd4ml_hook = True  # type: ignore[attr-defined]
        return stop

    for kind in KINDS:
        setattr(SageMakerResponse, _CREATE[kind], create_hook(kind, getattr(SageMakerResponse, _CREATE[kind])))
        setattr(SageMakerResponse, _STOP[kind], stop_hook(kind, getattr(SageMakerResponse, _STOP[kind], None)))
