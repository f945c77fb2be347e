"""Where SageMaker on the local cloud hooks into moto, and nowhere else: Create*Job and Stop*Job answers run the jobs
(moto 5.2.5 lacks StopTrainingJob and StopTransformJob), CreateEndpoint/DeleteEndpoint/UpdateEndpoint and
sagemaker-runtime InvokeEndpoint reach the endpoints. The hooks are installed once per process and ask the active
slot; with no local cloud running, moto answers as it always did. Each hook has a canary test
(tests/unit/localcloud/sagemaker/test_moto_hooks_*.py) so that a moto upgrade fails loudly."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..context import ActiveSlot
from ..errors import AwsError, rest_json_answer, to_moto
from .endpoints.invoke import CUSTOM_ATTRIBUTES_HEADER, InvokeError
from .jobs.contract import BACKEND_RECORDS, CREATE_ACTIONS, KINDS, NAME_PARAMETERS, STOP_ACTIONS

if TYPE_CHECKING:
    from .endpoints.engine import SageMakerEndpoints
    from .jobs.engine import SageMakerJobs

ACTIVE_JOBS: ActiveSlot[SageMakerJobs] = ActiveSlot()
ACTIVE_ENDPOINTS: ActiveSlot[SageMakerEndpoints] = ActiveSlot()


def install_job_hooks() -> None:
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
            jobs = ACTIVE_JOBS()
            if jobs is None:
                return original(self)
            # moto mutates what it is given (the MetricDefinitions): keep the request as it came
            request = copy.deepcopy(dict(self.params))
            backend = self.sagemaker_backend
            try:
                image, model_container = jobs.check(kind, request, backend)
            except AwsError as exc:
                raise to_moto(exc) from exc
            result = original(self)
            fake = getattr(backend, BACKEND_RECORDS[kind])[request[NAME_PARAMETERS[kind]]]
            jobs.start(kind, request, fake, image, model_container)
            return result

        create._cd4ml_hook = True  # type: ignore[attr-defined]
        return create

    def stop_hook(kind: str, original: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        def stop(self: Any) -> Any:
            jobs = ACTIVE_JOBS()
            if jobs is None:
                if original is None:
                    raise NotImplementedError(f"The {STOP_ACTIONS[kind]} action has not been implemented")
                return original(self)
            try:
                jobs.stop(kind, self._get_param(NAME_PARAMETERS[kind]), self.sagemaker_backend)
            except AwsError as exc:
                raise to_moto(exc) from exc
            return EmptyResult()

        if original is not None:
            stop = functools.wraps(original)(stop)
        stop.__name__ = STOP_ACTIONS[kind]
        stop._cd4ml_hook = True  # type: ignore[attr-defined]
        return stop

    for kind in KINDS:
        setattr(
            SageMakerResponse, CREATE_ACTIONS[kind], create_hook(kind, getattr(SageMakerResponse, CREATE_ACTIONS[kind]))
        )
        setattr(
            SageMakerResponse, STOP_ACTIONS[kind], stop_hook(kind, getattr(SageMakerResponse, STOP_ACTIONS[kind], None))
        )


def install_endpoint_hooks() -> None:
    """Hook moto's SageMaker endpoint APIs and sagemaker-runtime InvokeEndpoint to the active endpoints."""
    from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    if getattr(SageMakerModelBackend.create_endpoint, "_cd4ml_hook", False):
        return
    original_create = SageMakerModelBackend.create_endpoint
    original_delete = SageMakerModelBackend.delete_endpoint
    original_invoke = SageMakerRuntimeResponse.invoke_endpoint

    @functools.wraps(original_create)
    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        endpoints = ACTIVE_ENDPOINTS()
        if endpoints is None:
            return original_create(self, endpoint_name, endpoint_config_name, tags)
        if endpoint_name in self.endpoints:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise to_moto(AwsError(f'Cannot create already existing endpoint "{arn}".'))
        fake = original_create(self, endpoint_name, endpoint_config_name, tags)
        endpoints.on_created(self, fake)
        return fake

    @functools.wraps(original_delete)
    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        fake = self.endpoints.get(endpoint_name)
        original_delete(self, endpoint_name)
        endpoints = ACTIVE_ENDPOINTS()
        if endpoints is not None and fake is not None:
            endpoints.on_deleted(fake)

    def update_endpoint(self: Any) -> Any:
        """moto 5.2.5 has no UpdateEndpoint; the local cloud runs it as a blue/green deployment."""
        from moto.core.responses import ActionResult

        endpoints = ACTIVE_ENDPOINTS()
        if endpoints is None:
            raise NotImplementedError("The update_endpoint action has not been implemented")
        try:
            arn = endpoints.on_update(
                self.sagemaker_backend,
                self._get_param("EndpointName"),
                self._get_param("EndpointConfigName"),
                self._get_param("DeploymentConfig"),
            )
        except AwsError as error:
            raise to_moto(error) from error
        return ActionResult({"EndpointArn": arn})

    @functools.wraps(original_invoke)
    def invoke_endpoint(self: Any) -> Any:
        endpoints = ACTIVE_ENDPOINTS()
        if endpoints is None:
            if isinstance(self.body, bytes):  # moto's canned answer wants text
                self.body = self.body.decode("utf-8", "replace")
            return original_invoke(self)
        name = unquote(self.path.split("/")[2])
        body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode("utf-8")
        try:
            result = endpoints.invoke(
                name,
                body,
                content_type=self.headers.get("Content-Type") or "application/octet-stream",
                accept=self.headers.get("Accept"),
                custom_attributes=self.headers.get(CUSTOM_ATTRIBUTES_HEADER),
                target_variant=self.headers.get("X-Amzn-SageMaker-Target-Variant"),
                inference_id=self.headers.get("X-Amzn-SageMaker-Inference-Id"),
            )
        except InvokeError as error:
            return rest_json_answer(error)
        headers = {"Content-Type": result.content_type, "x-Amzn-Invoked-Production-Variant": result.variant}
        if result.custom_attributes:
            headers[CUSTOM_ATTRIBUTES_HEADER] = result.custom_attributes
        return 200, headers, result.body

    create_endpoint._cd4ml_hook = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = delete_endpoint  # type: ignore[method-assign]
    SageMakerResponse.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
    # binary payloads (images, protobuf) would not survive moto decoding the body as UTF-8
    SageMakerRuntimeResponse.use_raw_body = True
