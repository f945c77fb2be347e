"""The template's region mapping of AWS's framework image, generated from the SageMaker Python SDK's image data.

AWS publishes its XGBoost image under a different account in every region, so the template resolves an empty
`TrainingImageUri`/`ProcessingImageUri` with `!FindInMap [FrameworkImages, !Ref AWS::Region, Account]`. This module
writes that mapping (`python -m cd4ml.framework_images --write template.yaml`) and fails CI when it no longer matches
the SDK (`--check`). It is CI/CLI code: the SDK (`sagemaker-core`) is imported here only, when a command needs it,
never in a Lambda function.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The one place the framework image's version is chosen; the template reads it from the generated mapping.
FRAMEWORK = "xgboost"
VERSION = "3.0-5"
# The key of the generated `FrameworkImage` map (`!FindInMap [FrameworkImage, XGBoost, Repository|Tag]`).
IMAGE_KEY = "XGBoost"
# The maps this module owns inside the template's `Mappings`; any other map there is left as it is.
IMAGE_MAP = "FrameworkImage"
REGION_MAP = "FrameworkImages"
# The top-level sections before which a template without `Mappings` gets it (the order CloudFormation documents).
_SECTIONS_AFTER_MAPPINGS = ("Conditions", "Globals", "Resources", "Outputs")
# Both scopes must name the same image: the template trains, processes and serves with one.
_SCOPES = ("training", "inference")
SDK_REQUIREMENT = "sagemaker-core==2.27.0"

_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)/"
    r"(?P<repository>[a-z0-9._/-]+):(?P<tag>[A-Za-z0-9._-]+)$"
)


class FrameworkImageError(Exception):
    """The SDK's image data cannot be turned into the template's mapping, or the template cannot be rewritten."""


class SdkMissingError(FrameworkImageError):
    def __init__(self, cause: ImportError) -> None:
        super().__init__(
            f"the SageMaker Python SDK is not importable ({cause}); the framework image mapping is generated from its "
            f"image data: install `{SDK_REQUIREMENT}` into the environment that runs this command"
        )


@dataclass(frozen=True)
class RegionImage:
    """AWS's framework image in one region, as the SDK names it."""

    region: str
    account: str
    url_suffix: str  # the partition's DNS suffix, what CloudFormation's AWS::URLSuffix says in that region
    repository: str
    tag: str

    @property
    def uri(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.{self.url_suffix}/{self.repository}:{self.tag}"


def _image_uris() -> Any:
    try:
        from sagemaker.core import image_uris
    except ImportError as error:
        raise SdkMissingError(error) from error
    return image_uris


def sdk_regions(image_uris: Any, framework: str = FRAMEWORK, version: str = VERSION) -> list[str]:
    """Every region the SDK lists the framework's version in, for training and for inference."""
    config = image_uris.config_for_framework(framework)
    listed: list[set[str]] = []
    for scope in _SCOPES:
        versions = config.get(scope, {}).get("versions", {})
        if version not in versions:
            raise FrameworkImageError(f"the SDK has no {framework} {version} {scope} image (it has {sorted(versions)})")
        listed.append(set(versions[version]["registries"]))
    if listed[0] != listed[1]:
        raise FrameworkImageError(
            f"the SDK lists {framework} {version} for training and inference in different regions: "
            f"training only {sorted(listed[0] - listed[1])}, inference only {sorted(listed[1] - listed[0])}"
        )
    return sorted(listed[0])


def region_image(uri: str, region: str) -> RegionImage:
    """The parts of the SDK's image URI for `region`, refused when the template could not compose it the same way."""
    match = _ECR_URI.match(uri)
    if match is None or match["region"] != region:
        raise FrameworkImageError(f"the SDK's image for {region} is {uri!r}, not <account>.dkr.ecr.{region}.<suffix>/…")
    image = RegionImage(region, match["account"], match["suffix"], match["repository"], match["tag"])
    expected = partition_url_suffix(region)
    if image.url_suffix != expected:
        raise FrameworkImageError(
            f"the SDK's image for {region} is {uri!r}, whose suffix {image.url_suffix!r} is not the partition's "
            f"{expected!r} (AWS::URLSuffix), so the template's URI would differ"
        )
    return image


def partition_url_suffix(region: str) -> str:
    """The DNS suffix of the partition `region` belongs to (botocore's endpoint data, as CloudFormation knows it)."""
    import botocore.session

    session = botocore.session.get_session()
    partition = session.get_partition_for_region(region)
    for entry in session.get_data("endpoints")["partitions"]:
        if entry["partition"] == partition:
            return str(entry["dnsSuffix"])
    raise FrameworkImageError(f"botocore knows no DNS suffix for partition {partition!r} of {region}")


def sdk_images(framework: str = FRAMEWORK, version: str = VERSION) -> list[RegionImage]:
    """AWS's framework image for every region the SDK lists, one repository and tag for all of them."""
    image_uris = _image_uris()
    images = []
    for region in sdk_regions(image_uris, framework, version):
        uris = {
            scope: image_uris.retrieve(framework, region=region, version=version, image_scope=scope)
            for scope in _SCOPES
        }
        if len(set(uris.values())) != 1:
            raise FrameworkImageError(f"the SDK's {framework} {version} images for {region} differ by scope: {uris}")
        images.append(region_image(uris["training"], region))
    names = {(image.repository, image.tag) for image in images}
    if len(names) != 1:
        raise FrameworkImageError(
            f"the SDK's {framework} {version} images differ in repository or tag: {sorted(names)}"
        )
    return images


def render_mappings(images: Sequence[RegionImage], framework: str = FRAMEWORK, version: str = VERSION) -> str:
    """The generated maps, indented as entries of the template's `Mappings` section."""
    if not images:
        raise FrameworkImageError("no regions to map")
    first = images[0]
    lines = [
        f"  # AWS's {framework} {version} framework image in every region the SageMaker Python SDK lists it in, for",
        "  # empty TrainingImageUri/ProcessingImageUri: generated by `python -m cd4ml.framework_images --write",
        "  # template.yaml`, do not edit by hand (`--check` fails when it differs from the SDK).",
        f"  {IMAGE_MAP}:",
        f'    {IMAGE_KEY}: {{Repository: {first.repository}, Tag: "{first.tag}"}}',
        f"  {REGION_MAP}:",
    ]
    lines += [f'    {image.region}: {{Account: "{image.account}"}}' for image in sorted(images, key=lambda i: i.region)]
    return "".join(line + "\n" for line in lines)


def _is_top_level(line: str) -> bool:
    return bool(line.strip()) and not line[0].isspace()


def _entries(body: list[str]) -> list[tuple[str | None, list[str]]]:
    """The `Mappings` section's lines split into its maps: (name, lines), each map with the comments above it."""
    entries: list[tuple[str | None, list[str]]] = []
    pending: list[str] = []  # comments and blank lines, which belong to the map that follows them
    for line in body:
        indent = len(line) - len(line.lstrip(" "))
        is_key = indent == 2 and line.strip() and not line.lstrip().startswith("#")
        if is_key:
            entries.append((line.split(":", 1)[0].strip(), [*pending, line]))
            pending = []
        elif indent > 2 and entries and not pending:
            entries[-1][1].append(line)
        else:
            pending.append(line)
    if pending:
        entries.append((None, pending))
    return entries


def rewrite_template(text: str, generated: str) -> str:
    """`text` with the generated maps in its `Mappings` section (added before `Conditions` if it has none); every
    other line, other maps of `Mappings` included, stays byte for byte."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    generated = generated.replace("\n", newline)  # the file's line endings, so that a rewrite changes no others
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline  # splitting off the last line must not glue it to what follows
    headers = [i for i, line in enumerate(lines) if line.rstrip("\r\n").rstrip() == "Mappings:"]
    if len(headers) > 1:
        raise FrameworkImageError(f"the template has {len(headers)} top-level Mappings sections")
    if not headers:
        sections = [
            i for i, line in enumerate(lines) if _is_top_level(line) and line.split(":")[0] in _SECTIONS_AFTER_MAPPINGS
        ]
        if not sections:
            raise FrameworkImageError(f"the template has no Mappings section and none of {_SECTIONS_AFTER_MAPPINGS}")
        at = sections[0]
        while at > 0 and lines[at - 1].startswith("#"):
            at -= 1  # a comment above the next section stays with it
        result = [*lines[:at], f"Mappings:{newline}", generated, newline, *lines[at:]]
        return _restore_end(text, "".join(result), newline)
    start = headers[0] + 1
    end = next((i for i in range(start, len(lines)) if _is_top_level(lines[i])), len(lines))
    while end > start and not lines[end - 1].strip():
        end -= 1  # the blank lines between sections are not the section's
    others = [entry for name, entry in _entries(lines[start:end]) if name not in (IMAGE_MAP, REGION_MAP)]
    result = [*lines[:start], generated, *(line for entry in others for line in entry), *lines[end:]]
    return _restore_end(text, "".join(result), newline)


def _restore_end(original: str, rewritten: str, newline: str) -> str:
    return rewritten if original.endswith("\n") or not original else rewritten.removesuffix(newline)


def difference(path: Path, current: str, expected: str) -> str:
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile=f"{path} (now)",
            tofile=f"{path} (from the SageMaker Python SDK)",
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cd4ml.framework_images",
        description=f"Generate the template's per-region mapping of AWS's {FRAMEWORK} {VERSION} image from the "
        "SageMaker Python SDK's image data.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="TEMPLATE", type=Path, help="rewrite the template's mapping")
    action.add_argument("--check", metavar="TEMPLATE", type=Path, help="exit 1 when the mapping differs from the SDK")
    args = parser.parse_args(argv)
    path: Path = args.write or args.check
    try:
        current = path.read_bytes().decode("utf-8")  # bytes: line endings stay as they are
        expected = rewrite_template(current, render_mappings(sdk_images()))
    except (OSError, FrameworkImageError) as error:
        print(f"framework images: {error}", file=sys.stderr)
        return 2
    if args.check:
        if current == expected:
            return 0
        print(
            f"{path}: the {REGION_MAP} mapping differs from the SageMaker Python SDK's {FRAMEWORK} {VERSION} images; "
            f"run `python -m cd4ml.framework_images --write {path}`:\n{difference(path, current, expected)}",
            file=sys.stderr,
        )
        return 1
    if current != expected:
        path.write_bytes(expected.encode("utf-8"))
        print(f"{path}: {REGION_MAP} rewritten from the SageMaker Python SDK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
