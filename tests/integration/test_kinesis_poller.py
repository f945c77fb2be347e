"""Kinesis event-source mappings against a real moto server and real handler processes."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from cd4ml.localcloud.aws import ClientFactory, local_environment
from cd4ml.localcloud.lambda_.destinations import Destinations
from cd4ml.localcloud.lambda_.event_source_mapping import KinesisPoller
from cd4ml.localcloud.lambda_.functions import FunctionSpec
from cd4ml.localcloud.lambda_.mapping_spec import KinesisMappingSpec
from cd4ml.localcloud.lambda_.runtime import LambdaRuntime

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ACCOUNT = "123456789012"
HANDLERS = Path(__file__).parent / "fixtures" / "kinesis_handlers"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/kinesis-consumer"
TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
SHARD_0_HASH = "0"
SHARD_1_HASH = str(2**127 + 1)  # moto treats a shard's EndingHashKey as exclusive


# ---- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    saved = {key: os.environ.get(key) for key in TEST_ENV}
    os.environ.update(TEST_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def clients(endpoint: str) -> ClientFactory:
    return ClientFactory(endpoint, REGION)


@pytest.fixture(scope="module")
def runtime(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaRuntime]:
    runtime = LambdaRuntime(
        base_env=local_environment(endpoint, REGION),
        log_dir=tmp_path_factory.mktemp("lambda-logs"),
        account_id=ACCOUNT,
        region=REGION,
    )
    yield runtime
    runtime.close()


@pytest.fixture
def poller(clients: ClientFactory, runtime: LambdaRuntime) -> Iterator[KinesisPoller]:
    destinations = Destinations(clients, runtime.invoke_async)
    runtime.destinations = destinations
    poller = KinesisPoller(clients, runtime, destinations, REGION, poll_interval_s=0.05)
    yield poller
    poller.close()


# ---- helpers ----------------------------------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_stream(clients: ClientFactory, shards: int = 1) -> str:
    name = unique("stream")
    kinesis = clients("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    arn: str = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return arn


def make_queue(clients: ClientFactory) -> tuple[str, str]:
    sqs = clients("sqs")
    url: str = sqs.create_queue(QueueName=unique("queue"))["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def deploy(runtime: LambdaRuntime, handler_dir: str, queue_url: str, **environment: str) -> FunctionSpec:
    name = unique(handler_dir)
    spec = FunctionSpec(
        name=name,
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        handler="app.handler",
        code_dir=HANDLERS / handler_dir,
        environment={"RECORD_QUEUE_URL": queue_url, **environment},
        role_arn=ROLE,
        timeout_s=10.0,
    )
    runtime.register(spec)
    return spec


def mapping(function: FunctionSpec, stream_arn: str, **settings: Any) -> KinesisMappingSpec:
    settings.setdefault("starting_position", "TRIM_HORIZON")
    return KinesisMappingSpec(
        uuid=str(uuid.uuid4()),
        function_name=function.name,
        function_arn=function.arn,
        stream_arn=stream_arn,
        role_arn=ROLE,
        **settings,
    )


def put(clients: ClientFactory, stream_arn: str, datas: list[str], hash_key: str = SHARD_0_HASH) -> list[str]:
    """Write records in order to the shard owning `hash_key`; returns their sequence numbers."""
    response = clients("kinesis").put_records(
        StreamARN=stream_arn,
        Records=[{"Data": d.encode(), "PartitionKey": "key", "ExplicitHashKey": hash_key} for d in datas],
    )
    assert response.get("FailedRecordCount", 0) == 0
    return [r["SequenceNumber"] for r in response["Records"]]


def drain(clients: ClientFactory, queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue, oldest first (the recording handlers stamp each with time.time_ns())."""
    sqs = clients("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(bodies, key=lambda b: b.get("ns", 0))


def datas(invocation: dict[str, Any]) -> list[str]:
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in invocation["event"]["Records"]]


def sequences(invocation: dict[str, Any]) -> list[str]:
    return [r["kinesis"]["sequenceNumber"] for r in invocation["event"]["Records"]]


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# ---- ordering and batching --------------------------------------------------------------------------------
def test_records_arrive_in_shard_order_in_batches_of_batch_size_with_the_aws_event_shape(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients, shards=2)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    written = {
        "shardId-000000000000": [f"a{i}" for i in range(12)],
        "shardId-000000000001": [f"b{i}" for i in range(9)],
    }
    put(clients, stream, written["shardId-000000000000"], SHARD_0_HASH)
    put(clients, stream, written["shardId-000000000001"], SHARD_1_HASH)
    spec = mapping(function, stream, batch_size=5)

    poller.add(spec)

    assert poller.wait_idle(timeout=20)
    invocations = drain(clients, queue_url)
    by_shard: dict[str, list[dict[str, Any]]] = {}
    for invocation in invocations:
        shards = {r["eventID"].split(":")[0] for r in invocation["event"]["Records"]}
        assert len(shards) == 1, "a batch holds records of one shard"
        by_shard.setdefault(shards.pop(), []).append(invocation)
    assert {shard: [len(i["event"]["Records"]) for i in batches] for shard, batches in by_shard.items()} == {
        "shardId-000000000000": [5, 5, 2],
        "shardId-000000000001": [5, 4],
    }
    for shard, batches in by_shard.items():
        assert [d for batch in batches for d in datas(batch)] == written[shard]
        numbers = [int(s) for batch in batches for s in sequences(batch)]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    stats = poller.stats[spec.uuid]
    assert (stats.batches_delivered, stats.records_delivered, stats.retries) == (5, 21, 0)

    record = invocations[0]["event"]["Records"][0]
    assert set(record) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    assert set(record["kinesis"]) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }
    assert record["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert record["kinesis"]["partitionKey"] == "key"
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
    assert abs(record["kinesis"]["approximateArrivalTimestamp"] - time.time()) < 60
    assert record["eventID"] == f"{record['eventID'].split(':')[0]}:{record['kinesis']['sequenceNumber']}"
    assert (record["eventSource"], record["eventVersion"], record["eventName"]) == (
        "aws:kinesis",
        "1.0",
        "aws:kinesis:record",
    )
    assert record["invokeIdentityArn"] == ROLE
    assert (record["awsRegion"], record["eventSourceARN"]) == (REGION, stream)


def test_batching_window_groups_records_written_over_time(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    spec = mapping(function, stream, starting_position="LATEST", batch_size=100, maximum_batching_window_s=1.0)
    poller.add(spec)

    for i in range(5):
        put(clients, stream, [f"r{i}"])
        time.sleep(0.1)

    assert poller.wait_idle(timeout=20)
    invocations = drain(clients, queue_url)
    assert [datas(i) for i in invocations] == [[f"r{i}" for i in range(5)]]
    first_arrival = invocations[0]["event"]["Records"][0]["kinesis"]["approximateArrivalTimestamp"]
    assert invocations[0]["ns"] / 1e9 - first_arrival >= 0.9, "the poller waited for the batching window"


def test_a_full_batch_is_sent_without_waiting_for_the_batching_window(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    spec = mapping(function, stream, starting_position="LATEST", batch_size=4, maximum_batching_window_s=30)
    poller.add(spec)
    put(clients, stream, [f"r{i}" for i in range(8)])

    received: list[dict[str, Any]] = []

    def two_batches() -> bool:
        received.extend(drain(clients, queue_url))
        return len(received) >= 2

    wait_for(two_batches, timeout=10)  # far less than the 30 s window

    assert [datas(i) for i in received] == [["r0", "r1", "r2", "r3"], ["r4", "r5", "r6", "r7"]]


# ---- starting positions -----------------------------------------------------------------------------------
def test_latest_skips_records_written_before_the_mapping(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    put(clients, stream, ["old-1", "old-2"])
    poller.add(mapping(function, stream, starting_position="LATEST"))
    put(clients, stream, ["new-1", "new-2"])

    assert poller.wait_idle(timeout=20)

    assert [d for i in drain(clients, queue_url) for d in datas(i)] == ["new-1", "new-2"]


def test_trim_horizon_reads_records_written_before_the_mapping(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    put(clients, stream, ["old-1", "old-2"])
    poller.add(mapping(function, stream, starting_position="TRIM_HORIZON"))
    put(clients, stream, ["new-1"])

    assert poller.wait_idle(timeout=20)

    assert [d for i in drain(clients, queue_url) for d in datas(i)] == ["old-1", "old-2", "new-1"]


def test_at_timestamp_reads_records_written_from_that_time(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    put(clients, stream, ["before"])
    time.sleep(0.05)
    since = datetime.now(UTC)
    time.sleep(0.05)
    put(clients, stream, ["after-1", "after-2"])
    poller.add(mapping(function, stream, starting_position="AT_TIMESTAMP", starting_position_timestamp=since))

    assert poller.wait_idle(timeout=20)

    assert [d for i in drain(clients, queue_url) for d in datas(i)] == ["after-1", "after-2"]


# ---- partial batch responses ------------------------------------------------------------------------------
def test_partial_failure_resumes_from_the_lowest_failed_sequence_number(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "partial", queue_url)
    written = ["r0", "r1", "r2", "fail-3", "r4", "r5", "fail-6", "r7"]
    numbers = put(clients, stream, written)
    spec = mapping(function, stream, batch_size=10, report_batch_item_failures=True)

    poller.add(spec)

    assert poller.wait_idle(timeout=20)
    invocations = drain(clients, queue_url)
    assert [i["outcome"] for i in invocations] == ["partial", "ok"]
    assert datas(invocations[0]) == written
    # The handler listed fail-6 before fail-3: Lambda checkpoints before the lowest and retries from there.
    assert sequences(invocations[1]) == numbers[3:]
    stats = poller.stats[spec.uuid]
    assert (stats.partial_failures, stats.retries, stats.records_delivered) == (1, 1, 8)


MALFORMED_KINDS = ["empty-identifier", "missing-identifier", "unknown-identifier", "not-a-list"]


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_batch_item_failures_retry_the_whole_batch(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller, kind: str
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "malformed", queue_url, MALFORMED=kind)
    written = ["r0", "r1", "r2"]
    put(clients, stream, written)
    spec = mapping(function, stream, report_batch_item_failures=True)

    poller.add(spec)

    assert poller.wait_idle(timeout=20)
    invocations = drain(clients, queue_url)
    assert [(i["outcome"], datas(i)) for i in invocations] == [("malformed", written), ("ok", written)]
    stats = poller.stats[spec.uuid]
    assert (stats.malformed_responses, stats.retries, stats.records_delivered) == (1, 1, 3)


def test_batch_item_failures_are_ignored_unless_the_mapping_reports_them(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "partial", queue_url)
    put(clients, stream, ["r0", "fail-1", "r2"])

    poller.add(mapping(function, stream))

    assert poller.wait_idle(timeout=20)
    assert [i["outcome"] for i in drain(clients, queue_url)] == ["partial"]


# ---- function errors --------------------------------------------------------------------------------------
def test_bisect_isolates_a_poison_record_and_delivers_every_good_record(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    failure_url, failure_arn = make_queue(clients)
    function = deploy(runtime, "poison", queue_url)
    written = ["r0", "r1", "r2", "r3", "r4", "poison", "r6", "r7"]
    numbers = put(clients, stream, written)
    spec = mapping(
        function,
        stream,
        batch_size=8,
        bisect_batch_on_function_error=True,
        maximum_retry_attempts=1,
        on_failure_arn=failure_arn,
    )

    poller.add(spec)

    assert poller.wait_idle(timeout=20)
    invocations = drain(clients, queue_url)
    delivered = [d for i in invocations if i["outcome"] == "ok" for d in datas(i)]
    assert delivered == [d for d in written if d != "poison"]
    # [0-7] fails, [0-3] ok, [4-7] fails, [4,5] fails, [4] ok, [5] fails twice (one retry), [6,7] ok
    assert [len(i["event"]["Records"]) for i in invocations] == [8, 4, 4, 2, 1, 1, 1, 2]
    failures = drain(clients, failure_url)
    assert len(failures) == 1
    info = failures[0]["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (numbers[5], numbers[5])
    assert info["batchSize"] == 1
    stats = poller.stats[spec.uuid]
    assert (stats.bisections, stats.retries, stats.records_sent_to_on_failure) == (3, 1, 1)


def test_exhausted_retries_send_the_batch_info_to_the_on_failure_queue_and_the_shard_goes_on(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    failure_url, failure_arn = make_queue(clients)
    function = deploy(runtime, "poison", queue_url)
    numbers = put(clients, stream, ["r0", "poison", "r2", "r3", "r4"])
    spec = mapping(function, stream, batch_size=3, maximum_retry_attempts=2, on_failure_arn=failure_arn)

    poller.add(spec)

    assert poller.wait_idle(timeout=20)
    invocations = drain(clients, queue_url)
    assert [(i["outcome"], datas(i)) for i in invocations] == [
        ("error", ["r0", "poison", "r2"]),
        ("error", ["r0", "poison", "r2"]),
        ("error", ["r0", "poison", "r2"]),
        ("ok", ["r3", "r4"]),
    ]
    failures = drain(clients, failure_url)
    assert len(failures) == 1
    record = failures[0]
    assert record["version"] == "1.0"
    assert record["requestContext"]["functionArn"] == function.arn
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert uuid.UUID(record["requestContext"]["requestId"])
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert datetime.fromisoformat(record["timestamp"]).tzinfo is not None
    info = record["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000"
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (numbers[0], numbers[2])
    assert (info["batchSize"], info["streamArn"]) == (3, stream)
    first = datetime.fromisoformat(info["approximateArrivalOfFirstRecord"])
    last = datetime.fromisoformat(info["approximateArrivalOfLastRecord"])
    assert first <= last and abs((datetime.now(UTC) - first).total_seconds()) < 60
    stats = poller.stats[spec.uuid]
    assert (stats.retries, stats.function_errors) == (2, 3)
    assert (stats.records_sent_to_on_failure, stats.records_delivered) == (3, 2)


def test_without_an_on_failure_destination_exhausted_records_are_logged_as_discarded(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller, caplog: pytest.LogCaptureFixture
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "poison", queue_url)
    numbers = put(clients, stream, ["poison", "r1"])
    spec = mapping(function, stream, batch_size=1, maximum_retry_attempts=0)

    with caplog.at_level(logging.WARNING, logger="cd4ml.localcloud.lambda_"):
        poller.add(spec)
        assert poller.wait_idle(timeout=20)

    invocations = drain(clients, queue_url)
    assert [(i["outcome"], datas(i)) for i in invocations] == [("error", ["poison"]), ("ok", ["r1"])]
    discarded = [r.getMessage() for r in caplog.records if "discarded" in r.getMessage()]
    assert len(discarded) == 1
    assert "shardId-000000000000" in discarded[0] and f"{numbers[0]} to {numbers[0]}" in discarded[0]
    assert poller.stats[spec.uuid].records_discarded == 1


def test_records_older_than_the_maximum_age_go_to_the_on_failure_queue(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    failure_url, failure_arn = make_queue(clients)
    function = deploy(runtime, "poison", queue_url)
    numbers = put(clients, stream, ["poison"])
    spec = mapping(function, stream, batch_size=1, maximum_record_age_s=1, on_failure_arn=failure_arn)
    poller.add(spec)

    wait_for(lambda: poller.stats[spec.uuid].records_sent_to_on_failure == 1, timeout=10)
    put(clients, stream, ["r1"])

    assert poller.wait_idle(timeout=20)
    invocations = drain(clients, queue_url)
    assert len(invocations) >= 3  # retried (no retry limit) until the record aged out
    assert [datas(i) for i in invocations if i["outcome"] == "ok"] == [["r1"]]
    failures = drain(clients, failure_url)
    assert [f["requestContext"]["condition"] for f in failures] == ["RecordAgeExceeded"]
    info = failures[0]["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["batchSize"]) == (numbers[0], 1)
    assert failures[0]["requestContext"]["approximateInvokeCount"] == len(invocations) - 1


# ---- robustness -------------------------------------------------------------------------------------------
def test_a_mapping_whose_function_is_missing_does_not_hold_up_other_mappings(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    healthy_url, _ = make_queue(clients)
    late_url, _ = make_queue(clients)
    healthy = deploy(runtime, "recorder", healthy_url)
    missing_name = unique("recorder")
    missing = FunctionSpec(
        name=missing_name,
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{missing_name}",
        handler="app.handler",
        code_dir=HANDLERS / "recorder",
        environment={"RECORD_QUEUE_URL": late_url},
        role_arn=ROLE,
    )
    healthy_mapping = mapping(healthy, stream)
    missing_mapping = mapping(missing, stream)
    poller.add(missing_mapping)
    poller.add(healthy_mapping)
    put(clients, stream, ["r0", "r1", "r2"])

    wait_for(lambda: poller.stats[healthy_mapping.uuid].records_delivered == 3)
    assert poller.stats[missing_mapping.uuid].invocations == 0
    assert not poller.wait_idle(timeout=0.5), "the missing function's records are still pending"

    runtime.register(missing)  # deployed late: Lambda keeps the batch until the function can run it

    assert poller.wait_idle(timeout=20)
    assert [d for i in drain(clients, late_url) for d in datas(i)] == ["r0", "r1", "r2"]
    assert [d for i in drain(clients, healthy_url) for d in datas(i)] == ["r0", "r1", "r2"]


def test_a_deleted_stream_is_logged_and_other_mappings_keep_delivering(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller, caplog: pytest.LogCaptureFixture
) -> None:
    doomed, kept = make_stream(clients), make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    poller.add(mapping(function, doomed))
    poller.add(mapping(function, kept))
    put(clients, doomed, ["d0"])
    assert poller.wait_idle(timeout=20)

    with caplog.at_level(logging.ERROR, logger="cd4ml.localcloud.lambda_"):
        clients("kinesis").delete_stream(StreamARN=doomed)
        put(clients, kept, ["k0", "k1"])
        assert poller.wait_idle(timeout=20)

    assert [d for i in drain(clients, queue_url) for d in datas(i)] == ["d0", "k0", "k1"]
    assert any("cannot be read" in r.getMessage() for r in caplog.records)


def test_a_disabled_mapping_reads_nothing_and_does_not_hold_up_wait_idle(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    put(clients, stream, ["r0"])
    spec = mapping(function, stream, enabled=False)

    poller.add(spec)

    assert poller.wait_idle(timeout=5)
    assert drain(clients, queue_url) == []
    assert poller.stats[spec.uuid].invocations == 0


def test_remove_stops_delivery_to_that_mapping(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    spec = mapping(function, stream)
    poller.add(spec)
    put(clients, stream, ["r0"])
    assert poller.wait_idle(timeout=20)

    poller.remove(spec.uuid)
    put(clients, stream, ["r1"])
    time.sleep(0.3)

    assert [d for i in drain(clients, queue_url) for d in datas(i)] == ["r0"]
    assert spec.uuid not in poller.stats
    with pytest.raises(KeyError):
        poller.remove(spec.uuid)


def test_close_promptly_stops_a_mapping_that_retries_forever(
    clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller
) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "poison", queue_url)
    put(clients, stream, ["poison"])
    spec = mapping(function, stream)
    poller.add(spec)
    wait_for(lambda: poller.stats[spec.uuid].retries >= 2)
    assert not poller.wait_idle(timeout=0.3)

    started = time.monotonic()
    poller.close()

    assert time.monotonic() - started < 2.0
    assert not [t for t in threading.enumerate() if t.name.startswith(f"kinesis-esm-{spec.uuid[:8]}")]


def test_invalid_settings_are_refused(clients: ClientFactory, runtime: LambdaRuntime, poller: KinesisPoller) -> None:
    stream = make_stream(clients)
    queue_url, _ = make_queue(clients)
    function = deploy(runtime, "recorder", queue_url)
    for settings in (
        {"batch_size": 0},
        {"batch_size": 10001},
        {"maximum_batching_window_s": 301},
        {"starting_position": "AT_SEQUENCE_NUMBER"},
        {"starting_position": "AT_TIMESTAMP"},
        {"maximum_retry_attempts": -2},
    ):
        with pytest.raises(ValueError):
            poller.add(mapping(function, stream, **settings))
    assert poller.stats == {}
