"""A corpus of bad uploads, built in code: every one is quarantined with its specific reason, every control passes,
and no exception escapes `assess` for any bytes (a light fuzz of byte flips and truncations included).

Each case is one class of bad file a user or a broken producer really uploads: the encoding, the container, the
name, the rows, the values, the times and the label. The expected code is the one a person acts on.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.data_quality import profile
from cd4ml_shared.drift import Profile
from cd4ml_shared.ingest import Assessment, assess
from cd4ml_shared.run_input import DatasetRef

from cd4ml.data.orders import Fault, generate_orders, recent_start

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
ROWS = 2_000
DAYS = 5
FOLDER = "datasets/orders/2026-11-25/"


def orders(*faults: Fault, rows: int = ROWS, fraud_rate: float = 0.01, seed: int = 3) -> pa.Table:
    start = recent_start(DAYS, today=NOW.date())
    return generate_orders(rows, seed=seed, start=start, days=DAYS, faults=faults, fraud_rate=fraud_rate)


CLEAN = orders()


def csv_of(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    text = table
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            text = text.set_column(index, field.name, pc.strftime(table.column(index), format="%Y-%m-%dT%H:%M:%SZ"))
    pa_csv.write_csv(text, sink)
    return sink.getvalue()


def parquet_of(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


CSV = csv_of(CLEAN)
PARQUET = parquet_of(CLEAN)
LINES = CSV.split(b"\n")
HEADER = LINES[0]


def column(name: str, values: object, table: pa.Table = CLEAN) -> pa.Table:
    array = values if isinstance(values, pa.Array) else pa.array(values, table.schema.field(name).type)
    return table.set_column(table.column_names.index(name), name, array)


def numbers(name: str, changes: dict[int, float], table: pa.Table = CLEAN) -> pa.Table:
    values = table.column(name).to_numpy().astype(np.float64)
    for row, value in changes.items():
        values[row] = value
    return column(name, pa.array(values, pa.float64()), table)


def cell(row: int, name: str, text: bytes) -> bytes:
    """The CSV with one cell's text replaced (row 0 is the first data row)."""
    lines = list(LINES)
    fields = lines[row + 1].split(b",")
    fields[CLEAN.column_names.index(name)] = text
    lines[row + 1] = b",".join(fields)
    return b"\n".join(lines)


def rows_replaced(changes: dict[int, bytes]) -> bytes:
    lines = list(LINES)
    for row, text in changes.items():
        lines[row + 1] = text
    return b"\n".join(lines)


def timestamps(changes: dict[int, datetime]) -> pa.Table:
    values = CLEAN.column("order_ts").to_pylist()
    for row, moment in changes.items():
        values[row] = moment
    return column("order_ts", pa.array(values, pa.timestamp("us", tz="UTC")))


def xlsx() -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return sink.getvalue()


@dataclass(frozen=True)
class Case:
    name: str
    file: str  # the file name under FOLDER (its suffix chooses how it is read)
    body: Callable[[], bytes]
    code: str  # the finding code that must be among the reasons
    reference: Profile | None = None
    folder: str = FOLDER


REFERENCE = profile(CLEAN, ORDERS)
RNG = np.random.default_rng(5)
BAD: list[Case] = [
    # ---- not a table at all: dataset.unreadable, with a reason people can act on ------------------------------
    Case("empty CSV", "orders.csv", lambda: b"", "dataset.unreadable"),
    Case("empty Parquet", "orders.parquet", lambda: b"", "dataset.unreadable"),
    Case("only blank lines", "orders.csv", lambda: b"\n\n\n", "dataset.unreadable"),
    Case(
        "Latin-1 header",
        "orders.csv",
        lambda: CSV.replace(b"order_id", "ordér_id".encode("latin-1"), 1),
        "dataset.unreadable",
    ),
    Case("Latin-1 text value", "orders.csv", lambda: cell(7, "country", "Ä".encode("latin-1")), "dataset.unreadable"),
    Case(
        "Windows-1252 quote in a value",
        "orders.csv",
        lambda: cell(3, "device_type", b"\x93mobile\x94"),
        "dataset.unreadable",
    ),
    Case(
        "invalid UTF-8 in a number column", "orders.csv", lambda: cell(5, "num_items", b"1\xff"), "dataset.unreadable"
    ),
    Case(
        "invalid UTF-8 in a column outside the contract",
        "orders.csv",
        lambda: b"\n".join([LINES[0] + b",note"] + [line + b",\xfe\xfe" for line in LINES[1:] if line]),
        "dataset.unreadable",
    ),
    Case("UTF-16 LE with BOM", "orders.csv", lambda: CSV.decode().encode("utf-16"), "dataset.unreadable"),
    Case(
        "UTF-16 BE with BOM", "orders.csv", lambda: b"\xfe\xff" + CSV.decode().encode("utf-16-be"), "dataset.unreadable"
    ),
    Case("UTF-16 LE without BOM", "orders.csv", lambda: CSV.decode().encode("utf-16-le"), "dataset.unreadable"),
    Case("UTF-32 with BOM", "orders.csv", lambda: CSV.decode().encode("utf-32"), "dataset.unreadable"),
    Case("NUL byte in a row", "orders.csv", lambda: cell(9, "currency", b"US\x00D"), "dataset.unreadable"),
    Case("truncated Parquet", "orders.parquet", lambda: PARQUET[: len(PARQUET) // 2], "dataset.unreadable"),
    Case("Parquet without its footer", "orders.parquet", lambda: PARQUET[:-8], "dataset.unreadable"),
    Case(
        "Parquet with a broken footer length",
        "orders.parquet",
        lambda: PARQUET[:-8] + b"\xff\xff\xff\x7f" + PARQUET[-4:],
        "dataset.unreadable",
    ),
    Case("CSV named .parquet", "orders.parquet", lambda: CSV, "dataset.unreadable"),
    Case("Parquet named .csv", "orders.csv", lambda: PARQUET, "dataset.unreadable"),
    Case("gzip named .csv", "orders.csv", lambda: gzip.compress(CSV), "dataset.unreadable"),
    Case("plain text named .csv.gz", "orders.csv.gz", lambda: CSV, "dataset.unreadable"),
    Case("truncated gzip", "orders.csv.gz", lambda: gzip.compress(CSV)[:300], "dataset.unreadable"),
    Case("gzip of a Parquet file", "orders.csv.gz", lambda: gzip.compress(PARQUET), "dataset.unreadable"),
    Case("random bytes named .csv", "orders.csv", lambda: RNG.bytes(5000), "dataset.unreadable"),
    Case("random bytes named .parquet", "orders.parquet", lambda: RNG.bytes(5000), "dataset.unreadable"),
    Case("a spreadsheet named .csv", "orders.csv", xlsx, "dataset.unreadable"),
    # ---- not a dataset file: dataset.unsupported_format ------------------------------------------------------
    Case("JSON", "orders.json", lambda: b'{"orders": []}', "dataset.unsupported_format"),
    Case("spreadsheet", "orders.xlsx", xlsx, "dataset.unsupported_format"),
    Case("text", "orders.txt", lambda: CSV, "dataset.unsupported_format"),
    Case("no suffix", "orders", lambda: CSV, "dataset.unsupported_format"),
    Case("tab-separated", "orders.tsv", lambda: CSV.replace(b",", b"\t"), "dataset.unsupported_format"),
    Case("zipped CSV", "orders.csv.zip", lambda: gzip.compress(CSV), "dataset.unsupported_format"),
    Case("gzipped Parquet", "orders.parquet.gz", lambda: gzip.compress(PARQUET), "dataset.unsupported_format"),
    Case(
        "a dataset without a contract",
        "refunds.csv",
        lambda: CSV,
        "dataset.unknown",
        folder="datasets/refunds/2026-11-25/",
    ),
    # ---- rows and schema ---------------------------------------------------------------------------------------
    Case(
        "a row with a field too many", "orders.csv", lambda: rows_replaced({4: LINES[5] + b",extra"}), "rows.malformed"
    ),
    # valid CSV (a quoted value may hold a line break), but not a payment method
    Case(
        "a quoted value spanning lines",
        "orders.csv",
        lambda: rows_replaced({6: LINES[7].replace(b'"card"', b'"ca\nrd"', 1)}),
        "values.unknown_category",
    ),
    Case(
        "a line break splitting a row",
        "orders.csv",
        lambda: rows_replaced({6: LINES[7].replace(b'"card"', b'"card"\n', 1)}),
        "rows.malformed",
    ),
    Case(
        "an unterminated quote",
        "orders.csv",
        lambda: rows_replaced({8: LINES[9].replace(b'"mobile"', b'"mobile')}),
        "rows.malformed",
    ),
    Case(
        "duplicate column names",
        "orders.csv",
        lambda: CSV.replace(b'"currency"', b'"country"', 1),
        "schema.duplicate_column",
    ),
    Case(
        "duplicate column names in Parquet",
        "orders.parquet",
        lambda: parquet_of(pa.Table.from_arrays([*CLEAN.columns, CLEAN.column(0)], [*CLEAN.column_names, "order_id"])),
        "dataset.unreadable",
    ),
    Case(
        "a column missing",
        "orders.parquet",
        lambda: parquet_of(CLEAN.drop_columns(["num_items"])),
        "schema.missing_column",
    ),
    Case(
        "an HTML error page",
        "orders.csv",
        lambda: b"<html><body>502 Bad Gateway</body></html>\n",
        "schema.missing_column",
    ),
    Case("amounts with a currency sign", "orders.csv", lambda: cell(2, "order_amount", b"$12.50"), "schema.wrong_type"),
    Case("timestamps in words", "orders.csv", lambda: cell(2, "order_ts", b"yesterday"), "schema.wrong_type"),
    Case("header only", "orders.csv", lambda: HEADER + b"\n", "rows.too_few"),
    Case("ten rows", "orders.parquet", lambda: parquet_of(CLEAN.slice(0, 10)), "rows.too_few"),
    Case(
        "repeated order ids", "orders.parquet", lambda: parquet_of(orders(Fault.DUPLICATE_ROWS)), "rows.duplicate_key"
    ),
    # ---- values ------------------------------------------------------------------------------------------------
    Case("inf in a CSV amount", "orders.csv", lambda: cell(1, "order_amount", b"inf"), "values.not_finite"),
    Case(
        "-Infinity in a CSV distance",
        "orders.csv",
        lambda: cell(1, "shipping_distance_km", b"-Infinity"),
        "values.not_finite",
    ),
    Case(
        "NaN value in a nullable Parquet column",
        "orders.parquet",
        lambda: parquet_of(numbers("shipping_distance_km", {0: np.nan, 1: np.nan})),
        "values.not_finite",
    ),
    Case(
        "inf in an int column",
        "orders.parquet",
        lambda: parquet_of(numbers("account_tenure_days", {0: np.inf})),
        "values.not_finite",
    ),
    Case(
        "amounts near the float maximum",
        "orders.parquet",
        lambda: parquet_of(numbers("order_amount", {i: 1.7e308 for i in range(0, ROWS, 2)})),
        "values.out_of_range",
    ),
    Case(
        "an integer beyond int64",
        "orders.csv",
        lambda: cell(4, "account_tenure_days", b"99999999999999999999999"),
        "values.out_of_range",
    ),
    Case("an integer of 400 digits", "orders.csv", lambda: cell(4, "num_items", b"9" * 400), "values.not_finite"),
    Case("a label of 2", "orders.parquet", lambda: parquet_of(numbers("is_fraud", {3: 2.0})), "values.out_of_range"),
    Case("missing values", "orders.parquet", lambda: parquet_of(orders(Fault.MISSING_VALUES)), "values.null"),
    Case("an unknown currency", "orders.csv", lambda: cell(0, "currency", b'"XXX"'), "values.unknown_category"),
    # ---- time --------------------------------------------------------------------------------------------------
    Case(
        "orders at the epoch",
        "orders.parquet",
        lambda: parquet_of(timestamps({0: datetime(1970, 1, 1, tzinfo=UTC)})),
        "time.too_old",
    ),
    Case("orders in 1900", "orders.csv", lambda: cell(0, "order_ts", b"1900-01-01T00:00:00Z"), "time.too_old"),
    Case(
        "orders in 2100",
        "orders.parquet",
        lambda: parquet_of(timestamps({5: datetime(2100, 1, 1, tzinfo=UTC)})),
        "time.future_timestamps",
    ),
    Case(
        "milliseconds beyond the microsecond range",
        "orders.parquet",
        lambda: parquet_of(column("order_ts", pa.array([2**62] * ROWS, pa.timestamp("ms")))),
        "time.future_timestamps",
    ),
    Case(
        "a month-old dataset",
        "orders.parquet",
        lambda: parquet_of(generate_orders(ROWS, seed=3, start=NOW - timedelta(days=40), days=5)),
        "time.stale_data",
    ),
    # ---- the label and the reference -------------------------------------------------------------------------
    Case(
        "a tenfold fraud rate against the reference",
        "orders.parquet",
        lambda: parquet_of(orders(fraud_rate=0.1, seed=4)),
        "label.rate_shift",
        reference=REFERENCE,
    ),
    Case(
        "half the orders fraud on a first upload",
        "orders.parquet",
        lambda: parquet_of(orders(fraud_rate=0.5, seed=4)),
        "label.rate_out_of_bounds",
    ),
    Case(
        "no fraud at all",
        "orders.parquet",
        lambda: parquet_of(column("is_fraud", [0] * ROWS)),
        "label.rate_out_of_bounds",
    ),
    Case(
        "label leakage",
        "orders.parquet",
        lambda: parquet_of(orders(Fault.LABEL_LEAKAGE, fraud_rate=0.05)),
        "label.leakage",
    ),
    Case("a stale column", "orders.parquet", lambda: parquet_of(orders(Fault.STALE_COLUMN)), "column.stale"),
    Case(
        "distribution drift",
        "orders.parquet",
        lambda: parquet_of(orders(Fault.DISTRIBUTION_DRIFT, seed=8)),
        "drift.psi",
        reference=REFERENCE,
    ),
]

CONTROLS: list[Case] = [
    Case("clean CSV", "orders.csv", lambda: CSV, ""),
    Case("clean Parquet", "orders.parquet", lambda: PARQUET, ""),
    Case("CSV with a UTF-8 byte-order mark", "orders.csv", lambda: b"\xef\xbb\xbf" + CSV, ""),
    Case("CSV with CRLF line ends", "orders.csv", lambda: CSV.replace(b"\n", b"\r\n"), ""),
    Case("upper-case .CSV", "orders.CSV", lambda: CSV, ""),
    Case("mixed-case .Parquet", "orders.Parquet", lambda: PARQUET, ""),
    Case("gzipped CSV", "orders.csv.gz", lambda: gzip.compress(CSV), ""),
    Case("upper-case .CSV.GZ", "ORDERS.CSV.GZ", lambda: gzip.compress(CSV), ""),
    Case("columns in another order", "orders.parquet", lambda: parquet_of(CLEAN.select(CLEAN.column_names[::-1])), ""),
    Case(
        "a second window against the reference",
        "orders.parquet",
        lambda: parquet_of(orders(seed=9)),
        "",
        reference=REFERENCE,
    ),
    Case(
        "a small file at twice the reference's rate (noise)",
        "orders.parquet",
        lambda: parquet_of(orders(rows=1_000, fraud_rate=0.02, seed=12)),
        "",
        reference=REFERENCE,
    ),
    Case(
        "non-ASCII UTF-8 in a column outside the contract",
        "orders.csv",
        lambda: b"\n".join([LINES[0] + b",note"] + [line + ",Zürich ✓".encode() for line in LINES[1:] if line]),
        "",
    ),
]


def assessed(case: Case) -> Assessment:
    dataset = DatasetRef(bucket="raw", key=case.folder + case.file, version_id="v1")
    return assess(case.body(), dataset, reference=case.reference, run_id="run-1", now=NOW)


def test_the_corpus_is_wide_enough() -> None:
    assert len({case.name for case in BAD}) == len(BAD) >= 40
    assert len({case.name for case in CONTROLS}) == len(CONTROLS) >= 10
    print(f"bad data corpus: {len(BAD)} bad files, {len(CONTROLS)} controls")


# pyarrow decodes a malformed row before its handler sees it; the read then fails and is mapped, but the decode
# error it swallowed is reported as "unraisable"
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("case", BAD, ids=[case.name for case in BAD])
def test_each_bad_file_is_quarantined_with_its_specific_reason(case: Case) -> None:
    assessment = assessed(case)

    reasons = assessment.reason.split(",")
    assert not assessment.passed and case.code in reasons, (assessment.reason, assessment.summary)
    if case.code.startswith("dataset."):
        assert reasons == [case.code]  # nothing else can be said of bytes that are no table
    assessment.report_json()  # a document that JSON holds, whatever the values
    # The reason names the object by its URI and never quotes the file's bytes.
    assert "<bytes>" not in assessment.summary
    assert all(c.isprintable() for c in assessment.summary), assessment.summary
    if case.code in ("dataset.unreadable", "dataset.unsupported_format"):
        assert f"s3://raw/{case.folder}{case.file}" in assessment.summary


@pytest.mark.parametrize("case", CONTROLS, ids=[case.name for case in CONTROLS])
def test_each_control_passes(case: Case) -> None:
    assessment = assessed(case)

    assert assessment.passed, assessment.summary
    assert assessment.rows == len(case.body().split(b"\n")) - 2 or assessment.rows in (ROWS, 1_000)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(("name", "body"), [("orders.csv", CSV), ("orders.parquet", PARQUET)])
def test_flipped_and_truncated_bytes_are_quarantined_or_pass_but_never_raise(name: str, body: bytes) -> None:
    rng = np.random.default_rng(2026)
    dataset = DatasetRef(bucket="raw", key=FOLDER + name, version_id="v1")
    outcomes: dict[str, int] = {}
    for trial in range(40):
        data = bytearray(body)
        if trial % 3 == 0:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for position in rng.integers(0, len(data), size=int(rng.integers(1, 6))):
                data[position] = int(rng.integers(0, 256))
        assessment = assess(bytes(data), dataset, reference=REFERENCE, run_id="run-1", now=NOW)
        assessment.report_json()
        assert assessment.passed or assessment.reason, assessment.summary
        outcomes[assessment.reason or "passed"] = outcomes.get(assessment.reason or "passed", 0) + 1
    print(f"fuzzed {name}: {outcomes}")
