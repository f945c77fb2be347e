"""EventBridge delivery: events matched against deployed rules reach Step Functions, Lambda, SQS, SNS, Kinesis and
buses.

moto keeps the buses and rules and matches patterns; `hooks` hooks into `Rule.send_to_targets` (the one place every
PutEvents and S3 notification passes) and into S3's EventBridge notification, and this router delivers to the
targets moto cannot reach, asynchronously as EventBridge does.
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..aws import ClientFactory
from ..clock import Clock
from ..lambda_.destinations import Destinations
from ..lambda_.runtime import LambdaRuntime

log = logging.getLogger(__name__)

LOCAL_TARGET_RETRIES = 3  # AWS retries up to 185 times over 24 h; locally a few quick tries, then the DLQ


@dataclass
class Delivery:
    event_id: str
    source: str
    detail_type: str
    rule: str
    target_arn: str
    outcome: str  # "delivered", "failed: <reason>", "dead-lettered: <reason>"
    detail: str = ""  # e.g. the execution ARN started


def iso_time(value: Any) -> str:
    """EventBridge events carry ISO-8601 UTC times; moto keeps unix seconds internally."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def transform_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The payload a target receives: Input, InputPath or InputTransformer applied to the event, as AWS does."""
    if target.get("Input"):
        return str(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse

        matches = parse(target["InputPath"]).find(event)
        return json.dumps(matches[0].value if matches else None)
    transformer = target.get("InputTransformer")
    if transformer:
        return render_input_template(transformer.get("InputTemplate", ""), transformer.get("InputPathsMap", {}), event)
    return json.dumps(event)


def kinesis_partition_key(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The partition key of a Kinesis target's record: `KinesisParameters.PartitionKeyPath` read from the event, or
    the event's id when the target names no path (as AWS documents); a path that finds nothing or an empty value
    falls back to the id too, since Kinesis refuses an empty key."""
    path = (target.get("KinesisParameters") or {}).get("PartitionKeyPath")
    if path:
        from jsonpath_ng.ext import parse

        matches = parse(path).find(event)
        if matches and matches[0].value not in (None, ""):
            value = matches[0].value
            return value if isinstance(value, str) else json.dumps(value)
    return str(event.get("id") or uuid.uuid4())


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def render_input_template(template: str, paths: dict[str, str], event: dict[str, Any]) -> str:
    """Fill <name> placeholders: inside JSON strings values go in unquoted, elsewhere as JSON values."""
    from jsonpath_ng.ext import parse

    values: dict[str, Any] = {}
    for name, path in paths.items():
        matches = parse(path).find(event)
        values[name] = matches[0].value if matches else None
    original = {k: v for k, v in event.items() if not k.startswith("_")}
    values["aws.events.event"] = original
    values["aws.events.event.json"] = original
    values["aws.events.rule-arn"] = event.get("_rule_arn", "")
    values["aws.events.rule-name"] = str(event.get("_rule_arn", "")).rsplit("/", 1)[-1]
    values["aws.events.event.ingestion-time"] = event.get("time", "")

    out: list[str] = []
    in_string = False
    escaped = False
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        segment = template[position : match.start()]
        for char in segment:  # track whether the placeholder stands inside a JSON string
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = not in_string
        out.append(segment)
        name = match.group(1)
        if name not in values:
            out.append(match.group(0))
        else:
            value = values[name]
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps(text)[1:-1])
            else:
                out.append(json.dumps(value))
        position = match.end()
    out.append(template[position:])
    return "".join(out)


class EventRouter:
    """Matches events to rules (through moto) and delivers them to targets on a background thread."""

    def __init__(
        self,
        clients: ClientFactory,
        runtime: LambdaRuntime,
        destinations: Destinations,
        account_id: str,
        region: str,
        clock: Clock | None = None,
    ) -> None:
        self.clients = clients
        # the cloud's clock stamps events put without a Time (moto would stamp wall time), as it stamps captures
        self.clock = clock or Clock()
        self.runtime = runtime
        self.destinations = destinations
        self.account_id = account_id
        self.region = region
        self.deliveries: deque[Delivery] = deque(maxlen=10000)
        self.unmatched: deque[dict[str, Any]] = deque(maxlen=1000)
        self.listeners: list[Callable[[Delivery], None]] = []
        self._queue: queue.Queue[tuple[Any, dict[str, Any]] | None] = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._local = threading.local()
        self._thread = threading.Thread(target=self._loop, name="eventbridge-delivery", daemon=True)
        self._thread.start()

    # ---- entry points ---------------------------------------------------------------------------------
    def put_event(
        self,
        source: str,
        detail_type: str,
        detail: dict[str, Any],
        resources: list[str] | None = None,
        bus: str = "default",
        when: datetime | None = None,
    ) -> str:
        """Emit an event as an AWS service would (SageMaker, Step Functions, the scheduler), through PutEvents."""
        from moto.events.models import events_backends

        backend = events_backends[self.account_id][self.region]
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "Resources": resources or [],
            "EventBusName": bus,
            "Time": (when or self.clock.now()).timestamp(),
        }
        results = backend.put_events([entry])
        return str(results[0].get("EventId", ""))

    def on_rule_matched(self, rule: Any, event: dict[str, Any]) -> None:
        """Called for every (rule, event) moto evaluates; queues delivery if the pattern matches."""
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):
            return
        if rule.scheduled_expression and not rule.event_pattern.get_pattern():  # schedule rules match no events
            return
        self._note_matched()
        delivered = copy.deepcopy(event)
        delivered.pop("ingestion-time", None)
        delivered["time"] = iso_time(delivered.get("time") or time.time())
        with self._cond:
            self._pending += 1
        self._queue.put((rule, delivered))

    def fire_schedule(self, rule_name: str, bus: str, event: dict[str, Any]) -> None:
        """Deliver a scheduled event straight to one rule's targets (schedules are not pattern-matched)."""
        from moto.events.models import events_backends

        backend = events_backends[self.account_id][self.region]
        rule = backend.event_buses[bus].rules.get(rule_name)
        if rule is None or rule.state != "ENABLED":
            return
        with self._cond:
            self._pending += 1
        self._queue.put((rule, event))

    # ---- matching bookkeeping (counts matches for one PutEvents entry) -------------------------------
    def begin_put(self) -> None:
        self._local.matched = 0

    def _note_matched(self) -> None:
        self._local.matched = getattr(self._local, "matched", 0) + 1

    def end_put(self, event: dict[str, Any]) -> None:
        if getattr(self._local, "matched", 1) == 0:
            self.unmatched.append(event)
            log.info(
                "event %s (%s / %s) matched no rule on its bus",
                event.get("id"),
                event.get("source"),
                event.get("detail-type"),
            )

    # ---- delivery ---------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            rule, event = item
            try:
                for target in list(rule.targets):
                    self._deliver(rule, target, event)
            except Exception:
                log.exception("delivery of event %s for rule %s failed", event.get("id"), rule.name)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _deliver(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        target_arn = target["Arn"]
        payload = (
            transform_input(target, dict(event, _rule_arn=rule.arn))
            if target.get("InputTransformer")
            else transform_input(target, event)
        )

        def record(outcome: str, detail: str = "") -> None:
            self._record(
                Delivery(
                    event.get("id", ""),
                    event.get("source", ""),
                    event.get("detail-type", ""),
                    rule.name,
                    target_arn,
                    outcome,
                    detail,
                )
            )

        last_error = ""
        for attempt in range(LOCAL_TARGET_RETRIES):
            try:
                record("delivered", self._send(target, payload, event))
                return
            except Exception as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "rule %s: target %s failed (attempt %d): %s", rule.name, target_arn, attempt + 1, last_error
                )
                time.sleep(0.05 * (2**attempt))
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dead_letter:
            record(f"failed: {last_error}")
            return
        try:
            self.destinations.send(
                dead_letter,
                event,
                message_attributes={
                    "ERROR_CODE": last_error.split(":")[0],
                    "ERROR_MESSAGE": last_error[:1024],
                    "RULE_ARN": rule.arn,
                    "TARGET_ARN": target_arn,
                },
            )
            record(f"dead-lettered: {last_error}")
        except Exception as exc:
            log.error("rule %s: dead-letter queue %s unreachable: %s", rule.name, dead_letter, exc)
            record(f"failed: {last_error}; dead-letter queue unreachable: {exc}")

    def _send(self, target: dict[str, Any], payload: str, event: dict[str, Any] | None = None) -> str:
        target_arn: str = target["Arn"]
        parts = target_arn.split(":")
        service = parts[2]
        if service == "kinesis" and parts[5].startswith("stream/"):
            # the target's RoleArn is what EventBridge would assume to put the record; the local cloud's own
            # credentials put it, so the role is accepted and not assumed
            result = self.clients("kinesis").put_record(
                StreamName=parts[5].split("/", 1)[1],
                Data=payload.encode("utf-8"),
                PartitionKey=kinesis_partition_key(target, event or {}),
            )
            return f"{result['ShardId']}:{result['SequenceNumber']}"
        if service == "states":
            name = str(uuid.uuid4())
            result = self.clients("stepfunctions").start_execution(stateMachineArn=target_arn, name=name, input=payload)
            return str(result["executionArn"])
        if service == "lambda":
            return self.runtime.invoke_async(target_arn, payload.encode("utf-8"))
        if service == "sqs":
            sqs = self.clients("sqs")
            url = sqs.get_queue_url(QueueName=parts[5])["QueueUrl"]
            args: dict[str, Any] = {"QueueUrl": url, "MessageBody": payload}
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group:
                args["MessageGroupId"] = group
                args["MessageDeduplicationId"] = str(uuid.uuid4())
            return str(self.clients("sqs").send_message(**args)["MessageId"])
        if service == "sns":
            return str(self.clients("sns").publish(TopicArn=target_arn, Message=payload)["MessageId"])
        if service == "events" and parts[5].startswith("event-bus/"):
            event = json.loads(payload)
            self.clients("events").put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event.get("resources", []),
                        "EventBusName": parts[5].split("/", 1)[1],
                    }
                ]
            )
            return parts[5]
        if service == "logs":
            logs = self.clients("logs")
            group = parts[6] if len(parts) > 6 else parts[5].split(":", 1)[-1]
            stream = str(uuid.uuid4())
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": int(time.time() * 1000), "message": payload}],
            )
            return group
        raise ValueError(f"target type {service!r} is not supported by the local cloud")

    def _record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        for listener in self.listeners:
            try:
                listener(delivery)
            except Exception:
                log.exception("delivery listener failed")

    # ---- waiting and shutdown ---------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def install(self) -> None:
        from .hooks import ACTIVE_ROUTER, install_event_hooks

        install_event_hooks()
        ACTIVE_ROUTER.hold(self)

    def close(self) -> None:
        from .hooks import ACTIVE_ROUTER

        ACTIVE_ROUTER.release(self)
        self._queue.put(None)
        self._thread.join(timeout=5)
