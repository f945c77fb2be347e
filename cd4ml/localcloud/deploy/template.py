"""Reading a SAM template and turning it into plain CloudFormation offline, keeping local code paths."""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import TemplateError

# The translator records usage metrics for AWS and warns at exit that nobody published them; nothing is lost.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

# Where the SAM transform expects an S3 location, local paths are swapped for this bucket and mapped back after.
LOCAL_CODE_BUCKET = "cd4ml-local-code"

# AWS managed policies SAM templates commonly name; any other name maps to the plain managed-policy ARN path.
_SERVICE_ROLE_POLICIES = {
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaKinesisExecutionRole",
    "AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole",
    "AWSLambdaRole",
    "AWSLambdaVPCAccessExecutionRole",
}


class _ManagedPolicies(dict[str, str]):
    """Answers every managed-policy name with its ARN, without asking IAM (no credentials needed)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and not name.startswith("arn:")

    def __getitem__(self, name: str) -> str:
        path = "service-role/" if name in _SERVICE_ROLE_POLICIES else ""
        return f"arn:aws:iam::aws:policy/{path}{name}"

    def get(self, name: str, default: Any = None) -> Any:
        return self.__getitem__(name) if name in self else default


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return _ManagedPolicies()


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML loader that understands CloudFormation's short-form tags (!Ref, !GetAtt, !Sub...)."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc.strerror or exc}") from exc
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_CfnLoader)
    except (yaml.YAMLError, ValueError) as exc:
        raise TemplateError(f"{path}: not a valid template: {exc}") from exc
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path}: a template needs a top-level 'Resources' mapping")
    return document


@dataclass
class TransformedTemplate:
    """Plain CloudFormation plus what the transform had to carry around it."""

    resources: dict[str, Any]
    parameters: dict[str, Any]
    conditions: dict[str, Any]
    mappings: dict[str, Any]
    outputs: dict[str, Any]
    # S3 key of a placeholder location -> local folder it stands for
    local_paths: dict[str, Path] = field(default_factory=dict)
    base_dir: Path = Path(".")

    def local_path(self, code: Any) -> Path | None:
        """The local folder behind a transformed `Code`/`Content` S3 location, if it is one of ours."""
        if isinstance(code, dict) and code.get("S3Bucket") == LOCAL_CODE_BUCKET:
            return self.local_paths.get(str(code.get("S3Key")))
        return None


def _local_dir(base: Path, uri: Any, where: str) -> Path | None:
    if not isinstance(uri, str) or uri.startswith("s3://"):
        return None
    path = (base / uri).resolve()
    if not path.exists():
        raise TemplateError(f"{where}: local path {uri!r} does not exist (resolved to {path})")
    return path


def transform_template(
    template: dict[str, Any], parameters: dict[str, str], base_dir: Path, region: str
) -> TransformedTemplate:
    """Apply the SAM transform (if the template declares it) with local CodeUri/ContentUri/DefinitionUri kept."""
    document = copy.deepcopy(template)
    local_paths: dict[str, Path] = {}

    def placeholder(path: Path) -> str:
        key = f"local-{len(local_paths)}"
        local_paths[key] = path
        return f"s3://{LOCAL_CODE_BUCKET}/{key}"

    for logical_id, resource in document.get("Resources", {}).items():
        if not isinstance(resource, dict):
            raise TemplateError(f"resource {logical_id!r} is not a mapping")
        kind = resource.get("Type")
        props = resource.setdefault("Properties", {}) or {}
        where = f"{logical_id} ({kind})"
        if kind == "AWS::Serverless::Function":
            local = _local_dir(base_dir, props.get("CodeUri"), where)
            if local:
                props["CodeUri"] = placeholder(local)
        elif kind == "AWS::Serverless::LayerVersion":
            local = _local_dir(base_dir, props.get("ContentUri"), where)
            if local:
                props["ContentUri"] = placeholder(local)
        elif kind == "AWS::Serverless::StateMachine":
            local = _local_dir(base_dir, props.get("DefinitionUri"), where)
            if local:
                try:
                    props["Definition"] = json.loads(local.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise TemplateError(f"{where}: {local} is not valid JSON: {exc}") from exc
                del props["DefinitionUri"]
        elif kind == "AWS::Lambda::Function":
            code = props.get("Code")
            if isinstance(code, str):
                local = _local_dir(base_dir, code, where)
                if local:
                    props["Code"] = {
                        "S3Bucket": LOCAL_CODE_BUCKET,
                        "S3Key": placeholder(local).rsplit("/", 1)[1],
                    }

    if "AWS::Serverless-2016-10-31" in _transforms(document):
        os.environ.setdefault("AWS_DEFAULT_REGION", region)
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.translator.transform import transform

        previous_region = os.environ.get("AWS_DEFAULT_REGION")
        os.environ["AWS_DEFAULT_REGION"] = region
        try:
            document = transform(document, dict(parameters), _PolicyLoader())
        except InvalidDocumentException as exc:
            causes = "; ".join(str(cause) for cause in exc.causes)
            raise TemplateError(f"the SAM transform rejected the template: {causes}") from exc
        finally:
            if previous_region is not None:
                os.environ["AWS_DEFAULT_REGION"] = previous_region
        document = json.loads(json.dumps(document))  # plain dicts and lists only
    return TransformedTemplate(
        resources=document.get("Resources", {}),
        parameters=document.get("Parameters", {}) or {},
        conditions=document.get("Conditions", {}) or {},
        mappings=document.get("Mappings", {}) or {},
        outputs=document.get("Outputs", {}) or {},
        local_paths=local_paths,
        base_dir=base_dir,
    )


def _transforms(document: dict[str, Any]) -> list[str]:
    value = document.get("Transform", [])
    return [value] if isinstance(value, str) else list(value)
