"""State that survives a restart (opt-in `LocalCloud(state_dir=...)`): the stack's S3 objects, DynamoDB items and the
SageMaker model registry, saved when the local cloud stops and put back when the same stack is deployed again.

The state directory holds snapshots and a CURRENT file naming the complete one:

    <state_dir>/CURRENT                      the name of the snapshot to restore (replaced atomically)
    <state_dir>/snapshot-<stamp>/state.json  {"format": FORMAT, "version": VERSION, "stack": ..., "s3": ...,
                                             "dynamodb": ..., "registry": ...}
    <state_dir>/snapshot-<stamp>/objects/<sha256>   object bodies, stored once per content

A snapshot is written beside the current one and only then named in CURRENT, so a crash mid-save leaves the last
complete snapshot in force, never a half one. Restoring writes into moto's backends directly: S3 sends no
`Object Created` notification (a restored dataset must not start a pipeline run), objects keep their version ids
and model packages their ARNs and version numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import LocalCloudError

log = logging.getLogger(__name__)

FORMAT = "cd4ml-localcloud-state"
VERSION = 1
CURRENT = "CURRENT"
STATE_FILE = "state.json"
BUCKET_TYPE = "AWS::S3::Bucket"
TABLE_TYPE = "AWS::DynamoDB::Table"

# DescribeModelPackage's fields, as the snapshot keeps them, and the attribute of moto's ModelPackage behind each
PACKAGE_FIELDS = {
    "ModelPackageName": "model_package_name",
    "ModelPackageGroupName": "model_package_group_name",
    "ModelPackageVersion": "model_package_version",
    "ModelPackageArn": "arn",
    "ModelPackageDescription": "model_package_description",
    "ModelPackageType": "model_package_type",
    "InferenceSpecification": "inference_specification",
    "SourceAlgorithmSpecification": "source_algorithm_specification",
    "ValidationSpecification": "validation_specification",
    "CertifyForMarketplace": "certify_for_marketplace",
    "ModelApprovalStatus": "model_approval_status",
    "ApprovalDescription": "approval_description",
    "MetadataProperties": "metadata_properties",
    "ModelMetrics": "model_metrics",
    "CustomerMetadataProperties": "customer_metadata_properties",
    "DriftCheckBaselines": "drift_check_baselines",
    "Domain": "domain",
    "Task": "task",
    "SamplePayloadUrl": "sample_payload_url",
    "AdditionalInferenceSpecifications": "additional_inference_specifications",
    "ClientToken": "client_token",
    "Tags": "tags",
    "CreationTime": "creation_time",
    "LastModifiedTime": "last_modified_time",
    "LastModifiedBy": "last_modified_by",
}
GROUP_FIELDS = {
    "ModelPackageGroupName": "model_package_group_name",
    "ModelPackageGroupDescription": "model_package_group_description",
    "Tags": "tags",
    "CreationTime": "creation_time",
}
CHECKSUM_FIELDS = {  # an object's checksum as uploaded (a multipart one is composite: "-<parts>")
    "Algorithm": "checksum_algorithm",
    "Value": "checksum_value",
    "Type": "checksum_type",
    "Parts": "checksum_parts",
}
TIMES = ("CreationTime", "LastModifiedTime", "LastModified")


class StateError(LocalCloudError):
    """A state directory that cannot be restored here: another stack's, another format version, or damaged."""


@dataclass(frozen=True)
class Backends:
    """Where the state lives: moto's backends (S3, SageMaker) and a DynamoDB client bound to the local cloud."""

    s3: Any
    sagemaker: Any
    dynamodb: Any

    @classmethod
    def of(cls, account_id: str, region: str, dynamodb: Any) -> Backends:
        from moto.s3.models import s3_backends
        from moto.sagemaker.models import sagemaker_backends

        return cls(s3_backends[account_id]["aws"], sagemaker_backends[account_id][region], dynamodb)


class StateDir:
    """One stack's state kept in a directory across restarts of the local cloud."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()

    # ---- reading -----------------------------------------------------------------------------------------------
    def load(self, stack_name: str, region: str) -> Snapshot | None:
        """The saved snapshot for `stack_name` in `region`, checked before anything is deployed; None when nothing
        was saved yet."""
        current = self.path / CURRENT
        if not current.is_file():
            leftovers = [p.name for p in self.path.glob("*")] if self.path.is_dir() else []
            if leftovers:
                log.warning("state dir %s has no %s (an interrupted first save?): starting empty", self.path, CURRENT)
            return None
        directory = self.path / current.read_text(encoding="utf-8").strip()
        try:
            document = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"state dir {self.path}: snapshot {directory.name} cannot be read: {exc}") from exc
        check_document(document, stack_name, region, str(self.path))
        return Snapshot(document, directory)

    # ---- writing -----------------------------------------------------------------------------------------------
    def save(self, stack: Any, backends: Backends, account_id: str, region: str) -> Path:
        """Write a complete snapshot of `stack` beside the current one, then make it current; return its folder."""
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        incoming = self.path / f".incoming-{uuid.uuid4().hex[:8]}"
        objects = incoming / "objects"
        objects.mkdir(parents=True)
        try:
            document = {
                "format": FORMAT,
                "version": VERSION,
                "stack": stack.name,
                "account": account_id,
                "region": region,
                "saved_at": datetime.now(UTC).isoformat(),
                "s3": {
                    bucket: save_bucket(backends.s3, bucket, objects)
                    for bucket in physical_ids(stack, BUCKET_TYPE)
                    if bucket in backends.s3.buckets
                },
                "dynamodb": {table: scan_table(backends.dynamodb, table) for table in physical_ids(stack, TABLE_TYPE)},
                "registry": save_registry(backends.sagemaker),
            }
            _write_durably(incoming / STATE_FILE, json.dumps(document, indent=1, sort_keys=True).encode("utf-8"))
            snapshot = self.path / f"snapshot-{stamp}-{uuid.uuid4().hex[:4]}"
            os.replace(incoming, snapshot)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        _write_durably(self.path / f".{CURRENT}.tmp", snapshot.name.encode("utf-8"))
        os.replace(self.path / f".{CURRENT}.tmp", self.path / CURRENT)
        for old in self.path.iterdir():  # only once the new one is current
            if old.is_dir() and old != snapshot and old.name.startswith(("snapshot-", ".incoming-")):
                shutil.rmtree(old, ignore_errors=True)
        return snapshot


def check_document(document: Any, stack_name: str, region: str, where: str) -> None:
    """Refuse a snapshot this local cloud cannot restore whole: never a silent partial restore."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateError(f"state dir {where} does not hold local-cloud state (format {FORMAT!r} expected)")
    if document.get("version") != VERSION:
        raise StateError(
            f"state dir {where} holds state format version {document.get('version')!r}; this local cloud reads "
            f"version {VERSION} (start with an empty state dir, or use the version that wrote it)"
        )
    if document.get("stack") != stack_name:
        raise StateError(
            f"state dir {where} holds the state of stack {document.get('stack')!r}, not {stack_name!r}: "
            "use another state dir for this stack"
        )
    if document.get("region") != region:  # ARNs name the region: the packages could not come back as they were
        raise StateError(f"state dir {where} was saved in region {document.get('region')!r}, not {region!r}")


@dataclass(frozen=True)
class Snapshot:
    """A checked snapshot, restored into a freshly deployed stack of the same name."""

    document: dict[str, Any]
    directory: Path

    def restore(self, stack: Any, backends: Backends) -> dict[str, int]:
        """Put the saved state back; counts of what was restored, by kind."""
        document = self.document
        buckets, tables = set(physical_ids(stack, BUCKET_TYPE)), set(physical_ids(stack, TABLE_TYPE))
        missing = sorted((set(document["s3"]) - buckets) | (set(document["dynamodb"]) - tables))
        if missing:
            raise StateError(
                f"stack {stack.name} no longer has {', '.join(missing)}, which the state in {self.directory.parent} "
                "holds: restore with the template that saved it, or start with an empty state dir"
            )
        lost = sorted(
            f"s3://{bucket}/{saved['Key']}"
            for bucket, versions in document["s3"].items()
            for saved in versions
            if "Body" in saved and not (self.directory / "objects" / saved["Body"]).is_file()
        )
        if lost:
            raise StateError(f"the state in {self.directory} lacks the bodies of {', '.join(lost[:5])}")
        counts = {"objects": 0, "items": 0, "model_package_groups": 0, "model_packages": 0}
        for bucket, versions in document["s3"].items():
            counts["objects"] += restore_bucket(backends.s3, bucket, versions, self.directory / "objects")
        for table, items in document["dynamodb"].items():
            counts["items"] += restore_table(backends.dynamodb, table, items)
        groups, packages = restore_registry(backends.sagemaker, document["registry"])
        counts["model_package_groups"], counts["model_packages"] = groups, packages
        return counts


def physical_ids(stack: Any, resource_type: str) -> list[str]:
    return sorted(str(resource.physical_id) for resource in stack.by_type(resource_type))


# ---- S3 ---------------------------------------------------------------------------------------------------------
def save_bucket(backend: Any, name: str, objects: Path) -> list[dict[str, Any]]:
    """Every version of every key of a bucket, oldest first, delete markers included; bodies go to `objects`."""
    from moto.s3.models import FakeDeleteMarker

    bucket = backend.buckets[name]
    saved: list[dict[str, Any]] = []
    for key_name, versions in bucket.keys.iterlists():
        for version in versions:
            if isinstance(version, FakeDeleteMarker):
                saved.append(
                    {
                        "Key": key_name,
                        "VersionId": version.version_id,
                        "DeleteMarker": True,
                        "LastModified": _time(version.last_modified),
                    }
                )
                continue
            body = version.value
            digest = hashlib.sha256(body).hexdigest()
            if not (objects / digest).exists():
                _write_durably(objects / digest, body)
            saved.append(
                {
                    "Key": key_name,
                    "VersionId": version.version_id,
                    "Body": digest,
                    "ETag": version.etag.strip('"'),
                    "LastModified": _time(version.last_modified),
                    "StorageClass": version.storage_class,
                    "Metadata": dict(version.metadata),
                    "Tags": backend.tagger.list_tags_for_resource(version.arn).get("Tags", []),
                    "Checksum": {
                        name: getattr(version, attribute, None) for name, attribute in CHECKSUM_FIELDS.items()
                    },
                }
            )
    return saved


def restore_bucket(backend: Any, name: str, versions: list[dict[str, Any]], objects: Path) -> int:
    """Put saved versions back in order, with their version ids, metadata and tags, and without notifications."""
    from moto.s3.models import FakeDeleteMarker

    bucket = backend.buckets[name]
    restored: dict[str, list[Any]] = {}
    for saved in versions:
        key_name = saved["Key"]
        if saved.get("DeleteMarker"):
            if not restored.get(key_name):
                continue  # a marker over nothing hides nothing
            marker = FakeDeleteMarker(key=restored[key_name][-1])
            marker._version_id = saved["VersionId"]
            marker.last_modified = _parse_time(saved["LastModified"])
            restored[key_name].append(marker)
            continue
        try:
            body = (objects / saved["Body"]).read_bytes()
        except OSError as exc:
            raise StateError(f"the body of s3://{name}/{key_name} is missing from the state: {exc}") from exc
        key = backend.put_object(
            name,
            key_name,
            body,
            storage=saved.get("StorageClass"),
            etag=saved.get("ETag"),
            disable_notification=True,
        )
        key._version_id = saved["VersionId"]
        key.last_modified = _parse_time(saved["LastModified"])
        key.set_metadata(dict(saved.get("Metadata") or {}))  # over the defaults a new key has
        for field_name, attribute in CHECKSUM_FIELDS.items():
            setattr(key, attribute, (saved.get("Checksum") or {}).get(field_name))
        if saved.get("Tags"):
            backend.tagger.tag_resource(key.arn, saved["Tags"])
        restored.setdefault(key_name, []).append(key)
    for key_name, keys in restored.items():
        bucket.keys.setlist(key_name, keys)
    return sum(len(keys) for keys in restored.values())


# ---- DynamoDB ---------------------------------------------------------------------------------------------------
def scan_table(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table in DynamoDB's typed JSON, binary values as base64."""
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items.extend({name: _encode_value(value) for name, value in item.items()} for item in page["Items"])
    return items


def restore_table(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> int:
    for start in range(0, len(items), 25):  # BatchWriteItem's limit
        requests = [
            {"PutRequest": {"Item": {name: _decode_value(value) for name, value in item.items()}}}
            for item in items[start : start + 25]
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items)


def _encode_value(value: dict[str, Any]) -> dict[str, Any]:
    return _map_value(value, lambda data: base64.b64encode(data).decode("ascii"))


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    return _map_value(value, base64.b64decode)


def _map_value(value: dict[str, Any], binary: Callable[[Any], Any]) -> dict[str, Any]:
    """An AttributeValue with its binary parts (B, BS, nested in M and L) passed through `binary`."""
    [(kind, inner)] = value.items()
    if kind == "B":
        return {"B": binary(inner)}
    if kind == "BS":
        return {"BS": [binary(item) for item in inner]}
    if kind == "M":
        return {"M": {name: _map_value(item, binary) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [_map_value(item, binary) for item in inner]}
    return {kind: inner}


# ---- SageMaker model registry -----------------------------------------------------------------------------------
def save_registry(backend: Any) -> dict[str, Any]:
    groups = [_fields(group, GROUP_FIELDS) for group in backend.model_package_groups.values()]
    packages = [_fields(package, PACKAGE_FIELDS) for package in backend.model_packages.values()]
    packages.sort(key=lambda p: (p.get("ModelPackageGroupName") or "", p.get("ModelPackageVersion") or 0))
    return {"ModelPackageGroups": groups, "ModelPackages": packages}


def restore_registry(backend: Any, registry: dict[str, Any]) -> tuple[int, int]:
    """Groups and packages back as they were, same ARNs and version numbers; no state-change event is emitted."""
    from moto.sagemaker.models import ModelPackage, ModelPackageGroup

    for saved in registry["ModelPackageGroups"]:
        name = saved["ModelPackageGroupName"]
        group = backend.model_package_groups.get(name)
        if group is None:  # created through the API, not by the template
            group = ModelPackageGroup(
                model_package_group_name=name,
                model_package_group_description=saved.get("ModelPackageGroupDescription") or "",
                account_id=backend.account_id,
                region_name=backend.region_name,
                tags=saved.get("Tags"),
            )
            backend.model_package_groups[name] = group
        group.creation_time = _parse_time(saved["CreationTime"])
    for saved in registry["ModelPackages"]:
        package = ModelPackage(
            model_package_name=saved["ModelPackageName"],
            model_package_group_name=saved.get("ModelPackageGroupName"),
            model_package_version=saved.get("ModelPackageVersion"),
            model_package_description=saved.get("ModelPackageDescription"),
            inference_specification=saved.get("InferenceSpecification"),
            source_algorithm_specification=saved.get("SourceAlgorithmSpecification"),
            validation_specification=saved.get("ValidationSpecification"),
            certify_for_marketplace=bool(saved.get("CertifyForMarketplace")),
            model_approval_status=saved.get("ModelApprovalStatus"),
            metadata_properties=saved.get("MetadataProperties"),
            model_metrics=saved.get("ModelMetrics"),
            approval_description=saved.get("ApprovalDescription"),
            customer_metadata_properties=saved.get("CustomerMetadataProperties"),
            drift_check_baselines=saved.get("DriftCheckBaselines"),
            domain=saved.get("Domain"),
            task=saved.get("Task"),
            sample_payload_url=saved.get("SamplePayloadUrl"),
            additional_inference_specifications=saved.get("AdditionalInferenceSpecifications"),
            client_token=saved.get("ClientToken"),
            region_name=backend.region_name,
            account_id=backend.account_id,
            model_package_type=saved.get("ModelPackageType") or "Versioned",
            tags=saved.get("Tags"),
        )
        if package.arn != saved["ModelPackageArn"]:
            raise StateError(
                f"model package {saved['ModelPackageArn']} would come back as {package.arn} (another region?)"
            )
        package.creation_time = _parse_time(saved["CreationTime"])  # the constructor stamped "now"
        package.last_modified_time = _parse_time(saved["LastModifiedTime"]) if saved.get("LastModifiedTime") else None
        package.last_modified_by = saved.get("LastModifiedBy")
        backend.model_packages[package.arn] = package
        # the names DescribeModelPackage accepts, as moto's CreateModelPackage maps them (a group: its latest)
        backend.model_package_name_mapping[package.model_package_name] = package.arn
        backend.model_package_name_mapping[package.arn] = package.arn
    return len(registry["ModelPackageGroups"]), len(registry["ModelPackages"])


def _fields(model: Any, fields: dict[str, str]) -> dict[str, Any]:
    saved = {name: getattr(model, attribute, None) for name, attribute in fields.items()}
    return {name: _time(value) if name in TIMES else value for name, value in saved.items() if value is not None}


# ---- files and times --------------------------------------------------------------------------------------------
def _write_durably(path: Path, data: bytes) -> None:
    """Write and fsync, so that a rename that follows never names a file whose bytes are not on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _time(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _parse_time(value: str) -> datetime:
    """moto keeps naive UTC datetimes in some places and aware ones in others: give back what was saved."""
    return datetime.fromisoformat(value)
