"""A mapping's readers: one per open shard, children started once their parents are read to the end, new shards
discovered as the stream is resharded."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..errors import LocalCloudError
from .mapping_spec import SHARD_DISCOVERY_INTERVAL_S, KinesisMappingSpec, KinesisMappingStats
from .shard_reader import ShardReader

if TYPE_CHECKING:
    from .event_source_mapping import KinesisPoller

log = logging.getLogger(__name__)


class StreamMapping:
    """One event-source mapping: its shard readers, the thread that finds new shards, and its counters."""

    def __init__(self, poller: KinesisPoller, spec: KinesisMappingSpec) -> None:
        self.poller = poller
        self.spec = spec
        self.stream_name = spec.stream_arn.split(":stream/", 1)[1]
        self.created = datetime.now(UTC)
        self.stopping = threading.Event()
        self.readers: dict[str, ShardReader] = {}
        self.lock = threading.Lock()
        self._stats = KinesisMappingStats()
        self._stats_lock = threading.Lock()
        self._discovery: threading.Thread | None = None

    @property
    def kinesis(self) -> Any:
        return self.poller.clients("kinesis")

    def count(self, **increments: int) -> None:
        with self._stats_lock:
            for name, value in increments.items():
                setattr(self._stats, name, getattr(self._stats, name) + value)

    def snapshot(self) -> KinesisMappingStats:
        with self._stats_lock:
            return replace(self._stats)

    # ---- shards ---------------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            shards = self.list_shards()
            with self.lock:
                for shard in shards:
                    self._add_reader(shard, initial=True)
        except ClientError as exc:
            self.stop()
            raise LocalCloudError(
                f"event source mapping {self.spec.uuid}: cannot read {self.spec.stream_arn}: {exc}"
            ) from exc
        self._discovery = threading.Thread(
            target=self._discover_loop, name=f"kinesis-esm-{self.spec.uuid[:8]}-shards", daemon=True
        )
        self._discovery.start()

    def list_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        response = self.kinesis.list_shards(StreamName=self.stream_name)
        shards.extend(response.get("Shards", []))
        while response.get("NextToken"):
            response = self.kinesis.list_shards(NextToken=response["NextToken"])
            shards.extend(response.get("Shards", []))
        return shards

    def _add_reader(self, shard: dict[str, Any], *, initial: bool) -> None:
        """Read a shard from the starting position if it existed at creation, else from its first record."""
        shard_id = shard["ShardId"]
        parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
        position = self.spec.starting_position if initial else "TRIM_HORIZON"
        reader = ShardReader(self, shard_id, parents, position)
        reader.closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
        if initial and reader.start_position == "LATEST" and reader.closed:
            reader.finished = True  # everything a closed shard holds was written before the mapping existed
        elif initial:
            # Taken now, so that LATEST means "after the mapping was created", not "after the first poll".
            reader.iterator = self.shard_iterator(shard_id, reader.start_position)
        self.readers[shard_id] = reader
        if not reader.finished:
            reader.start()

    def shard_iterator(
        self, shard_id: str, position: str, *, after: str | None = None, at: datetime | None = None
    ) -> str | None:
        args: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard_id}
        if after is not None:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        elif position == "AT_TIMESTAMP":
            timestamp = at or self.spec.starting_position_timestamp
            args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=timestamp)
        else:
            args.update(ShardIteratorType=position)
        iterator: str | None = self.kinesis.get_shard_iterator(**args).get("ShardIterator")
        return iterator

    def discover(self) -> None:
        """Pick up shards created by resharding and note which shards have closed."""
        if self.stopping.is_set() or not self.spec.enabled:
            return
        shards = self.list_shards()
        with self.lock:
            for shard in shards:
                reader = self.readers.get(shard["ShardId"])
                if reader is None:
                    log.info("event source mapping %s: new shard %s", self.spec.uuid, shard["ShardId"])
                    self._add_reader(shard, initial=False)
                elif "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                    reader.closed = True

    def discover_quietly(self) -> None:
        try:
            self.discover()
        except Exception as exc:
            log.debug("event source mapping %s: listing shards failed: %s", self.spec.uuid, exc)

    def _discover_loop(self) -> None:
        while not self.stopping.wait(SHARD_DISCOVERY_INTERVAL_S):
            self.discover_quietly()

    def reader_finished(self, shard_id: str) -> bool:
        with self.lock:
            reader = self.readers.get(shard_id)
        return reader is None or reader.finished

    # ---- lifecycle ------------------------------------------------------------------------------------
    def idle_since(self, since: float) -> bool:
        if not self.spec.enabled:
            return True
        with self.lock:
            readers = list(self.readers.values())
        return all(r.finished or (r.caught_up_at is not None and r.caught_up_at >= since) for r in readers)

    def stop(self) -> None:
        self.stopping.set()

    def join(self, deadline: float) -> None:
        with self.lock:
            threads = [r.thread for r in self.readers.values() if r.thread is not None]
        if self._discovery is not None:
            threads.append(self._discovery)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("event source mapping %s: %s did not stop in time", self.spec.uuid, thread.name)
