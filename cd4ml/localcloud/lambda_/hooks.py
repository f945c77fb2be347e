"""Where Lambda on the local cloud hooks into moto: Invoke (the API and Step Functions' Lambda tasks) runs the real
handler in the active runtime; moto's own per-record Kinesis push is switched off (the event-source mapping
delivers batches). With no local cloud running, moto answers as it always did."""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING, Any

from ..context import ActiveSlot
from ..errors import AwsError, to_moto
from .functions import check_request_payload, log_tail

if TYPE_CHECKING:
    from .runtime import LambdaRuntime

ACTIVE_RUNTIME: ActiveSlot[LambdaRuntime] = ActiveSlot()


def install_lambda_hooks() -> None:
    """Route moto's Lambda Invoke (the API and Step Functions tasks) to the active runtime."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def send_kinesis_message(self: Any, *args: Any, **kwargs: Any) -> None:
        """moto would push each record to its Docker-based Lambda; the local KinesisPoller delivers batches."""

    LambdaBackend.send_kinesis_message = send_kinesis_message  # type: ignore[method-assign]

    if getattr(LambdaSimpleBackend.invoke, "_cd4ml_hook", False):
        return
    _keep_dead_letter_config()
    original = LambdaSimpleBackend.invoke

    @functools.wraps(original)
    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes | str | None:
        runtime = ACTIVE_RUNTIME()
        if runtime is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        function = self.get_function(function_name, qualifier)  # raises ResourceNotFoundException like AWS
        runtime.adopt(function)
        payload = body if isinstance(body, (bytes, str)) and body else b"{}"
        payload = payload.encode("utf-8") if isinstance(payload, str) else payload
        invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        try:
            check_request_payload(payload, invocation_type)
        except AwsError as error:
            raise to_moto(error, service="lambda") from error
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            request_id = runtime.invoke_async(function_name, payload)
            response_headers["x-amzn-RequestId"] = request_id
            return b""
        outcome = runtime.invoke(function_name, payload, client_context=headers.get("X-Amz-Client-Context"))
        response_headers["x-amz-executed-version"] = outcome.executed_version
        response_headers["x-amzn-RequestId"] = outcome.request_id
        if outcome.function_error:
            response_headers["x-amz-function-error"] = outcome.function_error
        if headers.get("X-Amz-Log-Type") == "Tail":
            tail = log_tail(runtime.log_dir / f"{runtime.spec(function_name).name}.log")
            response_headers["x-amz-log-result"] = base64.b64encode(tail.encode("utf-8")).decode("ascii")
        response_headers["Content-Length"] = str(len(outcome.payload))
        return outcome.payload

    invoke._cd4ml_hook = True  # type: ignore[attr-defined]
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def _keep_dead_letter_config() -> None:
    """moto drops a function's DeadLetterConfig: keep it on create and update, answer it in the configuration (as
    `aws lambda get-function-configuration` shows it on AWS), and tell the runtime where failed events go."""
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], region: str, version: str | int = 1) -> None:
        original_init(self, account_id, spec, region, version)
        self.cd4ml_dead_letter_config = _target(spec.get("DeadLetterConfig"))

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = original_configuration(self, on_create)
        target = getattr(self, "cd4ml_dead_letter_config", None)
        if target:
            config["DeadLetterConfig"] = {"TargetArn": target}
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self.cd4ml_dead_letter_config = _target(config_updates["DeadLetterConfig"])
            runtime = ACTIVE_RUNTIME()
            if runtime is not None:
                runtime.set_dead_letter_target(self.function_name, self.cd4ml_dead_letter_config)
        return original_update(self, config_updates)

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]


def _target(config: Any) -> str | None:
    """The queue or topic of a DeadLetterConfig; an empty TargetArn removes it, as on AWS."""
    return (config or {}).get("TargetArn") or None
