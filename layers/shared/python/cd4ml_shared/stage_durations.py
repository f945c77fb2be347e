"""How long each state of a run took, read from its execution history: Step Functions publishes no duration per
state, so record_outcome publishes these as `StageSeconds` (dimension `Stage`). Plain values, standard library only;
reading the history is `aws.stage_durations`.

One span per entry of a state, from its `<Type>StateEntered` to the `<Type>StateExited` that ends that entry:
- a Task retried by its Retry stays one entry (Entered, Scheduled, Failed, Scheduled... Exited), so its span holds
  every attempt and the back-off between them: the time the stage held the run;
- a state entered again (a loop, each iteration of a Map) gives one span per entry, each exit paired with its own
  entry through the events' `previousEventId` chain, so concurrent iterations of one state do not mix;
- a state that has not exited when the history is read (the Record* state that runs record_outcome itself) has no
  span; a state whose error a Catch handled has exited, and its span ends at the catch.
Choice, Pass, Succeed and Fail states only route the run (milliseconds) and get no span."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TIMED_STATE_TYPES = ("Task", "Map", "Parallel", "Wait")
_STATE_EVENT = re.compile(r"^(?P<kind>Task|Map|Parallel|Wait)State(?P<edge>Entered|Exited)$")


class HistoryEventUnreadable(ValueError):
    """A history event is not shaped as Step Functions writes it (no id, no state name, a timestamp of another
    kind)."""


@dataclass(frozen=True)
class StageSpan:
    """One entry of one state: its name (the metric's `Stage`), its type, and when it was entered and exited."""

    stage: str
    kind: str
    entered_at: datetime
    exited_at: datetime

    @property
    def seconds(self) -> float:
        return (self.exited_at - self.entered_at).total_seconds()


def stage_spans(events: Iterable[Mapping[str, Any]]) -> list[StageSpan]:
    """Every finished entry of a Task, Map, Parallel or Wait state in `events` (one execution's history, in any
    order, as GetExecutionHistory answers it or as JSON), in the order the states were entered."""
    by_id: dict[int, Mapping[str, Any]] = {}
    for event in events:
        if not isinstance(event.get("id"), int):
            raise HistoryEventUnreadable(f"a history event without an integer id: {dict(event)!r:.200}")
        by_id[event["id"]] = event
    spans = []
    for event_id in sorted(by_id):
        exited = by_id[event_id]
        shape = _STATE_EVENT.match(str(exited.get("type", "")))
        if shape is None or shape["edge"] != "Exited":
            continue
        name = _state_name(exited, "stateExitedEventDetails")
        entered = _entry_of(exited, shape["kind"], name, by_id)
        if entered is not None:
            spans.append(StageSpan(name, shape["kind"], _timestamp(entered), _timestamp(exited)))
    return sorted(spans, key=lambda span: (span.entered_at, span.exited_at))


def _entry_of(
    exited: Mapping[str, Any], kind: str, name: str, by_id: Mapping[int, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The `<kind>StateEntered` event of `name` that `exited` ends: the first one up its `previousEventId` chain.
    None when the chain breaks first (a history read only in part)."""
    entered_type = f"{kind}StateEntered"
    seen: set[int] = set()
    previous = exited.get("previousEventId")
    while isinstance(previous, int) and previous in by_id and previous not in seen:
        seen.add(previous)
        event = by_id[previous]
        if event.get("type") == entered_type and _state_name(event, "stateEnteredEventDetails") == name:
            return event
        previous = event.get("previousEventId")
    return None


def _state_name(event: Mapping[str, Any], details: str) -> str:
    name = (event.get(details) or {}).get("name")
    if not isinstance(name, str) or not name:
        raise HistoryEventUnreadable(f"history event {event.get('id')} ({event.get('type')}) names no state")
    return name


def _timestamp(event: Mapping[str, Any]) -> datetime:
    """boto3 answers an aware datetime; the JSON of a history (the CLI's, an events/ sample) an ISO 8601 string."""
    value = event.get("timestamp")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as error:
            raise HistoryEventUnreadable(
                f"history event {event.get('id')}: timestamp {value!r} is not ISO 8601"
            ) from error
    if not isinstance(value, datetime):
        raise HistoryEventUnreadable(f"history event {event.get('id')}: timestamp {value!r} is not a date and time")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
