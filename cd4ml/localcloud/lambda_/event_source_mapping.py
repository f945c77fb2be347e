"""Kinesis event-source mappings: poll streams on the local endpoint and invoke functions as Lambda does."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from ..aws import ClientFactory
from ..clock import Clock
from ..errors import LocalCloudError
from .destinations import Destinations
from .mapping_spec import JOIN_TIMEOUT_S, KinesisMappingSpec, KinesisMappingStats, validate
from .runtime import LambdaRuntime
from .stream_mapping import StreamMapping

log = logging.getLogger(__name__)


class KinesisPoller:
    """Runs Kinesis event-source mappings: one reader thread per shard, one batch in flight per shard."""

    def __init__(
        self,
        clients: ClientFactory,
        runtime: LambdaRuntime,
        destinations: Destinations,
        region: str,
        poll_interval_s: float = 0.1,
        clock: Clock | None = None,
    ) -> None:
        self.clients = clients
        # the cloud's clock: records are stamped with its time (moto stamps wall time), as every local service does
        self.clock = clock or Clock()
        self.runtime = runtime
        self.destinations = destinations
        self.region = region
        self.poll_interval_s = poll_interval_s
        self._mappings: dict[str, StreamMapping] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._closed = False

    # ---- mappings -------------------------------------------------------------------------------------
    def install(self) -> None:
        """Mappings start as they are added; nothing hooks into moto."""

    def add(self, spec: KinesisMappingSpec) -> None:
        """Create a mapping and start polling; LATEST means records written after this call returns."""
        validate(spec)
        with self._lock:
            if self._closed:
                raise LocalCloudError("the Kinesis poller is closed")
            if spec.uuid in self._mappings:
                raise ValueError(f"event source mapping {spec.uuid} already exists")
        mapping = StreamMapping(self, replace(spec))
        if spec.enabled:
            mapping.start()
        with self._lock:
            self._mappings[spec.uuid] = mapping
        log.info(
            "event source mapping %s: %s -> %s (%s, batch size %d)",
            spec.uuid,
            spec.stream_arn,
            spec.function_name,
            spec.starting_position,
            spec.batch_size,
        )

    def remove(self, uuid: str) -> None:
        """Delete a mapping and stop its readers; a batch already handed to the function finishes first."""
        with self._lock:
            mapping = self._mappings.pop(uuid, None)
        if mapping is None:
            raise KeyError(f"event source mapping {uuid} does not exist")
        mapping.stop()
        mapping.join(time.monotonic() + JOIN_TIMEOUT_S)
        self._notify()

    def specs(self) -> list[KinesisMappingSpec]:
        with self._lock:
            return [replace(m.spec) for m in self._mappings.values()]

    @property
    def stats(self) -> dict[str, KinesisMappingStats]:
        """A snapshot of every mapping's counters, by mapping UUID."""
        with self._lock:
            mappings = list(self._mappings.values())
        return {m.spec.uuid: m.snapshot() for m in mappings}

    # ---- synchronisation ------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once every record written to the mapped streams before this call has been handled.

        A record is handled when the function acknowledged it, it went to the on-failure destination, or it
        was discarded. A shard counts as caught up when a read that began after this call found nothing new
        and its reader holds no records; so a batch that keeps failing keeps this waiting until `timeout`.
        """
        since = time.monotonic()
        deadline = since + timeout
        with self._lock:
            mappings = list(self._mappings.values())
        for mapping in mappings:
            mapping.discover_quietly()
        with self._changed:
            while not all(m.idle_since(since) for m in mappings):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, self.poll_interval_s))
        return True

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        """Stop every reader and wait (bounded) for in-flight invocations to return."""
        with self._lock:
            self._closed = True
            mappings = list(self._mappings.values())
            self._mappings.clear()
        for mapping in mappings:
            mapping.stop()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for mapping in mappings:
            mapping.join(deadline)
        self._notify()
