"""The stack's encryption and network choices for everything SageMaker runs for it (processing, training and transform
jobs, models and endpoints), read once from the environment and added to the Create* requests by one set of methods,
so jobs, scoring and deployment never each parse the same variables.

Every setting is optional; with none set the requests are exactly what they are without this module. Standard library
only: start_job, start_transform, scoring_model and deploy_model read it at cold start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .environment import SettingsError, environment

KMS_KEY_VARIABLE = "KMS_KEY_ID"
SUBNETS_VARIABLE = "VPC_SUBNET_IDS"
SECURITY_GROUPS_VARIABLE = "VPC_SECURITY_GROUP_IDS"
ISOLATION_VARIABLE = "ENABLE_NETWORK_ISOLATION"

# What an isolated container reads its code from: the SageMaker Python SDK's names for script mode under network
# isolation (the `code` channel, and the model data's `code/` folder that its repack writes).
CODE_CHANNEL = "code"
CODE_CHANNEL_SOURCEDIR = f"/opt/ml/input/data/{CODE_CHANNEL}/sourcedir.tar.gz"
MODEL_CODE_DIRECTORY = "/opt/ml/model/code"
SUBMIT_DIRECTORY_VARIABLE = "SAGEMAKER_SUBMIT_DIRECTORY"

# VpcConfig's limits (CreateTrainingJob, CreateProcessingJob, CreateModel).
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
# A key id, key ARN, alias name or alias ARN: the four forms every SageMaker KmsKeyId takes.
_KMS_KEY = re.compile(
    r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)/[A-Za-z0-9/_-]+"
    r"|alias/[A-Za-z0-9/_-]+"
    r"|(?:mrk-)?[0-9a-fA-F-]{32,36})$"
)
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
# Instance families whose storage is local NVMe, encrypted by the instance's hardware: SageMaker refuses a
# VolumeKmsKeyId (an endpoint config's KmsKeyId) for them. "d" in a family's attributes means instance storage
# (m5d, c6id, g4dn, p4d, p4de, c7gd); the rest have it without the letter.
_LOCAL_STORAGE_FAMILIES = frozenset({"dl1", "g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2"})
_FAMILY = re.compile(r"^ml\.(?P<family>[a-z]+\d+(?P<attributes>[a-z-]*))\.")


def has_local_storage(instance_type: str) -> bool:
    """Whether an ML instance type's storage is local NVMe (hardware-encrypted; no volume key may be asked for)."""
    match = _FAMILY.match(instance_type)
    if match is None:
        return False
    family, attributes = match.group("family"), match.group("attributes")
    return family in _LOCAL_STORAGE_FAMILIES or "d" in attributes.split("-", 1)[0]


def _ids(env: Mapping[str, str], name: str, pattern: re.Pattern[str], kind: str, limit: int) -> tuple[str, ...]:
    """A comma-separated list (the template joins a CommaDelimitedList parameter), each checked against `pattern`."""
    ids = tuple(part.strip() for part in (env.get(name) or "").split(",") if part.strip())
    bad = [value for value in ids if not pattern.match(value)]
    if bad:
        raise SettingsError(f"{name} must be comma-separated {kind} ids, got {bad!r} in {env.get(name)!r}")
    if len(ids) > limit:
        raise SettingsError(f"{name} names {len(ids)} ids; a SageMaker VpcConfig takes at most {limit}")
    if len(set(ids)) != len(ids):
        raise SettingsError(f"{name} names an id twice: {','.join(ids)}")
    return ids


@dataclass(frozen=True)
class JobSecurity:
    """KMS_KEY_ID (a customer-managed key for job outputs, volumes and endpoint storage), VPC_SUBNET_IDS and
    VPC_SECURITY_GROUP_IDS (the private subnets and security groups jobs, transforms and endpoints run in; both or
    neither) and ENABLE_NETWORK_ISOLATION (containers without any network: S3 is reached only by SageMaker itself).

    VPC settings put the containers' network interfaces in those subnets; the jobs then reach S3 through the VPC's
    endpoints or NAT, which the stack's VPC must provide. Isolation is stronger: the container has no network at
    all, so anything it would have downloaded (script mode's sourcedir) must come as an input channel or inside the
    model data."""

    kms_key_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    network_isolation: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> JobSecurity:
        env = environment(environ)
        key = (env.get(KMS_KEY_VARIABLE) or "").strip()
        if key and not _KMS_KEY.match(key):
            raise SettingsError(
                f"{KMS_KEY_VARIABLE} must be a KMS key id, key ARN, alias name or alias ARN, got {key!r}"
            )
        subnets = _ids(env, SUBNETS_VARIABLE, _SUBNET, "subnet-", MAX_SUBNETS)
        groups = _ids(env, SECURITY_GROUPS_VARIABLE, _SECURITY_GROUP, "sg-", MAX_SECURITY_GROUPS)
        if bool(subnets) != bool(groups):
            given, missing = SUBNETS_VARIABLE, SECURITY_GROUPS_VARIABLE
            if groups:
                given, missing = missing, given
            raise SettingsError(
                f"{SUBNETS_VARIABLE} and {SECURITY_GROUPS_VARIABLE} go together: {given} is set and {missing} is "
                "empty (a SageMaker VpcConfig needs both subnets and security groups)"
            )
        raw_isolation = (env.get(ISOLATION_VARIABLE) or "").strip().lower()
        if raw_isolation not in ("", "true", "false"):
            # a security switch: a typo must not silently leave the containers on the network
            raise SettingsError(f"{ISOLATION_VARIABLE} must be true or false, got {env.get(ISOLATION_VARIABLE)!r}")
        return cls(
            kms_key_id=key, subnet_ids=subnets, security_group_ids=groups, network_isolation=raw_isolation == "true"
        )

    @property
    def vpc_config(self) -> dict[str, list[str]] | None:
        if not self.subnet_ids:
            return None
        return {"SecurityGroupIds": list(self.security_group_ids), "Subnets": list(self.subnet_ids)}

    def _volume_key(self, instance_type: str) -> str:
        """The key for an instance's storage volume: none for local NVMe storage, which SageMaker would refuse."""
        return "" if has_local_storage(instance_type) else self.kms_key_id

    def secure_processing(self, request: dict[str, Any]) -> dict[str, Any]:
        """A CreateProcessingJob request with the key on its outputs and volume, and its NetworkConfig. Processing
        inputs and outputs are moved by SageMaker, not by the container, so isolation needs nothing else."""
        if self.kms_key_id:
            request["ProcessingOutputConfig"]["KmsKeyId"] = self.kms_key_id
            cluster = request["ProcessingResources"]["ClusterConfig"]
            if volume_key := self._volume_key(cluster["InstanceType"]):
                cluster["VolumeKmsKeyId"] = volume_key
        network: dict[str, Any] = {}
        if self.network_isolation:
            network["EnableNetworkIsolation"] = True
        if self.vpc_config is not None:
            network["EnableInterContainerTrafficEncryption"] = True
            network["VpcConfig"] = self.vpc_config
        if network:
            request["NetworkConfig"] = network
        return request

    def secure_training(self, request: dict[str, Any], sourcedir_uri: str) -> dict[str, Any]:
        """A script-mode CreateTrainingJob request with the key on its model output and volume, its VpcConfig, and,
        under isolation, its code as the `code` channel: an isolated container cannot download
        `sagemaker_submit_directory` from S3, so SageMaker stages the sourcedir and the toolkit extracts it from
        the channel (what the SageMaker Python SDK does for `enable_network_isolation=True`)."""
        if self.kms_key_id:
            request["OutputDataConfig"]["KmsKeyId"] = self.kms_key_id
            resources = request["ResourceConfig"]
            if volume_key := self._volume_key(resources["InstanceType"]):
                resources["VolumeKmsKeyId"] = volume_key
        if self.vpc_config is not None:
            request["VpcConfig"] = self.vpc_config
            request["EnableInterContainerTrafficEncryption"] = True
        if self.network_isolation:
            channels = request["InputDataConfig"]
            if any(channel["ChannelName"] == CODE_CHANNEL for channel in channels):
                raise ValueError(f"training already has a channel named {CODE_CHANNEL!r}: the code needs that name")
            request["EnableNetworkIsolation"] = True
            request["HyperParameters"]["sagemaker_submit_directory"] = CODE_CHANNEL_SOURCEDIR
            channels.append(
                {
                    "ChannelName": CODE_CHANNEL,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": sourcedir_uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            )
        return request

    def secure_transform(self, request: dict[str, Any]) -> dict[str, Any]:
        """A CreateTransformJob request with the key on its output and volume. Its network is its model's (the
        model's VpcConfig and EnableNetworkIsolation, set by `secure_model`)."""
        if self.kms_key_id:
            request["TransformOutput"]["KmsKeyId"] = self.kms_key_id
            resources = request["TransformResources"]
            if volume_key := self._volume_key(resources["InstanceType"]):
                resources["VolumeKmsKeyId"] = volume_key
        return request

    def secure_model(self, request: dict[str, Any]) -> dict[str, Any]:
        """A CreateModel request with its VpcConfig and, under isolation, its container told to serve the code the
        model data carries (`/opt/ml/model/code`, written by training) instead of the package's S3 sourcedir, which
        an isolated container cannot download. The model's Environment wins over its package's, so the override
        holds for endpoints and batch transforms alike."""
        if self.vpc_config is not None:
            request["VpcConfig"] = self.vpc_config
        if self.network_isolation:
            request["EnableNetworkIsolation"] = True
            container = request["PrimaryContainer"]
            environment = {**(container.get("Environment") or {}), SUBMIT_DIRECTORY_VARIABLE: MODEL_CODE_DIRECTORY}
            container["Environment"] = environment
        return request

    def secure_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        """A CreateEndpointConfig request with the key on its instances' storage (unless one of them has local NVMe
        storage, where SageMaker refuses any key) and on its data capture unless that has its own key."""
        if not self.kms_key_id:
            return request
        variants = request.get("ProductionVariants") or []
        if not any(has_local_storage(str(variant.get("InstanceType", ""))) for variant in variants):
            request["KmsKeyId"] = self.kms_key_id
        capture = request.get("DataCaptureConfig")
        if capture is not None and not capture.get("KmsKeyId"):
            capture["KmsKeyId"] = self.kms_key_id
        return request
