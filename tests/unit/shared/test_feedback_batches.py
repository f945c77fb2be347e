"""Ground-truth batches decided as columns (cd4ml_shared.feedback): every kind of poison is named and kept apart with
the record's own metadata, good records keep their stream order and their duplicates, and the bulk path and the
record-by-record path decide the same records the same way."""

import base64
import io
import json
import random
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from cd4ml_shared import feedback
from cd4ml_shared.feedback import (
    FUTURE_TOLERANCE_S,
    SOURCES,
    NotAKinesisBatch,
    decide_batch,
    parquet_bytes,
    quarantine_lines,
)

ARRIVAL = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC).timestamp()
GOOD = {"inference_id": "3f0c6a52-8f1e-4d57-9a7e-0b1c2d3e4f50", "label": 1, "labeled_at": "2026-11-25T11:58:02Z"}
GOOD["source"] = "chargeback"


def record(body: object, number: int = 0, *, raw: str | None = None) -> dict:
    """One record as AWS's Kinesis event carries it (events/kinesis_ground_truth_batch.json)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sequence = f"4959033827149025660855969253836157109592157598913{number:07d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": f"key-{number}",
            "sequenceNumber": sequence,
            "data": raw if raw is not None else base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": ARRIVAL + number / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000003:{sequence}",
        "eventName": "aws:kinesis:record",
    }


def batch_of(*bodies: object) -> list[dict]:
    return [record(body, number) for number, body in enumerate(bodies)]


def numbers(batch) -> list[int]:
    """The record numbers (as `record` numbers them) of the batch's good rows, in the order they were kept."""
    return [int(sequence[-7:]) for sequence in batch.good.column("sequence_number").to_pylist()]


def without(field: str) -> dict:
    return {name: value for name, value in GOOD.items() if name != field}


POISON = [
    (b"inference_id=5d1e;label=1", "data.not_json"),
    (b"\xff\xfe{}", "data.not_json"),
    ([GOOD], "record.not_object"),
    ("just a string", "record.not_object"),
    (without("inference_id"), "inference_id.missing"),
    ({**GOOD, "inference_id": None}, "inference_id.missing"),
    ({**GOOD, "inference_id": 42}, "inference_id.wrong_type"),
    ({**GOOD, "inference_id": ""}, "inference_id.invalid"),
    ({**GOOD, "inference_id": "x" * 65}, "inference_id.invalid"),
    (without("label"), "label.missing"),
    ({**GOOD, "label": "1"}, "label.wrong_type"),
    ({**GOOD, "label": True}, "label.wrong_type"),
    ({**GOOD, "label": 1.0}, "label.wrong_type"),
    ({**GOOD, "label": 10**30}, "label.wrong_type"),
    ({**GOOD, "label": 2}, "label.unknown_value"),
    ({**GOOD, "label": -1}, "label.unknown_value"),
    (without("labeled_at"), "labeled_at.missing"),
    ({**GOOD, "labeled_at": 1795608000}, "labeled_at.wrong_type"),
    ({**GOOD, "labeled_at": "2026-11-25T11:58:02"}, "labeled_at.invalid"),  # no zone: not guessed to be UTC
    ({**GOOD, "labeled_at": "2026-02-30T11:58:02Z"}, "labeled_at.invalid"),
    ({**GOOD, "labeled_at": "yesterday"}, "labeled_at.invalid"),
    ({**GOOD, "labeled_at": "2027-01-01T00:00:00Z"}, "labeled_at.future"),
    (without("source"), "source.missing"),
    ({**GOOD, "source": ["review"]}, "source.wrong_type"),
    ({**GOOD, "source": "psychic"}, "source.unknown"),
]


@pytest.mark.parametrize(("body", "reason"), POISON, ids=[reason for _, reason in POISON])
def test_each_kind_of_poison_is_quarantined_with_its_reason_and_the_good_records_around_it_are_kept(body, reason):
    batch = decide_batch(batch_of(GOOD, body, {**GOOD, "label": 0}))

    assert batch.received == 3
    assert [p.reason for p in batch.poison] == [reason]
    poison = batch.poison[0]
    assert poison.sequence_number == batch_of(GOOD, body)[1]["kinesis"]["sequenceNumber"]
    assert poison.partition_key == "key-1" and poison.shard_id == "shardId-000000000003"
    assert base64.b64decode(poison.data) == (body if isinstance(body, bytes) else json.dumps(body).encode())
    assert batch.good.column("label").to_pylist() == [1, 0]


def test_the_bulk_path_decides_a_clean_batch_as_the_record_by_record_path_does():
    # a record that is not JSON sends the batch down the record-by-record path; the other records must come out the
    # same either way
    bodies = [
        {**GOOD, "label": n % 2, "inference_id": f"id-{n}", "labeled_at": f"2026-11-25T11:{n:02d}:00Z"}
        for n in range(40)
    ]
    bodies[7] = {**bodies[7], "source": "psychic"}
    bodies[9] = {**bodies[9], "labeled_at": "2026-11-25T11:09:00.123456+01:00"}
    assert not feedback._bulk_columns([r["kinesis"]["data"] for r in batch_of(*bodies)]).suspect.any()  # the bulk path
    clean = decide_batch(batch_of(*bodies))
    mixed = decide_batch(batch_of(*bodies, b"not json"))

    assert mixed.good.equals(clean.good)
    assert [(p.sequence_number, p.reason) for p in mixed.poison[:1]] == [
        (p.sequence_number, p.reason) for p in clean.poison
    ]
    assert clean.good.column("labeled_at")[8].as_py() == datetime(2026, 11, 25, 10, 9, 0, 123456, tzinfo=UTC)


def test_poison_anywhere_in_a_batch_is_set_aside_and_the_rest_decided_as_record_by_record_would():
    # Arrow refuses the wrong types (at the start, side by side, at the end) and names their line; the rest of the
    # batch stays on the bulk path. The same batch with a record that is not base64 goes record by record throughout.
    bodies: list[object] = [{**GOOD, "inference_id": f"id-{n}", "label": n % 2} for n in range(30)]
    bodies[0] = {**GOOD, "label": "1"}
    bodies[1] = {**GOOD, "label": True}
    bodies[5] = b"not json"
    bodies[6] = {**GOOD, "source": 3}
    bodies[7] = b"  "
    bodies[12] = {**GOOD, "label": 9}
    bodies[29] = {**GOOD, "inference_id": ["a"]}
    bulk = batch_of(*bodies)
    assert feedback._bulk_columns([r["kinesis"]["data"] for r in bulk]).suspect.sum() == 6

    on_bulk = decide_batch(bulk)
    alone = decide_batch([*bulk, record(b"", 30, raw="YQ=")])

    assert on_bulk.good.equals(alone.good) and numbers(on_bulk) == [
        n for n in range(29) if n not in (0, 1, 5, 6, 7, 12)
    ]
    assert [(p.sequence_number, p.reason, p.detail) for p in on_bulk.poison] == [
        (p.sequence_number, p.reason, p.detail) for p in alone.poison[:-1]
    ]
    assert [p.reason for p in on_bulk.poison] == [
        "label.wrong_type",
        "label.wrong_type",
        "data.not_json",
        "source.wrong_type",
        "data.not_json",
        "label.unknown_value",
        "inference_id.wrong_type",
    ]


def test_duplicate_labels_are_all_kept_in_stream_order_for_the_join_to_resolve():
    first = {**GOOD, "label": 1, "labeled_at": "2026-11-25T11:00:00Z", "source": "review"}
    later = {**GOOD, "label": 0, "labeled_at": "2026-11-25T11:30:00Z", "source": "chargeback"}

    batch = decide_batch(batch_of(first, later, first))

    rows = batch.good.to_pylist()
    assert [(r["label"], r["source"]) for r in rows] == [(1, "review"), (0, "chargeback"), (1, "review")]
    assert [r["sequence_number"] for r in rows] == sorted(r["sequence_number"] for r in rows)
    assert not batch.poison


def test_rows_carry_the_kinesis_metadata_and_name_their_object_by_shard_first_sequence_and_arrival_hour():
    batch = decide_batch(batch_of(GOOD, GOOD))

    row = batch.good.to_pylist()[1]
    assert row["shard_id"] == "shardId-000000000003" and row["sequence_number"].endswith("0000001")
    assert row["approximate_arrival"] == datetime(2026, 11, 25, 12, 0, 0, 1000, tzinfo=UTC)
    first = batch_of(GOOD)[0]["kinesis"]["sequenceNumber"]
    assert batch.good_key() == f"ground-truth/dt=2026-11-25/hour=12/shardId-000000000003-{first}.parquet"
    assert batch.quarantine_key() == f"quarantine/ground-truth/dt=2026-11-25/hour=12/shardId-000000000003-{first}.jsonl"
    assert pq.read_table(io.BytesIO(parquet_bytes(batch.good))).equals(batch.good)


def test_a_label_stamped_within_the_clock_tolerance_of_its_arrival_is_kept():
    near = datetime.fromtimestamp(ARRIVAL + FUTURE_TOLERANCE_S - 1, UTC).isoformat()
    far = datetime.fromtimestamp(ARRIVAL + FUTURE_TOLERANCE_S + 60, UTC).isoformat()

    batch = decide_batch(batch_of({**GOOD, "labeled_at": near}, {**GOOD, "labeled_at": far}))

    assert batch.good.num_rows == 1 and [p.reason for p in batch.poison] == ["labeled_at.future"]


BAD_BASE64 = [("!!!!", "data.not_base64"), ("YQ=", "data.not_base64"), ("YQ=a", "data.not_base64")]
BAD_BASE64 += [("Y===", "data.not_base64"), ("", "data.not_json")]  # "" is base64 for no bytes, which is no JSON


@pytest.mark.parametrize(("raw", "reason"), BAD_BASE64, ids=["alphabet", "length", "pad-inside", "pads", "empty"])
def test_data_that_is_not_strict_base64_is_poison(raw, reason):
    records = [record(GOOD, 0), record(b"", 1, raw=raw), record(GOOD, 2)]

    batch = decide_batch(records)

    assert [p.reason for p in batch.poison] == [reason]
    assert numbers(batch) == [0, 2]


def test_records_that_would_shift_rows_in_the_bulk_parse_are_decided_one_by_one():
    # a pretty-printed record (newlines), two objects in one record, whitespace alone: none may move another's row
    pretty = json.dumps(GOOD, indent=2).encode()
    two = (json.dumps(GOOD) + " " + json.dumps(GOOD)).encode()

    batch = decide_batch(batch_of(pretty, two, b"  ", {**GOOD, "label": 0}))

    assert numbers(batch) == [0, 3]
    assert [(p.partition_key, p.reason) for p in batch.poison] == [
        ("key-1", "data.not_json"),
        ("key-2", "data.not_json"),
    ]


def test_the_quarantine_file_is_one_json_line_per_poison_record_with_its_reason():
    batch = decide_batch(batch_of(GOOD, {**GOOD, "label": 2}, b"nope"))

    lines = [json.loads(line) for line in quarantine_lines(batch.poison).decode().splitlines()]

    assert [(line["reason"], line["detail"]) for line in lines] == [
        ("label.unknown_value", "2"),
        ("data.not_json", "nope"),
    ]
    assert lines[0]["approximate_arrival"] == "2026-11-25T12:00:00.001000+00:00"


def test_an_event_that_is_not_a_kinesis_batch_is_refused_by_name():
    with pytest.raises(NotAKinesisBatch):
        decide_batch([])
    with pytest.raises(NotAKinesisBatch):
        decide_batch([{"body": "an SQS message"}])


def varied(count: int) -> list[dict]:
    """Good records of lengths that leave every kind of base64 padding (none, `=`, `==`), seeded."""
    rng = random.Random(7)
    return [
        {**GOOD, "inference_id": f"id-{n}-{'x' * rng.randrange(3)}", "label": n % 2, "source": rng.choice(SOURCES)}
        for n in range(count)
    ]


def test_a_stray_pad_inside_one_record_of_a_large_batch_is_quarantined_alone_and_the_others_written():
    # the bulk decode swaps only each record's trailing padding; a `=` anywhere else must make the strict decode
    # refuse the batch, so that record by record only the one record is poison. The batch is decoded a stretch at a
    # time: it spans several, the bad record is in a later one.
    records = batch_of(*varied(1200))
    texts = [r["kinesis"]["data"] for r in records]
    assert {text[-2:].count("=") for text in texts} == {0, 1, 2}  # every kind of padding is in the batch
    assert sum(map(len, texts)) > 2 * feedback._DECODE_CHARS
    assert not feedback._bulk_columns(texts).suspect.any()
    data = records[1000]["kinesis"]["data"]
    records[1000]["kinesis"]["data"] = data[:9] + "=" + data[10:]  # same length, a pad in the middle
    assert feedback._bulk_columns([r["kinesis"]["data"] for r in records]) is None  # the fallback is taken

    batch = decide_batch(records)

    assert [(p.partition_key, p.reason, p.detail) for p in batch.poison] == [
        ("key-1000", "data.not_base64", "not base64")
    ]
    assert numbers(batch) == [n for n in range(1200) if n != 1000]
    assert batch.good.column("label").to_pylist() == [n % 2 for n in range(1200) if n != 1000]


def test_the_bulk_decode_of_a_batch_in_stretches_gives_the_records_own_bytes():
    records = batch_of(*varied(1200))
    texts = [r["kinesis"]["data"] for r in records]

    bulk = feedback._bulk_columns(texts)

    assert bulk is not None
    assert [bulk.payload(n).strip(b"\t") for n in range(1200)] == [base64.b64decode(text) for text in texts]
    assert bulk.columns["inference_id"].to_pylist() == [json.loads(base64.b64decode(t))["inference_id"] for t in texts]


def test_a_carriage_return_sets_its_record_aside_and_the_rest_stays_on_the_bulk_path():
    # a carriage return is a line break to Arrow: its record is decided on its own (JSON whitespace there: kept;
    # inside a string: not JSON), the others in bulk
    bodies: list[object] = list(varied(300))
    bodies[100] = json.dumps(bodies[100]).replace('"label": ', '"label":\r').encode()
    bodies[200] = json.dumps({**GOOD, "inference_id": "a\rb"}).replace("\\r", "\r").encode()
    records = batch_of(*bodies)
    bulk = feedback._bulk_columns([r["kinesis"]["data"] for r in records])
    assert bulk is not None and bulk.suspect.nonzero()[0].tolist() == [100, 200]

    batch = decide_batch(records)

    assert [(p.partition_key, p.reason) for p in batch.poison] == [("key-200", "data.not_json")]
    assert numbers(batch) == [n for n in range(300) if n != 200]
    assert batch.good.column("label")[100].as_py() == 0


@pytest.mark.parametrize("poison", [False, True], ids=["clean", "one-poison"])
def test_the_parquet_object_holds_the_rows_as_decided_with_statistics_on_the_times(poison):
    bodies: list[object] = list(varied(1000))
    if poison:
        bodies[500] = {**GOOD, "source": "psychic"}
    batch = decide_batch(batch_of(*bodies))

    stored = pq.ParquetFile(io.BytesIO(parquet_bytes(batch.good)))

    assert stored.read().equals(batch.good) and batch.good.num_rows == 1000 - poison
    columns = {column.path_in_schema: column for column in map(stored.metadata.row_group(0).column, range(7))}
    for name in ("labeled_at", "approximate_arrival"):  # the monitor prunes objects by these
        times = batch.good.column(name)
        assert columns[name].statistics.min == min(times.to_pylist())
        assert columns[name].statistics.max == max(times.to_pylist())
    assert not columns["inference_id"].is_stats_set


def test_a_record_with_bytes_that_are_not_utf8_is_quarantined_and_one_with_other_scripts_kept():
    # Arrow's reader does not check a string's UTF-8: such a record must not reach the Parquet object (nor fail
    # the batch, which would stall the shard); it is not JSON, as the record-by-record parser says
    bodies: list[object] = list(varied(300))
    bodies[50] = json.dumps({**GOOD, "source": "chargeback"}).encode().replace(b"chargeback", b"chargeb\xfdck")
    bodies[60] = json.dumps({**GOOD, "inference_id": "id-\u00e9t\u00e9"}, ensure_ascii=False).encode()
    bodies[70] = json.dumps(GOOD).encode().replace(b"3f0c", b"3f\xc30c")
    batch = decide_batch(batch_of(*bodies))

    assert [(p.partition_key, p.reason) for p in batch.poison] == [
        ("key-50", "data.not_json"),
        ("key-70", "data.not_json"),
    ]
    assert numbers(batch) == [n for n in range(300) if n not in (50, 70)]
    assert batch.good.column("inference_id")[59].as_py() == "id-\u00e9t\u00e9"
    assert pq.read_table(io.BytesIO(parquet_bytes(batch.good))).equals(batch.good)
