"""What a service of the local cloud is given: a frozen context (clients, identity, work folder, the environment of
child processes, a way to emit an event, settings) instead of the whole cloud; and what it must offer the cloud
(install into moto, close)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from .aws import ClientFactory
from .clock import Clock


@dataclass(frozen=True)
class Settings:
    """Timings of the local cloud that tests shorten; everything else follows AWS."""

    async_retry_delays_s: tuple[float, ...] = (1.0, 2.0)  # Lambda's asynchronous retries (AWS: about 1 and 2 min)
    stream_poll_interval_s: float = 0.1  # how often an idle Kinesis shard is read
    # AWS gives a stopped job 120 s between SIGTERM and SIGKILL to save its model; locally a few seconds.
    job_stop_grace_s: float = 5.0
    checkpoint_sync_interval_s: float = 5.0  # how often a running job's checkpoints go to S3
    job_log_flush_interval_s: float = 1.0  # how often a running job's log lines go to CloudWatch Logs
    endpoint_seed: int = 0  # the draw that routes requests between variants and samples data capture
    alarm_evaluation_interval_s: float = 10.0  # how often every alarm is evaluated (AWS: every minute)


class Emit(Protocol):
    """Put one event on the default bus, as the AWS service named by `source` would."""

    def __call__(self, source: str, detail_type: str, detail: dict[str, Any], *, resources: list[str]) -> object: ...


@dataclass(frozen=True)
class ServiceContext:
    clients: ClientFactory
    region: str
    account_id: str
    work_dir: Path
    child_environment: Mapping[str, str]  # points a child process's SDK at the local cloud, never at AWS
    emit: Emit
    settings: Settings
    clock: Clock = field(default_factory=Clock)  # what the services stamp their records with (capture, arrival)


class Service(Protocol):
    """A part of the local cloud that LocalCloud starts and stops in order."""

    def install(self) -> None:
        """Start: hook into moto (idempotent: the hooks are process-wide) and become the instance the hooks reach,
        or start the threads it runs."""

    def close(self) -> None:
        """Stop what runs (threads, processes) and let the hooks fall back to moto's own behaviour."""


T = TypeVar("T")


class ActiveSlot(Generic[T]):
    """The running instance a moto hook reaches. moto's classes are process-wide, so hooks are installed once and
    ask the slot; with nothing in it they answer as moto always did."""

    def __init__(self) -> None:
        self.current: T | None = None

    def __call__(self) -> T | None:
        return self.current

    def hold(self, service: T) -> None:
        self.current = service

    def release(self, service: T) -> None:
        """Empty the slot if `service` holds it (a newer instance may already have taken it)."""
        if self.current is service:
            self.current = None
