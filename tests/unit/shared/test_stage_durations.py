"""How long each state of a run took, from its execution history: the spans behind record_outcome's StageSeconds."""

from datetime import UTC, datetime, timedelta

import pytest
from cd4ml_shared.aws.stage_durations import PAGE, execution_history, execution_stage_spans
from cd4ml_shared.stage_durations import HistoryEventUnreadable, stage_spans

# The succeeded run is the local cloud's answer for a real training run of the project's template (8,000 generated
# orders), with the states' inputs and outputs left out as `includeExecutionData=False` asks.
SUCCEEDED = "sfn_execution_history_train_succeeded.json"
TIMED_OUT = "sfn_execution_history_train_timed_out.json"
PIPELINE_TASKS = ["ValidateData", "FindEarlierRun", "BuildFeatures", "Train", "FindChampion", "Evaluate", "Gate"]


def at(seconds: float) -> str:
    return (datetime(2026, 11, 25, 12, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()


def event(event_id: int, kind: str, previous: int, seconds: float, name: str | None = None) -> dict:
    """One history event; a state's Entered/Exited carries the state's name as Step Functions writes it."""
    shaped = {"id": event_id, "type": kind, "previousEventId": previous, "timestamp": at(seconds)}
    if kind.endswith("StateEntered"):
        shaped["stateEnteredEventDetails"] = {"name": name}
    elif kind.endswith("StateExited"):
        shaped["stateExitedEventDetails"] = {"name": name}
    return shaped


def test_every_task_of_a_succeeded_run_gets_its_span_in_the_order_it_ran(sample_event):
    events = sample_event(SUCCEEDED)["events"]

    spans = stage_spans(events)

    assert [s.stage for s in spans] == [*PIPELINE_TASKS, "Register", "RecordSuccess"]
    assert {s.kind for s in spans} == {"Task"}
    assert all(s.seconds >= 0 for s in spans)
    # each span is its own entry and exit, read straight off the history
    entered = {e["stateEnteredEventDetails"]["name"]: e["timestamp"] for e in events if e["type"] == "TaskStateEntered"}
    exited = {e["stateExitedEventDetails"]["name"]: e["timestamp"] for e in events if e["type"] == "TaskStateExited"}
    for span in spans:
        assert span.entered_at == datetime.fromisoformat(entered[span.stage])
        assert span.exited_at == datetime.fromisoformat(exited[span.stage])
    # the jobs' waits hold the run longest: training and the two processing jobs outlast any Lambda task
    by_stage = {s.stage: s.seconds for s in spans}
    assert min(by_stage["BuildFeatures"], by_stage["Train"], by_stage["Evaluate"]) > by_stage["Gate"]


def test_the_record_state_still_running_has_no_span(sample_event):
    # record_outcome reads the history from inside RecordSuccess: entered, not exited
    events = sample_event(SUCCEEDED)["events"]
    entered = next(e["id"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") == "RecordSuccess")

    spans = stage_spans([e for e in events if e["id"] <= entered])

    assert [s.stage for s in spans] == [*PIPELINE_TASKS, "Register"]


def test_routing_states_get_no_span(sample_event):
    events = sample_event(SUCCEEDED)["events"]
    choices = {e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "ChoiceStateEntered"}
    assert choices >= {"DataAccepted", "SameContent", "GatePassed"}  # they are in the history

    assert not choices & {s.stage for s in stage_spans(events)}


def test_a_timed_out_task_spans_its_attempts_and_a_partial_history_gives_only_whole_spans(sample_event):
    # the newest page of a run whose Train failed once (retried) and then timed out: Train was entered at event 23,
    # failed, was scheduled again, timed out and exited to its Catch at event 30; BuildFeatures's entry is on an
    # older page, RecordFailure is running
    spans = stage_spans(sample_event(TIMED_OUT)["events"])

    (train,) = spans
    assert (train.stage, train.kind) == ("Train", "Task")
    assert train.entered_at == datetime(2026, 11, 25, 12, 20, 56, 610000, tzinfo=UTC)
    assert train.seconds == pytest.approx(2 * 3600 + 10 * 60 + 5.504)


def test_a_state_entered_twice_gets_one_span_per_entry():
    # a loop back into Wait (entered at 0 s and at 30 s): each exit ends its own entry
    events = [
        event(2, "WaitStateEntered", 1, 0, "Cooldown"),
        event(3, "WaitStateExited", 2, 10, "Cooldown"),
        event(4, "ChoiceStateEntered", 3, 10, "Again"),
        event(5, "ChoiceStateExited", 4, 10, "Again"),
        event(6, "WaitStateEntered", 5, 30, "Cooldown"),
        event(7, "WaitStateExited", 6, 45, "Cooldown"),
    ]

    assert [(s.stage, s.seconds) for s in stage_spans(events)] == [("Cooldown", 10.0), ("Cooldown", 15.0)]


def test_concurrent_entries_of_one_state_are_paired_by_their_own_chain():
    # two Map iterations of Score: the first entered ends last; pairing by order of entry would swap them
    events = [
        event(3, "TaskStateEntered", 2, 0, "Score"),
        event(4, "TaskStateEntered", 2, 1, "Score"),
        event(5, "TaskScheduled", 4, 1),
        event(6, "TaskScheduled", 3, 2),
        event(7, "TaskStateExited", 5, 5, "Score"),  # the second entry's, 4 s
        event(8, "TaskStateExited", 6, 60, "Score"),  # the first entry's, 60 s
    ]

    spans = stage_spans(events)

    assert [(s.entered_at, s.seconds) for s in spans] == [
        (datetime.fromisoformat(at(0)), 60.0),
        (datetime.fromisoformat(at(1)), 4.0),
    ]


def test_boto3_s_datetimes_and_naive_ones_are_read_as_utc():
    entered = event(2, "TaskStateEntered", 1, 0, "Train")
    exited = event(3, "TaskStateExited", 2, 0, "Train")
    entered["timestamp"] = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    exited["timestamp"] = datetime(2026, 11, 25, 12, 1, 30)  # naive

    (span,) = stage_spans([exited, entered])

    assert span.seconds == 90.0


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"id": "3"}, "without an integer id"),
        ({"timestamp": "yesterday"}, "is not ISO 8601"),
        ({"timestamp": 1764072000}, "is not a date and time"),
        ({"stateExitedEventDetails": {}}, "names no state"),
    ],
)
def test_an_event_not_shaped_as_step_functions_writes_it_is_refused(broken, message):
    events = [event(2, "TaskStateEntered", 1, 0, "Train"), {**event(3, "TaskStateExited", 2, 5, "Train"), **broken}]

    with pytest.raises(HistoryEventUnreadable, match=message):
        stage_spans(events)


class PagedHistory:
    """GetExecutionHistory over a list of events, `page` at a time, recording the requests."""

    def __init__(self, events: list[dict], page: int) -> None:
        self.events, self.page, self.requests = events, page, []

    def get_execution_history(self, **request) -> dict:
        self.requests.append(request)
        start = int(request.get("nextToken", 0))
        answer: dict = {"events": self.events[start : start + self.page]}
        if start + self.page < len(self.events):
            answer["nextToken"] = str(start + self.page)
        return answer


def test_the_history_is_read_to_its_last_page_without_the_states_data(sample_event):
    events = sample_event(SUCCEEDED)["events"]
    sfn = PagedHistory(events, page=7)
    arn = "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:orders-run"

    spans = execution_stage_spans(sfn, arn)

    assert len(sfn.requests) == -(-len(events) // 7)
    assert sfn.requests[0] == {"executionArn": arn, "maxResults": PAGE, "includeExecutionData": False}
    assert [s.stage for s in spans] == [s.stage for s in stage_spans(events)]


def test_reading_stops_at_step_functions_limit_of_events():
    # a service that keeps answering a next page is not followed past 25,000 events
    sfn = PagedHistory([event(i, "TaskScheduled", i - 1, 0) for i in range(1, 30_001)], page=PAGE)

    assert len(execution_history(sfn, "arn")) == 25_000
