"""Datasets for the fraud workload: a deterministic generator of card-payment orders, its fault switches, writers."""

from .orders import (
    ARROW_TYPES,
    DATASET_SUFFIXES,
    Fault,
    GeneratorContractError,
    UnsupportedDatasetFormat,
    arrow_schema,
    dataset_format,
    generate_orders,
    write_dataset,
)

__all__ = [
    "ARROW_TYPES",
    "DATASET_SUFFIXES",
    "Fault",
    "GeneratorContractError",
    "UnsupportedDatasetFormat",
    "arrow_schema",
    "dataset_format",
    "generate_orders",
    "write_dataset",
]
