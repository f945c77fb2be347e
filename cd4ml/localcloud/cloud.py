"""The local cloud: a moto server with Lambda, EventBridge, Step Functions, Kinesis, SageMaker and schedules brought to
life. Each service gets the narrow context it uses (`context.ServiceContext`); `start` and `stop` loop over them."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import cloudwatch_alarms, cloudwatch_logs, s3, sns, stepfunctions
from .apigateway.gateway import HttpApiGateway
from .aws import ACCOUNT_ID, DEFAULT_REGION, ClientFactory, local_environment
from .clock import Clock, JumpClock, ManualClock
from .cloudformation import DeployedStacks
from .cloudwatch_alarm_actions import AlarmActions
from .context import Service, ServiceContext, Settings
from .deploy.base import Stack
from .deploy.deployer import Deployer
from .deploy.template import load_template, transform_template
from .emf import EmfExtractor
from .errors import LocalCloudError, WaitTimeoutError
from .events.router import EventRouter
from .events.scheduler import ScheduledRule, Scheduler, scheduled_event
from .lambda_.destinations import Destinations
from .lambda_.event_source_mapping import KinesisPoller
from .lambda_.functions import FunctionSpec, Invocation
from .lambda_.mapping_spec import KinesisMappingSpec
from .lambda_.runtime import LambdaRuntime
from .sagemaker import registry
from .sagemaker.endpoints.engine import SageMakerEndpoints
from .sagemaker.jobs.engine import SageMakerJobs
from .state import Backends, StateDir, StateError

log = logging.getLogger(__name__)

_RUNNING: list[LocalCloud] = []  # moto's backends are process-wide, so one local cloud runs per process


class _Hooks:
    """A service that is only hooks into moto (it runs nothing of its own): installed once, nothing to close."""

    def __init__(self, install: Callable[[], None]) -> None:
        self.install = install

    def close(self) -> None:
        pass


class _Registrar:
    """What deploying a template brings to life in this cloud (the deployer's narrow view of it)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud
        self._layers: dict[str, Path] = {}

    def register_function(self, spec: FunctionSpec) -> None:
        self._cloud.runtime.register(spec)

    def function_spec(self, name_or_arn: str) -> FunctionSpec:
        return self._cloud.runtime.spec(name_or_arn)

    def add_schedule(self, rule: ScheduledRule) -> None:
        self._cloud.scheduler.add(rule)

    def add_stream_mapping(self, spec: KinesisMappingSpec) -> None:
        self._cloud.kinesis.add(spec)

    def add_layer(self, arn: str, directory: Path) -> None:
        self._layers[arn] = directory

    def layer_dir(self, arn: str) -> Path | None:
        return self._layers.get(arn)


class LocalCloud:
    """Start with `with LocalCloud() as cloud:` then `cloud.deploy("template.yaml")`; or use `LocalCloud.deployed`."""

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        region: str = DEFAULT_REGION,
        clock: Clock | None = None,
        work_dir: Path | None = None,
        async_retry_delays_s: tuple[float, ...] | None = None,
        stream_poll_interval_s: float | None = None,
        settings: Settings | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.region = region
        self.account_id = ACCOUNT_ID
        self.clock = clock or Clock()
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="cd4ml-localcloud-")).resolve()
        settings = settings or Settings()
        if async_retry_delays_s is not None:
            settings = replace(settings, async_retry_delays_s=async_retry_delays_s)
        if stream_poll_interval_s is not None:
            settings = replace(settings, stream_poll_interval_s=stream_poll_interval_s)
        self.settings = settings
        self.stacks: dict[str, Stack] = {}
        self.state = StateDir(state_dir) if state_dir is not None else None  # opt-in: kept across restarts
        self.restored: dict[str, int] = {}  # what the last deploy brought back from the state dir, by kind
        self._registrar = _Registrar(self)
        self._services: list[Service] = []
        self._server: Any = None
        self.endpoint_url = ""

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        if _RUNNING:
            raise LocalCloudError("a local cloud is already running in this process; stop it first")
        from moto.core.config import default_user_config
        from moto.moto_api._internal.models import moto_api_backend
        from moto.server import ThreadedMotoServer

        if self.port:
            _check_port_free(self.host, self.port)
        default_user_config["lambda"] = {"use_docker": False}
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        moto_api_backend.reset()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns everything else
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        # moto's States interpreter calls Lambda through boto3 at localhost:$MOTO_PORT
        os.environ["MOTO_PORT"] = str(self.port)
        self.endpoint_url = f"http://{self.host}:{self.port}"
        self.clients = ClientFactory(self.endpoint_url, self.region)
        settings = self.settings
        self.runtime = LambdaRuntime(
            local_environment(self.endpoint_url, self.region),
            self.work_dir / "logs" / "lambda",
            account_id=self.account_id,
            region=self.region,
            async_retry_delays_s=settings.async_retry_delays_s,
            logs_client=lambda: self.clients("logs"),
        )
        self.destinations = Destinations(self.clients, self.runtime.invoke_async)
        self.runtime.destinations = self.destinations
        self.router = EventRouter(
            self.clients, self.runtime, self.destinations, self.account_id, self.region, clock=self.clock
        )
        self.context = ServiceContext(
            clients=self.clients,
            region=self.region,
            account_id=self.account_id,
            work_dir=self.work_dir,
            child_environment=local_environment(self.endpoint_url, self.region),
            emit=self.router.put_event,
            settings=settings,
            clock=self.clock,
        )
        self.kinesis = KinesisPoller(
            self.clients,
            self.runtime,
            self.destinations,
            self.region,
            poll_interval_s=settings.stream_poll_interval_s,
            clock=self.clock,
        )
        self.scheduler = Scheduler(self.clock, self._fire_schedule)
        self.sagemaker_jobs = SageMakerJobs(self.context)
        self.sagemaker_endpoints = SageMakerEndpoints(self.context)
        self.http_apis = HttpApiGateway(
            self.runtime.invoke,
            account_id=self.account_id,
            region=self.region,
            logs_client=lambda: self.clients("logs"),  # the stages' access logs (AccessLogSettings)
        )
        self.alarm_actions = AlarmActions(self.context, settings.alarm_evaluation_interval_s)
        self.emf = EmfExtractor(lambda: self.clients("cloudwatch"))  # EMF log lines become metrics (emf.py)
        # Started in this order, closed in the reverse one: what produces work stops before what carries it.
        self._services = [
            self.emf,  # closed last: the runtime ships its last lines on close, and their metrics are kept
            self.runtime,
            self.router,
            _Hooks(stepfunctions.install),
            _Hooks(s3.install),
            DeployedStacks(),
            _Hooks(sns.install),
            _Hooks(registry.install),
            _Hooks(cloudwatch_alarms.install),  # statistics by the exact dimension set, as CloudWatch
            _Hooks(cloudwatch_logs.install),  # FilterLogEvents' JSON patterns and stream-name prefixes
            _ExecutionStopper(self.region),
            self.kinesis,
            self.sagemaker_jobs,
            self.sagemaker_endpoints,
            self.http_apis,  # HTTP APIs on the local endpoint (apigateway/gateway.py)
            self.alarm_actions,  # alarms evaluated, their changes as events and notifications
            self.scheduler,
        ]
        for service in self._services:
            service.install()
        _RUNNING.append(self)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        for service in reversed(self._services):
            service.close()
        self._services = []
        _RUNNING.remove(self)
        saving: BaseException | None = None
        if self.state is not None and self.stacks:  # nothing runs any more, the backends are still there
            try:
                self.state.save(self.stack, self._state_backends(), self.account_id, self.region)
            except Exception as exc:  # the cloud still stops; the last complete snapshot stays current
                saving = exc
        self._stop_server()
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if saving is not None and self.state is not None:
            raise StateError(f"the state could not be saved to {self.state.path}: {saving}") from saving

    def _state_backends(self) -> Backends:
        return Backends.of(self.account_id, self.region, self.client("dynamodb"))

    def _stop_server(self) -> None:
        """werkzeug's serve loop looks for a shutdown request every 0.5 s; a connection wakes it at once."""
        server, self._server = self._server, None
        stopper = threading.Thread(target=server.stop, name="moto-server-stop", daemon=True)
        stopper.start()
        while stopper.is_alive():
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                pass
            stopper.join(0.02)

    def __enter__(self) -> LocalCloud:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    @contextmanager
    def deployed(
        cls,
        template: str | Path,
        parameters: dict[str, str] | None = None,
        *,
        stack_name: str = "cd4ml",
        **options: Any,
    ) -> Iterator[LocalCloud]:
        """Start a local cloud, deploy `template` on it, yield it, and tear everything down after."""
        with cls(**options) as cloud:
            cloud.deploy(template, parameters, stack_name=stack_name)
            yield cloud

    # ---- deploy ----------------------------------------------------------------------------------------
    def deploy(
        self,
        template: str | Path,
        parameters: dict[str, str] | None = None,
        *,
        stack_name: str = "cd4ml",
        progress: Callable[[str], None] | None = None,
    ) -> Stack:
        if self._server is None:
            raise LocalCloudError("start the local cloud before deploying")
        if self.state is not None and self.stacks and stack_name not in self.stacks:
            raise StateError(f"a local cloud with a state_dir keeps one stack; {sorted(self.stacks)} is deployed")
        snapshot = None  # checked before anything changes; a redeploy of a running stack keeps what it has
        if self.state is not None and stack_name not in self.stacks:
            snapshot = self.state.load(stack_name, self.region)
        path = Path(template).resolve()
        document = load_template(path)
        transformed = transform_template(document, dict(parameters or {}), path.parent, self.region)
        stack = Deployer(self.context, self._registrar, stack_name, transformed, dict(parameters or {})).deploy(
            progress
        )
        self.stacks[stack_name] = stack
        if snapshot is not None:  # before any event can be delivered: the caller has not had the stack yet
            self.restored = snapshot.restore(stack, self._state_backends())
            log.info("restored %s from %s", self.restored, snapshot.directory)
        return stack

    @property
    def stack(self) -> Stack:
        if len(self.stacks) != 1:
            raise LocalCloudError(f"{len(self.stacks)} stacks are deployed; pick one from cloud.stacks")
        return next(iter(self.stacks.values()))

    # ---- conveniences for tests and the CLI ------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client bound to the local cloud (shared and thread-safe)."""
        return self.clients(service)

    def environment(self) -> dict[str, str]:
        """Variables that point the AWS CLI and SDKs at this local cloud."""
        return local_environment(self.endpoint_url, self.region)

    def physical_id(self, logical_id: str) -> str:
        return self.stack.physical_id(logical_id)

    def attribute(self, logical_id: str, name: str) -> Any:
        return self.stack.resources[logical_id].attributes[name]

    def invoke(self, logical_id_or_name: str, event: dict[str, Any] | str) -> Invocation:
        """Invoke a function synchronously by logical id (or name), returning the runtime's outcome."""
        name = (
            self.stack.resources[logical_id_or_name].physical_id
            if self.stacks and logical_id_or_name in self.stack.resources
            else logical_id_or_name
        )
        payload = event if isinstance(event, str) else json.dumps(event)
        return self.runtime.invoke(name, payload.encode("utf-8"))

    def wait_for_execution(
        self, execution_arn: str, timeout: float = 60.0, *, started_by_event: bool = False
    ) -> dict[str, Any]:
        """Poll until an execution leaves RUNNING; return its description. With `started_by_event`, an execution
        that does not exist yet is waited for too (the upload or approval event that starts it is delivered
        asynchronously, under the name the starter gives it)."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            try:
                description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                if not started_by_event:
                    raise
                description = {"status": "NOT_STARTED"}
            if description["status"] not in ("RUNNING", "NOT_STARTED"):
                return description
            if time.monotonic() > deadline:
                state = "still RUNNING" if description["status"] == "RUNNING" else "not started"
                raise WaitTimeoutError(f"execution {execution_arn} {state} after {timeout}s")
            time.sleep(0.05)

    def execution_arn(self, state_machine_logical_id: str, name: str) -> str:
        """The ARN the execution `name` of the stack's state machine has, whether it has started or not."""
        return self.physical_id(state_machine_logical_id).replace(":stateMachine:", ":execution:") + f":{name}"

    def executions(self, state_machine_logical_id: str) -> list[dict[str, Any]]:
        arn = self.physical_id(state_machine_logical_id)
        result: list[dict[str, Any]] = self.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
        return result

    def wait_for_executions(
        self, state_machine_logical_id: str, count: int = 1, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Wait until `count` executions of a state machine exist and have all finished."""
        deadline = time.monotonic() + timeout
        while True:
            self.router.wait_idle(max(deadline - time.monotonic(), 0.01))
            executions = self.executions(state_machine_logical_id)
            if len(executions) >= count:
                return [
                    self.wait_for_execution(e["executionArn"], max(deadline - time.monotonic(), 0.01))
                    for e in executions
                ]
            if time.monotonic() > deadline:
                raise WaitTimeoutError(
                    f"{len(executions)} of {count} executions of {state_machine_logical_id} after {timeout}s"
                )
            time.sleep(0.05)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no event delivery, asynchronous invocation or stream batch is pending."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(f"the local cloud was still busy after {timeout}s")
            quiet = (
                self.router.wait_idle(remaining)
                and self.runtime.wait_async_idle(max(deadline - time.monotonic(), 0.01))
                and self.kinesis.wait_idle(max(deadline - time.monotonic(), 0.01))
            )
            if quiet and self.router.wait_idle(0.01) and self.runtime.pending_async == 0:
                return

    def _fire_schedule(self, rule: ScheduledRule, when: Any) -> None:
        event = scheduled_event(rule, when, self.account_id, self.region)
        self.router.fire_schedule(rule.name, rule.event_bus, event)

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Move a manual or jump clock forward (firing due schedules) and wait for what that set off to be delivered."""
        if not isinstance(self.clock, ManualClock | JumpClock):
            raise LocalCloudError("advance() needs LocalCloud(clock=ManualClock()) or LocalCloud(clock=JumpClock())")
        self.clock.advance(seconds, **delta)
        self.router.wait_idle()


def _check_port_free(host: str, port: int) -> None:
    """moto's server thread dies silently on a taken port and its start() then waits forever: check first.

    The probe binds as werkzeug's server will, with SO_REUSEADDR: connections of a server that was just killed,
    lingering in TIME_WAIT for a minute, then do not block the port, while a live server's listener still does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise LocalCloudError(
                f"cannot serve on {host}:{port}: {exc.strerror or exc} (is another one running?)"
            ) from exc


def _sfn_backend(region: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[ACCOUNT_ID][region]


class _ExecutionStopper:
    """Running executions are threads of this process: on stop, end them before the backends go."""

    def __init__(self, region: str) -> None:
        self.region = region

    def install(self) -> None:
        pass

    def close(self) -> None:
        from datetime import UTC, datetime

        try:
            backend: Any = _sfn_backend(self.region)
        except Exception:
            return
        for machine in backend.state_machines:
            for execution in getattr(machine, "executions", []):
                if getattr(execution, "exec_status", None) is not None and execution.exec_status.value == "RUNNING":
                    try:
                        execution.stop(datetime.now(UTC), error="LocalCloud.Stopped", cause="the local cloud stopped")
                    except Exception:
                        log.debug("could not stop %s", execution.exec_arn)
