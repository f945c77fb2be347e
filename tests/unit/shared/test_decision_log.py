"""The decision log's batches (cd4ml_shared.decision_log): Decision Made events on a Kinesis batch become rows of
the decision with its raw order in the contract's Arrow types; every kind of poison is named and kept apart, good
records keep their stream order and their duplicates, and the object keys are stable across redeliveries."""

import base64
import copy
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.data_quality import ARROW_TYPES
from cd4ml_shared.decision_log import SCHEMA, NotAKinesisBatch, decide_batch, parquet_bytes

from cd4ml.localcloud.events.router import kinesis_partition_key

EVENT = json.loads((Path(__file__).parents[3] / "events" / "eventbridge_decision_made.json").read_text())
ARRIVAL = datetime(2026, 12, 1, 22, 15, 1, tzinfo=UTC).timestamp()


def record(body: object, number: int = 0) -> dict:
    """One record as AWS's Kinesis event carries it, with an EventBridge event (or other bytes) as its data."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sequence = f"4959033827149025660855969253836157109592157598913{number:07d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "c-0042",
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": ARRIVAL + number / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000001:{sequence}",
        "eventName": "aws:kinesis:record",
    }


def event(order_id: str = "o-000123", **changes: object) -> dict:
    """The sample event for another order (and the detail's fields changed; `order.<name>` changes the order)."""
    made = copy.deepcopy(EVENT)
    made["detail"]["order_id"] = made["detail"]["order"]["order_id"] = order_id
    for name, value in changes.items():
        if name.startswith("order."):
            made["detail"]["order"][name.split(".", 1)[1]] = value
        else:
            made["detail"][name] = value
    return made


def without(body: dict, path: str) -> dict:
    made = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = made
    for parent in parents:
        target = target[parent]
    del target[last]
    return made


def test_a_decision_becomes_one_row_with_its_raw_order_in_the_contracts_types():
    batch = decide_batch([record(EVENT)])

    assert batch.poison == ()
    assert batch.good.schema == SCHEMA
    (row,) = batch.good.to_pylist()
    order = EVENT["detail"]["order"]
    for column in ORDERS.columns:
        if column.role == "label":
            assert column.name not in row
            continue
        assert batch.good.schema.field(column.name).type == ARROW_TYPES[column.dtype]
        expected = order[column.name]
        if column.dtype == "timestamp":
            expected = datetime.fromisoformat(expected)
        assert row[column.name] == expected, column.name
    assert row["decided_at"] == datetime(2026, 12, 1, 22, 15, 0, tzinfo=UTC)  # the event's time
    assert (row["inference_id"], row["model_version"], row["score"], row["decision"], row["endpoint_name"]) == (
        "3f0c6a52-8f1e-4d57-9a7e-0b1c2d3e4f50",
        1,
        0.3,
        "review",
        "cd4ml-dev-fraud",
    )
    assert row["event_id"] == EVENT["id"] and row["shard_id"] == "shardId-000000000001"


def test_poison_is_named_by_its_first_failing_check_and_the_good_keep_stream_order_and_duplicates():
    bodies = [
        event("o-1"),
        b"not json",
        [1, 2],
        {**EVENT, "source": "cd4ml.monitoring"},
        event("o-2"),
        without(EVENT, "detail.order"),
        without(EVENT, "detail.inference_id"),
        event("o-3", score="0.3"),
        event("o-4", **{"order.num_items": 2.5}),
        event("o-5", **{"order.billing_shipping_match": 1}),
        event("o-6", **{"order.order_ts": "yesterday"}),
        event("o-7", decision="maybe"),
        event("o-8", **{"order.customer_id": "c-other"}),
        event("o-9", **{"order.shipping_distance_km": None}),  # nullable in the contract: a good row
        event("o-1"),  # delivered twice: kept, a reader keeps one row per order
        event("o-10", model_version=2**70),
        {**EVENT, "time": "soon"},
    ]
    batch = decide_batch([record(body, number) for number, body in enumerate(bodies)])

    assert batch.good.column("order_id").to_pylist() == ["o-1", "o-2", "o-9", "o-1"]
    assert batch.good.column("shipping_distance_km").to_pylist() == [12.4, 12.4, None, 12.4]
    assert [(int(p.sequence_number[-7:]), p.reason) for p in batch.poison] == [
        (1, "data.not_json"),
        (2, "record.not_object"),
        (3, "event.not_decision_made"),
        (5, "order.not_object"),
        (6, "inference_id.missing"),
        (7, "score.wrong_type"),
        (8, "order.num_items.wrong_type"),
        (9, "order.billing_shipping_match.wrong_type"),
        (10, "order.order_ts.invalid"),
        (11, "decision.unknown_value"),
        (12, "order.key_mismatch"),
        (15, "model_version.wrong_type"),
        (16, "decided_at.invalid"),
    ]
    assert batch.poison[5].detail == '"0.3"'
    assert base64.b64decode(batch.poison[0].data) == b"not json"  # the bytes as they came, to replay


def test_a_whole_number_amount_is_a_float_and_a_timestamp_without_zone_is_utc():
    batch = decide_batch([record(event("o-1", **{"order.order_amount": 130, "order.order_ts": "2026-12-01T22:14:59"}))])

    (row,) = batch.good.to_pylist()
    assert row["order_amount"] == 130.0
    assert row["order_ts"] == datetime(2026, 12, 1, 22, 14, 59, tzinfo=UTC)


def test_keys_name_the_first_arrival_shard_and_sequence_so_a_redelivery_lands_on_the_same_key():
    records = [record(event("o-1"), 0), record(b"{", 1)]
    first, again = decide_batch(records), decide_batch(copy.deepcopy(records))

    sequence = records[0]["kinesis"]["sequenceNumber"]
    assert first.good_key() == f"decisions/dt=2026-12-01/hour=22/shardId-000000000001-{sequence}.parquet"
    assert first.quarantine_key() == f"quarantine/decisions/dt=2026-12-01/hour=22/shardId-000000000001-{sequence}.jsonl"
    assert (again.good_key(), again.quarantine_key()) == (first.good_key(), first.quarantine_key())


def test_the_parquet_object_reads_back_as_the_table():
    batch = decide_batch([record(event(f"o-{n}"), n) for n in range(5)])

    assert pq.read_table(io.BytesIO(parquet_bytes(batch.good))).equals(batch.good)


def test_an_event_that_is_not_a_kinesis_batch_is_refused():
    with pytest.raises(NotAKinesisBatch):
        decide_batch([])
    with pytest.raises(NotAKinesisBatch, match="Kinesis"):
        decide_batch([{"body": "sqs?"}])


def test_all_poison_gives_an_empty_table_of_the_schema():
    batch = decide_batch([record(b"x", 0), record(b"[]", 1)])

    assert batch.good.num_rows == 0 and batch.good.schema == SCHEMA
    assert [p.reason for p in batch.poison] == ["data.not_json", "record.not_object"]


# ---- the local cloud's Kinesis target (cd4ml/localcloud/events/router.py) ----------------------------------------
def test_a_kinesis_target_keys_records_by_its_partition_key_path_or_the_event_id():
    target = {"Arn": "arn:aws:kinesis:us-east-1:123456789012:stream/log"}
    keyed = {**target, "KinesisParameters": {"PartitionKeyPath": "$.detail.customer_id"}}

    assert kinesis_partition_key(keyed, EVENT) == "c-0042"
    assert kinesis_partition_key(target, EVENT) == EVENT["id"]
    assert kinesis_partition_key(keyed, without(EVENT, "detail.customer_id")) == EVENT["id"]
    assert (
        kinesis_partition_key({**keyed, "KinesisParameters": {"PartitionKeyPath": "$.detail.model_version"}}, EVENT)
        == "1"
    )


def test_the_schema_holds_every_order_field_once():
    names = SCHEMA.names
    assert len(names) == len(set(names))
    assert set(ORDERS.names) - {ORDERS.label.name} <= set(names)
    assert pa.types.is_timestamp(SCHEMA.field("decided_at").type)
