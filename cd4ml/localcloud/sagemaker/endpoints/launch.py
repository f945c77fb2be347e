"""Bringing up a fleet: each variant's model data downloaded and extracted (/opt/ml/model on AWS), its inference code
located, its model server started with the serving environment, and every server waited on until /ping answers."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from ...archives import ArchiveError, extract_archive
from ...aws import host_environment
from ...context import ServiceContext
from .. import s3_staging
from ..images import UnsupportedImageError, gpu_environment, local_gpu_count, resolve_image
from .config import ConfigSpec, VariantSpec
from .fleet import Endpoint, Fleet, Server, ServerStartError, Variant, stop_servers
from .invoke import Cancelled, EndpointFailure

log = logging.getLogger(__name__)


class FleetLauncher:
    def __init__(self, ctx: ServiceContext, closed: Callable[[], bool]) -> None:
        self.ctx = ctx
        self.closed = closed
        self.health_timeout_s = 60.0  # how long a variant may take to answer /ping

    def launch(self, endpoint: Endpoint, spec: ConfigSpec) -> Fleet:
        """Start one server per variant and wait until every one answers /ping; EndpointFailure otherwise."""
        fleet_id = f"{spec.name}-{uuid.uuid4().hex[:8]}"
        directory = self.ctx.work_dir / "sagemaker" / "endpoints" / endpoint.name / fleet_id
        started: list[Variant] = []

        def cancelled() -> bool:
            return endpoint.deleted or self.closed()

        try:
            for variant in spec.variants:
                if variant.problem:
                    raise EndpointFailure(variant.problem)
                image = str(variant.container.get("Image", ""))
                try:
                    framework = resolve_image(image).framework
                except UnsupportedImageError as exc:
                    raise EndpointFailure(f"Production variant {variant.name}: {exc}") from None
                model_dir, code_dir, environment = self._prepare(directory / variant.name, variant)
                log_file = self.log_dir(endpoint.name) / f"{variant.name}-{fleet_id}.log"
                env = self._environment(endpoint.name, variant, model_dir, code_dir, environment)
                env["_CD4ML_FRAMEWORK"] = framework  # how the image's serving stack hands bodies to input_fn
                started.append(Variant(variant, Server(env, log_file, model_dir)))
                if cancelled():
                    raise Cancelled
            for running in started:
                try:
                    running.server.wait_healthy(self.health_timeout_s, cancelled)
                except ServerStartError as exc:
                    raise EndpointFailure(
                        f"The primary container for production variant {running.spec.name} did not pass the ping "
                        f"health check: {exc}. See {running.server.log_file}."
                    ) from None
        except BaseException:
            stop_servers([running.server for running in started])
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return Fleet(spec, directory, started)

    def _prepare(self, directory: Path, variant: VariantSpec) -> tuple[Path, Path | None, dict[str, str]]:
        """The model archive extracted (/opt/ml/model on AWS) and the inference code located."""
        container = variant.container
        model_dir = directory / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
        if container.get("ModelDataUrl"):
            self._fetch_archive(str(container["ModelDataUrl"]), model_dir)
        elif source.get("S3Uri"):
            if source.get("CompressionType") == "Gzip":
                self._fetch_archive(str(source["S3Uri"]), model_dir)
            else:
                self._fetch_prefix(str(source["S3Uri"]), model_dir)
        environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
        submitted = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        code_dir: Path | None = None
        if submitted.startswith("s3://"):
            code_dir = directory / "code"
            code_dir.mkdir(parents=True, exist_ok=True)
            self._fetch_archive(submitted, code_dir)
        elif submitted.startswith("/opt/ml/model"):
            # code inside the model data (an isolated container's, which downloads nothing)
            code_dir = model_dir / submitted.removeprefix("/opt/ml/model").lstrip("/")
            if not code_dir.is_dir():
                present = sorted(p.name for p in model_dir.iterdir())[:20]
                raise EndpointFailure(
                    f"SAGEMAKER_SUBMIT_DIRECTORY {submitted} is not a folder of the model data (it holds "
                    f"{present}): a model that serves its own code must carry it in model.tar.gz"
                )
        elif submitted and Path(submitted).is_dir():
            code_dir = Path(submitted)
        elif (model_dir / "code").is_dir():
            code_dir = model_dir / "code"
        return model_dir, code_dir, environment

    def _fetch_archive(self, uri: str, destination: Path) -> None:
        data = self._get_object(uri)
        try:
            extract_archive(data, destination, uri)
        except ArchiveError as exc:
            raise EndpointFailure(f"The model data at {uri} is not a tar.gz archive: {exc.__cause__}") from None

    def _fetch_prefix(self, uri: str, destination: Path) -> None:
        s3 = self.ctx.clients("s3")
        try:
            found = s3_staging.download_prefix(s3, uri, destination)
        except ValueError:
            raise EndpointFailure(f"Could not find model data at {uri}: the local cloud reads s3:// URIs.") from None
        except s3.exceptions.NoSuchBucket:
            found = 0
        if not found:
            raise EndpointFailure(f"Could not find model data at {uri}.")

    def _get_object(self, uri: str) -> bytes:
        s3 = self.ctx.clients("s3")
        try:
            return s3_staging.read_object(s3, uri)
        except ValueError:
            raise EndpointFailure(f"Could not find model data at {uri}: the local cloud reads s3:// URIs.") from None
        except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
            raise EndpointFailure(f"Could not find model data at {uri}.") from None

    def log_dir(self, name: str) -> Path:
        """Where a variant's log goes: the endpoint's CloudWatch log group /aws/sagemaker/Endpoints/<name> on AWS."""
        return self.ctx.work_dir / "logs" / "sagemaker" / "Endpoints" / name

    def _environment(
        self, endpoint: str, variant: VariantSpec, model_dir: Path, code_dir: Path | None, environment: dict[str, str]
    ) -> dict[str, str]:
        env = host_environment()
        env.update(self.ctx.child_environment)  # the model's own SDK calls reach the local cloud
        env.update(environment)
        env.update(
            {
                "SM_MODEL_DIR": str(model_dir),
                "SAGEMAKER_BASE_DIR": str(model_dir.parent),  # stands in for /opt/ml: model/ (and code/) below it
                "SAGEMAKER_SUBMIT_DIRECTORY": str(code_dir) if code_dir else "",
                "SAGEMAKER_REGION": self.ctx.region,
                "SAGEMAKER_ENDPOINT_NAME": endpoint,
                "SAGEMAKER_VARIANT_NAME": variant.name,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(gpu_environment(variant.instance_type, local_gpu_count()))
        return env
