"""SageMaker training, processing and transform jobs run as local processes under the container contract.

CreateTrainingJob, CreateProcessingJob and CreateTransformJob, from any SDK, state machine or Lambda, start a job
thread and return at once. The thread lays out a job folder that stands in for `/opt/ml`
(`<work dir>/sagemaker/<kind>/<job>`), downloads the inputs from the local S3, runs the job's code in its own
process group (`child_process/sagemaker_container.py` for Python code), and uploads what the job produced. moto's
Fake*Job objects, which DescribeTrainingJob and the List* calls serve, move through AWS's statuses, and every change
is emitted as AWS's `SageMaker ... Job State Change` event. Logs go to a file per job and to CloudWatch Logs.
The reference of what is supported is docs/sagemaker-jobs.md.

This module keeps the jobs and answers the API (start, stop, wait); `requests` checks a request, `runners` does
each kind's work, `process` runs the code, `staging` moves files, `lifecycle` keeps statuses and events.
"""

from __future__ import annotations

import copy
import signal
import threading
import time
from typing import Any

from ...context import ServiceContext
from ...errors import LocalCloudError, WaitTimeoutError
from ...processes import signal_group
from ..images import LocalImage, gpu_count_for, local_gpu_count
from .contract import END_ATTRIBUTES, LOG_GROUPS, START_ATTRIBUTES, STATUS_ATTRIBUTES, TERMINAL
from .lifecycle import JobLifecycle
from .records import JobLog, LocalJob, MetricTracker, naive_utc_now
from .requests import JobRequestError, check_request
from .runners import JobRunners


class SageMakerJobs:
    """Runs the training, processing and transform jobs created on the local cloud, each in a thread."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.root = ctx.work_dir / "sagemaker"
        self.log_dir = ctx.work_dir / "logs" / "sagemaker"
        self.lifecycle = JobLifecycle(ctx)
        self.runners = JobRunners(ctx, self.lifecycle)
        self._jobs: dict[tuple[str, str], LocalJob] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        from .. import ecr_images
        from ..hooks import ACTIVE_JOBS, install_job_hooks

        install_job_hooks()
        ecr_images.install()  # AWS's framework images "exist" in ECR as far as these jobs run them
        ACTIVE_JOBS.hold(self)

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
        client = self.ctx.clients("sagemaker")
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
        from ..hooks import ACTIVE_JOBS

        ACTIVE_JOBS.release(self)
        self.lifecycle.closed = True
        for job in self.jobs():
            job.stop_cause = job.stop_cause or "Stopped"
            job.stop_requested.set()
            if job.process is not None and job.process.poll() is None:
                signal_group(job.process, signal.SIGKILL)
        for job in self.jobs():
            if job.thread is not None:
                job.thread.join(timeout=10)

    def start(
        self, kind: str, request: dict[str, Any], fake: Any, image: LocalImage, model_container: Any = None
    ) -> LocalJob:
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
            model_container=model_container,
        )
        job.timings["created"] = time.monotonic()
        self._prepare_fake(job)
        with self._lock:
            self._jobs[(kind, name)] = job
        stream = f"{name}/algo-1-{int(time.time())}"
        metrics = MetricTracker((request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or [])
        job.logbook = JobLog(job.log_path, LOG_GROUPS[kind], stream, metrics if kind == "training" else None)
        self.lifecycle.emit(job)
        runner = {
            "training": self.runners.training,
            "processing": self.runners.processing,
            "transform": self.runners.transform,
        }
        job.thread = threading.Thread(
            target=self.lifecycle.run, args=(job, runner[kind]), name=f"sagemaker-{name}", daemon=True
        )
        job.thread.start()
        return job

    def check(self, kind: str, request: dict[str, Any], backend: Any) -> tuple[LocalImage, Any]:
        """Refuse what AWS refuses and what cannot run locally, before moto records the job; (image, the
        transform model's resolved container)."""
        return check_request(kind, request, backend)

    def _prepare_fake(self, job: LocalJob) -> None:
        """Replace what moto invents (a finished job with made-up metrics) with a job that has just started."""
        fake, request = job.fake, job.request
        now = naive_utc_now()
        setattr(fake, STATUS_ATTRIBUTES[job.kind], "InProgress")
        setattr(fake, START_ATTRIBUTES[job.kind], None)
        setattr(fake, END_ATTRIBUTES[job.kind], None)
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
            setattr(fake, STATUS_ATTRIBUTES[kind], "Stopped")
            return
        with job.lock:  # the job thread changes statuses under the same lock: Stopping is never overwritten
            status = job.status
            if status in TERMINAL:
                raise JobRequestError(f"The request was rejected because the {kind} job is in status {status}.")
            if status == "Stopping":
                return
            job.stop_cause = job.stop_cause or "Stopped"
            job.stop_requested.set()
            self.lifecycle.set_status(job, "Stopping", "Stopping", "Stopping the training job")
