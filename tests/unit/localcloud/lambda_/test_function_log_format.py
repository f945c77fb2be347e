"""What a function's log looks like in CloudWatch Logs: AWS's stream names and REPORT line, and PutLogEvents batches
that keep the API's rules (chronological, at most 10,000 events and 1 MiB each)."""

from datetime import UTC, datetime

from cd4ml.localcloud.child_process.lambda_bootstrap import report_line
from cd4ml.localcloud.lambda_.logs import (
    EVENT_OVERHEAD_BYTES,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    batches,
    log_event,
    log_group_name,
    log_stream_name,
)


def test_stream_is_named_by_day_version_and_environment_as_lambda_names_it() -> None:
    name = log_stream_name(datetime(2026, 3, 7, 23, 59, tzinfo=UTC), "0123456789abcdef0123456789abcdef")
    assert name == "2026/03/07/[$LATEST]0123456789abcdef0123456789abcdef"
    assert log_group_name("cd4ml-Echo-ABC") == "/aws/lambda/cd4ml-Echo-ABC"
    generated = log_stream_name(datetime(2026, 3, 7, tzinfo=UTC))
    assert len(generated.split("]")[1]) == 32 and generated != log_stream_name(datetime(2026, 3, 7, tzinfo=UTC))


def test_report_line_has_aws_fields_and_init_duration_only_on_a_cold_start() -> None:
    cold = report_line("req-1", 12.341, 256, 41, init_ms=230.5)
    assert cold == (
        "REPORT RequestId: req-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 41 MB\tInit Duration: 230.50 ms"
    )
    warm = report_line("req-2", 0.2, 128, 40)
    assert warm.endswith("\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB")


def test_batches_are_chronological_and_keep_the_order_of_lines_of_one_millisecond() -> None:
    events = [log_event(5, "c"), log_event(1, "a"), log_event(5, "d"), log_event(3, "b")]
    [batch] = list(batches(events))
    assert [e["message"] for e in batch] == ["a", "b", "c", "d"]


def test_batches_hold_at_most_ten_thousand_events() -> None:
    sizes = [len(b) for b in batches([log_event(i, "x") for i in range(MAX_BATCH_EVENTS * 2 + 1)])]
    assert sizes == [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 1]


def test_batches_hold_at_most_one_mebibyte_counting_26_bytes_per_event() -> None:
    line = "é" * 50_000  # 100,000 bytes of UTF-8: counted in bytes, not characters
    cut = list(batches([log_event(i, line) for i in range(25)]))
    for batch in cut:
        assert sum(len(e["message"].encode()) + EVENT_OVERHEAD_BYTES for e in batch) <= MAX_BATCH_BYTES
    assert [len(b) for b in cut] == [10, 10, 5]


def test_an_empty_line_becomes_a_space_and_an_over_long_one_is_cut_to_what_the_api_accepts() -> None:
    assert log_event(1, "")["message"] == " "
    long = log_event(1, "€" * 100_000)["message"]  # 300,000 bytes
    assert len(long.encode()) <= MAX_EVENT_BYTES and long == "€" * (MAX_EVENT_BYTES // 3)
