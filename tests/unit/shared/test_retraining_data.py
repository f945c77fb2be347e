"""The retraining dataset (cd4ml_shared.retraining_data): generated orders logged as production decisions, labelled
later (some twice, some never), joined back into the ORDERS contract, merged with the accepted dataset with the
production row winning, and passed by the same validation the training pipeline runs."""

import base64
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.data_quality import validate
from cd4ml_shared.decision_log import decide_batch
from cd4ml_shared.feedback import SCHEMA as GROUND_TRUTH_SCHEMA
from cd4ml_shared.retraining_data import (
    RetrainingDataError,
    RetrainingLineage,
    contract_schema,
    distinct_orders,
    labelled_orders,
    retraining_dataset,
    retraining_key,
)

from cd4ml.data import arrow_schema, generate_orders

START = datetime(2026, 11, 1, tzinfo=UTC)
RAW = [c.name for c in ORDERS.columns if c.role != "label"]


def orders(rows: int, seed: int, start: datetime = START, days: int = 10) -> pa.Table:
    return generate_orders(rows, seed=seed, start=start, days=days, fraud_rate=0.05)


def logged(table: pa.Table, suffix: str = "") -> pa.Table:
    """The decision log's rows for these orders: an inference id each, decided two seconds after the order."""
    ids = pc.binary_join_element_wise("inf-", table.column("order_id"), suffix, "")
    decided = pc.add(table.column("order_ts"), pa.scalar(timedelta(seconds=2), pa.duration("us")))
    return table.select(RAW).append_column("inference_id", ids).append_column("decided_at", decided)


def ground_truth(inference_ids: list[str], labels: list[int], labeled_at: list[datetime]) -> pa.Table:
    """Ground-truth rows as record_feedback writes them (docs/feedback.md)."""
    count = len(inference_ids)
    return pa.table(
        {
            "inference_id": inference_ids,
            "label": pa.array(labels, pa.int8()),
            "labeled_at": pa.array(labeled_at, pa.timestamp("us", tz="UTC")),
            "source": ["chargeback"] * count,
            "shard_id": ["shardId-000000000000"] * count,
            "sequence_number": [f"{n:020d}" for n in range(count)],
            "approximate_arrival": pa.array(labeled_at, pa.timestamp("us", tz="UTC")),
        },
        schema=GROUND_TRUTH_SCHEMA,
    )


@pytest.fixture(scope="module")
def production() -> dict:
    """1,500 production orders: 1,200 labelled with their truth, 300 never; 50 logged twice (a second inference id,
    unlabelled) and 40 relabelled later with the opposite label (a manual correction)."""
    rng = np.random.default_rng(11)
    table = orders(1_500, seed=5, start=START + timedelta(days=10), days=5)
    order_ids = table.column("order_id").to_pylist()
    truth = dict(zip(order_ids, table.column("is_fraud").to_pylist(), strict=True))
    labelled = set(rng.choice(order_ids, size=1_200, replace=False).tolist())
    twice = rng.choice(sorted(labelled), size=50, replace=False).tolist()
    corrected = set(rng.choice(sorted(labelled), size=40, replace=False).tolist())
    log = pa.concat_tables(
        [logged(table), logged(table.filter(pc.is_in(table.column("order_id"), pa.array(twice))), "-retry")]
    )
    first = datetime(2026, 11, 20, tzinfo=UTC)
    ids = [f"inf-{o}" for o in sorted(labelled)]
    labels = [truth[o] for o in sorted(labelled)]
    stamps = [first] * len(ids)
    ids += [f"inf-{o}" for o in sorted(corrected)]
    labels += [1 - truth[o] for o in sorted(corrected)]
    stamps += [first + timedelta(days=1)] * len(corrected)
    expected = {o: (1 - truth[o] if o in corrected else truth[o]) for o in labelled}
    return {"table": table, "log": log, "labels": ground_truth(ids, labels, stamps), "expected": expected}


def test_labelled_orders_are_one_row_per_order_with_the_latest_label_in_the_contract(production):
    result = labelled_orders(production["log"], production["labels"])

    assert result.schema == contract_schema(ORDERS) == arrow_schema(ORDERS)
    ids = result.column("order_id").to_pylist()
    assert len(ids) == len(set(ids)) == 1_200  # the 50 logged twice count once; the 300 unlabelled are left out
    assert dict(zip(ids, result.column("is_fraud").to_pylist(), strict=True)) == production["expected"]
    # the raw fields are the orders' own
    source = production["table"]
    wanted = source.filter(pc.is_in(source.column("order_id"), pa.array(ids)))
    by_id = {row["order_id"]: row for row in wanted.select(RAW).to_pylist()}
    assert all({k: row[k] for k in RAW} == by_id[row["order_id"]] for row in result.to_pylist())
    stamps = result.column("order_ts").to_pylist()
    assert stamps == sorted(stamps)


def test_a_decision_logged_twice_with_its_label_on_the_retry_still_counts_once():
    table = orders(3, seed=1)
    log = pa.concat_tables([logged(table), logged(table.slice(0, 1), "-retry")])
    order = table.column("order_id")[0].as_py()
    at = datetime(2026, 11, 20, tzinfo=UTC)
    labels = ground_truth([f"inf-{order}-retry", f"inf-{order}"], [1, 0], [at + timedelta(hours=1), at])

    result = labelled_orders(log, labels)

    assert result.to_pydict()["order_id"] == [order] and result.column("is_fraud").to_pylist() == [1]  # the later


def test_the_retraining_dataset_keeps_the_production_row_of_an_order_in_both_and_passes_validation(production):
    accepted = orders(2_000, seed=3, start=START, days=10)
    labelled = labelled_orders(production["log"], production["labels"])
    # an accepted order seen again in production (a late relabel of an order the accepted dataset holds)
    overlap = accepted.slice(0, 5).set_column(
        accepted.schema.get_field_index("is_fraud"), "is_fraud", pa.array([1, 1, 1, 1, 1], pa.int64())
    )
    later = pa.concat_tables([labelled, overlap])

    result = retraining_dataset(accepted, later)

    assert result.schema == contract_schema(ORDERS)
    assert result.num_rows == accepted.num_rows + labelled.num_rows
    ids = result.column("order_id").to_pylist()
    assert len(ids) == len(set(ids))
    fraud = dict(zip(ids, result.column("is_fraud").to_pylist(), strict=True))
    assert all(fraud[o] == 1 for o in overlap.column("order_id").to_pylist())
    stamps = result.column("order_ts").to_pylist()
    assert stamps == sorted(stamps)
    now = max(stamps) + timedelta(hours=1)
    report = validate(result, ORDERS, now=now)
    assert report.passed, [f.code for f in report.failures]


def test_a_table_without_a_contract_column_or_of_another_type_is_refused_by_name(production):
    accepted = orders(50, seed=2)
    labelled = labelled_orders(production["log"], production["labels"])

    with pytest.raises(RetrainingDataError, match="accepted dataset: column 'num_items' is missing"):
        retraining_dataset(accepted.drop_columns(["num_items"]), labelled)
    text_amounts = accepted.set_column(
        accepted.schema.get_field_index("order_amount"),
        "order_amount",
        pa.array(["a lot"] * accepted.num_rows),
    )
    with pytest.raises(RetrainingDataError, match="column 'order_amount' is string") as error:
        retraining_dataset(text_amounts, labelled)
    assert error.value.column == "order_amount" and error.value.table == "accepted dataset"
    with pytest.raises(RetrainingDataError, match="decision log: column 'decided_at'"):
        labelled_orders(production["log"].drop_columns(["decided_at"]), production["labels"])


def test_lineage_counts_the_dropped_orders_and_reads_as_metadata_and_json(production):
    labelled = labelled_orders(production["log"], production["labels"])
    lineage = RetrainingLineage.of(
        request_id="r-7",
        reason="drift",
        episode="2026-11-20T00:00:00Z",
        windows=["2026-11-11T00:00:00Z/2026-11-16T00:00:00Z"],
        source_dataset_uri="s3://raw/datasets/orders/2026-11-10/orders.parquet",
        decision_log=production["log"],
        production=labelled,
    )

    assert distinct_orders(production["log"]) == 1_500
    assert (lineage.production_rows, lineage.unlabelled_dropped, lineage.labelled_share) == (1_200, 300, 0.8)
    metadata = lineage.to_metadata()
    assert metadata["unlabelled-dropped"] == "300" and metadata["labelled-share"] == "0.800000"
    assert all(isinstance(v, str) for v in metadata.values())
    assert len(json.dumps(metadata)) < 2_048  # S3's limit on user metadata
    assert json.loads(lineage.to_json())["windows"] == ["2026-11-11T00:00:00Z/2026-11-16T00:00:00Z"]
    assert retraining_key("orders", "2026-11-20", "r-7") == "datasets/orders/2026-11-20/retrain-r-7.parquet"


def test_the_decision_logs_own_rows_join_back_into_orders():
    """Rows the decision log function wrote (decide_batch over Kinesis records of Decision Made events)."""
    table = orders(4, seed=9)
    records = []
    for number, order in enumerate(table.to_pylist()):
        order["order_ts"] = order["order_ts"].isoformat()
        truth = order.pop("is_fraud")
        detail = {
            "inference_id": f"inf-{number}",
            "order_id": order["order_id"],
            "customer_id": order["customer_id"],
            "decision": "approve" if not truth else "decline",
            "score": 0.5,
            "model_version": 1,
            "endpoint_name": "cd4ml-dev-fraud",
            "order": order,
        }
        event = {"id": f"e-{number}", "source": "cd4ml.decisions", "detail-type": "Decision Made"}
        event.update(time="2026-11-05T00:00:00Z", detail=detail)
        records.append(
            {
                "kinesis": {
                    "partitionKey": order["customer_id"],
                    "sequenceNumber": f"{number:030d}",
                    "data": base64.b64encode(json.dumps(event).encode()).decode(),
                    "approximateArrivalTimestamp": 1793750400.0,
                },
                "eventID": f"shardId-000000000000:{number:030d}",
            }
        )
    log = decide_batch(records).good
    labels = ground_truth(
        [f"inf-{n}" for n in range(4)], table.column("is_fraud").to_pylist(), [datetime(2026, 11, 6, tzinfo=UTC)] * 4
    )

    result = labelled_orders(log, labels)

    assert result.equals(table.sort_by([("order_ts", "ascending"), ("order_id", "ascending")]))
