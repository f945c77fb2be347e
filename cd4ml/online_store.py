"""Backfill of the online features (`cd4ml features backfill`): the customers' states in CustomerFeaturesTable built
from a dataset of past orders, so that the first decisions after go-live see each customer's history as the model
saw it in training, instead of every customer looking new.

Each customer's orders are folded in time order with `cd4ml_shared.online_features.updated`, the definition that
`decide` and the feature job share, and written in batches: a customer who already has a state (orders decided
online since) is left as it is unless `overwrite`; the decisions API keeps that state current from then on. Rows
that cannot be folded (no customer, no timestamp, no valid amount) are skipped, counted and named.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import ClientError
from cd4ml_shared.online_features import (
    AMOUNT,
    CUSTOMER,
    EMPTY,
    TIMESTAMP,
    CustomerState,
    OrderFieldError,
    to_item,
    updated,
)

SHOWN_PROBLEMS = 5  # the first rows that could not be folded, named in the summary


@dataclass(frozen=True)
class FoldedStates:
    """Each customer's state after all of its orders in the data, and the rows that could not be folded."""

    states: dict[str, CustomerState]
    orders: int
    skipped_rows: int = 0
    problems: tuple[str, ...] = ()


def customer_states(orders: pa.Table) -> FoldedStates:
    """Fold the orders into per-customer states, in time order (the same order within a second as the table, as
    the feature job does), with the shared definition."""
    missing = [name for name in (CUSTOMER, TIMESTAMP, AMOUNT) if name not in orders.column_names]
    if missing:
        needed = f"{CUSTOMER}, {TIMESTAMP} and {AMOUNT}"
        raise ValueError(f"the orders have no column(s) {missing}: the online features need {needed}")
    table = orders.select([CUSTOMER, TIMESTAMP, AMOUNT])
    table = table.take(pc.sort_indices(table, sort_keys=[(TIMESTAMP, "ascending")]))
    states: dict[str, CustomerState] = {}
    skipped, problems = 0, list[str]()
    for row, (customer, moment, amount) in enumerate(
        zip(*(table.column(name).to_pylist() for name in (CUSTOMER, TIMESTAMP, AMOUNT)), strict=True)
    ):
        try:
            if not isinstance(customer, str) or not customer:
                raise OrderFieldError(CUSTOMER, f"expected a customer id, got {customer!r}")
            states[customer] = updated(states.get(customer, EMPTY), {TIMESTAMP: moment, AMOUNT: amount})
        except OrderFieldError as error:
            skipped += 1
            if len(problems) < SHOWN_PROBLEMS:
                problems.append(f"row {row} in time order: {error}")
    return FoldedStates(states, table.num_rows - skipped, skipped, tuple(problems))


@dataclass
class BackfillResult:
    written: int = 0
    kept: int = 0  # customers who already had a state (not overwritten)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


READ_BATCH = 100  # BatchGetItem's limit
WRITE_BATCH = 25  # BatchWriteItem's limit
ATTEMPTS = 6  # of a batch's unprocessed part (throttling), waiting 0.05 s doubling between


def write_states(
    dynamodb: Any,
    table: str,
    states: Mapping[str, CustomerState],
    *,
    overwrite: bool = False,
    threads: int = 4,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
    sleep: Callable[[float], None] = time.sleep,
) -> BackfillResult:
    """The states written in batches: per 100 customers a BatchGetItem of their keys (unless `overwrite`) to keep
    those who have a state, then BatchWriteItem of the others, 25 at a time, `threads` batches at once; what
    DynamoDB leaves unprocessed is sent again with backoff, and what is still unprocessed after that is named in
    `errors` (the rest is written). A state written by a decision between the read and the write of its batch
    is replaced: run the backfill before the API takes traffic. `progress(done, total)` after each batch."""
    result = BackfillResult()
    lock = threading.Lock()
    started = time.perf_counter()
    customers = list(states)
    total = len(customers)

    def existing(batch: list[str]) -> set[str]:
        pending: dict[str, Any] = {
            table: {
                "Keys": [{CUSTOMER: {"S": c}} for c in batch],
                "ProjectionExpression": "#key",
                "ExpressionAttributeNames": {"#key": CUSTOMER},
                "ConsistentRead": True,
            }
        }
        found: set[str] = set()
        for attempt in range(ATTEMPTS):
            answer = dynamodb.batch_get_item(RequestItems=pending)
            found.update(item[CUSTOMER]["S"] for item in answer.get("Responses", {}).get(table, []))
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return found
            sleep(0.05 * 2**attempt)
        raise RuntimeError(f"DynamoDB left {len(pending[table]['Keys'])} keys of a batch unread {ATTEMPTS} times")

    def put(batch: list[str]) -> tuple[int, list[str]]:
        pending = [{"PutRequest": {"Item": to_item(c, states[c])}} for c in batch]
        for attempt in range(ATTEMPTS):
            answer = dynamodb.batch_write_item(RequestItems={table: pending})
            pending = (answer.get("UnprocessedItems") or {}).get(table, [])
            if not pending:
                return len(batch), []
            sleep(0.05 * 2**attempt)
        left = [r["PutRequest"]["Item"][CUSTOMER]["S"] for r in pending]
        return len(batch) - len(left), [f"{c}: still unprocessed after {ATTEMPTS} attempts" for c in left]

    def backfill(batch: list[str]) -> None:
        try:
            present = set() if overwrite else existing(batch)
            fresh = [c for c in batch if c not in present]
            written, errors = 0, list[str]()
            for start in range(0, len(fresh), WRITE_BATCH):
                count, failed = put(fresh[start : start + WRITE_BATCH])
                written, errors = written + count, errors + failed
        except (ClientError, RuntimeError) as error:
            with lock:
                result.errors.append(f"customers {batch[0]}..{batch[-1]}: {error}")
            return
        with lock:
            result.written += written
            result.kept += len(present)
            result.errors.extend(errors)
            done = result.written + result.kept + len(result.errors)
        progress(done, total)

    batches = [customers[i : i + READ_BATCH] for i in range(0, total, READ_BATCH)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="backfill") as pool:
        list(pool.map(backfill, batches))
    result.seconds = time.perf_counter() - started
    return result
