"""What each kind of job does in its thread: lay out the job folder that stands in for /opt/ml, stage the inputs, run
the code under the container contract, upload what it produced, and end with AWS's status and FailureReason."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ...aws import host_environment
from ...context import ServiceContext
from ..images import device_environment, local_gpu_count
from .contract import (
    CONTAINER,
    FAILURE_REASON_LIMIT,
    cli_arguments,
    decode_hyperparameters,
    device_note,
    is_python,
    map_opt_ml,
    split_hyperparameters,
    training_environment,
)
from .lifecycle import JobLifecycle
from .process import ProcessRunner
from .records import JobFailure, JobStopped, LocalJob, naive_utc_now
from .staging import JobStaging


class JobRunners:
    """training(job), processing(job), transform(job): each runs a job to its end or raises JobFailure/JobStopped."""

    def __init__(self, ctx: ServiceContext, lifecycle: JobLifecycle) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle
        self.staging = JobStaging(ctx, lifecycle)
        self.process = ProcessRunner(ctx, lifecycle, self.staging)

    def _base_environment(self, job: LocalJob, user_environment: Mapping[str, str]) -> dict[str, str]:
        env = host_environment()
        env.update({k: str(v) for k, v in user_environment.items()})
        env.update(self.ctx.child_environment)  # last but for the contract: job code never reaches real AWS
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

    def training(self, job: LocalJob) -> None:
        assert job.logbook is not None
        request, base, fake = job.request, job.directory, job.fake
        spec = request.get("AlgorithmSpecification") or {}
        fake.training_start_time = naive_utc_now()
        self.lifecycle.phase(job, "Downloading", "Downloading input data")
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
            count = self.staging.download_input(job, source["S3Uri"], source.get("S3DataType", "S3Prefix"), target)
            job.logbook.write(
                f"channel {channel['ChannelName']}: {count} object(s) from {source['S3Uri']}", system=True
            )
        checkpoint = request.get("CheckpointConfig") or {}
        syncs: list[tuple[Path, str]] = []
        if checkpoint.get("S3Uri"):
            local = Path(map_opt_ml(checkpoint.get("LocalPath") or "/opt/ml/checkpoints", base))
            local.mkdir(parents=True, exist_ok=True)
            count = self.staging.download_folder(checkpoint["S3Uri"], local)
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
                region=self.ctx.region,
            )
        )
        env["TRAINING_JOB_ARN"] = job.arn
        env["PYTHONPATH"] = str(base / "code")
        self.lifecycle.phase(job, "Training", "Training image download completed. Training in progress.")
        max_runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
        code = self.process.run(job, command, env, base / "code", max_runtime, syncs)
        output = request["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{job.name}/output"
        with job.lock:
            if job.stop_cause is None and code == 0:
                self.lifecycle.set_status(job, "InProgress", "Uploading", "Uploading generated training model")
        if job.stop_cause is not None or code == 0:
            # a stopped job keeps what it saved in its SIGTERM window, as on AWS
            self.staging.upload_archive(base / "model", f"{output}/model.tar.gz")
        self.staging.upload_archive(base / "output" / "data", f"{output}/output.tar.gz")
        self.staging.sync(syncs, {})
        if job.stop_cause is not None:
            raise JobStopped
        if code != 0:
            raise JobFailure(self._failure_reason(job, code, shown))
        self.lifecycle.finish(job, "Completed", "Completed")

    def _training_command(self, job: LocalJob, raw_hyperparameters: Mapping[str, str]) -> tuple[list[str], str]:
        """The command that runs the training code, and how AWS's toolkit would show it in a failure."""
        spec = job.request.get("AlgorithmSpecification") or {}
        if spec.get("ContainerEntrypoint"):
            command = [*spec["ContainerEntrypoint"], *(spec.get("ContainerArguments") or [])]
            return self._local_command(job, command), " ".join(command)
        user, toolkit = split_hyperparameters(decode_hyperparameters(raw_hyperparameters))
        program = toolkit.get("sagemaker_program")
        if program is None:
            raise JobFailure(
                f"ClientError: image {job.image.description or job.image.framework} runs user code in script mode: "
                "set the sagemaker_program hyperparameter (and sagemaker_submit_directory), or "
                "AlgorithmSpecification.ContainerEntrypoint"
            )
        if not isinstance(program, str) or not program.strip():
            raise JobFailure(
                f"ClientError: hyperparameter sagemaker_program must name the script to run, got "
                f"{raw_hyperparameters.get('sagemaker_program')!r}"
            )
        code_dir = job.directory / "code"
        source = toolkit.get("sagemaker_submit_directory")
        if source is not None:
            if not isinstance(source, str):
                raise JobFailure(
                    "ClientError: hyperparameter sagemaker_submit_directory must be an s3:// URI or a local path, got "
                    f"{raw_hyperparameters.get('sagemaker_submit_directory')!r}"
                )
            self.staging.fetch_code(source, code_dir, container=job.directory)
        script = code_dir / program
        if not script.is_file():
            present = sorted(p.name for p in code_dir.iterdir())[:20]
            raise JobFailure(
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

    def processing(self, job: LocalJob) -> None:
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
            count = self.staging.download_input(job, s3_input["S3Uri"], s3_input.get("S3DataType", "S3Prefix"), target)
            job.logbook.write(f"input {item.get('InputName')}: {count} object(s) from {s3_input['S3Uri']}", system=True)
        outputs: list[tuple[Path, str, str]] = []
        for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            s3_output = item["S3Output"]
            folder = Path(map_opt_ml(s3_output["LocalPath"], base))
            folder.mkdir(parents=True, exist_ok=True)
            outputs.append((folder, s3_output["S3Uri"], s3_output.get("S3UploadMode", "EndOfJob")))
        self.lifecycle.phase(job, "", "")
        app = request["AppSpecification"]
        command = [*app["ContainerEntrypoint"], *(app.get("ContainerArguments") or [])]
        job.logbook.write(device_note(job.instance_type, job.num_gpus, local_gpu_count()), system=True)
        user_env = {k: map_opt_ml(str(v), base) for k, v in (request.get("Environment") or {}).items()}
        env = self._base_environment(job, user_env)
        env["PROCESSING_JOB_NAME"] = job.name
        fake.processing_start_time = naive_utc_now()
        max_runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
        continuous = [(folder, uri) for folder, uri, mode in outputs if mode == "Continuous"]
        code = self.process.run(job, self._local_command(job, command), env, base, max_runtime, continuous)
        message = base / "output" / "message"
        if message.is_file():
            fake.exit_message = message.read_text(encoding="utf-8", errors="replace")[:1024] or None
        if job.stop_cause is not None:
            raise JobStopped
        if code != 0:
            raise JobFailure(self._failure_reason(job, code, " ".join(command)))
        for folder, uri, _ in outputs:
            count = self.staging.upload_folder(folder, uri)
            job.logbook.write(f"output {folder.name}: {count} file(s) to {uri}", system=True)
        self.lifecycle.finish(job, "Completed", "Completed")

    def transform(self, job: LocalJob) -> None:
        assert job.logbook is not None
        request, base, fake = job.request, job.directory, job.fake
        assert job.model_container is not None
        container = job.model_container
        environment = {**(container.get("Environment") or {}), **(request.get("Environment") or {})}
        model_dir, work = base / "model", base / "transform"
        model_dir.mkdir(parents=True, exist_ok=True)
        fake.transform_start_time = naive_utc_now()
        self.staging.fetch_model(container, model_dir)
        code_dir: Path | None = None
        if environment.get("SAGEMAKER_SUBMIT_DIRECTORY"):
            code_dir = base / "code"
            self.staging.fetch_code(environment["SAGEMAKER_SUBMIT_DIRECTORY"], code_dir, container=base)
        elif (model_dir / "code").is_dir():
            code_dir = model_dir / "code"  # the framework serving containers' convention
        transform_input, transform_output = request["TransformInput"], request["TransformOutput"]
        source = transform_input["DataSource"]["S3DataSource"]
        inputs = self.staging.list_input(job, source["S3Uri"], source.get("S3DataType", "S3Prefix"))
        files = []
        for bucket, key, relative in inputs:
            local = work / "input" / relative
            self.staging.download_object(bucket, key, local)
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
        self.lifecycle.phase(job, "", "")
        job.logbook.write(device_note(job.instance_type, job.num_gpus, local_gpu_count()), system=True)
        env = self._base_environment(job, environment)
        command = [sys.executable, str(CONTAINER), "transform", str(config_path)]
        code = self.process.run(job, command, env, base, None, [])
        if job.stop_cause is not None:
            raise JobStopped
        if code != 0:
            raise JobFailure(self._failure_reason(job, code, "batch transform"))
        output_path = transform_output["S3OutputPath"].rstrip("/")
        for item in files:
            self.staging.put(f"{output_path}/{item['name']}.out", Path(item["output"]).read_bytes())
        job.logbook.write(f"{len(files)} output object(s) to {output_path}", system=True)
        self.lifecycle.finish(job, "Completed", "Completed")
