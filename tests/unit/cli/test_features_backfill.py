"""`cd4ml features backfill`: each customer's online state built from past orders with the shared definition, so
that the first orders decided after go-live get the feature job's vectors (history included); existing states are
kept unless --overwrite, rows that cannot be folded are counted and named, and the CLI finds the table from the
stack or --table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cd4ml_model.features import feature_columns
from cd4ml_shared.online_features import EMPTY, feature_names, features_for, from_item, to_item, updated
from moto import mock_aws

from cd4ml.cli import main
from cd4ml.data import generate_orders
from cd4ml.online_store import customer_states, write_states

REGION = "us-east-1"
TABLE = "cd4ml-dev-CustomerFeaturesTable-EXAMPLE"
START = datetime(2026, 11, 1, tzinfo=UTC)
GO_LIVE = START + timedelta(days=9)
APPROXIMATE = {"customer_amount_30d", "amount_to_customer_mean_30d", "log1p_order_amount"}


@pytest.fixture
def dynamodb(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def state_of(client, customer: str):
    return from_item(client.get_item(TableName=TABLE, Key={"customer_id": {"S": customer}}).get("Item"))


def test_orders_after_a_backfill_get_the_feature_jobs_vectors_history_included(dynamodb):
    orders = generate_orders(3_000, seed=11, start=START, days=10).sort_by("order_ts")
    moments = orders.column("order_ts").to_pylist()
    past = orders.filter(pa.array([m < GO_LIVE for m in moments]))
    live = orders.filter(pa.array([m >= GO_LIVE for m in moments])).to_pylist()

    folded = customer_states(past)
    result = write_states(dynamodb, TABLE, folded.states)
    assert (result.written, result.kept, result.errors) == (len(folded.states), 0, [])

    offline = feature_columns(orders)
    names = feature_names()
    first_live = past.num_rows
    with_history = 0
    for index, order in enumerate(live):  # what decide does per order, from the backfilled states
        state = state_of(dynamodb, order["customer_id"])
        with_history += state.seen > 0
        vector = features_for(order, state)
        dynamodb.put_item(TableName=TABLE, Item=to_item(order["customer_id"], updated(state, order)))
        for name, value in zip(names, vector, strict=True):
            expected = float(offline[name][first_live + index])
            if name in APPROXIMATE:
                np.testing.assert_allclose(value, expected, rtol=1e-9, equal_nan=True, err_msg=name)
            else:
                np.testing.assert_equal(value, expected, err_msg=f"{name} of {order['order_id']}")
    assert with_history > len(live) // 2, "too few live orders of customers with a history: a weak test"


def test_a_customer_with_a_state_is_kept_unless_overwrite(dynamodb):
    orders = generate_orders(200, seed=3, start=START, days=5)
    folded = customer_states(orders)
    customer = next(iter(folded.states))
    live = updated(EMPTY, {"order_ts": START + timedelta(days=20), "order_amount": 1.0})
    dynamodb.put_item(TableName=TABLE, Item=to_item(customer, live))

    kept = write_states(dynamodb, TABLE, folded.states)
    assert (kept.written, kept.kept) == (len(folded.states) - 1, 1)
    assert state_of(dynamodb, customer) == live  # what decisions wrote since stands

    replaced = write_states(dynamodb, TABLE, folded.states, overwrite=True)
    assert replaced.written == len(folded.states) and state_of(dynamodb, customer) == folded.states[customer]


def test_rows_that_cannot_be_folded_are_counted_and_named_and_the_rest_folded():
    rows = [
        {"customer_id": "c-1", "order_ts": START, "order_amount": 10.0},
        {"customer_id": None, "order_ts": START + timedelta(seconds=1), "order_amount": 5.0},
        {"customer_id": "c-1", "order_ts": START + timedelta(seconds=2), "order_amount": None},
        {"customer_id": "c-1", "order_ts": START + timedelta(seconds=3), "order_amount": 20.0},
    ]
    folded = customer_states(pa.Table.from_pylist(rows))
    assert (folded.orders, folded.skipped_rows) == (2, 2)
    assert folded.states["c-1"].amounts == (10.0, 20.0)
    assert "customer_id" in folded.problems[0] and "order_amount" in folded.problems[1]
    with pytest.raises(ValueError, match=r"no column\(s\) \['order_amount'\]"):
        customer_states(pa.table({"customer_id": ["c"], "order_ts": [START]}))


def test_the_cli_backfills_a_parquet_file_into_the_table_it_is_given(dynamodb, tmp_path: Path, capsys):
    orders = generate_orders(300, seed=5, start=START, days=5)
    pq.write_table(orders, tmp_path / "orders.parquet")

    code = main(["features", "backfill", str(tmp_path / "orders.parquet"), "--table", TABLE, "--region", REGION])

    out = capsys.readouterr().out
    customers = len(set(orders.column("customer_id").to_pylist()))
    assert code == 0, out
    assert f"300 orders of {customers:,} customers folded" in out and f"{customers:,} customers written" in out
    assert dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"] == customers
    assert main(["features", "backfill", str(tmp_path / "missing.csv"), "--table", TABLE]) == 2


def test_what_dynamodb_leaves_unprocessed_is_sent_again_and_named_if_it_stays():
    states = {f"c-{n}": updated(EMPTY, {"order_ts": START, "order_amount": 1.0}) for n in range(30)}

    class Throttling:
        """Leaves the first item of every write unprocessed `times` times."""

        def __init__(self, times: int) -> None:
            self.times, self.writes = times, 0

        def batch_write_item(self, RequestItems):
            self.writes += 1
            (requests,) = RequestItems.values()
            if self.times:
                self.times -= 1
                return {"UnprocessedItems": {TABLE: requests[:1]}}
            return {"UnprocessedItems": {}}

    once = Throttling(times=1)
    result = write_states(once, TABLE, states, overwrite=True, threads=1, sleep=lambda _s: None)
    assert (result.written, result.errors) == (30, []) and once.writes == 3  # 25 + 5, one sent again

    stuck = Throttling(times=100)
    result = write_states(stuck, TABLE, states, overwrite=True, threads=1, sleep=lambda _s: None)
    assert result.written == 28 and len(result.errors) == 2 and "still unprocessed" in result.errors[0]
