"""The feature job in scoring mode: orders without a label in, the features of every order out (unsplit, in input
row order) as the headerless CSV a batch transform sends the model, and the orders' keys in the same order; the
values are exactly what the training path computes for the same orders."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow.parquet as pq
from cd4ml_model import features as job
from cd4ml_model.files import read_json
from cd4ml_shared.contract import ORDERS

from cd4ml.data import generate_orders, write_dataset

START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=5)


def test_scoring_mode_writes_every_orders_features_and_keys_without_a_label(tmp_path):
    orders = generate_orders(600, seed=11, start=START, days=5)
    (tmp_path / "in").mkdir()
    write_dataset(orders.drop_columns([ORDERS.label.name]), tmp_path / "in" / "orders.csv")

    assert job.main(["--mode", "scoring", "--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path)]) == 0

    lines = (tmp_path / "features" / "features.csv").read_text().splitlines()
    got = np.array([[float(c) if c else np.nan for c in line.split(",")] for line in lines], dtype=np.float32)
    expected = np.column_stack(list(job.feature_columns(orders).values())).astype(np.float32)
    assert got.shape == expected.shape == (600, len(job.feature_names()))
    np.testing.assert_array_equal(got, expected)  # bit for bit, NaN where unknown
    ids = pq.read_table(tmp_path / "meta" / "order_ids.parquet")
    assert ids.column("order_id").to_pylist() == orders.column("order_id").to_pylist()
    meta = read_json(tmp_path / "meta" / "features.json")
    assert meta == {"features": job.feature_names(), "key": "order_id", "rows": 600}


def test_the_training_mode_still_needs_the_label(tmp_path):
    orders = generate_orders(600, seed=11, start=START, days=5)
    (tmp_path / "in").mkdir()
    write_dataset(orders.drop_columns([ORDERS.label.name]), tmp_path / "in" / "orders.csv")

    assert job.main(["--input-dir", str(tmp_path / "in"), "--output-dir", str(tmp_path)]) != 0
    assert not (tmp_path / "features").exists()
